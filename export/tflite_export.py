"""TensorFlow -> TFLite with the TFLiteConverter, optionally quantized. Without `optimizations`
the converter quantizes nothing: every mode below sets them."""

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import tensorflow as tf

from export.data import Dataset
from export.source import SERVING_KEY, SourceModel

REPRESENTATIVE_ROWS = 256


def _representative(data: Dataset) -> Iterator[dict[str, np.ndarray]]:
    data = data.head(REPRESENTATIVE_ROWS)
    for row in range(data.rows):
        yield {name: values[row : row + 1] for name, values in data.inputs.items()}


def _all_float(specs) -> bool:
    return all(spec.dtype.is_floating for spec in specs)


def to_tflite(
    source: SourceModel,
    saved_model_dir: Path,
    out_path: Path,
    quantize: str | None,
    representative: Dataset | None,
) -> Path:
    """`float16`: float16 weights; `dynamic`: int8 weights, float activations; `int8`: full
    integer, activations calibrated on the representative rows, and int8 inputs/outputs (with
    their scale and zero point) when the model's own are float."""
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model_dir), signature_keys=[SERVING_KEY])
    if quantize is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif quantize == "int8":
        assert representative is not None  # ExportOptions requires --calibration for int8
        converter.representative_dataset = lambda: _representative(representative)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if _all_float(source.input_specs):
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
    out_path.write_bytes(converter.convert())
    return out_path
