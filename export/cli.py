"""`maas export`: the command line over export.pipeline. maas/cli/app.py loads this module only
when the command runs, so no other maas command (and no worker) imports TensorFlow.

This module itself imports no TensorFlow either: parsing, `--help` and the option checks answer
at once (TensorFlow takes ~15 s to import on a small machine), and export.pipeline, which pulls
in TensorFlow, Keras and the converters, is loaded by name (importlib) only once the arguments
parsed, as maas/cli/app.py loads this module. Only the types the command line shares with the
pipeline (ExportOptions, ExportResult, ExportError) come from light modules.

Output: a table and a few lines on stdout, errors as one `error: ...` line on stderr; when stdout
or stderr is not a terminal (CI logs, pipes) nothing is cut or wrapped to 80 columns. `--json`
puts the report alone on stdout, for scripts."""

import importlib
import json
import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from export.errors import ExportError
from export.options import ExportOptions
from export.result import ExportResult
from maas.core.settings import Settings

app = typer.Typer(add_completion=False)
_PIPELINE = "export.pipeline"  # TensorFlow and the converters: loaded after parsing (see above)
_UNWRAPPED_WIDTH = 1000  # columns when not a terminal: rich would otherwise assume 80 and cut


def _console(stderr: bool = False) -> Console:
    console = Console(stderr=stderr, highlight=False)
    if not console.is_terminal:
        console.width = _UNWRAPPED_WIDTH
    return console


def summary_table(title: str, rows: list[tuple[str, dict]]) -> Table:
    """One line per report: size, compressed size, sparsity, accuracy, top-1 agreement with the
    Keras model exported and with the original (they differ after pruning or distillation),
    the largest difference, and the artifact's latency in its runtime."""
    table = Table(title=title)
    for column in (
        "artifact",
        "size KiB",
        "gzip KiB",
        "sparsity",
        "accuracy",
        "top-1 agree",
        "agree w/ original",
        "max |diff|",
        "ms @1",
        "ms @32",
    ):
        table.add_column(column, justify="left" if column == "artifact" else "right")
    for label, report in rows:
        parity = report.get("parity") or {}
        latency = parity.get("latency_ms", {}).get("artifact", {})
        table.add_row(
            label,
            f"{report['file']['size_bytes'] / 1024:.1f}",
            f"{report['file']['gzip_bytes'] / 1024:.1f}",
            f"{report['weight_sparsity']:.2f}",
            str(parity.get("accuracy", {}).get("artifact", "-")),
            str(parity.get("top1_agreement", "-")),
            str((report.get("original") or parity).get("top1_agreement", "-")),
            f"{parity.get('max_abs_diff', float('nan')):.2e}",
            str(latency.get("1", "-")),
            str(latency.get("32", "-")),
        )
    return table


def _print_result(options: ExportOptions, result: ExportResult) -> None:
    console = _console()
    label = options.to + (f" {options.quantize}" if options.quantize else "")
    console.print(summary_table(f"maas export {options.model}", [(label, result.report)]))
    parity = result.report.get("parity") or {}
    if parity:
        reference = parity["latency_ms"]["reference"]
        console.print(
            f"reference (TensorFlow): accuracy {parity['accuracy']['reference']}, "
            f"ms @1 {reference['1']}, ms @32 {reference['32']}"
        )
    if result.version is not None:
        console.print(f"registered {options.register} version {result.version} in {options.model_repository}")
    if result.output is not None:
        console.print(f"wrote {result.output}")


def _json_report(options: ExportOptions, result: ExportResult) -> dict:
    """The report as --report writes it, plus where the artifact went."""
    registered = None if result.version is None else {"model": options.register, "version": result.version}
    return result.report | {
        "output": None if result.output is None else str(result.output),
        "registered": registered,
    }


@app.command()
def export(
    model: Annotated[Path, typer.Argument(help="A Keras model (.keras, .h5) or a SavedModel directory.")],
    to: Annotated[str, typer.Option(help="onnx or tflite.")] = "onnx",
    quantize: Annotated[
        str | None, typer.Option(help="onnx: dynamic | static; tflite: float16 | dynamic | int8.")
    ] = None,
    calibration: Annotated[
        Path | None, typer.Option(help="Rows (.npy/.npz) to calibrate static / int8 quantization.")
    ] = None,
    prune: Annotated[float | None, typer.Option(help="Target sparsity, e.g. 0.5 (needs --train).")] = None,
    distill: Annotated[
        str | None, typer.Option(help="Student: hidden widths like '32,16', or a Keras file (needs --train).")
    ] = None,
    train: Annotated[Path | None, typer.Option(help="Labelled rows (.npz with `labels`).")] = None,
    temperature: Annotated[float, typer.Option(help="Distillation temperature.")] = 4.0,
    epochs: Annotated[int, typer.Option(help="Fine-tuning / distillation epochs.")] = 10,
    validate: Annotated[Path | None, typer.Option(help="Rows (and labels) for the parity report.")] = None,
    tolerance: Annotated[
        float | None, typer.Option(help="Max |difference| allowed; default depends on --quantize.")
    ] = None,
    register: Annotated[str | None, typer.Option(help="Register as the next version of this model.")] = None,
    model_repository: Annotated[Path | None, typer.Option(help="Default: MAAS_MODEL_REPOSITORY.")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the artifact here.")] = None,
    report: Annotated[Path | None, typer.Option(help="Write the JSON report here.")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the JSON report on stdout instead of the table.")
    ] = False,
) -> None:
    """Export a Keras/TensorFlow model to ONNX or TFLite, optionally optimized, checked and registered."""
    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # deprecation notices from tf2onnx's internals
    options = ExportOptions(
        model=model,
        to=to,
        quantize=quantize,
        calibration=calibration,
        prune=prune,
        distill=distill,
        train=train,
        temperature=temperature,
        epochs=epochs,
        validate=validate,
        tolerance=tolerance,
        register=register,
        output=output,
        report=report,
        model_repository=model_repository or Settings().model_repository,
    )
    try:
        result = importlib.import_module(_PIPELINE).run_export(options)
    except ExportError as e:
        # as Text, not markup: messages quote lists like ['x'], which rich would read as tags
        _console(stderr=True).print(Text.assemble(("error:", "red"), " ", e.message), soft_wrap=True)
        raise typer.Exit(e.exit_code) from e
    if as_json:
        typer.echo(json.dumps(_json_report(options, result), indent=2))
    else:
        _print_result(options, result)
