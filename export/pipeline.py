"""One export from start to end: check the options, load the model, prune or distill it, convert
(and quantize) it, read the artifact back as the service will, compare it with the model it came
from, and only then write it out or register it as the next version. Any failure before the end
leaves the repository untouched."""

import json
import shutil
import tempfile
from importlib import metadata
from pathlib import Path

from export.artifact import artifact_runner, file_sizes, weight_sparsity
from export.data import Dataset, load_dataset
from export.distill import distill
from export.errors import ExportError, ParityError
from export.loader import load_source
from export.onnx_export import quantize_onnx, to_onnx
from export.options import FORMATS, ExportOptions
from export.parity import accuracy, compare, parity_report
from export.prune import prune
from export.recurrent import convertible
from export.result import ExportResult
from export.source import SourceModel, one_line
from export.tflite_export import to_tflite
from maas.core.errors import ModelLoadError
from maas.models.onnx_signature import read_onnx_signature
from maas.models.store import add_version
from maas.models.tflite_signature import read_tflite_signature

REPORT_FILE = "report.json"
REGISTERED_CONFIG = {"max_batch_size": 64, "max_queue_delay_ms": 5.0}
_TOOLCHAIN = ("tensorflow-cpu", "keras", "tf2onnx", "onnx", "onnxruntime", "ai-edge-litert")


def _optimize(options: ExportOptions, source: SourceModel, train: Dataset | None) -> tuple[SourceModel, dict]:
    # ExportOptions requires --train for --prune and --distill.
    if options.prune is not None:
        assert train is not None
        pruned, info = prune(source, options.prune, train, options.epochs)
        return pruned, {"pruning": info}
    if options.distill is not None:
        assert train is not None
        student, info = distill(source, options.distill, train, options.temperature, options.epochs)
        return student, {"distillation": info}
    return source, {}


def _convert(options: ExportOptions, model: SourceModel, workdir: Path, calibration: Dataset | None) -> Path:
    model = convertible(model)
    try:
        return _run_converter(options, model, workdir, calibration)
    except Exception as e:  # converters raise their own types (ConverterError, tf2onnx's, ValueError)
        raise ExportError(
            f"{options.model}: the {options.to} converter refused the model: {one_line(e)}"
        ) from e


def _run_converter(
    options: ExportOptions, model: SourceModel, workdir: Path, calibration: Dataset | None
) -> Path:
    if options.to == "tflite":
        saved_model = model.saved_model_dir(workdir)
        return to_tflite(model, saved_model, workdir / "model.tflite", options.quantize, calibration)
    onnx_path = to_onnx(model, workdir / "model.onnx")
    if options.quantize is None:
        return onnx_path
    return quantize_onnx(onnx_path, workdir / "quantized.onnx", options.quantize, calibration)


def _signature(artifact: Path) -> dict:
    """The artifact read back with the service's own reader: loadable, and batchable."""
    reader = read_onnx_signature if artifact.suffix == ".onnx" else read_tflite_signature
    try:
        signature = reader(artifact)
    except ModelLoadError as e:
        raise ExportError(f"the exported {artifact.suffix} does not load: {e.message}") from e
    if bad := signature.unbatchable():
        raise ExportError(f"the exported model's tensors {bad} have no dynamic batch dimension")
    return signature.to_dict()


def _versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for package in _TOOLCHAIN:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = None
    return found


def _against_original(original: SourceModel, artifact: Path, data: Dataset) -> dict:
    """How far a pruned or distilled model moved from the original, measured on the artifact."""
    reference, exported = original.predict(data.inputs), artifact_runner(artifact)(data.inputs)
    return {
        "accuracy": accuracy(reference, data.labels),
        "top1_agreement": compare(reference, exported)["top1_agreement"],
    }


def build_report(
    options: ExportOptions,
    source: SourceModel,
    model: SourceModel,
    artifact: Path,
    validation: Dataset | None,
    changes: dict,
) -> dict:
    report = {
        "source": str(options.model),
        "format": options.to,
        "quantize": options.quantize,
        **changes,
        "file": file_sizes(artifact),
        "weight_sparsity": round(weight_sparsity(artifact), 4),
        "signature": _signature(artifact),
        "toolchain": _versions(),
        "parity": None,
    }
    if validation is not None:
        runner = artifact_runner(artifact)
        report["parity"] = parity_report(model.predict, runner, validation, options.max_abs_diff)
        if model is not source:
            report["original"] = _against_original(source, artifact, validation)
    return report


def _load_data(options: ExportOptions, source: SourceModel) -> tuple[Dataset | None, ...]:
    dtypes = source.input_dtypes
    return (
        load_dataset(options.calibration, dtypes) if options.calibration else None,
        load_dataset(options.train, dtypes, need_labels=True) if options.train else None,
        load_dataset(options.validate, dtypes) if options.validate else None,
    )


def _default_output(options: ExportOptions) -> Path:
    stem = Path(options.model).stem + (f".{options.quantize}" if options.quantize else "")
    return Path(stem + FORMATS[options.to])


def _publish(options: ExportOptions, artifact: Path, report: dict) -> tuple[Path | None, int | None]:
    version = None
    if options.register:
        version = add_version(
            options.model_repository,
            options.register,
            artifact,
            dict(REGISTERED_CONFIG),
            {REPORT_FILE: (json.dumps(report, indent=2) + "\n").encode()},
        )
    output = options.output or (None if options.register else _default_output(options))
    if output is not None:
        shutil.copyfile(artifact, output)
    return output, version


def run_export(options: ExportOptions) -> ExportResult:
    options.check()
    source = load_source(options.model)
    calibration, train, validation = _load_data(options, source)
    with tempfile.TemporaryDirectory(prefix="maas-export-") as workdir:
        model, changes = _optimize(options, source, train)
        artifact = _convert(options, model, Path(workdir), calibration)
        report = build_report(options, source, model, artifact, validation, changes)
        if options.report is not None:
            Path(options.report).write_text(json.dumps(report, indent=2) + "\n")
        parity = report["parity"]
        if parity is not None and not parity["passed"]:
            raise ParityError(
                f"the {options.to} export differs from the model by {parity.get('max_abs_diff')} "
                f"(tolerance {options.max_abs_diff}): nothing registered or written"
            )
        output, version = _publish(options, artifact, report)
    return ExportResult(report, output, version)
