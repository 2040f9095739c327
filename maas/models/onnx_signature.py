"""Reads an ONNX model's signature from its graph, without its weights: the protobuf is parsed
with external data left on disk, and no runtime session is built (which would load every
weight, for a multi-gigabyte model in the API or a worker's scan)."""

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, ValueInfoProto
from onnx.helper import tensor_dtype_to_np_dtype

from maas.core.errors import ModelLoadError
from maas.core.signature import SUPPORTED_DTYPES, Signature, TensorSpec


def _type_name(elem_type: int) -> str:
    try:
        return f"tensor({TensorProto.DataType.Name(elem_type).lower()})"
    except ValueError:
        return f"tensor(type {elem_type})"


def _spec(node: ValueInfoProto) -> TensorSpec:
    kind = node.type.WhichOneof("value")
    if kind != "tensor_type":
        raise ModelLoadError(f"tensor {node.name!r} has unsupported type {kind}")
    tensor = node.type.tensor_type
    try:
        dtype = np.dtype(tensor_dtype_to_np_dtype(tensor.elem_type))
    except (KeyError, TypeError, ValueError):
        dtype = None
    if dtype is None or dtype not in SUPPORTED_DTYPES:
        raise ModelLoadError(f"tensor {node.name!r} has unsupported type {_type_name(tensor.elem_type)}")
    dims = tensor.shape.dim if tensor.HasField("shape") else ()
    shape = tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in dims)
    return TensorSpec(node.name, dtype, shape)


def load_graph(path: Path) -> onnx.ModelProto:
    """The model's protobuf with its external data left on disk (the tensors keep only their
    `location`); ModelLoadError for a file that is not an ONNX model."""
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # protobuf and onnx raise several unrelated types for a bad file
        raise ModelLoadError(f"{path}: not a loadable ONNX model: {e}") from e
    if not model.ir_version or not model.graph.output:
        raise ModelLoadError(f"{path}: not a loadable ONNX model: no IR version or no graph outputs")
    return model


def graph_signature(model: onnx.ModelProto) -> Signature:
    """Inputs are the graph's inputs that no initializer feeds (older exports list every
    weight as an input too)."""
    initialized = {t.name for t in model.graph.initializer}
    return Signature(
        inputs=tuple(_spec(n) for n in model.graph.input if n.name not in initialized),
        outputs=tuple(_spec(n) for n in model.graph.output),
    )


def read_onnx_signature(path: Path) -> Signature:
    return graph_signature(load_graph(path))
