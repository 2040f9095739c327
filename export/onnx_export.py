"""TensorFlow -> ONNX with tf2onnx, and int8 quantization with onnxruntime.quantization."""

from pathlib import Path

import numpy as np
import tf2onnx
from onnxruntime.quantization import (
    CalibrationDataReader,
    QuantFormat,
    QuantType,
    quantize_dynamic,
    quantize_static,
)
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

from export.data import Dataset
from export.source import SourceModel

OPSET = 17
CALIBRATION_ROWS = 512


def to_onnx(source: SourceModel, out_path: Path) -> Path:
    """Converts the model's serving function, frozen first: tf2onnx's own from_function turns
    tensors the function captures (e.g. an adapted Normalization layer's mean under Keras 3)
    into extra graph inputs, which freezing makes constants. Input and output names are the
    model's own; the batch dimension stays dynamic."""
    concrete = source.serve.get_concrete_function()
    frozen = convert_variables_to_constants_v2(concrete)
    # serve returns a dict, flattened in sorted key order, as frozen.outputs lists the tensors.
    output_keys = sorted(concrete.structured_outputs)
    renames = {t.name: spec.name for t, spec in zip(frozen.inputs, source.input_specs, strict=True)}
    renames |= {t.name: key for t, key in zip(frozen.outputs, output_keys, strict=True)}
    tf2onnx.convert.from_graph_def(
        frozen.graph.as_graph_def(),
        input_names=[t.name for t in frozen.inputs],
        output_names=[t.name for t in frozen.outputs],
        opset=OPSET,
        tensors_to_rename=renames,
        output_path=str(out_path),
    )
    return out_path


class _Calibration(CalibrationDataReader):
    """Feeds calibration rows in small batches to the static quantizer."""

    def __init__(self, data: Dataset, batch_rows: int = 32):
        data = data.head(CALIBRATION_ROWS)
        starts = range(0, data.rows, batch_rows)
        self._batches = iter([{k: v[i : i + batch_rows] for k, v in data.inputs.items()} for i in starts])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)


def quantize_onnx(float_path: Path, out_path: Path, mode: str, calibration: Dataset | None) -> Path:
    """`dynamic`: int8 weights, activations quantized on the fly; `static`: int8 weights and
    activations with ranges from the calibration rows (QDQ format). reduce_range (7-bit) because
    on CPUs without VNNI the full 8-bit range saturates onnxruntime's int8 kernels: about 10%
    relative error on digits without it, about 2% with it."""
    if mode == "dynamic":
        quantize_dynamic(float_path, out_path, weight_type=QuantType.QInt8, reduce_range=True)
    else:
        assert calibration is not None  # ExportOptions requires --calibration for static
        quantize_static(
            float_path,
            out_path,
            _Calibration(calibration),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
            reduce_range=True,
        )
    return out_path
