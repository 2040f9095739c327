# The two commands a fresh machine needs: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# Two install stamps: `make run` needs the server and the client only; tests, lint, benchmarks
# and the demo scripts add the test tools, scikit-learn and the export toolchain (TensorFlow,
# which is most of the download and which serving never imports).
SERVE_INSTALLED := $(VENV)/.installed-serve
INSTALLED := $(VENV)/.installed-test

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(SERVE_INSTALLED): pyproject.toml client/pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e . -e './client[webhooks]'
	touch $(SERVE_INSTALLED)

$(INSTALLED): $(SERVE_INSTALLED)
	$(PY) -m pip install --quiet -e '.[test,demo,export]'
	touch $(INSTALLED)

run: $(SERVE_INSTALLED)
	$(VENV)/bin/maas serve

# The checks the pre-commit hooks run too (.pre-commit-config.yaml): style, layering, types.
lint: $(INSTALLED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

test: lint
	scripts/test_system_deps.sh
	$(PY) -m pytest -q

# The Redis-facing tests against Valkey: VALKEY_BIN=folder with valkey-server and valkey-cli
# (built from source: Valkey is in neither Debian 12 nor PyPI); e.g. VALKEY_ARGS='tests/system'.
test-valkey: $(INSTALLED)
	VALKEY_BIN=$(VALKEY_BIN) PYTHON=$(PY) scripts/test_valkey.sh $(VALKEY_ARGS)

bench: $(INSTALLED)
	command -v wrk >/dev/null || apt-get install -y wrk
	$(PY) bench/run.py

# A 5-minute soak with a worker SIGKILLed every 20 s; e.g. SOAK_ARGS='--duration 60 --rate 100'.
soak: $(INSTALLED)
	$(PY) soak/run.py $(SOAK_ARGS)

# One bulk job of 1,000,000 rows per bench model; e.g. BULK_ARGS='--rows 100000 --models digits'.
bench-bulk: $(INSTALLED)
	$(PY) bench/bulk.py $(BULK_ARGS)

bench-webhooks: $(INSTALLED)
	$(PY) bench/webhook_latency.py

bench-rollout: $(INSTALLED)
	$(PY) bench/model_rollout.py

# A > 2 GB external-data version through `maas serve` (upload plain and chunked, validation, load,
# promote to first answer); needs ~12 GB free disk, deleted afterwards; e.g. LARGE_ARGS='--depth 4'.
# PYTHONPATH=.: the model generator is the tests' (tests/support/large_models.py).
bench-large: $(INSTALLED)
	PYTHONPATH=. $(PY) bench/large.py $(LARGE_ARGS)

# Noisy neighbour: tenant A keeps 20,000 rows queued, tenant B sends 20 jobs/s; e.g.
# FAIRNESS_ARGS='--models heavy_mlp --rounds 5'.
bench-fairness: $(INSTALLED)
	$(PY) bench/fairness.py $(FAIRNESS_ARGS)

# Encryption at rest's cost: the demo model in the clear and sealed, alternating; e.g.
# SEALING_ARGS='--rounds 3 --duration 20'.
bench-sealing: $(INSTALLED)
	command -v wrk >/dev/null || apt-get install -y wrk
	$(PY) bench/sealing.py $(SEALING_ARGS)

# On a CUDA machine with the `gpu` extra (scripts/gpu_check.sh installs it and runs the GPU tests too).
bench-gpu: $(INSTALLED)
	command -v wrk >/dev/null || apt-get install -y wrk
	$(PY) bench/gpu.py $(GPU_ARGS)

# One Redis under 1, 2, 4 workers of the heavy MLP: jobs/s, Redis commands and CPU per job
# (docs/sizing.md); e.g. REDIS_SCALE_ARGS='--workers 1,2 --duration 30'.
bench-redis-scale: $(INSTALLED)
	$(PY) bench/redis_scale.py $(REDIS_SCALE_ARGS)

# Low load end to end: one client, one job at a time, delay 0 and delay D, against direct
# onnxruntime; e.g. LOW_LOAD_ARGS='--jobs 500 --delay-ms 2'.
bench-low-load: $(INSTALLED)
	$(PY) bench/low_load.py $(LOW_LOAD_ARGS)

demo-model: $(INSTALLED)
	$(PY) scripts/train_digits.py

# Rebuilds digits versions 2-5 with the export toolchain (Keras -> TFLite, int8, student, ONNX).
demo-export: $(INSTALLED)
	$(PY) scripts/build_digits_demo.py

clean:
	rm -rf $(VENV) .maas .pytest_cache

# Regenerates the gRPC stubs in api/rpc/stubs/ from the .proto files beside them, with the pinned
# grpcio-tools (the `grpc` extra); tests/api/rpc/test_stubs.py fails when they differ.
protos: $(INSTALLED)
	$(PY) -m pip install --quiet -e '.[grpc]'
	$(PY) -m grpc_tools.protoc -I. --python_out=. --grpc_python_out=. --pyi_out=. \
		api/rpc/stubs/grpc_predict_v2.proto api/rpc/stubs/maas_jobs.proto
