"""A Keras model (Sequential, Functional or subclassed; from .keras or legacy .h5) as a
SourceModel, run through its own call with training=False (Dropout off, BatchNormalization on its
moving statistics).

Tensor names, which the served signature shows (and which requests use):
- inputs: a Functional or Sequential model's own (`keras.Input(name=...)`, else its input layer's
  name, e.g. `input_layer`); a subclassed model's are `input_0`, `input_1`, ... (or the keys of
  the dict it was built on), float32, shaped like the batch it was built on with the batch
  dimension left free;
- outputs: the keys when the model returns a dict; a Functional model's output layer names; a
  Sequential model's last layer name (e.g. `dense_2`); otherwise `output_0`, `output_1`, ...
A pruned model or a student takes its original's or teacher's names (`like`)."""

import re
from collections.abc import Callable
from pathlib import Path

import keras
import tensorflow as tf

from export.errors import ExportError
from export.source import SourceModel, check_batchable, one_line


def _own_inputs(model: keras.Model) -> tuple[list[tf.TensorSpec], object]:
    """Functional and Sequential: the input tensors the model was built on, and their structure
    (a tensor, list or dict) that its call takes."""
    structure = model.inputs[0] if isinstance(model, keras.Sequential) else model.input
    specs = [tf.TensorSpec(t.shape, t.dtype, name=t.name) for t in keras.tree.flatten(structure)]
    return specs, structure


def _subclassed_inputs(model: keras.Model, path: Path) -> tuple[list[tf.TensorSpec], object]:
    """A subclassed model has no input tensors, only the shape it was first built on; the
    structure has placeholders (0, [0, 1] or {name: 0}) where the tensors go."""
    shape = (model.get_build_config() or {}).get("input_shape")
    if shape is None:
        raise ExportError(
            f"{path}: the subclassed model {type(model).__name__} was saved before it was built (no input "
            "shape): call it on one batch before saving it"
        )
    structure: object
    if isinstance(shape, dict):
        names, shapes = sorted(shape), [shape[name] for name in sorted(shape)]
        structure = dict.fromkeys(names, 0)
    elif shape and isinstance(shape[0], list | tuple):
        names, shapes = [f"input_{i}" for i in range(len(shape))], list(shape)
        structure = [0] * len(shape)
    else:
        names, shapes, structure = ["input_0"], [shape], 0
    specs = [tf.TensorSpec([None, *s[1:]], tf.float32, name=n) for n, s in zip(names, shapes, strict=True)]
    return specs, structure


def _output_names(model: keras.Model, outputs) -> list[str]:
    if isinstance(outputs, dict):
        return list(outputs)
    count = len(keras.tree.flatten(outputs))
    if isinstance(model, keras.Sequential):
        own = [model.layers[-1].name]
    else:
        own = list(getattr(model, "output_names", None) or [])  # Functional only
    if len(own) == count and len(set(own)) == count:
        return own
    return [f"output_{i}" for i in range(count)]


def _fits(specs: list[tf.TensorSpec], like: list[tf.TensorSpec]) -> bool:
    return len(specs) == len(like) and all(
        s.dtype == o.dtype and s.shape.is_compatible_with(o.shape) for s, o in zip(specs, like, strict=True)
    )


def _renamed(specs: list[tf.TensorSpec], names: list[str], like: SourceModel, path: Path):
    if not _fits(specs, like.input_specs) or len(names) != len(like.output_names):
        theirs = [(s.dtype.name, s.shape.as_list()) for s in like.input_specs]
        raise ExportError(
            f"{path}: takes {[(s.dtype.name, s.shape.as_list()) for s in specs]} and gives {len(names)} "
            f"outputs; it must take {theirs} and give {len(like.output_names)}, like the model it replaces"
        )
    specs = [
        tf.TensorSpec(s.shape, s.dtype, name=o.name) for s, o in zip(specs, like.input_specs, strict=True)
    ]
    return specs, list(like.output_names)


def _trace(call: Callable, specs: list[tf.TensorSpec], path: Path):
    try:
        return tf.function(call, input_signature=specs).get_concrete_function().structured_outputs
    except Exception as e:  # whatever the model's own code raises on these shapes
        shapes = {s.name: s.shape.as_list() for s in specs}
        raise ExportError(f"{path}: the model does not run on inputs {shapes}: {one_line(e)}") from e


def from_keras(model: keras.Model, path: Path, like: SourceModel | None = None) -> SourceModel:
    if getattr(model, "inputs", None):
        specs, structure = _own_inputs(model)
    else:
        specs, structure = _subclassed_inputs(model, path)
    check_batchable(path, specs)

    def call(*tensors):
        return model(keras.tree.pack_sequence_as(structure, list(tensors)), training=False)

    names = _output_names(model, _trace(call, specs, path))
    own_names = list(names)
    if like is not None:
        specs, names = _renamed(specs, names, like, path)

    def serve(*tensors):
        outputs = call(*tensors)
        flat = [outputs[n] for n in own_names] if isinstance(outputs, dict) else keras.tree.flatten(outputs)
        return dict(zip(names, flat, strict=True))

    return SourceModel(path, specs, names, tf.function(serve, input_signature=specs), model)


def _load_message(path: Path, error: Exception) -> str:
    missing = re.search(r"Could not locate (?:class|function) '([^']+)'", str(error))
    if missing:
        return (
            f"{path}: cannot rebuild {missing.group(1)!r}, a subclassed model or custom layer whose Python "
            "code maas export does not have; save the model with model.export('DIR') (a SavedModel) "
            "and run maas export DIR"
        )
    if "`Lambda` layer" in str(error):  # Keras's safe mode: a lambda's code may be anything
        return (
            f"{path}: has a Lambda layer, which Keras loads only in unsafe mode and maas export does not; "
            "replace it with a registered custom layer, or save the model with model.export('DIR') "
            "and run maas export DIR"
        )
    return f"{path}: not a loadable Keras model: {one_line(error)}"


def load_keras(path: Path) -> SourceModel:
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as e:  # Keras raises many unrelated types (zip, h5py, JSON) for a bad file
        raise ExportError(_load_message(path, e)) from e
    return from_keras(model, path)
