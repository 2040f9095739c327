"""An exported file as the service will run it: onnxruntime for .onnx, LiteRT for .tflite (the
same interpreter code the worker uses), and what its weights hold: size, compressed size and the
fraction of exact zeros in its weight matrices (what pruning buys)."""

import gzip
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper
from tensorflow.lite.tools import flatbuffer_utils

from maas.models.tflite_interpreters import TfliteInterpreters

# TFLite schema TensorType codes of the weight types pruning and quantization leave behind.
_TFLITE_WEIGHT_TYPES = {0: np.float32, 1: np.float16, 9: np.int8}


def artifact_runner(path: Path) -> Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]:
    if path.suffix == ".onnx":
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        names = [o.name for o in session.get_outputs()]
        return lambda inputs: dict(zip(names, session.run(names, inputs), strict=True))
    return TfliteInterpreters(path.read_bytes(), label=str(path)).run


def _onnx_weights(path: Path) -> list[np.ndarray]:
    return [numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer]


def _tflite_weights(path: Path) -> list[np.ndarray]:
    model = flatbuffer_utils.read_model(str(path))
    weights = []
    for tensor in model.subgraphs[0].tensors:
        data = model.buffers[tensor.buffer].data
        if data is not None and len(data) and tensor.type in _TFLITE_WEIGHT_TYPES:
            values = np.frombuffer(bytes(data), _TFLITE_WEIGHT_TYPES[tensor.type])
            weights.append(values.reshape(tensor.shape))
    return weights


def weight_matrices(path: Path) -> list[np.ndarray]:
    """The file's constant tensors of 2 or more dimensions (kernels, not biases or scalars)."""
    weights = _onnx_weights(path) if path.suffix == ".onnx" else _tflite_weights(path)
    return [w for w in weights if w.ndim >= 2 and w.dtype.kind in "fi"]


def weight_sparsity(path: Path) -> float:
    """Exact zeros among the elements of the file's weight matrices (2-D or more: kernels, not
    biases or scalars), as pruning counts them."""
    matrices = weight_matrices(path)
    total = sum(w.size for w in matrices)
    return float(sum(int((w == 0).sum()) for w in matrices) / total) if total else 0.0


def file_sizes(path: Path) -> dict[str, int]:
    content = path.read_bytes()
    return {"size_bytes": len(content), "gzip_bytes": len(gzip.compress(content, compresslevel=9))}
