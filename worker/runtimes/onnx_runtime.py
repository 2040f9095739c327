"""onnxruntime behind the Runtime interface, on the CPU or one GPU (worker/runtimes/onnx_providers.py)."""

import logging
from pathlib import Path

import numpy as np
import onnxruntime as ort

from maas.core.devices import Device
from maas.core.errors import ModelLoadError
from maas.models.registry import ModelVersion
from worker.runtimes.io_binding import BoundRunner
from worker.runtimes.onnx_providers import check_active, provider_specs

log = logging.getLogger(__name__)


class OnnxRuntime:
    def __init__(self, model: ModelVersion, device: str, cache_root: Path = Path(".maas")):
        placed = Device.parse(device)
        options = ort.SessionOptions()
        ort_config = model.config.onnxruntime
        options.intra_op_num_threads = ort_config.intra_op_num_threads
        options.inter_op_num_threads = ort_config.inter_op_num_threads
        options.log_severity_level = 3
        specs = provider_specs(model, placed, cache_root)
        try:
            self.session = ort.InferenceSession(str(model.path), options, providers=specs)
        except Exception as e:  # onnxruntime raises several unrelated types for a bad file
            raise ModelLoadError(f"{model.name} v{model.version}: cannot load: {e}") from e
        first = specs[0] if isinstance(specs[0], str) else specs[0][0]
        check_active(model, first, self.session)
        self.signature = model.signature
        self._output_names = [spec.name for spec in model.signature.outputs]
        bind = ort_config.io_binding if ort_config.io_binding is not None else placed.is_gpu
        self._bound = BoundRunner(self.session, placed, self._output_names) if bind else None
        # What this version really runs on, for the heartbeat and /v1/models.
        self.placement = {
            "runtime": "onnxruntime",
            "provider": first,
            "device": str(placed) if first != "CPUExecutionProvider" else "cpu",
            "io_binding": bind,
        }
        log.info("loaded %s v%s on %s (%s)", model.name, model.version, first, self.placement["device"])

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self._bound is not None:
            return self._bound.run(inputs)
        outputs = self.session.run(self._output_names, inputs)
        return dict(zip(self._output_names, outputs, strict=True))

    def warm_up(self) -> None:
        self.run(self.signature.zeros(1))
