"""The /v1/bulk-jobs operations, without I/O (see wire.py): submit (a file or arrays, with upload
progress), read, poll until done, cancel, list, failed rows, and opening the output stream."""

import contextlib
import io
import json
import re
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import httpx
import numpy as np

from maas_client.arrays import ArrayLike, array_upload
from maas_client.bulk_job import BulkJob, BulkProgress
from maas_client.errors import Timeout
from maas_client.job_calls import webhook_body
from maas_client.wire import Call, Context, Send, Sleep, json_of, send

BulkSource = str | Path | np.ndarray | Mapping[str, ArrayLike]
Progress = Callable[[BulkProgress], None]


def _path(bulk_id: str, tail: str = "") -> str:
    return f"/v1/bulk-jobs/{quote(bulk_id, safe='')}{tail}"


class ProgressReader:
    """The upload as httpx's multipart encoder reads it (it seeks to 0 before each attempt),
    reporting the bytes read so far."""

    def __init__(self, file: IO[bytes], total: int, progress: Progress):
        self.file, self.total, self.progress, self.done = file, total, progress, 0

    def read(self, size: int = -1) -> bytes:
        chunk = self.file.read(size)
        if chunk:  # the encoder reads until an empty chunk: that is no progress
            self.done += len(chunk)
            self.progress(BulkProgress("uploading", self.done, self.total, "bytes"))
        return chunk

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        position = self.file.seek(offset, whence)
        if whence == io.SEEK_SET:
            self.done = position
        return position

    def tell(self) -> int:
        return self.file.tell()


@contextlib.contextmanager
def opened(source: BulkSource) -> Iterator[tuple[str, IO[bytes], int]]:
    """(file name, file, size in bytes) of a local file, or of arrays written as .npy/.npz."""
    if isinstance(source, str | Path):
        path = Path(source)
        with path.open("rb") as file:
            yield path.name, file, path.stat().st_size
        return
    name, content = array_upload(source)
    yield name, io.BytesIO(content), len(content)


def _form(fields: Mapping[str, Any]) -> dict[str, str]:
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in fields.items() if v is not None}


def submit(
    ctx: Context,
    source: BulkSource,
    model: str,
    *,
    version: int | str | None = None,
    format: str | None = None,
    chunk_rows: int | None = None,
    webhook: str | Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
) -> Call[BulkJob]:
    """POST /v1/bulk-jobs with the file (or arrays) uploaded. Not repeated when its answer is
    lost (that could start two bulk jobs); a 429/503 refusal is retried."""
    fields = {"model": model, "version": version, "format": format, "chunk_rows": chunk_rows}
    data = _form({**fields, "webhook": webhook_body(webhook), "metadata": metadata})
    with opened(source) as (name, file, size):
        body: Any = file if progress is None else ProgressReader(file, size, progress)
        files = {"file": (name, body, "application/octet-stream")}
        request = Send("POST", "/v1/bulk-jobs", data=data, files=files, repeatable=False)
        return BulkJob.from_record(json_of((yield from send(request, ctx.retry))))


def get(ctx: Context, bulk_id: str) -> Call[BulkJob]:
    return BulkJob.from_record(json_of((yield from send(Send("GET", _path(bulk_id)), ctx.retry))))


def wait(
    ctx: Context, bulk_id: str, timeout: float | None, poll_s: float, progress: Progress | None
) -> Call[BulkJob]:
    """Polls every `poll_s` until it ends (`Timeout` after `timeout` s), reporting its rows."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        job = yield from get(ctx, bulk_id)
        if progress is not None:
            progress(job.progress())
        if job.done:
            return job
        remaining = poll_s if deadline is None else deadline - time.monotonic()
        if remaining <= 0:
            raise Timeout(f"bulk job {bulk_id} is still {job.status} after {timeout:g} s", code="timeout")
        yield Sleep(min(poll_s, remaining))


def cancel(ctx: Context, bulk_id: str) -> Call[BulkJob]:
    request = Send("POST", _path(bulk_id, "/cancel"), repeatable=False)
    return BulkJob.from_record(json_of((yield from send(request, ctx.retry))))


def list_jobs(ctx: Context, limit: int = 20, before: float | None = None) -> Call[list[BulkJob]]:
    """Newest first; `before` (epoch seconds) pages back."""
    params: dict[str, Any] = {"limit": limit, **({"before": before} if before is not None else {})}
    response = yield from send(Send("GET", "/v1/bulk-jobs", params=params), ctx.retry)
    return [BulkJob.from_record(r) for r in json_of(response)["data"]]


def failed_rows(ctx: Context, bulk_id: str) -> Call[list[dict[str, Any]]]:
    """One `{id, row, error: {code, message}}` per failed row."""
    response = yield from send(Send("GET", _path(bulk_id, "/errors")), ctx.retry)
    return [json.loads(line) for line in response.text.splitlines() if line.strip()]


def output(ctx: Context, bulk_id: str, format: str | None = None) -> Call[httpx.Response]:
    """The output's answer, body unread (the caller streams and closes it); `Conflict` until
    the job succeeded."""
    params = {"format": format} if format else None
    return (yield from send(Send("GET", _path(bulk_id, "/output"), params=params, stream=True), ctx.retry))


def output_file_name(response: httpx.Response, bulk_id: str) -> str:
    """The name the server gives the output (`<id>.npy`...), else `<id>.out`."""
    found = re.search(r'filename="([^"/\\]+)"', response.headers.get("content-disposition", ""))
    return found.group(1) if found else f"{bulk_id}.out"
