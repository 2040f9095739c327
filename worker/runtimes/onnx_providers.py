"""The execution providers, with their options, that a version asks of onnxruntime on a device.

Every provider but the CPU's must be in this onnxruntime build, and the first must be the one the
session really runs on: onnxruntime quietly falls back to the CPU when a GPU provider cannot start
(missing CUDA libraries, a bad device id), and a worker that was asked for a GPU refuses instead.
The CPU provider may follow a GPU one: it runs only the nodes the GPU provider has no kernel for.
"""

import functools
from pathlib import Path

import onnxruntime as ort

from maas.core.devices import Device
from maas.core.errors import ModelLoadError
from maas.models.registry import ModelVersion

CPU, CUDA, TENSORRT = "CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider"
ProviderSpec = str | tuple[str, dict[str, str]]


def provider_names(model: ModelVersion, device: Device) -> list[str]:
    ort_config = model.config.onnxruntime
    if ort_config.providers:
        return list(ort_config.providers)
    if not device.is_gpu:
        return [CPU]
    return ([TENSORRT] if ort_config.tensorrt.enabled else []) + [CUDA, CPU]


def engine_cache_dir(cache_root: Path, model: ModelVersion) -> Path:
    return cache_root / "tensorrt" / model.name / str(model.version)


@functools.cache
def _load_cuda_libraries() -> None:
    """onnxruntime-gpu[cuda,cudnn] brings CUDA and cuDNN as PyPI packages (nvidia-*): load them
    before the first CUDA session, so the image needs only the driver."""
    if hasattr(ort, "preload_dlls"):
        ort.preload_dlls()


def provider_specs(model: ModelVersion, device: Device, cache_root: Path) -> list[ProviderSpec]:
    """Names with their options, checked against this build; ModelLoadError says what is missing."""
    names = provider_names(model, device)
    available = ort.get_available_providers()
    missing = [name for name in names if name not in available]
    if missing:
        raise ModelLoadError(
            f"{model.name} v{model.version}: provider {', '.join(missing)} unavailable in this "
            f"onnxruntime build (available: {available}); for CUDA install the `gpu` extra "
            "(onnxruntime-gpu) in its own environment"
        )
    if device.is_gpu:
        _load_cuda_libraries()
    ort_config = model.config.onnxruntime
    specs: list[ProviderSpec] = []
    for name in names:
        if name == CUDA:
            specs.append((name, ort_config.cuda.provider_options(device.index)))
        elif name == TENSORRT:
            cache = engine_cache_dir(cache_root, model)
            cache.mkdir(parents=True, exist_ok=True)
            specs.append((name, ort_config.tensorrt.provider_options(device.index, str(cache))))
        else:
            specs.append(name)
    return specs


def check_active(model: ModelVersion, wanted: str, session: ort.InferenceSession) -> None:
    active = session.get_providers()
    if not active or active[0] != wanted:
        raise ModelLoadError(
            f"{model.name} v{model.version}: provider {wanted} failed to start (active: {active}); "
            "check the CUDA/cuDNN installation and the device index"
        )
