"""Which Runtime class serves which `runtime` of a model config. A new runtime is a new line."""

from maas.registry import ModelVersion
from worker.onnx_runtime import OnnxRuntime
from worker.runtime import Runtime

RUNTIMES = {"onnxruntime": OnnxRuntime}


def load_runtime(model: ModelVersion, device: str) -> Runtime:
    runtime = RUNTIMES[model.runtime](model, device)
    runtime.warm_up()
    return runtime
