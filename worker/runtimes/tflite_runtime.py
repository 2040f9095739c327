"""LiteRT (TFLite) behind the Runtime interface: batches of any size, quantized I/O seen as float
(maas.models.tflite_interpreters), threads from the model config's `tflite` section."""

import logging

import numpy as np

from maas.models.registry import ModelVersion
from maas.models.tflite_interpreters import TfliteInterpreters

log = logging.getLogger(__name__)


class TfliteRuntime:
    def __init__(self, model: ModelVersion, device: str):
        if device != "cpu":
            log.warning("%s v%s: LiteRT runs on the CPU here, not %s", model.name, model.version, device)
        self._interpreters = TfliteInterpreters(
            model.path.read_bytes(),
            model.config.tflite.num_threads or None,
            f"{model.name} v{model.version}",
        )
        self.signature = model.signature
        log.info("loaded %s v%s on LiteRT", model.name, model.version)

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self._interpreters.run(inputs)

    def warm_up(self) -> None:
        self.run(self.signature.zeros(1))
