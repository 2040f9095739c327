#!/usr/bin/env bash
# The GPU run of issue 16, in one go, on a CUDA machine from the repository root:
#   the GPU tests (tests/gpu, `-m gpu`) and the GPU bench (bench/gpu.py), results under $OUT.
# Where the machine reaches PyPI, it installs the `gpu` extra into a fresh venv. Where it cannot
# (this workplace's lent accelerator), the wheels travel in .whl/ (scripts/gpu_wheels.sh fetches
# them for its Python, split into parts small enough to carry) and are installed from there.
set -uo pipefail
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
PY=${PY:-python3}
exec > >(tee "$OUT/gpu_check.log") 2>&1
nvidia-smi || { echo "no nvidia-smi: not a GPU machine"; exit 2; }
if [ -d .whl ]; then
  # Parts of wheels over the carry limit were split as NAME.whl.partNN: join them first.
  for first in .whl/*.part00; do
    [ -e "$first" ] || continue
    cat "${first%.part00}".part* > "${first%.part00}" && rm -f "${first%.part00}".part*
  done
  "$PY" -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl || exit 3
  export PYTHONPATH=/tmp/site:$PWD
else
  "$PY" -m venv /tmp/venv && /tmp/venv/bin/pip install -q -e '.[test,gpu]' || exit 3
  "$PY" -m pip uninstall -y -q onnxruntime 2>/dev/null
  PY=/tmp/venv/bin/python
  export PYTHONPATH=$PWD
fi
"$PY" -c "import onnxruntime as o; print(o.__version__, o.get_available_providers())"
export PYTHONUNBUFFERED=1
timeout 300 "$PY" -m pytest -q -m gpu tests/gpu tests/worker/test_device_placement.py -rs \
  --junitxml="$OUT/gpu_tests.xml"
echo "gpu tests exit: $?"
timeout 240 "$PY" bench/gpu.py --duration 8 --out "$OUT/gpu_bench.json"
echo "gpu bench exit: $?"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > "$OUT/gpu_name.csv"
