"""A version's signature: stored in its version.json at registration (written by
maas.models.store, read by the registry), else read from its model file by suffix.

The stored form is `Signature.to_dict()`: {"inputs": [{"name", "dtype", "shape"}], "outputs":
[...]}, a shape's None standing for a dynamic dimension. Reading it costs a JSON parse; reading
the file builds an onnxruntime session or a LiteRT interpreter, which a request must not wait on."""

from pathlib import Path

import numpy as np

from maas.core.signature import SUPPORTED_DTYPES, Signature, TensorSpec
from maas.models.onnx_signature import read_onnx_signature
from maas.models.tflite_signature import read_tflite_signature

SIGNATURE_FIELD = "signature"  # its key in version.json
READERS = {".onnx": read_onnx_signature, ".tflite": read_tflite_signature}


def read_signature(model_path: Path) -> Signature:
    """The signature read from the model file itself (slow: loads it in its runtime)."""
    return READERS[model_path.suffix](model_path)


def _spec(value: dict) -> TensorSpec:
    dtype = np.dtype(value["dtype"])
    if dtype not in SUPPORTED_DTYPES:
        raise ValueError(f"unsupported dtype {dtype.name}")
    shape = tuple(None if d is None else int(d) for d in value["shape"])
    return TensorSpec(str(value["name"]), dtype, shape)


def parse_signature(value: object) -> Signature | None:
    """A signature from its `to_dict()` form; None when `value` is not one."""
    if not isinstance(value, dict):
        return None
    try:
        return Signature(
            inputs=tuple(_spec(t) for t in value["inputs"]),
            outputs=tuple(_spec(t) for t in value["outputs"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


def stored_signature(metadata: dict) -> Signature | None:
    """The signature version.json holds; None when it holds none (a version written before
    signatures were stored) or one that does not parse, so the caller reads the model file."""
    return parse_signature(metadata.get(SIGNATURE_FIELD))


def version_signature(model_path: Path, metadata: dict) -> Signature:
    """A version's signature: the stored one when there is one, else read from its file."""
    return stored_signature(metadata) or read_signature(model_path)
