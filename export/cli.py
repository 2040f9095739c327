"""`maas export`: the command line over export.pipeline. maas/cli.py loads this module only when
the command runs, so no other maas command (and no worker) imports TensorFlow."""

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from export.errors import ExportError
from export.options import ExportOptions
from export.pipeline import ExportResult, run_export
from maas.core.settings import Settings

app = typer.Typer(add_completion=False)
_err = Console(stderr=True)


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
    console = Console()
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
        result = run_export(options)
    except ExportError as e:
        _err.print(f"[red]error:[/red] {e.message}", highlight=False)
        raise typer.Exit(e.exit_code) from e
    _print_result(options, result)
