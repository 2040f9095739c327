"""Knowledge distillation: a smaller student learns from the teacher's softened outputs and from
the labels (Hinton et al.): loss = alpha * CE(labels, student)
+ (1 - alpha) * T^2 * KL(softmax(teacher_logits / T) || softmax(student_logits / T)).

The teacher is frozen, so its outputs are computed once and passed as targets beside the labels;
that also lets a plain SavedModel teach. Softmax outputs are turned back into logits with log(p),
which changes nothing after a softmax: softmax(log(softmax(z)) / T) = softmax(z / T)."""

from pathlib import Path

import keras
import numpy as np
from keras import ops

from export.data import Dataset
from export.errors import ExportError
from export.keras_source import from_keras
from export.loader import load_source
from export.source import KERAS_SUFFIXES, SourceModel
from export.training import (
    BATCH_SIZE,
    adam,
    classifier_outputs,
    model_inputs,
    outputs_are_probabilities,
    weight_count,
)

ALPHA = 0.3  # weight of the hard-label loss; the rest goes to the teacher's soft targets
_EPSILON = 1e-7


def _logits(outputs, probabilities: bool):
    return ops.log(ops.clip(outputs, _EPSILON, 1.0)) if probabilities else outputs


def distillation_loss(temperature: float, probabilities: bool, alpha: float = ALPHA):
    """y_true: [N, 1 + classes], the label then the teacher's logits; y_pred: the student's."""

    def loss(y_true, y_pred):
        labels = ops.cast(y_true[:, 0], "int32")
        teacher, student = y_true[:, 1:], _logits(y_pred, probabilities)
        hard = keras.losses.sparse_categorical_crossentropy(labels, student, from_logits=True)
        soft_teacher = ops.softmax(teacher / temperature, axis=-1)
        log_student = ops.log_softmax(student / temperature, axis=-1)
        kl = ops.sum(soft_teacher * (ops.log(ops.clip(soft_teacher, _EPSILON, 1.0)) - log_student), axis=-1)
        return alpha * hard + (1 - alpha) * temperature**2 * kl

    return loss


def _widths(spec: str) -> list[int]:
    try:
        widths = [int(w) for w in spec.split(",")]
    except ValueError:
        widths = []
    if not widths or min(widths) < 1:
        raise ExportError(f"--distill {spec!r}: give hidden layer widths like '32,16', or a Keras model file")
    return widths


def student_from_widths(
    teacher: SourceModel, widths: list[int], classes: int, probabilities: bool, train: Dataset
) -> keras.Model:
    """An MLP on the teacher's single [N, features] input: normalized inputs (statistics of the
    training rows), ReLU layers of the given widths, and the teacher's number of classes; its
    tensors take the teacher's names when it becomes a SourceModel."""
    spec = teacher.input_specs[0] if len(teacher.input_specs) == 1 else None
    if spec is None or spec.shape.rank != 2 or not spec.dtype.is_floating:
        raise ExportError("a student from widths needs a single float [N, features] input; give a Keras file")
    inputs = keras.Input(shape=spec.shape[1:], name=spec.name, dtype=spec.dtype.name)
    normalize = keras.layers.Normalization()
    normalize.adapt(train.inputs[spec.name])
    x = normalize(inputs)
    for width in widths:
        x = keras.layers.Dense(width, activation="relu")(x)
    outputs = keras.layers.Dense(classes, activation="softmax" if probabilities else None)(x)
    return keras.Model(inputs, outputs, name="student")


def _student(
    spec: str, teacher: SourceModel, classes: int, probabilities: bool, train: Dataset
) -> keras.Model:
    if Path(spec).suffix in KERAS_SUFFIXES:
        return load_source(Path(spec)).keras_model
    return student_from_widths(teacher, _widths(spec), classes, probabilities, train)


def distill(
    teacher: SourceModel, spec: str, train: Dataset, temperature: float, epochs: int
) -> tuple[SourceModel, dict]:
    if temperature <= 0:
        raise ExportError(f"--temperature must be positive, got {temperature}")
    soft = classifier_outputs(teacher, train)
    probabilities = outputs_are_probabilities(soft)
    student = _student(spec, teacher, soft.shape[1], probabilities, train)
    assert train.labels is not None  # --train rows are loaded with need_labels=True
    student_source = from_keras(student, Path(spec), like=teacher)  # checked before training
    teacher_logits = np.log(np.clip(soft, _EPSILON, 1.0)) if probabilities else soft
    targets = np.concatenate([train.labels[:, None].astype(np.float32), teacher_logits], axis=1)
    student.compile(adam(3e-3), distillation_loss(temperature, probabilities))
    student.fit(model_inputs(teacher, train), targets, batch_size=BATCH_SIZE, epochs=epochs, verbose=0)
    info = {
        "student": spec,
        "temperature": temperature,
        "alpha": ALPHA,
        "epochs": epochs,
        "teacher_weights": weight_count(teacher.keras_model) if teacher.keras_model else None,
        "student_weights": weight_count(student),
    }
    return student_source, info
