"""Tiny Keras models `maas export` must refuse with one line that names the fix (each beside the
kind it differs from in keras_models)."""

from pathlib import Path

import keras
import numpy as np

from tests.support.keras_models import TinySubclassed


def unimportable_subclass(path: Path) -> Path:
    """A subclassed model whose class lives only in the function that saved it."""

    class ScriptOnly(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.out = keras.layers.Dense(2)

        def call(self, inputs):
            return self.out(inputs)

    model = ScriptOnly()
    model(np.zeros((1, 4), np.float32))
    model.save(path)
    return path


def unbuilt_subclass(path: Path) -> Path:
    """A subclassed model saved before it was ever called: no input shape anywhere."""
    TinySubclassed().save(path)
    return path


def lambda_layer(path: Path) -> Path:
    """A Lambda layer: its Python code loads only in Keras's unsafe mode."""
    model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Lambda(lambda x: x * 2)])
    model.save(path)
    return path


def steps_unknown(path: Path) -> Path:
    """An LSTM over sequences of any length: cannot be unrolled for the converters."""
    model = keras.Sequential([keras.Input(shape=(None, 3)), keras.layers.LSTM(2), keras.layers.Dense(2)])
    model.save(path)
    return path
