"""`maas bulk ...`: submit a file for bulk scoring, follow it with a progress bar, download its
output, cancel it. Talks to a running API through maas_client (--url, default from the
settings' host/port); exit codes as in maas/cli/http.py."""

from datetime import datetime
from pathlib import Path
from typing import Annotated

import orjson
import typer
from maas_client import BulkJob, BulkProgress, Client, Timeout
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from maas.cli.http import (
    EXIT_JOB_FAILED,
    EXIT_STILL_RUNNING,
    JsonOption,
    UrlOption,
    api_client,
    err,
    fail,
    handled,
    print_json,
)

bulk_app = typer.Typer(help="Bulk offline scoring of JSONL, .npy and .npz files.", no_args_is_help=True)
console = err  # progress and messages
stdout = Console()  # what a command answers
TimeoutOption = Annotated[float | None, typer.Option(help="Stop waiting after this many seconds.")]


class RowsPerSecond(ProgressColumn):
    """The bulk job's own rate once it ended (`final_rate`); the bar's estimate from its polls
    before, which a job that ends within a poll or two never gets (it showed `0 rows/s`)."""

    def render(self, task) -> Text:
        rate = task.fields.get("final_rate") or task.speed or 0
        return Text(f"{rate:,.0f} rows/s")


def final_rate(job: dict) -> float | None:
    """Rows done per second between the job's start and end (the server's timestamps)."""
    if not job.get("started_at") or not job.get("finished_at"):
        return None
    started = datetime.fromisoformat(job["started_at"])
    seconds = (datetime.fromisoformat(job["finished_at"]) - started).total_seconds()
    done = job["counts"]["succeeded"] + job["counts"]["failed"]
    return done / max(seconds, 1e-3)


def _show(job: BulkJob, to: Console = console) -> None:
    counts = job.counts
    line = (
        f"{job.id}  {job.status}  {job.model} v{job.version}  "
        f"rows {counts['total']:,} (succeeded {counts['succeeded']:,}, failed {counts['failed']:,})"
    )
    if job.error:
        line += f"  error: {job.error['message']}"
    to.print(line, soft_wrap=True, markup=False, highlight=False)


def follow(client: Client, bulk_id: str, timeout: float | None = None) -> BulkJob:
    """Polls the bulk job with a progress bar (rows done, rows/s, ETA) until it ends."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RowsPerSecond(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("validating", total=None)

        def update(event: BulkProgress) -> None:
            progress.update(task, description=event.stage, total=event.total, completed=event.done)

        job = client.bulk.wait(bulk_id, timeout, progress=update)
        progress.update(task, final_rate=final_rate(job.raw))
        return job


def _wait_and_download(client: Client, job: BulkJob, output: Path | None, timeout: float | None) -> None:
    try:
        job = follow(client, job.id, timeout)
    except Timeout as e:
        raise fail(f"{e}; follow it with: maas bulk status {job.id}", EXIT_STILL_RUNNING) from None
    _show(job)
    if job.status != "succeeded":
        raise typer.Exit(EXIT_JOB_FAILED)
    console.print(f"output written to {client.bulk.download(job.id, output)}")


@bulk_app.command()
def submit(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help=".jsonl, .npy or .npz")],
    model: Annotated[str, typer.Option(help="Model name.")],
    version: Annotated[str | None, typer.Option(help="Version or alias; default latest.")] = None,
    chunk_rows: Annotated[int | None, typer.Option(help="Rows per chunk.")] = None,
    metadata: Annotated[str | None, typer.Option(help="JSON object kept with the job.")] = None,
    wait: Annotated[bool, typer.Option(help="Follow it to the end, then download the output.")] = False,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Where --wait writes.")] = None,
    timeout: TimeoutOption = None,
    url: UrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Uploads FILE as a bulk job; prints its id (and with --wait, follows and downloads it)."""
    try:
        meta = orjson.loads(metadata) if metadata is not None else None
    except orjson.JSONDecodeError as e:
        raise typer.BadParameter(f"--metadata is not JSON: {e}") from e
    with handled(url), api_client(url) as client:
        job = client.bulk.submit(file, model, version=version, chunk_rows=chunk_rows, metadata=meta)
        _show(job)
        print_json(job.raw) if as_json else typer.echo(job.id)
        if wait:
            _wait_and_download(client, job, output, timeout)


@bulk_app.command()
def status(bulk_id: str, url: UrlOption = None, as_json: JsonOption = False) -> None:
    """Shows a bulk job."""
    with handled(url), api_client(url) as client:
        job = client.bulk.get(bulk_id)
    if as_json:
        print_json(job.raw)
    else:
        _show(job, stdout)


@bulk_app.command("wait")
def wait_command(
    bulk_id: str, timeout: TimeoutOption = None, url: UrlOption = None, as_json: JsonOption = False
) -> None:
    """Follows a bulk job with a progress bar until it ends (exit 5 unless it succeeded)."""
    with handled(url), api_client(url) as client:
        try:
            job = follow(client, bulk_id, timeout)
        except Timeout as e:
            raise fail(str(e), EXIT_STILL_RUNNING) from None
    print_json(job.raw) if as_json else _show(job, stdout)
    if job.status != "succeeded":
        raise typer.Exit(EXIT_JOB_FAILED)


@bulk_app.command("download")
def download_command(
    bulk_id: str,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Default: <id>.<format>.")] = None,
    fmt: Annotated[str | None, typer.Option("--format", help="jsonl, npy or npz.")] = None,
    url: UrlOption = None,
) -> None:
    """Downloads a finished bulk job's output, in input order."""
    with handled(url), api_client(url) as client:
        path = client.bulk.download(bulk_id, output, fmt)
    console.print(f"output written to {path}")


@bulk_app.command()
def cancel(bulk_id: str, url: UrlOption = None, as_json: JsonOption = False) -> None:
    """Cancels a bulk job; chunks not started are not computed."""
    with handled(url), api_client(url) as client:
        job = client.bulk.cancel(bulk_id)
    print_json(job.raw) if as_json else _show(job, stdout)
