"""Inputs going out (numpy arrays or nested lists) and outputs coming back (numpy arrays with the
model's dtypes, which JSON numbers do not carry)."""

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

ArrayLike = np.ndarray | list | tuple
Inputs = Mapping[str, ArrayLike] | ArrayLike


def outputs_as_arrays(outputs: Mapping[str, Any], dtypes: Mapping[str, np.dtype]) -> dict[str, np.ndarray]:
    """Each output as an array of its signature's dtype (float64 for a name it lacks). JSON
    carries a float32 or float16 value exactly (the server writes its shortest repr), so the
    arrays equal what the runtime produced; null (NaN in a failed bulk row) reads back as NaN."""
    return {
        name: np.asarray(values, dtype=dtypes.get(name, np.dtype("float64")))
        for name, values in outputs.items()
    }


def as_input_payload(inputs: Inputs) -> dict[str, ArrayLike] | ArrayLike:
    """What `inputs` of POST /v1/jobs takes: a dict by input name, or one array for a
    single-input model (numpy values are turned into JSON when the body is written)."""
    if isinstance(inputs, Mapping):
        return dict(inputs)
    return inputs


def array_upload(source: np.ndarray | Mapping[str, ArrayLike]) -> tuple[str, bytes]:
    """An in-memory bulk input file: `.npy` for one array, `.npz` of arrays by input name."""
    buffer = io.BytesIO()
    if isinstance(source, Mapping):
        arrays = {name: np.asarray(value) for name, value in source.items()}
        # numpy's stubs type **arrays as its keyword options (numpy < 2.1 has none, so none is passed).
        savez: Any = np.savez
        savez(buffer, **arrays)
        return "inputs.npz", buffer.getvalue()
    np.save(buffer, np.asarray(source), allow_pickle=False)
    return "inputs.npy", buffer.getvalue()


def is_file_source(source: Any) -> bool:
    return isinstance(source, str | Path)
