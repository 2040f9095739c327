# One image for every maas role: `api` (default), `worker [--models a,b] [--device cpu]`, `serve`.
#   docker build -t maas .
#   docker run --rm -e MAAS_REDIS_URL=redis://host:6379/0 -p 8000:8000 maas api
#   docker run --rm -e MAAS_REDIS_URL=redis://host:6379/0 maas worker
# docker-compose.yml runs Redis + api + worker from it. CPU only: a CUDA worker needs the `gpu`
# extra (onnxruntime-gpu) on a CUDA base image, which this image does not provide.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore

# The service user (numeric in USER below, so that Kubernetes' runAsNonRoot can check it) and the
# directory `maas serve` keeps its embedded Redis's data in.
RUN groupadd --system --gid 10001 maas \
    && useradd --system --uid 10001 --gid maas --home-dir /srv/maas --shell /usr/sbin/nologin maas \
    && mkdir -p /srv/maas/state \
    && chown maas:maas /srv/maas/state

WORKDIR /tmp/build

# Runtime dependencies first, read from pyproject.toml alone, so that a source edit does not
# reinstall them (this layer is rebuilt only when pyproject.toml changes).
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > requirements.txt \
    && pip install --no-cache-dir -r requirements.txt

# Then the package itself (no test/demo extras). The whole build context comes in (.dockerignore
# trims it) so that every package pyproject.toml lists (maas*, api*, batching*, worker*, export*)
# and its readme are there; only the installed package stays in the image.
COPY . ./
RUN pip install --no-cache-dir /tmp/build \
    && rm -rf /tmp/build

# The demo model repository, read-only for the service user. Mount another at this path
# (or set MAAS_MODEL_REPOSITORY) to serve other models.
COPY models/ /srv/maas/models/

ENV MAAS_MODEL_REPOSITORY=/srv/maas/models \
    MAAS_STATE_DIR=/srv/maas/state \
    MAAS_HOST=0.0.0.0 \
    MAAS_PORT=8000

WORKDIR /srv/maas
USER 10001:10001
EXPOSE 8000

# No HEALTHCHECK here: the same image runs workers, which serve no HTTP. docker-compose.yml
# checks the api's GET /healthz.
ENTRYPOINT ["maas"]
CMD ["api"]
