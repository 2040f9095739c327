"""Every common kind of Keras/TensorFlow model through `maas export`, each a tiny model with 16
rows: float32 within 1e-5 of the model in both formats, every quantization mode within its
tolerance, the served signature's names, pruning and distillation of a Sequential model, and
one-line refusals (exit 2) naming the fix for what cannot be exported."""

from pathlib import Path

import keras
import numpy as np
import pytest

from export.artifact import artifact_runner
from export.options import QUANTIZE_MODES, ExportOptions
from export.parity import DEFAULT_TOLERANCE
from export.pipeline import run_export
from export.source import one_line
from tests.support import keras_models

# Names Keras gives layers it names itself (input_layer_3, dense_2: the counts depend on what
# the process built before) are read back from the file.
_INPUT_LAYER = "<input layer>"  # an unnamed keras.Input is named after its input layer
_LAST_LAYER = "<last layer>"  # a Sequential model's output is named after its last layer
# kind: (builder, file suffix, input names, output names)
KINDS = {
    "sequential": (keras_models.sequential, ".keras", [_INPUT_LAYER], [_LAST_LAYER]),
    "sequential_input_shape": (keras_models.sequential_input_shape, ".keras", None, [_LAST_LAYER]),
    "legacy_h5": (keras_models.sequential_input_shape, ".h5", None, [_LAST_LAYER]),
    "subclassed": (keras_models.subclassed, ".keras", ["input_0"], ["output_0"]),
    "subclassed_exported": (keras_models.subclassed_saved_model, "", None, ["output_0"]),
    "convolutional": (keras_models.convolutional, ".keras", ["image"], ["classes"]),
    "preprocessing": (keras_models.preprocessing, ".keras", ["raw"], ["p"]),
    "embedding": (keras_models.embedding, ".keras", ["tokens"], [_LAST_LAYER]),
    "lstm": (keras_models.recurrent, ".keras", None, [_LAST_LAYER]),
    "gru": (lambda path: keras_models.recurrent(path, "GRU"), ".keras", None, [_LAST_LAYER]),
    "named_inputs_and_outputs": (
        keras_models.named_inputs_and_outputs,
        ".keras",
        ["a", "b"],
        ["score", "total"],
    ),
    "tf_module": (keras_models.module_saved_model, "", ["x"], ["output_0"]),
}
# One of each kind of graph for the quantizers (the others repeat these ops).
QUANTIZED_KINDS = ["sequential", "subclassed", "convolutional", "preprocessing", "embedding", "lstm"]
QUANTIZED_KINDS += ["named_inputs_and_outputs", "tf_module"]


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("kinds")
    return {kind: build(folder / (kind + suffix)) for kind, (build, suffix, *_) in KINDS.items()}


def _rows(model: Path) -> Path:
    return model.with_suffix(".npz")


def _export(model: Path, tmp_path: Path, to: str, **options) -> dict:
    out = tmp_path / f"out.{to}"
    return run_export(ExportOptions(model=model, to=to, validate=_rows(model), output=out, **options)).report


def _expected_inputs(kind: str, model: Path) -> list[str] | None:
    names = KINDS[kind][2]
    if names == [_INPUT_LAYER]:
        return [keras.models.load_model(model, compile=False).inputs[0].name]
    return names


def _expected_outputs(kind: str, model: Path) -> list[str]:
    names = KINDS[kind][3]
    if names == [_LAST_LAYER]:
        return [keras.models.load_model(model, compile=False).layers[-1].name]
    return names


@pytest.mark.parametrize("to", ["onnx", "tflite"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_exports_in_float32_within_1e_5_with_stable_names(models, tmp_path, kind, to):
    report = _export(models[kind], tmp_path, to)
    parity = report["parity"]
    assert parity["passed"] and parity["rows"] == keras_models.ROWS
    assert parity["max_abs_diff"] <= 1e-5
    signature = report["signature"]
    if KINDS[kind][2] is not None:
        assert [t["name"] for t in signature["inputs"]] == _expected_inputs(kind, models[kind])
    assert sorted(t["name"] for t in signature["outputs"]) == _expected_outputs(kind, models[kind])
    assert all(t["shape"][0] is None for t in signature["inputs"] + signature["outputs"])


@pytest.mark.parametrize(
    "to, quantize", [(to, mode) for to, modes in QUANTIZE_MODES.items() for mode in modes]
)
@pytest.mark.parametrize("kind", QUANTIZED_KINDS)
def test_every_kind_quantizes_within_the_modes_tolerance(models, tmp_path, kind, to, quantize):
    report = _export(models[kind], tmp_path, to, quantize=quantize, calibration=_rows(models[kind]))
    assert report["parity"]["passed"]
    assert report["parity"]["max_abs_diff"] <= DEFAULT_TOLERANCE[quantize]


def test_batch_normalization_and_dropout_answer_as_keras_predict_does(models, tmp_path):
    model = models["convolutional"]
    images = np.load(_rows(model))["image"]
    expected = keras.models.load_model(model).predict(images, verbose=0)
    for to in ("onnx", "tflite"):
        _export(model, tmp_path, to)
        exported = artifact_runner(tmp_path / f"out.{to}")({"image": images})["classes"]
        np.testing.assert_allclose(exported, expected, atol=1e-5)


@pytest.mark.parametrize("kind", ["sequential", "subclassed"])
@pytest.mark.parametrize("change", [{"prune": 0.5}, {"distill": "4"}])
def test_sequential_and_subclassed_models_prune_and_teach(models, tmp_path, kind, change):
    model = models[kind]
    report = _export(model, tmp_path, "onnx", train=_rows(model), epochs=1, **change)
    assert report["parity"]["passed"] and report["parity"]["max_abs_diff"] <= 1e-5
    assert [t["name"] for t in report["signature"]["outputs"]] == _expected_outputs(kind, model)
    if "prune" in change:
        assert report["weight_sparsity"] == pytest.approx(0.5, abs=0.05)
    else:
        assert report["distillation"]["student_weights"] < report["distillation"]["teacher_weights"]


def test_converter_and_traced_errors_shrink_to_the_error_itself():
    mlir = Exception(
        '<unknown>:0: error: loc(callsite(fused["TensorListReserve:", "lstm"] at fused["a"])): '
        "'tf.TensorListReserve' op requires element_shape to be static\n<unknown>:0: note: see operation"
    )
    assert one_line(mlir) == "'tf.TensorListReserve' op requires element_shape to be static"
    traced = Exception(
        'in user code:\n\n    File "x.py", line 1, in call  *\n        return model(x)\n\n'
        "    ValueError: Exception encountered when calling LSTM.call().\n    \n"
        "    \x1b[1mCannot unroll\x1b[0m\n"
    )
    assert one_line(traced) == "ValueError: Exception encountered when calling LSTM.call(). Cannot unroll"
