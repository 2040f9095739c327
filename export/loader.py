"""From a path to a SourceModel: a SavedModel directory, or a Keras file (.keras, legacy .h5)."""

from pathlib import Path

from export.errors import ExportError
from export.keras_source import load_keras
from export.saved_model_source import load_saved_model
from export.source import KERAS_SUFFIXES, SourceModel


def load_source(path: Path) -> SourceModel:
    """Loads a .keras / .h5 file or a SavedModel directory; ExportError for anything else."""
    path = Path(path)
    if path.is_dir() and (path / "saved_model.pb").is_file():
        return load_saved_model(path)
    if not path.is_file() or path.suffix not in KERAS_SUFFIXES:
        raise ExportError(f"{path}: not a Keras model file (.keras, .h5) or a SavedModel directory")
    return load_keras(path)
