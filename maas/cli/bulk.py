"""`maas bulk ...`: submit a file for bulk scoring, follow it with a progress bar, download its
output, cancel it. Talks HTTP to a running API (--url, default from the settings' host/port)."""

import json
import re
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated

import httpx
import typer
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

from maas.cli.http import auth_headers
from maas.core.settings import Settings

bulk_app = typer.Typer(help="Bulk offline scoring of JSONL, .npy and .npz files.", no_args_is_help=True)
console = Console(stderr=True)  # progress and messages
stdout = Console()  # what a command answers
TERMINAL = {"succeeded", "failed", "cancelled"}
POLL_S = 0.5
UrlOption = Annotated[
    str | None, typer.Option(help="API base URL; default http://<host>:<port> of the settings.")
]


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


def _client(url: str | None) -> httpx.Client:
    if url is None:
        settings = Settings()
        url = f"http://{settings.host}:{settings.port}"
    return httpx.Client(base_url=url, timeout=httpx.Timeout(30.0, read=300.0), headers=auth_headers())


def _checked(response: httpx.Response) -> dict:
    if response.status_code >= 400:
        try:
            message = response.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = response.text[:500]
        console.print(f"[red]error {response.status_code}[/red]: {message}")
        raise typer.Exit(1)
    return response.json()


def _show(job: dict, to: Console = console) -> None:
    counts = job["counts"]
    line = (
        f"{job['id']}  {job['status']}  {job['model']} v{job['version']}  "
        f"rows {counts['total']:,} (succeeded {counts['succeeded']:,}, failed {counts['failed']:,})"
    )
    if job.get("error"):
        line += f"  error: {job['error']['message']}"
    to.print(line, soft_wrap=True)


def follow(client: httpx.Client, bulk_id: str) -> dict:
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
        while True:
            job = _checked(client.get(f"/v1/bulk-jobs/{bulk_id}"))
            counts = job["counts"]
            split_done = job["chunks"]["total"] is not None
            progress.update(
                task,
                description=job["status"],
                total=counts["total"] if split_done else None,
                completed=counts["succeeded"] + counts["failed"],
            )
            if job["status"] in TERMINAL:
                progress.update(task, final_rate=final_rate(job))
                return job
            time.sleep(POLL_S)


def download(client: httpx.Client, bulk_id: str, output: Path | None, fmt: str | None) -> Path:
    params = {"format": fmt} if fmt else {}
    with client.stream("GET", f"/v1/bulk-jobs/{bulk_id}/output", params=params) as response:
        if response.status_code >= 400:
            response.read()
            _checked(response)
        if output is None:
            found = re.search(r'filename="([^"]+)"', response.headers.get("content-disposition", ""))
            output = Path(found.group(1) if found else f"{bulk_id}.out")
        with output.open("wb") as f:
            for block in response.iter_bytes():
                f.write(block)
    console.print(f"output written to {output}")
    return output


@bulk_app.command()
def submit(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help=".jsonl, .npy or .npz")],
    model: Annotated[str, typer.Option(help="Model name.")],
    version: Annotated[str | None, typer.Option(help="Version or alias; default latest.")] = None,
    chunk_rows: Annotated[int | None, typer.Option(help="Rows per chunk.")] = None,
    metadata: Annotated[str | None, typer.Option(help="JSON object kept with the job.")] = None,
    wait: Annotated[bool, typer.Option(help="Follow it to the end, then download the output.")] = False,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Where --wait writes.")] = None,
    url: UrlOption = None,
) -> None:
    """Uploads FILE as a bulk job; prints its id (and with --wait, follows and downloads it)."""
    fields = {"model": model, "version": version, "chunk_rows": chunk_rows, "metadata": metadata}
    data = {k: str(v) for k, v in fields.items() if v is not None}
    with _client(url) as client, file.open("rb") as f:
        job = _checked(client.post("/v1/bulk-jobs", data=data, files={"file": (file.name, f)}))
        _show(job)
        typer.echo(job["id"])
        if not wait:
            return
        job = follow(client, job["id"])
        _show(job)
        if job["status"] != "succeeded":
            raise typer.Exit(1)
        download(client, job["id"], output, None)


@bulk_app.command()
def status(
    bulk_id: str, url: UrlOption = None, as_json: Annotated[bool, typer.Option("--json")] = False
) -> None:
    """Shows a bulk job."""
    with _client(url) as client:
        job = _checked(client.get(f"/v1/bulk-jobs/{bulk_id}"))
    if as_json:
        typer.echo(json.dumps(job, indent=2))
    else:
        _show(job, stdout)


@bulk_app.command("download")
def download_command(
    bulk_id: str,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Default: <id>.<format>.")] = None,
    fmt: Annotated[str | None, typer.Option("--format", help="jsonl, npy or npz.")] = None,
    url: UrlOption = None,
) -> None:
    """Downloads a finished bulk job's output, in input order."""
    with _client(url) as client:
        download(client, bulk_id, output, fmt)


@bulk_app.command()
def cancel(bulk_id: str, url: UrlOption = None) -> None:
    """Cancels a bulk job; chunks not started are not computed."""
    with _client(url) as client:
        _show(_checked(client.post(f"/v1/bulk-jobs/{bulk_id}/cancel")))
