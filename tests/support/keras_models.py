"""Small real Keras models and data files for the export tests, trained once per test session
(a few seconds) and shared through a directory under pytest's session temp dir."""

from pathlib import Path

import keras
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

DIGITS_KERAS = "digits.keras"
TRAIN = "train.npz"
TEST = "test.npz"


def build_digits(folder: Path, epochs: int = 25) -> Path:
    """digits.keras (pixels [N, 64] -> probabilities [N, 10], an MLP of 32) with train.npz and
    test.npz (pixels + labels, the held-out quarter) beside it; built once per folder."""
    folder.mkdir(parents=True, exist_ok=True)
    if (folder / DIGITS_KERAS).is_file():
        return folder
    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        digits.data.astype(np.float32), digits.target, test_size=0.25, random_state=0, stratify=digits.target
    )
    keras.utils.set_random_seed(0)
    pixels = keras.Input(shape=(64,), name="pixels")
    x = keras.layers.Rescaling(1 / 16)(pixels)
    x = keras.layers.Dense(32, activation="relu")(x)
    probabilities = keras.layers.Dense(10, activation="softmax", name="probabilities")(x)
    model = keras.Model(pixels, probabilities)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x_train, y_train, epochs=epochs, batch_size=32, verbose=0)
    np.savez(folder / TRAIN, pixels=x_train, labels=y_train)
    np.savez(folder / TEST, pixels=x_test, labels=y_test)
    model.save(folder / DIGITS_KERAS)
    return folder


def two_inputs(path: Path) -> Path:
    """a: float32 [N, 3], b: float32 [N, 2] -> score [N, 4] and total [N, 1]."""
    keras.utils.set_random_seed(1)
    a, b = keras.Input(shape=(3,), name="a"), keras.Input(shape=(2,), name="b")
    joined = keras.layers.Concatenate()([a, b])
    score = keras.layers.Dense(4, activation="tanh", name="score")(joined)
    total = keras.layers.Dense(1, name="total")(joined)
    keras.Model([a, b], [score, total]).save(path)
    return path


def fixed_batch(path: Path) -> Path:
    """x: float32 [1, 4] -> y [1, 2]: a batch dimension fixed at 1."""
    x = keras.Input(shape=(4,), batch_size=1, name="x")
    keras.Model(x, keras.layers.Dense(2, name="y")(x)).save(path)
    return path


def integer_input(path: Path) -> Path:
    """tokens: int32 [N, 3] (ids 0..7) -> weighted: float32 [N, 2]; a model taking integers."""
    keras.utils.set_random_seed(2)
    tokens = keras.Input(shape=(3,), dtype="int32", name="tokens")
    embedded = keras.layers.Flatten()(keras.layers.Embedding(8, 2)(tokens))
    keras.Model(tokens, keras.layers.Dense(2, name="weighted")(embedded)).save(path)
    return path


def small_student(path: Path) -> Path:
    """An untrained pixels [N, 64] -> probabilities [N, 10] MLP of 8, to be distilled into."""
    keras.utils.set_random_seed(3)
    pixels = keras.Input(shape=(64,), name="pixels")
    hidden = keras.layers.Dense(8, activation="relu")(keras.layers.Rescaling(1 / 16)(pixels))
    keras.Model(pixels, keras.layers.Dense(10, activation="softmax", name="probabilities")(hidden)).save(path)
    return path
