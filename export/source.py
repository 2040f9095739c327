"""The model an export starts from, seen through one interface whatever it was saved as (a Keras
file or a SavedModel directory): named inputs with a dynamic batch dimension, named outputs, a
TensorFlow function to run it, and a SavedModel with a `serving_default` signature for the
converters. `export.loader.load_source` builds one from a path."""

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from export.errors import ExportError

SERVING_KEY = "serving_default"
KERAS_SUFFIXES = (".keras", ".h5")
_MESSAGE_CHARS = 300
_LOCATION = re.compile(r"^loc\(.*\): ")
_RAISED = re.compile(r"^\s*\w+(?:Error|Exception): ", re.MULTILINE)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


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


def check_batchable(path: Path, specs: list[tf.TensorSpec]) -> None:
    fixed = [f"{s.name} {s.shape}" for s in specs if not s.shape.rank or s.shape[0] is not None]
    if fixed:
        raise ExportError(
            f"{path}: inputs {fixed} have no dynamic batch dimension (first dimension None); "
            "maas batches along it, so rebuild the model with a free batch size"
        )


def _first_error(text: str) -> str:
    """The TFLite converter (MLIR) reports `<unknown>:0: error: loc(callsite(...)): what`,
    one line per error, followed by notes: the first error's `what` says it."""
    for line in text.splitlines():
        if "error: " in line:
            return _LOCATION.sub("", line.split("error: ", 1)[1])
    return text


def _innermost(text: str) -> str:
    """A tf.function error quotes the traceback ("in user code: File ...") before the error the
    model's code raised: keep that error."""
    if "in user code:" in text:
        starts = [match.start() for match in _RAISED.finditer(text)]
        text = text[starts[-1] :] if starts else text
    return _ANSI.sub("", text)


def one_line(error: BaseException) -> str:
    """An exception as one short line for a CLI message: Keras and TensorFlow errors run to
    many lines and append whole model configs, which say nothing the user can act on."""
    text = _first_error(_innermost(str(error))).split("Full object config:")[0]
    text = " ".join(text.split()) or type(error).__name__
    return text if len(text) <= _MESSAGE_CHARS else text[: _MESSAGE_CHARS - 3] + "..."
