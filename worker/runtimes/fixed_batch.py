"""Serves a model exported with a fixed batch dimension: a batch (never larger than that size,
since the policy caps it there) is padded with zero rows to the size, and the outputs cut back."""

import numpy as np

from worker.runtimes.base import Runtime


class FixedBatchRuntime:
    def __init__(self, inner: Runtime, size: int):
        self.inner = inner
        self.size = size
        self.signature = inner.signature

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows = next(iter(inputs.values())).shape[0]
        if rows == self.size:
            return self.inner.run(inputs)
        if rows > self.size:
            raise ValueError(f"{rows} rows exceed the model's fixed batch size {self.size}")
        padded = {
            name: np.concatenate([array, np.zeros((self.size - rows, *array.shape[1:]), array.dtype)])
            for name, array in inputs.items()
        }
        return {name: output[:rows] for name, output in self.inner.run(padded).items()}

    def warm_up(self) -> None:
        self.run(self.signature.zeros(1))
