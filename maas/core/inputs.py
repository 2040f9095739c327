"""Turns a job's JSON `inputs` into the numpy arrays its model's signature asks for."""

import numpy as np

from maas.core.errors import InvalidInputError
from maas.core.signature import Signature, TensorSpec


def parse_inputs(raw: object, signature: Signature) -> tuple[dict[str, np.ndarray], int]:
    """Arrays by input name, and the job's row count; InvalidInputError says what and where."""
    names = [spec.name for spec in signature.inputs]
    if isinstance(raw, list | np.ndarray):  # an array: a big body the API parsed ahead
        if len(names) != 1:
            raise InvalidInputError(
                f"inputs: the model takes {len(names)} inputs {names}; give an object by name",
                ("inputs",),
            )
        raw = {names[0]: raw}
    if not isinstance(raw, dict):
        raise InvalidInputError(
            "inputs: expected an object of named nested lists, or a nested list", ("inputs",)
        )
    specs = {spec.name: spec for spec in signature.inputs}
    arrays = {
        name: to_array(value, specs[name]) if name in specs else np.empty(0) for name, value in raw.items()
    }
    rows = signature.check_inputs(arrays)
    return arrays, rows


def to_array(value: object, spec: TensorSpec) -> np.ndarray:
    loc = ("inputs", spec.name)
    where = f"inputs.{spec.name}"
    if not isinstance(value, list | np.ndarray):
        raise InvalidInputError(f"{where}: expected a nested list with a leading batch dimension", loc)
    try:
        array = np.asarray(value)
    except (ValueError, OverflowError) as e:
        raise InvalidInputError(f"{where}: ragged nested lists (rows of unequal length)", loc) from e
    if array.dtype.kind not in "biuf":
        raise InvalidInputError(
            f"{where}: expected numbers ({spec.dtype.name}), found non-numeric or out-of-range values",
            loc,
        )
    return _cast(array, spec, where, loc)


def _cast(array: np.ndarray, spec: TensorSpec, where: str, loc: tuple) -> np.ndarray:
    want = spec.dtype
    if want.kind == "b":
        if array.dtype.kind != "b":
            raise InvalidInputError(f"{where}: expected booleans (true/false)", loc)
        return array
    if array.dtype.kind == "b":
        raise InvalidInputError(f"{where}: expected numbers ({want.name}), got booleans", loc)
    if want.kind in "iu":
        if array.dtype.kind == "f":
            raise InvalidInputError(f"{where}: expected integers ({want.name}), got decimals", loc)
        info = np.iinfo(want)
        if array.size and (array.min() < info.min or array.max() > info.max):
            raise InvalidInputError(
                f"{where}: values outside the {want.name} range [{info.min}, {info.max}]", loc
            )
        return array.astype(want)
    if array.size and array.dtype.kind == "f" and want.itemsize < array.dtype.itemsize:
        limit = np.finfo(want).max
        if np.abs(array).max() > limit:
            raise InvalidInputError(f"{where}: values beyond the {want.name} range", loc)
    return array.astype(want)
