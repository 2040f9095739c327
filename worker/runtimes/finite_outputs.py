"""Refuses outputs holding NaN or an infinity: JSON has neither (they would come back as null in
a `succeeded` job), and in a bulk job's arrays NaN marks a failed row. So such a batch raises, the
batch runner narrows it down to the jobs (or rows) that produce them, and those fail with code
non_finite_output; a model whose config says `allow_non_finite: true` is not wrapped."""

import numpy as np

from maas.core.errors import NonFiniteOutputError
from worker.runtimes.base import Runtime


class FiniteOutputsRuntime:
    def __init__(self, inner: Runtime):
        self.inner = inner
        self.signature = inner.signature

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        outputs = self.inner.run(inputs)
        for name, array in outputs.items():
            if array.dtype.kind in "fc" and not np.isfinite(array).all():
                raise NonFiniteOutputError(
                    f"output {name!r} holds NaN or an infinity, which JSON cannot carry; the model "
                    "config's allow_non_finite: true keeps them (as null)"
                )
        return outputs

    def warm_up(self) -> None:
        self.inner.warm_up()  # zeros may well give NaN; warm-up only loads, it answers no one
