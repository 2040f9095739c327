"""LiteRT (TFLite) behind the Runtime interface: batches of any size, quantized I/O seen as float
(maas.models.tflite_interpreters), threads from the model config's `tflite` section."""

import logging
from pathlib import Path

import numpy as np

from maas.models.registry import ModelVersion
from maas.models.tflite_interpreters import TfliteInterpreters

log = logging.getLogger(__name__)


class TfliteRuntime:
    def __init__(self, model: ModelVersion, device: str, cache_root: Path = Path(".maas")):
        if device != "cpu":
            # LiteRT has no GPU delegate for Linux servers: say so, here and in /v1/models.
            log.warning("%s v%s: LiteRT runs on the CPU here, not %s", model.name, model.version, device)
        self._interpreters = TfliteInterpreters(
            model.path.read_bytes(),
            model.config.tflite.num_threads or None,
            f"{model.name} v{model.version}",
        )
        self.signature = model.signature
        self.placement = {"runtime": "litert", "provider": "litert-cpu", "device": "cpu", "io_binding": False}
        log.info("loaded %s v%s on LiteRT", model.name, model.version)

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self._interpreters.run(inputs)

    def warm_up(self) -> None:
        self.run(self.signature.zeros(1))
