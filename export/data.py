"""Arrays for calibration, validation and training, from .npy or .npz files.

An .npz holds one array per input name, plus an optional `labels` array of class ids; a
single-input model also accepts any one array name (e.g. `x`) for its input. An .npy holds the
rows of a single-input model's only input (and no labels)."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from export.errors import ExportError

LABELS = "labels"


@dataclass(frozen=True)
class Dataset:
    inputs: dict[str, np.ndarray]
    labels: np.ndarray | None

    @property
    def rows(self) -> int:
        return len(next(iter(self.inputs.values())))

    def head(self, rows: int) -> "Dataset":
        labels = None if self.labels is None else self.labels[:rows]
        return Dataset({k: v[:rows] for k, v in self.inputs.items()}, labels)


def _read(path: Path) -> dict[str, np.ndarray]:
    try:
        if path.suffix == ".npy":
            return {"": np.load(path, allow_pickle=False)}
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                return {name: archive[name] for name in archive.files}
    except (OSError, ValueError) as e:
        raise ExportError(f"{path}: not a readable .npy/.npz file: {e}") from e
    raise ExportError(f"{path}: data files must be .npy or .npz")


def load_dataset(path: Path, input_specs: dict[str, np.dtype], need_labels: bool = False) -> Dataset:
    """Reads `path` for a model taking `input_specs` (name -> dtype); rows cast to those dtypes."""
    path = Path(path)
    if not path.is_file():
        raise ExportError(f"{path}: no such data file")
    arrays = _read(path)
    labels = arrays.pop(LABELS, None)
    names = list(input_specs)
    if len(names) == 1 and len(arrays) == 1:
        arrays = {names[0]: next(iter(arrays.values()))}
    missing = [name for name in names if name not in arrays]
    if missing:
        raise ExportError(f"{path}: no array for inputs {missing} (has {sorted(arrays)})")
    inputs = {name: np.asarray(arrays[name], dtype=input_specs[name]) for name in names}
    rows = {len(v) for v in inputs.values()} | ({len(labels)} if labels is not None else set())
    if len(rows) != 1:
        raise ExportError(f"{path}: arrays have different numbers of rows {sorted(rows)}")
    if need_labels and labels is None:
        raise ExportError(f"{path}: needs a `{LABELS}` array (class ids) in an .npz")
    return Dataset(inputs, None if labels is None else np.asarray(labels).astype(np.int64).ravel())
