"""Small real Keras models and data files for the export tests, trained once per test session
(a few seconds) and shared through a directory under pytest's session temp dir."""

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
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


# One tiny model of every kind `maas export` takes (README "Export and optimize"), each written
# with ROWS rows of inputs (`<stem>.npz`, and `labels` for 3 classes) beside it.
ROWS = 16
CLASSES = 3


def _rows(path: Path, **inputs: np.ndarray) -> Path:
    labels = np.arange(ROWS) % CLASSES
    np.savez(path.with_suffix(".npz"), labels=labels, **{k: v.astype(v.dtype) for k, v in inputs.items()})
    return path


def _floats(*shape: int) -> np.ndarray:
    return np.random.default_rng(sum(shape)).standard_normal((ROWS, *shape)).astype(np.float32)


def sequential(path: Path) -> Path:
    """The README's motivating model, narrower: Input, Dense relu, Dense relu, Dense softmax."""
    keras.utils.set_random_seed(4)
    layers = [keras.layers.Dense(8, activation="relu"), keras.layers.Dense(CLASSES, activation="softmax")]
    keras.Sequential([keras.Input(shape=(6,)), keras.layers.Dense(8, activation="relu"), *layers]).save(path)
    return _rows(path, x=_floats(6))


def sequential_input_shape(path: Path) -> Path:
    """Sequential with `input_shape=` on its first layer (Keras 2 style); .h5 gives the legacy file."""
    keras.utils.set_random_seed(5)
    first = keras.layers.Dense(8, activation="relu", input_shape=(6,))
    keras.Sequential([first, keras.layers.Dense(CLASSES, activation="softmax")]).save(path)
    return _rows(path, x=_floats(6))


@keras.saving.register_keras_serializable("maas_tests")
class TinySubclassed(keras.Model):
    """A subclassed model whose class is importable (registered) where the export runs."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden = keras.layers.Dense(8, activation="relu")
        self.out = keras.layers.Dense(CLASSES, activation="softmax")

    def call(self, inputs):
        return self.out(self.hidden(inputs))


def _tiny_subclassed() -> TinySubclassed:
    keras.utils.set_random_seed(6)
    model = TinySubclassed()
    model(np.zeros((2, 6), np.float32))  # built on a batch of 2: the export frees the batch size
    return model


def subclassed(path: Path) -> Path:
    _tiny_subclassed().save(path)
    return _rows(path, x=_floats(6))


def subclassed_saved_model(path: Path) -> Path:
    """The fix the refusal of an unimportable subclass names: model.export(DIR), a SavedModel."""
    _tiny_subclassed().export(str(path), verbose=False)
    _rows(path, x=_floats(6))
    return path


def convolutional(path: Path) -> Path:
    """Conv2D, BatchNormalization (moving statistics far from 0 and 1) and Dropout (0.5): the
    export must run them in inference mode, as Keras's predict does."""
    keras.utils.set_random_seed(7)
    norm = keras.layers.BatchNormalization()
    model = keras.Sequential(
        [
            keras.Input(shape=(6, 6, 1), name="image"),
            keras.layers.Conv2D(4, 3, activation="relu"),
            norm,
            keras.layers.Dropout(0.5),
            keras.layers.Flatten(),
            keras.layers.Dense(CLASSES, activation="softmax", name="classes"),
        ]
    )
    rng = np.random.default_rng(7)
    norm.set_weights([rng.uniform(0.5, 2, 4), rng.normal(0, 1, 4), rng.normal(1, 1, 4), rng.uniform(2, 4, 4)])
    model.save(path)
    return _rows(path, image=_floats(6, 6, 1))


def preprocessing(path: Path) -> Path:
    """Normalization (adapted) and Rescaling layers inside the model, on raw values 0-255."""
    keras.utils.set_random_seed(8)
    raw = (np.abs(_floats(5)) * 80).round()
    normalize = keras.layers.Normalization()
    normalize.adapt(raw)
    inputs = keras.Input(shape=(5,), name="raw")
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Concatenate()([x, normalize(inputs)])
    keras.Model(inputs, keras.layers.Dense(CLASSES, activation="softmax", name="p")(x)).save(path)
    return _rows(path, raw=raw)


def embedding(path: Path) -> Path:
    """int32 token ids -> Embedding -> pooled -> classes: a model taking integers."""
    keras.utils.set_random_seed(9)
    model = keras.Sequential(
        [
            keras.Input(shape=(4,), dtype="int32", name="tokens"),
            keras.layers.Embedding(10, 4),
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dense(CLASSES, activation="softmax"),
        ]
    )
    model.save(path)
    tokens = np.random.default_rng(9).integers(0, 10, (ROWS, 4)).astype(np.int32)
    return _rows(path, tokens=tokens)


def recurrent(path: Path, layer: str = "LSTM") -> Path:
    """A sequence of 5 steps of 3 features -> LSTM (or GRU) of 4 -> classes."""
    keras.utils.set_random_seed(10)
    cell = getattr(keras.layers, layer)(4)
    keras.Sequential(
        [keras.Input(shape=(5, 3)), cell, keras.layers.Dense(CLASSES, activation="softmax")]
    ).save(path)
    return _rows(path, x=_floats(5, 3))


def named_inputs_and_outputs(path: Path) -> Path:
    """Inputs and outputs given as dicts: {"a", "b"} -> {"score", "total"} (not the layer names)."""
    keras.utils.set_random_seed(11)
    a, b = keras.Input(shape=(3,), name="a"), keras.Input(shape=(2,), name="b")
    joined = keras.layers.Concatenate()([a, b])
    outputs = {
        "total": keras.layers.Dense(1)(joined),
        "score": keras.layers.Dense(CLASSES, activation="softmax")(joined),
    }
    keras.Model({"b": b, "a": a}, outputs).save(path)
    return _rows(path, a=_floats(3), b=_floats(2))


class _Affine(tf.Module):
    """A plain TensorFlow module (no Keras): softmax(x @ w + b) over 4 features."""

    def __init__(self):
        rng = np.random.default_rng(12)
        self.w = tf.Variable(rng.standard_normal((4, CLASSES)).astype(np.float32))
        self.b = tf.Variable(rng.standard_normal(CLASSES).astype(np.float32))

    @tf.function
    def __call__(self, x):
        return tf.nn.softmax(tf.matmul(x, self.w) + self.b)


def module_saved_model(path: Path) -> Path:
    """tf.saved_model.save of a tf.Module with its serving signature given (the output is then
    named `output_0`); unsigned_module below is the same without one."""
    module = _Affine()
    signature = module.__call__.get_concrete_function(tf.TensorSpec([None, 4], tf.float32, name="x"))
    tf.saved_model.save(module, str(path), signatures=signature)
    _rows(path, x=_floats(4))
    return path


def unsigned_module(path: Path) -> Path:
    """The same module saved without signatures: TensorFlow keeps its functions, none to serve."""
    module = _Affine()
    module(tf.zeros([1, 4]))
    tf.saved_model.save(module, str(path))
    return path
