"""Reads an ONNX model's signature with onnxruntime, without running it."""

from pathlib import Path

import numpy as np
import onnxruntime as ort

from maas.core.errors import ModelLoadError
from maas.core.signature import SUPPORTED_DTYPES, Signature, TensorSpec

_ONNX_TYPES = {
    "tensor(bool)": "bool",
    "tensor(int8)": "int8",
    "tensor(int16)": "int16",
    "tensor(int32)": "int32",
    "tensor(int64)": "int64",
    "tensor(uint8)": "uint8",
    "tensor(uint16)": "uint16",
    "tensor(uint32)": "uint32",
    "tensor(uint64)": "uint64",
    "tensor(float16)": "float16",
    "tensor(float)": "float32",
    "tensor(double)": "float64",
}


def _spec(node) -> TensorSpec:
    dtype_name = _ONNX_TYPES.get(node.type)
    if dtype_name is None or np.dtype(dtype_name) not in SUPPORTED_DTYPES:
        raise ModelLoadError(f"tensor {node.name!r} has unsupported type {node.type}")
    shape = tuple(d if isinstance(d, int) and d > 0 else None for d in (node.shape or ()))
    return TensorSpec(node.name, np.dtype(dtype_name), shape)


def read_onnx_signature(path: Path) -> Signature:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises several unrelated types for a bad file
        raise ModelLoadError(f"{path}: not a loadable ONNX model: {e}") from e
    return Signature(
        inputs=tuple(_spec(n) for n in session.get_inputs()),
        outputs=tuple(_spec(n) for n in session.get_outputs()),
    )
