"""The one interface every runtime implements: load a model version, run one stacked batch."""

from typing import Protocol

import numpy as np

from maas.signature import Signature


class Runtime(Protocol):
    signature: Signature

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Runs one batch; every input and output has the batch as its first dimension."""

    def warm_up(self) -> None:
        """Runs a one-row batch so the first real batch pays no one-time costs."""


def zeros_batch(signature: Signature, rows: int) -> dict[str, np.ndarray]:
    """A batch of `rows` zero rows (dynamic inner dimensions as 1), for warm-up."""
    return {
        spec.name: np.zeros((rows, *(d or 1 for d in spec.shape[1:])), dtype=spec.dtype)
        for spec in signature.inputs
    }
