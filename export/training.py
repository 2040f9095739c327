"""What pruning and distillation share: a single-output classifier, trained on labelled rows."""

import keras
import numpy as np

from export.data import Dataset
from export.errors import ExportError
from export.source import SourceModel

BATCH_SIZE = 32


def outputs_are_probabilities(outputs: np.ndarray) -> bool:
    """A classifier ending in softmax (rows >= 0 summing to 1) rather than in logits."""
    return bool((outputs >= 0).all() and np.allclose(outputs.sum(-1), 1.0, atol=1e-3))


def classifier_outputs(source: SourceModel, train: Dataset) -> np.ndarray:
    """The model's one output on the training rows, checked to be [N, classes]."""
    if len(source.output_names) != 1:
        raise ExportError(f"pruning and distillation need one classifier output, got {source.output_names}")
    outputs = source.predict(train.inputs)[source.output_names[0]]
    if outputs.ndim != 2 or outputs.shape[1] < 2:
        raise ExportError(f"pruning and distillation need [N, classes] outputs, got {list(outputs.shape)}")
    return outputs


def model_inputs(model: SourceModel, data: Dataset) -> np.ndarray | dict[str, np.ndarray]:
    """The rows as Keras's fit takes them: one array for a single input (a subclassed model
    would take a list of one as a batch of one), else a dict by input name."""
    if len(model.input_specs) == 1:
        return data.inputs[model.input_specs[0].name]
    return {spec.name: data.inputs[spec.name] for spec in model.input_specs}


def weight_count(model: keras.Model) -> int:
    return int(model.count_params())


def adam(learning_rate: float = 1e-3) -> keras.optimizers.Optimizer:
    return keras.optimizers.Adam(learning_rate)
