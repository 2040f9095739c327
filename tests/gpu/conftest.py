"""GPU tests run only where onnxruntime has CUDA and a GPU answers (scripts/gpu_check.sh runs
them on a CUDA machine); elsewhere every test here is skipped with the reason."""

import shutil

import onnxruntime as ort
import pytest

GPU_REASON = "needs a CUDA GPU and onnxruntime-gpu (the `gpu` extra); scripts/gpu_check.sh runs these"


def gpu_present() -> bool:
    return "CUDAExecutionProvider" in ort.get_available_providers() and shutil.which("nvidia-smi") is not None


def pytest_collection_modifyitems(config, items):
    if gpu_present():
        return
    skip = pytest.mark.skip(reason=GPU_REASON)
    for item in items:  # by the marker, not by keyword: a CPU test's parameter may be "gpu"
        if item.get_closest_marker("gpu") is not None:
            item.add_marker(skip)
