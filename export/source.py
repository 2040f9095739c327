"""The model an export starts from: a Keras file (.keras, .h5) or a SavedModel directory, seen
through one interface: named inputs with a dynamic batch dimension, named outputs, a TensorFlow
function to run it, and a SavedModel with a `serving_default` signature for the converters."""

import tempfile
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from export.errors import ExportError

SERVING_KEY = "serving_default"
KERAS_SUFFIXES = (".keras", ".h5")


@dataclass
class SourceModel:
    path: Path
    input_specs: list[tf.TensorSpec]  # named, first dimension None
    output_names: list[str]
    # A tf.function: positional tensors in input order -> {output name: tensor}.
    serve: tf.types.experimental.PolymorphicFunction
    keras_model: keras.Model | None  # None for a plain SavedModel (no pruning then)

    @property
    def input_dtypes(self) -> dict[str, np.dtype]:
        return {spec.name: np.dtype(spec.dtype.as_numpy_dtype) for spec in self.input_specs}

    def predict(self, inputs: dict[str, np.ndarray], batch_size: int = 256) -> dict[str, np.ndarray]:
        rows = len(next(iter(inputs.values())))
        parts = [
            self.serve(*(tf.constant(inputs[s.name][start : start + batch_size]) for s in self.input_specs))
            for start in range(0, rows, batch_size)
        ]
        return {name: np.concatenate([p[name].numpy() for p in parts]) for name in self.output_names}

    def saved_model_dir(self, workdir: Path) -> Path:
        """A SavedModel of this model with a `serving_default` signature keyed by our names."""
        if self.keras_model is None:
            return self.path
        target = Path(tempfile.mkdtemp(dir=workdir, prefix="saved_model-"))
        archive = keras.export.ExportArchive()
        archive.track(self.keras_model)
        archive.add_endpoint(SERVING_KEY, self.serve, input_signature=self.input_specs)
        archive.write_out(str(target), verbose=False)
        return target


def _check_batchable(path: Path, specs: list[tf.TensorSpec]) -> None:
    fixed = [f"{s.name} {s.shape}" for s in specs if not s.shape.rank or s.shape[0] is not None]
    if fixed:
        raise ExportError(
            f"{path}: inputs {fixed} have no dynamic batch dimension (first dimension None); "
            "maas batches along it, so rebuild the model with a free batch size"
        )


def from_keras(model: keras.Model, path: Path) -> SourceModel:
    specs = [tf.TensorSpec(t.shape, t.dtype, name=t.name) for t in model.inputs]
    _check_batchable(path, specs)
    names = list(model.output_names)

    def serve(*tensors):
        outputs = model(tensors[0] if len(tensors) == 1 else list(tensors), training=False)
        outputs = list(outputs.values()) if isinstance(outputs, dict) else outputs
        return dict(zip(names, outputs if isinstance(outputs, list | tuple) else [outputs], strict=True))

    return SourceModel(path, specs, names, tf.function(serve, input_signature=specs), model)


def _from_saved_model(path: Path) -> SourceModel:
    try:
        loaded = tf.saved_model.load(str(path))
        signature = loaded.signatures[SERVING_KEY]
    except (OSError, ValueError, KeyError) as e:
        raise ExportError(f"{path}: not a SavedModel with a {SERVING_KEY!r} signature: {e}") from e
    by_name = signature.structured_input_signature[1]
    specs = [tf.TensorSpec(spec.shape, spec.dtype, name=name) for name, spec in by_name.items()]
    _check_batchable(path, specs)
    names = list(signature.structured_outputs)

    def serve(*tensors):
        # through `loaded`, which owns the variables: a signature alone lets them be collected
        return loaded.signatures[SERVING_KEY](**{s.name: t for s, t in zip(specs, tensors, strict=True)})

    return SourceModel(path, specs, names, tf.function(serve, input_signature=specs), None)


def load_source(path: Path) -> SourceModel:
    """Loads a .keras / .h5 file or a SavedModel directory; ExportError for anything else."""
    path = Path(path)
    if path.is_dir() and (path / "saved_model.pb").is_file():
        return _from_saved_model(path)
    if not path.is_file() or path.suffix not in KERAS_SUFFIXES:
        raise ExportError(f"{path}: not a Keras model file (.keras, .h5) or a SavedModel directory")
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as e:  # Keras raises many unrelated types (zip, h5py, JSON) for a bad file
        raise ExportError(f"{path}: not a loadable Keras model: {e}") from e
    return from_keras(model, path)
