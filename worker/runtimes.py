"""Which Runtime class serves which `runtime` of a model config. A new runtime is a new line."""

import importlib

from maas.errors import ModelLoadError
from maas.registry import ModelVersion
from worker.fixed_batch import FixedBatchRuntime
from worker.onnx_runtime import OnnxRuntime
from worker.runtime import Runtime
from worker.tflite_runtime import TfliteRuntime

RUNTIMES = {"onnxruntime": OnnxRuntime, "litert": TfliteRuntime}


def runtime_class(name: str, allow_plugins: bool) -> type:
    if name in RUNTIMES:
        return RUNTIMES[name]
    if not allow_plugins:
        raise ModelLoadError(
            f"runtime {name!r} is a plugin class; set MAAS_ALLOW_PLUGIN_RUNTIMES=true to allow it"
        )
    module_name, _, class_name = name.partition(":")
    try:
        return getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as e:
        raise ModelLoadError(f"runtime {name!r} cannot be imported: {e}") from e


def load_runtime(model: ModelVersion, device: str, allow_plugins: bool = False) -> Runtime:
    """The model's runtime, warmed up."""
    runtime = runtime_class(model.runtime, allow_plugins)(model, device)
    if model.config.fixed_batch_size is not None:
        runtime = FixedBatchRuntime(runtime, model.config.fixed_batch_size)
    runtime.warm_up()
    return runtime
