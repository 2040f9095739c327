"""Tensors in gRPC messages <-> numpy, through the transport-free OIP decoders (api/oip_types.py):
the OIP's typed `contents` (one repeated field per datatype family) and raw bytes
(`raw_input_contents` / `raw_output_contents`, the job service's Tensor.data), little-endian and
row-major both ways."""

from collections.abc import Mapping, Sequence

import numpy as np

from api.oip_types import datatype_of, from_bytes, from_list
from maas.core.errors import InvalidInputError

# The InferTensorContents field that holds each datatype (FP16 has none: raw bytes only).
CONTENTS_FIELD = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
}


def little_endian_bytes(array: np.ndarray) -> bytes:
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()


def from_contents(name: str, datatype: str, shape: Sequence[int], contents) -> np.ndarray:
    """An input given as typed contents (an InferTensorContents)."""
    field = CONTENTS_FIELD.get(datatype)
    if field is None:
        if datatype == "FP16":
            raise InvalidInputError(
                f"inputs.{name}: FP16 has no typed contents; send it in raw_input_contents",
                ("inputs", name),
            )
        return from_list(name, datatype, list(shape), [])  # refuses the datatype with its reason
    return from_list(name, datatype, list(shape), np.asarray(getattr(contents, field)))


def decode_infer_inputs(tensors: Sequence, raw: Sequence[bytes]) -> dict[str, np.ndarray]:
    """A ModelInferRequest's inputs: all in raw_input_contents (in the order of `inputs`) or all
    as typed contents, as the protocol says."""
    if raw and len(raw) != len(tensors):
        raise InvalidInputError(
            f"raw_input_contents: {len(raw)} entries for {len(tensors)} inputs; send one per input, "
            "in the order of `inputs`",
            ("raw_input_contents",),
        )
    inputs: dict[str, np.ndarray] = {}
    for i, tensor in enumerate(tensors):
        if tensor.name in inputs:
            raise InvalidInputError(f"inputs.{tensor.name}: given twice", ("inputs", tensor.name))
        if raw:
            if tensor.HasField("contents"):
                raise InvalidInputError(
                    f"inputs.{tensor.name}: contents given beside raw_input_contents; use one",
                    ("inputs", tensor.name),
                )
            inputs[tensor.name] = from_bytes(tensor.name, tensor.datatype, list(tensor.shape), raw[i])
        else:
            inputs[tensor.name] = from_contents(tensor.name, tensor.datatype, tensor.shape, tensor.contents)
    return inputs


def fill_contents(contents, array: np.ndarray) -> None:
    """Writes an output into a response tensor's typed contents (FP16 cannot be: callers send
    raw bytes when any output is FP16)."""
    getattr(contents, CONTENTS_FIELD[datatype_of(array.dtype)]).extend(array.ravel().tolist())


def decode_tensors(tensors: Mapping) -> dict[str, np.ndarray]:
    """The job service's inputs: name -> Tensor(datatype, shape, data)."""
    return {name: from_bytes(name, t.datatype, list(t.shape), t.data) for name, t in tensors.items()}
