"""The one interface every runtime implements: load a model version, run one stacked batch."""

from typing import Protocol

import numpy as np

from maas.core.signature import Signature


class Runtime(Protocol):
    signature: Signature

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Runs one batch; every input and output has the batch as its first dimension."""

    def warm_up(self) -> None:
        """Runs a one-row batch so the first real batch pays no one-time costs."""
