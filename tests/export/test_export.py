"""The export toolchain on real models: Keras -> ONNX / TFLite through real converters, checked in
the runtimes the service uses (onnxruntime, LiteRT), registered into a real repository."""

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from ai_edge_litert.interpreter import Interpreter
from onnx import numpy_helper

from export.artifact import weight_matrices
from export.loader import load_source
from export.options import ExportOptions
from export.parity import DEFAULT_TOLERANCE
from export.pipeline import run_export
from maas.models.registry import ModelRepository
from maas.models.tflite_signature import read_tflite_signature
from tests.support import keras_models


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> Path:
    return keras_models.build_digits(tmp_path_factory.getbasetemp() / "keras-digits")


def export(digits: Path, tmp_path: Path, **options) -> dict:
    options.setdefault("validate", digits / keras_models.TEST)
    options.setdefault("output", tmp_path / ("out." + options.get("to", "onnx")))
    return run_export(ExportOptions(model=digits / keras_models.DIGITS_KERAS, **options)).report


@pytest.mark.parametrize("to", ["onnx", "tflite"])
def test_float32_exports_agree_with_keras_within_1e_5_on_held_out_digits(digits, tmp_path, to):
    report = export(digits, tmp_path, to=to)
    parity = report["parity"]
    assert parity["rows"] == 450 and parity["passed"]
    assert parity["max_abs_diff"] <= 1e-5
    assert parity["top1_agreement"] == 1.0
    assert parity["accuracy"]["artifact"] == parity["accuracy"]["reference"] > 0.9
    signature = report["signature"]
    assert signature["inputs"] == [{"name": "pixels", "dtype": "float32", "shape": [None, 64]}]
    assert signature["outputs"] == [{"name": "probabilities", "dtype": "float32", "shape": [None, 10]}]
    assert set(parity["latency_ms"]["artifact"]) == {"1", "32"}


@pytest.mark.parametrize(
    "to, quantize",
    [
        ("tflite", "float16"),
        ("tflite", "dynamic"),
        ("tflite", "int8"),
        ("onnx", "dynamic"),
        ("onnx", "static"),
    ],
)
def test_quantized_exports_stay_within_tolerance_and_two_accuracy_points(digits, tmp_path, to, quantize):
    report = export(digits, tmp_path, to=to, quantize=quantize, calibration=digits / keras_models.TRAIN)
    parity = report["parity"]
    assert parity["passed"]
    assert parity["max_abs_diff"] <= DEFAULT_TOLERANCE[quantize]
    assert parity["max_abs_diff"] > 0  # it really was quantized
    assert parity["accuracy"]["reference"] - parity["accuracy"]["artifact"] <= 0.02
    assert 0.95 <= parity["top1_agreement"] <= 1.0
    # the converters may leave tiny matrices alone (TFLite's dynamic range skips < 1024 weights)
    largest = max(weight_matrices(tmp_path / f"out.{to}"), key=lambda w: w.size)
    assert largest.dtype.name == ("float16" if quantize == "float16" else "int8")


def test_full_int8_tflite_takes_int8_but_its_signature_says_float(digits, tmp_path):
    out = tmp_path / "int8.tflite"
    calibration = digits / keras_models.TRAIN
    export(digits, tmp_path, to="tflite", quantize="int8", calibration=calibration, output=out)
    (tensor,) = Interpreter(model_path=str(out)).get_input_details()
    assert tensor["dtype"] == np.int8 and tensor["quantization"][0] > 0
    signature = read_tflite_signature(out)
    assert [(t.name, t.dtype.name) for t in signature.inputs] == [("pixels", "float32")]
    assert [(t.name, t.dtype.name) for t in signature.outputs] == [("probabilities", "float32")]


def _onnx_kernel_sparsity(path: Path) -> float:
    kernels = [numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer]
    kernels = [k for k in kernels if k.ndim == 2]
    return sum(int((k == 0).sum()) for k in kernels) / sum(k.size for k in kernels)


def test_pruning_reaches_the_requested_sparsity_in_the_exported_weights(digits, tmp_path):
    out = tmp_path / "pruned.onnx"
    report = export(digits, tmp_path, prune=0.7, train=digits / keras_models.TRAIN, epochs=4, output=out)
    assert _onnx_kernel_sparsity(out) == pytest.approx(0.7, abs=0.005)
    assert report["weight_sparsity"] == pytest.approx(0.7, abs=0.005)
    assert report["pruning"]["target_sparsity"] == 0.7
    dense = export(digits, tmp_path, validate=None)
    assert report["file"]["gzip_bytes"] < 0.6 * dense["file"]["gzip_bytes"]
    assert report["parity"]["max_abs_diff"] <= 1e-5  # the artifact is the pruned model, exactly
    assert report["original"]["accuracy"] - report["parity"]["accuracy"]["artifact"] <= 0.05


def test_distillation_gives_a_smaller_student_with_its_accuracy_reported(digits, tmp_path):
    train = digits / keras_models.TRAIN
    report = export(digits, tmp_path, distill="16", train=train, epochs=15, temperature=3.0)
    info = report["distillation"]
    assert info["student_weights"] < info["teacher_weights"] / 1.5
    assert report["parity"]["accuracy"]["artifact"] >= 0.85
    assert report["original"]["accuracy"] >= 0.9
    assert report["original"]["top1_agreement"] >= 0.85
    assert report["signature"]["outputs"][0]["name"] == "probabilities"


@pytest.mark.parametrize("to", ["onnx", "tflite"])
def test_a_two_input_model_keeps_its_tensor_names(tmp_path, to):
    model = keras_models.two_inputs(tmp_path / "pair.keras")
    rows = np.random.default_rng(0).standard_normal((20, 5)).astype(np.float32)
    np.savez(tmp_path / "rows.npz", a=rows[:, :3], b=rows[:, 3:])
    root = tmp_path / "models"
    result = run_export(
        ExportOptions(
            model=model, to=to, validate=tmp_path / "rows.npz", register="pair", model_repository=root
        )
    )
    assert result.report["parity"]["max_abs_diff"] <= 1e-5
    registered = ModelRepository(root).get("pair")
    assert registered.path.name == f"model.{to}"
    assert [t.name for t in registered.signature.inputs] == ["a", "b"]
    assert sorted(t.name for t in registered.signature.outputs) == ["score", "total"]
    assert json.loads((registered.path.parent / "report.json").read_text())["parity"]["passed"]


def test_a_saved_model_directory_exports_too(digits, tmp_path):
    saved = tmp_path / "saved"
    load_source(digits / keras_models.DIGITS_KERAS).keras_model.export(saved, verbose=False)
    report = run_export(
        ExportOptions(model=saved, to="onnx", validate=digits / keras_models.TEST, output=tmp_path / "s.onnx")
    ).report
    assert report["parity"]["max_abs_diff"] <= 1e-5
    assert report["signature"]["inputs"][0]["shape"] == [None, 64]


def test_a_student_given_as_a_keras_file_learns_from_the_teacher(digits, tmp_path):
    student = keras_models.small_student(tmp_path / "student.keras")
    report = export(digits, tmp_path, distill=str(student), train=digits / keras_models.TRAIN, epochs=15)
    assert report["distillation"]["student_weights"] < report["distillation"]["teacher_weights"] / 3
    assert report["parity"]["accuracy"]["artifact"] >= 0.8  # an untrained student scores ~0.1
