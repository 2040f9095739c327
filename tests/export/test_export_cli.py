"""`maas export` from the command line: bad input gets a clear message and exit code and leaves the
model repository untouched; a good export is registered as the next version."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from maas.cli.app import app
from maas.models.registry import ModelRepository
from tests.conftest import REPO_ROOT
from tests.support import keras_models, keras_refused


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> Path:
    return keras_models.build_digits(tmp_path_factory.getbasetemp() / "keras-digits")


def maas_export(*args) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["export", *map(str, args)])
    return result.exit_code, result.output


def test_a_good_export_is_registered_as_the_next_version(digits, tmp_path):
    root = tmp_path / "models"
    for expected_version in (1, 2):
        code, output = maas_export(
            digits / keras_models.DIGITS_KERAS,
            "--to",
            "tflite",
            "--validate",
            digits / keras_models.TEST,
            "--register",
            "digits",
            "--model-repository",
            root,
            "--report",
            tmp_path / "report.json",
        )
        assert code == 0, output
        assert f"registered digits version {expected_version}" in output
    version = ModelRepository(root).get("digits")
    assert (version.version, version.runtime, version.path.name) == (2, "litert", "model.tflite")
    assert version.config.max_batch_size == 64
    report = json.loads((tmp_path / "report.json").read_text())
    assert report == json.loads((version.path.parent / "report.json").read_text())
    assert report["parity"]["passed"] and report["file"]["size_bytes"] == version.path.stat().st_size


def _not_a_model(tmp_path: Path) -> Path:
    path = tmp_path / "notes.keras"
    path.write_text("these are notes, not a model")
    return path


def _fixed_batch(tmp_path: Path) -> Path:
    return keras_models.fixed_batch(tmp_path / "fixed.keras")


@pytest.mark.parametrize(
    "make_model, options, message",
    [
        (_not_a_model, [], "not a loadable Keras model"),
        (lambda tmp: tmp / "missing.h5", [], "not a Keras model file (.keras, .h5) or a SavedModel"),
        (lambda tmp: tmp, [], "not a Keras model file (.keras, .h5) or a SavedModel"),
        (
            None,
            ["--quantize", "int4"],
            "--quantize 'int4' is unknown for onnx; choose one of ['dynamic', 'static']",
        ),
        (None, ["--to", "tflite", "--quantize", "static"], "is unknown for tflite"),
        (None, ["--quantize", "static"], "--quantize static needs calibration rows"),
        (None, ["--to", "tflite", "--quantize", "int8"], "--quantize int8 needs calibration rows"),
        (_fixed_batch, [], "have no dynamic batch dimension"),
        (None, ["--prune", "0.5"], "need labelled training rows"),
        (None, ["--to", "coreml"], "--to 'coreml'"),
    ],
)
def test_bad_input_gets_a_clear_message_exit_code_2_and_registers_nothing(
    digits, tmp_path, make_model, options, message
):
    model = make_model(tmp_path) if make_model else digits / keras_models.DIGITS_KERAS
    root = tmp_path / "models"
    code, output = maas_export(model, *options, "--register", "digits", "--model-repository", root)
    assert code == 2, output
    assert message in " ".join(output.split()), output
    assert "Traceback" not in output
    assert not root.exists() or not ModelRepository(root).versions("digits")


def test_an_export_beyond_tolerance_exits_3_and_registers_nothing(digits, tmp_path):
    root = tmp_path / "models"
    code, output = maas_export(
        digits / keras_models.DIGITS_KERAS,
        "--to",
        "tflite",
        "--quantize",
        "dynamic",
        "--validate",
        digits / keras_models.TEST,
        "--tolerance",
        "1e-9",
        "--register",
        "digits",
        "--model-repository",
        root,
        "--report",
        tmp_path / "report.json",
    )
    assert code == 3, output
    assert "differs from the model" in output and "nothing registered" in output
    assert not ModelRepository(root).versions("digits")
    assert json.loads((tmp_path / "report.json").read_text())["parity"]["passed"] is False


def test_no_other_command_and_no_worker_imports_tensorflow():
    probe = (
        "import sys, maas.cli.app, api.app, worker.batch.service, worker.runtimes.catalog; "
        "print(sorted(m for m in ('tensorflow', 'keras', 'tf2onnx') if m in sys.modules))"
    )
    printed = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert printed.stdout.strip() == "[]"


def test_help_answers_without_importing_tensorflow():
    probe = (
        "import sys; from typer.testing import CliRunner; from maas.cli.app import app; "
        "result = CliRunner().invoke(app, ['export', '--help']); "
        "print(result.exit_code, '--quantize' in result.output, 'tensorflow' in sys.modules)"
    )
    printed = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert printed.stdout.split() == ["0", "True", "False"], printed.stderr


@pytest.fixture(scope="module")
def sequential(tmp_path_factory) -> Path:
    return keras_models.sequential(tmp_path_factory.mktemp("sequential") / "mlp.keras")


def test_a_sequential_model_registers_and_json_puts_the_report_alone_on_stdout(sequential, tmp_path):
    root = tmp_path / "models"
    args = [sequential, "--validate", sequential.with_suffix(".npz"), "--register", "mlp"]
    result = CliRunner().invoke(app, ["export", *map(str, args), "--model-repository", str(root), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["registered"] == {"model": "mlp", "version": 1} and report["parity"]["passed"]
    registered = ModelRepository(root).get("mlp")
    assert [t.name for t in registered.signature.outputs] == [report["signature"]["outputs"][0]["name"]]
    assert report["signature"]["inputs"][0]["name"].startswith("input_layer")  # input_layer_N


def test_the_table_is_whole_when_stdout_is_not_a_terminal(sequential, tmp_path):
    code, output = maas_export(
        sequential, "--validate", sequential.with_suffix(".npz"), "-o", tmp_path / "m.onnx"
    )
    assert code == 0, output
    header = next(line for line in output.splitlines() if "artifact" in line)
    for column in ("size KiB", "top-1 agree", "agree w/ original", "max |diff|", "ms @32"):
        assert column in header
    assert "…" not in output


@pytest.mark.parametrize(
    "make_model, what, fix",
    [
        (
            keras_refused.unimportable_subclass,
            "cannot rebuild 'ScriptOnly', a subclassed model or custom layer",
            "save the model with model.export('DIR')",
        ),
        (
            keras_refused.unbuilt_subclass,
            "was saved before it was built",
            "call it on one batch before saving",
        ),
        (keras_refused.lambda_layer, "has a Lambda layer", "replace it with a registered custom layer"),
        (keras_refused.steps_unknown, "must be unrolled", "give the input a shape like (steps, features)"),
        (
            keras_models.unsigned_module,
            "a SavedModel without a 'serving_default' signature (has none)",
            "tf.saved_model.save(module, DIR, signatures=",
        ),
    ],
)
def test_what_cannot_be_exported_is_refused_in_one_line_that_names_the_fix(tmp_path, make_model, what, fix):
    model = make_model(tmp_path / ("model" if make_model is keras_models.unsigned_module else "model.keras"))
    code, output = maas_export(model, "-o", tmp_path / "out.onnx")
    assert code == 2, output
    (line,) = [line for line in output.splitlines() if line.startswith("error:")]
    assert what in line and fix in line, line
    assert "Traceback" not in output and not (tmp_path / "out.onnx").exists()
