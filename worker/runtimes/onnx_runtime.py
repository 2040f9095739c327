"""onnxruntime behind the Runtime interface."""

import logging

import numpy as np
import onnxruntime as ort

from maas.core.errors import ModelLoadError
from maas.models.registry import ModelVersion

log = logging.getLogger(__name__)

_DEVICE_PROVIDERS = {
    "cpu": ["CPUExecutionProvider"],
    "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"],
}


class OnnxRuntime:
    def __init__(self, model: ModelVersion, device: str):
        options = ort.SessionOptions()
        ort_config = model.config.onnxruntime
        options.intra_op_num_threads = ort_config.intra_op_num_threads
        options.inter_op_num_threads = ort_config.inter_op_num_threads
        options.log_severity_level = 3
        providers = ort_config.providers or _DEVICE_PROVIDERS[device]
        if providers[0] not in ort.get_available_providers():
            raise ModelLoadError(
                f"{model.name} v{model.version}: provider {providers[0]} unavailable in this "
                f"onnxruntime build (available: {ort.get_available_providers()}); for CUDA "
                "install the `gpu` extra (onnxruntime-gpu) in its own environment"
            )
        try:
            self.session = ort.InferenceSession(str(model.path), options, providers=providers)
        except Exception as e:  # onnxruntime raises several unrelated types for a bad file
            raise ModelLoadError(f"{model.name} v{model.version}: cannot load: {e}") from e
        active = self.session.get_providers()
        if providers[0] not in active:
            # onnxruntime silently falls back to CPU when CUDA libraries are missing: refuse.
            raise ModelLoadError(
                f"{model.name} v{model.version}: provider {providers[0]} failed to start "
                f"(active: {active}); check the CUDA/cuDNN installation"
            )
        self.signature = model.signature
        self._output_names = [spec.name for spec in model.signature.outputs]
        log.info("loaded %s v%s on %s", model.name, model.version, active[0])

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        outputs = self.session.run(self._output_names, inputs)
        return dict(zip(self._output_names, outputs, strict=True))

    def warm_up(self) -> None:
        self.run(self.signature.zeros(1))
