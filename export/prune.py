"""Magnitude pruning of a Keras 3 model, with fine-tuning, the way tensorflow-model-optimization's
`prune_low_magnitude` does it: the sparsity of every kernel rises on a cubic schedule from 0 to the
target over the first two thirds of the fine-tuning steps, the smallest weights masked to zero and
kept there after every step; the result is a plain model (nothing to strip) with exact zeros.

tfmot itself (0.8.1) refuses Keras 3 models, and its Keras 2 (`tf_keras`) cannot load .keras or
.h5 files written by Keras 3 (README, "Export and optimize"), hence this short routine.
Unstructured zeros make no dense runtime faster; they make the file compress smaller."""

import math

import keras
import numpy as np

from export.data import Dataset
from export.errors import ExportError
from export.keras_source import from_keras
from export.source import SourceModel
from export.training import BATCH_SIZE, adam, classifier_outputs, model_inputs, outputs_are_probabilities


def sparsity_at(step: int, end_step: int, target: float) -> float:
    """tfmot's PolynomialDecay(initial 0, power 3): fast at first, flat near the target."""
    progress = min(step / end_step, 1.0)
    return target * (1.0 - (1.0 - progress) ** 3)


def magnitude_mask(weights: np.ndarray, sparsity: float) -> np.ndarray:
    """True where a weight survives: all but the `sparsity` fraction of smallest magnitudes."""
    pruned = int(round(sparsity * weights.size))
    mask = np.ones(weights.size, bool)
    mask[np.argsort(np.abs(weights), axis=None, kind="stable")[:pruned]] = False
    return mask.reshape(weights.shape)


class MagnitudePruning(keras.callbacks.Callback):
    def __init__(self, kernels: list, target: float, end_step: int, frequency: int):
        super().__init__()
        self.kernels, self.target, self.end_step, self.frequency = kernels, target, end_step, frequency
        self.masks = [np.ones(k.shape, bool) for k in kernels]
        self.step = 0

    def on_train_batch_begin(self, batch, logs=None):
        if self.step % self.frequency == 0 or self.step >= self.end_step:
            sparsity = sparsity_at(self.step, self.end_step, self.target)
            self.masks = [magnitude_mask(k.numpy(), sparsity) for k in self.kernels]

    def on_train_batch_end(self, batch, logs=None):
        self.apply()
        self.step += 1

    def apply(self) -> None:
        for kernel, mask in zip(self.kernels, self.masks, strict=True):
            kernel.assign(kernel.numpy() * mask)


def prune(source: SourceModel, sparsity: float, train: Dataset, epochs: int) -> tuple[SourceModel, dict]:
    if source.keras_model is None:
        raise ExportError(f"{source.path}: pruning needs a Keras model (.keras, .h5), not a SavedModel")
    probabilities = outputs_are_probabilities(classifier_outputs(source, train))
    model = keras.models.clone_model(source.keras_model)
    model.set_weights(source.keras_model.get_weights())
    kernels = [layer.kernel for layer in model.layers if getattr(layer, "kernel", None) is not None]
    if not kernels:
        raise ExportError(f"{source.path}: no layer with a kernel to prune")
    steps = epochs * math.ceil(train.rows / BATCH_SIZE)
    end_step = max(1, (2 * steps) // 3)
    pruning = MagnitudePruning(kernels, sparsity, end_step, frequency=max(1, end_step // 10))
    model.compile(adam(), keras.losses.SparseCategoricalCrossentropy(from_logits=not probabilities))
    model.fit(
        model_inputs(source, train),
        train.labels,
        batch_size=BATCH_SIZE,
        epochs=epochs,
        verbose=0,
        callbacks=[pruning],
    )
    pruning.masks = [magnitude_mask(k.numpy(), sparsity) for k in kernels]
    pruning.apply()
    zeros = sum(int((k.numpy() == 0).sum()) for k in kernels)
    total = sum(int(np.prod(k.shape)) for k in kernels)
    info = {
        "target_sparsity": sparsity,
        "kernel_sparsity": zeros / total,
        "fine_tune_epochs": epochs,
        "fine_tune_steps": steps,
    }
    return from_keras(model, source.path, like=source), info
