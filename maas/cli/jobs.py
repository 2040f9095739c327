"""`maas jobs ...`: submit a job, read it, wait for it, cancel it, list them, through a running
API (maas_client). Human output on stdout, messages on stderr, `--json` the API's JSON; exit
codes as in maas/cli/http.py (5: the job ended but did not succeed, 6: still running when
--timeout passed)."""

import sys
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import orjson
import typer
from maas_client import Client, Job, Timeout

from maas.cli.http import (
    EXIT_JOB_FAILED,
    EXIT_STILL_RUNNING,
    JsonOption,
    UrlOption,
    api_client,
    console,
    err,
    fail,
    handled,
    print_json,
)

jobs_app = typer.Typer(help="Online jobs: submit, get, wait, cancel, list.", no_args_is_help=True)
FIRST_WAIT_S = 30.0  # Prefer: wait= on the submit itself; longer waits long-poll afterwards
TimeoutOption = Annotated[
    float | None, typer.Option(help="Stop waiting after this many seconds (exit 6); default: no limit.")
]


def read_json(source: str, what: str) -> Any:
    """`-`: stdin; text starting with `[` or `{`: the JSON itself; else a file holding it."""
    if source == "-":
        text = sys.stdin.read()
    elif source.lstrip()[:1] in ("[", "{"):
        text = source
    else:
        path = Path(source)
        if not path.is_file():
            raise typer.BadParameter(f"{what}: {source} is not a file, '-' or inline JSON")
        text = path.read_text()
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as e:
        raise typer.BadParameter(f"{what} is not JSON: {e}") from e


def _version(value: str | None) -> int | str | None:
    return int(value) if value is not None and value.isdigit() else value


def show(job: Job, as_json: bool) -> None:
    """One line about the job, then each output (name, shape, dtype, values) or its error."""
    if as_json:
        return print_json(job.raw)
    took = f"  {job.timings['total_ms']:.1f} ms" if job.timings and "total_ms" in job.timings else ""
    console.print(f"{job.id}  {job.status}  {job.model} v{job.version}{took}", markup=False, highlight=False)
    if job.error:
        console.print(f"error {job.error['code']}: {job.error['message']}", markup=False, highlight=False)
    for name, array in (job.outputs or {}).items():
        values = np.array2string(array, precision=6, threshold=200)
        console.print(f"{name} {list(array.shape)} {array.dtype}:\n{values}", markup=False, highlight=False)


def finish(client: Client, job: Job, timeout: float | None, as_json: bool) -> None:
    """Waits for JOB to end, shows it, and exits 5 unless it succeeded."""
    try:
        job = job if job.done else client.jobs.wait(job.id, timeout)
    except Timeout as e:
        raise fail(f"{e}; wait again with: maas jobs wait {job.id}", EXIT_STILL_RUNNING) from None
    show(job, as_json)
    if job.status != "succeeded":
        raise typer.Exit(EXIT_JOB_FAILED)


@jobs_app.command()
def submit(
    model: Annotated[str, typer.Option(help="Model name.")],
    inputs: Annotated[
        str,
        typer.Argument(help="JSON rows, or rows by input name: a file, '-' (stdin), or inline."),
    ],
    version: Annotated[str | None, typer.Option(help="Version or alias; default latest.")] = None,
    wait: Annotated[bool, typer.Option(help="Wait for the answer and print it.")] = False,
    timeout: TimeoutOption = None,
    webhook: Annotated[str | None, typer.Option(help="URL told when the job ends.")] = None,
    metadata: Annotated[str | None, typer.Option(help="JSON object kept with the job.")] = None,
    expires_s: Annotated[
        float | None, typer.Option("--expires-s", help="The job expires if not started within this.")
    ] = None,
    idempotency_key: Annotated[
        str | None, typer.Option(help="Resubmitting with the same key gives the same job.")
    ] = None,
    url: UrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Submits a job. Prints its id (stdout), or with --wait the finished job."""
    rows = read_json(inputs, "inputs")
    meta = read_json(metadata, "--metadata") if metadata is not None else None
    first_wait = FIRST_WAIT_S if timeout is None else min(FIRST_WAIT_S, timeout)
    with handled(url), api_client(url) as client:
        job = client.jobs.submit(
            model,
            rows,
            version=_version(version),
            wait=first_wait if wait else None,
            timeout_s=expires_s,
            webhook=webhook,
            metadata=meta,
            idempotency_key=idempotency_key,
        )
        if not wait:
            err.print(f"job {job.id} {job.status}", markup=False, highlight=False)
            return print_json(job.raw) if as_json else typer.echo(job.id)
        finish(client, job, None if timeout is None else max(0.0, timeout - first_wait), as_json)


@jobs_app.command()
def get(job_id: str, url: UrlOption = None, as_json: JsonOption = False) -> None:
    """Shows a job as it is now (outputs once it succeeded)."""
    with handled(url), api_client(url) as client:
        show(client.jobs.get(job_id), as_json)


@jobs_app.command()
def wait(
    job_id: str, timeout: TimeoutOption = None, url: UrlOption = None, as_json: JsonOption = False
) -> None:
    """Long-polls until the job ends, then shows it (exit 5 unless it succeeded)."""
    with handled(url), api_client(url) as client:
        finish(client, client.jobs.get(job_id), timeout, as_json)


@jobs_app.command()
def cancel(job_id: str, url: UrlOption = None, as_json: JsonOption = False) -> None:
    """Cancels a queued job (exit 1 with 409 once it started or ended)."""
    with handled(url), api_client(url) as client:
        show(client.jobs.cancel(job_id), as_json)


@jobs_app.command("list")
def list_jobs(
    status: Annotated[str | None, typer.Option(help="Only jobs in this state.")] = None,
    model: Annotated[str | None, typer.Option(help="Only this model's jobs.")] = None,
    limit: Annotated[int, typer.Option(help="Jobs per page.")] = 20,
    cursor: Annotated[str | None, typer.Option(help="The last page's next_cursor.")] = None,
    url: UrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Your jobs, newest first, one page (the next page's cursor on stderr)."""
    with handled(url), api_client(url) as client:
        page = client.jobs.list(status=status, model=model, limit=limit, cursor=cursor)
    if as_json:
        return print_json({"data": [job.raw for job in page.jobs], "next_cursor": page.next_cursor})
    for job in page.jobs:
        console.print(f"{job.id}  {job.status}  {job.model} v{job.version}  {job.created_at}", markup=False)
    if page.next_cursor:
        err.print(f"more: --cursor {page.next_cursor}", markup=False)
