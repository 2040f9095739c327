"""A plugin runtime for fault tests: onnxruntime, except that an input holding MARKER kills the
worker process outright, as a segfault in a native runtime would."""

import os

import numpy as np

from worker.runtimes.onnx_runtime import OnnxRuntime

MARKER = -999.0


class CrashOnMarker(OnnxRuntime):
    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if any((array == MARKER).any() for array in inputs.values()):
            os._exit(70)
        return super().run(inputs)
