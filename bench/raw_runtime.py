"""In-process onnxruntime throughput: the ceiling the service's batching can approach."""

import time

import numpy as np

from maas.models.registry import ModelVersion
from worker.runtimes.onnx_runtime import OnnxRuntime


def batch_sizes(max_batch_size: int) -> list[int]:
    return sorted({size for size in (1, 8, 32, 64) if size <= max_batch_size} | {max_batch_size})


def rows_per_s(runtime: OnnxRuntime, inputs: dict[str, np.ndarray], seconds: float) -> float:
    """Runs the batch repeatedly for about `seconds` (at least 3 times) and returns rows/s."""
    runtime.run(inputs)  # the first run allocates; keep it out of the figure
    rows = next(iter(inputs.values())).shape[0]
    runs, started = 0, time.perf_counter()
    while runs < 3 or time.perf_counter() - started < seconds:
        runtime.run(inputs)
        runs += 1
    return rows * runs / (time.perf_counter() - started)


def measure(model: ModelVersion, seconds: float) -> dict[int, float]:
    """rows/s per batch size, through the worker's own runtime class and session options."""
    runtime = OnnxRuntime(model, "cpu")
    spec = model.signature.inputs[0]
    rng = np.random.default_rng(0)
    results = {}
    for size in batch_sizes(model.config.max_batch_size):
        inputs = {spec.name: rng.random((size, *spec.shape[1:]), dtype=np.float32)}
        results[size] = rows_per_s(runtime, inputs, seconds)
    return results
