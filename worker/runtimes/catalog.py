"""Which Runtime class serves which `runtime` of a model config. A new runtime is a new line."""

import importlib
import logging
from collections.abc import Callable
from pathlib import Path

from maas.core.errors import MaasError, ModelLoadError
from maas.models.config import runtime_refusal
from maas.models.registry import ModelVersion
from worker.runtimes.base import Runtime
from worker.runtimes.finite_outputs import FiniteOutputsRuntime
from worker.runtimes.fixed_batch import FixedBatchRuntime
from worker.runtimes.onnx_runtime import OnnxRuntime
from worker.runtimes.tflite_runtime import TfliteRuntime

log = logging.getLogger(__name__)
RUNTIMES = {"onnxruntime": OnnxRuntime, "litert": TfliteRuntime}  # keys: config.BUILTIN_RUNTIMES


def runtime_class(name: str, allow_plugins: bool) -> type:
    if refusal := runtime_refusal(name, allow_plugins):
        raise ModelLoadError(refusal)
    if name in RUNTIMES:
        return RUNTIMES[name]
    module_name, _, class_name = name.partition(":")
    try:
        return getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as e:
        raise ModelLoadError(f"runtime {name!r} cannot be imported: {e}") from e


def placement_of(runtime: Runtime, device: str) -> dict:
    """What a loaded version really runs on (runtime, provider, device), through the wrappers; a
    plugin runtime that does not say is reported with the worker's device."""
    inner: object = runtime
    while hasattr(inner, "inner"):
        inner = inner.inner
    return getattr(inner, "placement", None) or {"runtime": type(inner).__name__, "device": device}


def load_runtime(
    model: ModelVersion,
    device: str,
    allow_plugins: bool = False,
    cache_root: Path = Path(".maas"),
    on_built: Callable[[], None] = lambda: None,
) -> Runtime:
    """The model's runtime, warmed up when it can be. Warm-up feeds zeros with every dynamic
    inner dimension as 1, which some valid models refuse (a 3x3 convolution of a 1x1 image): that
    costs the first real batch its one-time setup, not the model its lane."""
    try:
        cls = runtime_class(model.runtime, allow_plugins)
        runtime = cls(model, device, cache_root) if model.runtime in RUNTIMES else cls(model, device)
    except MaasError:
        raise
    except Exception as e:  # a plugin or runtime may raise anything while loading
        raise ModelLoadError(f"{model.name} v{model.version}: cannot load: {e!r}") from e
    if model.config.fixed_batch_size is not None:
        runtime = FixedBatchRuntime(runtime, model.config.fixed_batch_size)
    if not model.config.allow_non_finite:
        runtime = FiniteOutputsRuntime(runtime)
    on_built()  # the session exists; what is left is its warm-up batch
    try:
        runtime.warm_up()
    except Exception as e:  # whatever the runtime raises for the dummy batch
        log.warning("%s v%s: warm-up skipped, the dummy batch failed: %r", model.name, model.version, e)
    return runtime
