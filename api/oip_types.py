"""Open Inference Protocol (KServe v2) tensors, transport-free: the v2 datatype names and numpy
dtypes both ways, shapes with -1 for the batch dimension, and tensors decoded from raw bytes
(the REST binary extension, gRPC `raw_input_contents`) or from JSON/typed lists (REST `data`,
gRPC `contents`). Every mismatch is an InvalidInputError that names the tensor."""

import math
from collections.abc import Sequence

import numpy as np

from maas.core.errors import InvalidInputError
from maas.core.inputs import to_array
from maas.core.signature import TensorSpec

DATATYPES: dict[str, np.dtype] = {
    "BOOL": np.dtype("bool"),
    "INT8": np.dtype("int8"),
    "INT16": np.dtype("int16"),
    "INT32": np.dtype("int32"),
    "INT64": np.dtype("int64"),
    "UINT8": np.dtype("uint8"),
    "UINT16": np.dtype("uint16"),
    "UINT32": np.dtype("uint32"),
    "UINT64": np.dtype("uint64"),
    "FP16": np.dtype("float16"),
    "FP32": np.dtype("float32"),
    "FP64": np.dtype("float64"),
}
_NAMES = {dtype: name for name, dtype in DATATYPES.items()}
MAX_RANK = 32  # far more than any model takes; bounds the work a hostile shape can ask for
MAX_DIM = 2**31 - 1  # numpy cannot reshape into dimensions whose product passes its index type


def dtype_of(datatype: object, name: str) -> np.dtype:
    """The numpy dtype of a v2 datatype name; BYTES and unknown names are refused (400)."""
    where = f"inputs.{name}"
    if datatype == "BYTES":
        raise InvalidInputError(
            f"{where}: datatype BYTES (strings) is not supported: no model served here takes strings",
            ("inputs", name),
        )
    if not isinstance(datatype, str) or datatype not in DATATYPES:
        raise InvalidInputError(
            f"{where}: unknown datatype {str(datatype)[:40]!r}; one of {sorted(DATATYPES)}", ("inputs", name)
        )
    return DATATYPES[datatype]


def datatype_of(dtype: np.dtype) -> str:
    """The v2 name of a numpy dtype (every dtype a maas signature may hold has one)."""
    return _NAMES[np.dtype(dtype)]


def v2_shape(shape: Sequence[int | None]) -> list[int]:
    """A signature shape as v2 metadata gives it: -1 for the batch and every dynamic dimension."""
    return [-1 if i == 0 or d is None else int(d) for i, d in enumerate(shape)]


def checked_shape(shape: object, name: str) -> list[int]:
    """A declared shape; 400 unless a list of non-negative integers."""
    where = f"inputs.{name}"
    if (
        not isinstance(shape, list | tuple)
        or len(shape) > MAX_RANK
        or not all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= MAX_DIM for d in shape)
    ):
        raise InvalidInputError(
            f"{where}: shape must be a list of at most {MAX_RANK} integers in [0, {MAX_DIM}]",
            ("inputs", name),
        )
    if math.prod(shape) > MAX_DIM:
        raise InvalidInputError(f"{where}: shape {list(shape)} holds too many elements", ("inputs", name))
    return list(shape)


def element_count(shape: list[int]) -> int:
    return math.prod(shape)  # exact: a hostile shape cannot wrap around to a small count


def from_bytes(name: str, datatype: object, shape: object, raw: bytes | memoryview) -> np.ndarray:
    """A tensor from its raw little-endian row-major bytes, without copying them; 400 when the
    byte count is not what shape and datatype make."""
    dtype = dtype_of(datatype, name)
    dims = checked_shape(shape, name)
    count = element_count(dims)
    want_bytes = count * dtype.itemsize
    if len(raw) != want_bytes:
        raise InvalidInputError(
            f"inputs.{name}: shape {dims} of {datatype} takes {want_bytes} bytes, got {len(raw)}",
            ("inputs", name),
        )
    array = np.frombuffer(raw, dtype=dtype.newbyteorder("<")).reshape(dims)
    if dtype.kind == "b" and count and array.view(np.uint8).max() > 1:
        raise InvalidInputError(f"inputs.{name}: BOOL bytes must be 0 or 1", ("inputs", name))
    return array.astype(dtype, copy=False)


def from_list(name: str, datatype: object, shape: object, data: object) -> np.ndarray:
    """A tensor from JSON or typed-contents values, flat (row-major) or nested as the shape;
    400 for non-numeric values, decimals for an integer type, values out of the type's range,
    or an element count that is not the shape's."""
    dtype = dtype_of(datatype, name)
    dims = checked_shape(shape, name)
    count = element_count(dims)
    if not isinstance(data, list | np.ndarray):
        raise InvalidInputError(f"inputs.{name}: data must be a list", ("inputs", name))
    array = to_array(data, TensorSpec(name, dtype, ()))
    if array.size != count:
        raise InvalidInputError(
            f"inputs.{name}: shape {dims} holds {count} elements, data has {array.size}",
            ("inputs", name),
        )
    return array.reshape(dims)


def output_names(requested: Sequence[str] | None, available: Sequence[str]) -> list[str]:
    """The outputs to answer with, in the order asked (all, in the model's order, if none asked);
    400 for a name the model does not have."""
    if not requested:
        return list(available)
    unknown = [n for n in requested if n not in available]
    if unknown:
        raise InvalidInputError(
            f"outputs: unknown {unknown[:10]}; the model gives {list(available)}", ("outputs", unknown[0])
        )
    return list(dict.fromkeys(requested))
