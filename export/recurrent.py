"""Recurrent layers (LSTM, GRU, SimpleRNN) made convertible. Keras 3 runs them as a TensorFlow
while loop over a TensorList whose element shape holds the free batch dimension; the TFLite
converter refuses that ("'tf.TensorListReserve' op requires element_shape to be static") and
tf2onnx writes an ONNX file onnxruntime cannot load ("Invalid tensor data type 0"). Unrolled
over a fixed number of steps the loop becomes plain ops both convert, so the model is rebuilt
(same weights) with `unroll=True` for the converters; parity still compares against the model
as it was. Unrolling needs the number of steps in the input shape, and a model Keras can clone
(Sequential or Functional): anything else is refused with what to change."""

import keras

from export.errors import ExportError
from export.keras_source import from_keras
from export.source import SourceModel


def _rolled(model: keras.Model) -> list[keras.layers.RNN]:
    return [layer for layer in model.layers if isinstance(layer, keras.layers.RNN) and not layer.unroll]


def _unrolled_copy(layer: keras.layers.Layer) -> keras.layers.Layer:
    config = layer.get_config()
    if isinstance(layer, keras.layers.RNN):
        config["unroll"] = True
    return layer.__class__.from_config(config)


def convertible(source: SourceModel) -> SourceModel:
    """`source` itself unless its Keras model has rolled recurrent layers: then an unrolled copy
    with the same weights and names."""
    model = source.keras_model
    if model is None:
        return source
    rolled = _rolled(model)
    if not rolled:
        return source
    names = [f"{type(layer).__name__} {layer.name!r}" for layer in rolled]
    if not getattr(model, "inputs", None):
        raise ExportError(
            f"{source.path}: {names} in a subclassed model cannot be unrolled for the converters; build it "
            "as a Sequential or Functional model, or create the layers with unroll=True"
        )
    if any(layer.input.shape[1] is None for layer in rolled):
        raise ExportError(
            f"{source.path}: {names} must be unrolled for the converters, which needs a fixed number of "
            "steps: give the input a shape like (steps, features), not (None, features)"
        )
    unrolled = keras.models.clone_model(model, clone_function=_unrolled_copy)
    unrolled.set_weights(model.get_weights())
    return from_keras(unrolled, source.path, like=source)
