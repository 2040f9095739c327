"""A model's signature: named tensors with dtypes and shapes, the first dimension the batch."""

from dataclasses import dataclass

import numpy as np

from maas.core.errors import InvalidInputError

SUPPORTED_DTYPES = frozenset(
    np.dtype(name)
    for name in (
        "bool",
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "float16",
        "float32",
        "float64",
    )
)


@dataclass(frozen=True)
class TensorSpec:
    name: str
    dtype: np.dtype
    shape: tuple[int | None, ...]  # None is a dynamic dimension; shape[0] is the batch

    def describe_shape(self) -> str:
        dims = ["N" if i == 0 else ("?" if d is None else str(d)) for i, d in enumerate(self.shape)]
        return "[" + ", ".join(dims) + "]"

    def to_dict(self) -> dict:
        return {"name": self.name, "dtype": self.dtype.name, "shape": list(self.shape)}


@dataclass(frozen=True)
class Signature:
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]

    def to_dict(self) -> dict:
        return {
            "inputs": [t.to_dict() for t in self.inputs],
            "outputs": [t.to_dict() for t in self.outputs],
        }

    def zeros(self, rows: int) -> dict[str, np.ndarray]:
        """A batch of `rows` zero rows (dynamic inner dimensions as 1), for warm-up and trials."""
        return {
            spec.name: np.zeros((rows, *(d or 1 for d in spec.shape[1:])), dtype=spec.dtype)
            for spec in self.inputs
        }

    def unbatchable(self, fixed_batch_size: int | None = None) -> list[str]:
        """Names of tensors whose first dimension is neither dynamic nor the model's declared
        fixed batch size (the batcher needs one or the other)."""
        return [
            t.name
            for t in (*self.inputs, *self.outputs)
            if not t.shape or t.shape[0] not in (None, fixed_batch_size)
        ]

    def check_inputs(self, tensors: dict[str, np.ndarray]) -> int:
        """Checks named arrays against the inputs (names, dtypes, shapes); returns their rows."""
        expected = [spec.name for spec in self.inputs]
        missing = [name for name in expected if name not in tensors]
        if missing:
            raise InvalidInputError(
                f"inputs: missing {missing}; the model takes {expected}", ("inputs", missing[0])
            )
        extra = [name for name in tensors if name not in expected]
        if extra:
            raise InvalidInputError(
                f"inputs: unknown {extra}; the model takes {expected}", ("inputs", extra[0])
            )
        rows = {spec.name: _check_tensor(spec, tensors[spec.name]) for spec in self.inputs}
        if len(set(rows.values())) > 1:
            raise InvalidInputError(f"inputs: every input needs the same number of rows, got {rows}")
        return next(iter(rows.values()))


def _check_tensor(spec: TensorSpec, array: np.ndarray) -> int:
    where = f"inputs.{spec.name}"
    if array.dtype != spec.dtype:
        raise InvalidInputError(
            f"{where}: expected dtype {spec.dtype.name}, got {array.dtype.name}", ("inputs", spec.name)
        )
    fits = array.ndim == len(spec.shape) and all(
        want is None or want == got for want, got in zip(spec.shape[1:], array.shape[1:], strict=True)
    )
    if not fits:
        got = "[" + ", ".join(str(d) for d in array.shape) + "]"
        raise InvalidInputError(
            f"{where}: expected shape {spec.describe_shape()}, got {got}", ("inputs", spec.name)
        )
    if array.shape[0] < 1:
        raise InvalidInputError(f"{where}: needs at least one row", ("inputs", spec.name))
    return array.shape[0]
