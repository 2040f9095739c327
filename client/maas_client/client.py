"""`Client`: the blocking client. Each method runs one operation of the *_calls modules."""

import builtins
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx

from maas_client import bulk_calls, job_calls, model_calls, upload_calls
from maas_client.arrays import Inputs
from maas_client.bulk_calls import BulkSource, Progress
from maas_client.bulk_job import BulkJob
from maas_client.job import Job, JobPage
from maas_client.retry import RetryPolicy
from maas_client.transport import Connection, SyncTransport
from maas_client.upload_calls import UploadProgress
from maas_client.webhooks import Webhooks
from maas_client.wire import Context


class Jobs:
    def __init__(self, transport: SyncTransport, ctx: Context):
        self._run, self._ctx = transport.run, ctx

    def submit(
        self,
        model: str,
        inputs: Inputs,
        *,
        version: int | str | None = None,
        wait: float | None = None,
        timeout_s: float | None = None,
        webhook: str | Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Job:
        """Submits a job: `inputs` by input name, or one array for a single-input model, rows
        along the first axis. With `wait=S` the answer comes when it ends or after S s.
        `timeout_s`: it expires if not started within it. `webhook`: a URL or {url, events}."""
        call = job_calls.submit(
            self._ctx,
            model,
            inputs,
            version=version,
            wait=wait,
            timeout_s=timeout_s,
            webhook=webhook,
            metadata=metadata,
            idempotency_key=idempotency_key,
        )
        return Job.bind(self._run(call), self)

    def get(self, job_id: str) -> Job:
        return Job.bind(self._run(job_calls.get(self._ctx, job_id)), self)

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        """Long-polls until the job ends; `Timeout` if it has not within `timeout` seconds."""
        return Job.bind(self._run(job_calls.wait(self._ctx, job_id, timeout)), self)

    def list(
        self,
        *,
        status: str | None = None,
        model: str | None = None,
        limit: int = 20,
        cursor: str | None = None,
    ) -> JobPage[Job]:
        """The caller's jobs, newest first, one page (`cursor`: the last page's `next_cursor`).
        Needs a server with job listing (`GET /v1/jobs`)."""
        states, next_cursor = self._run(job_calls.list_jobs(self._ctx, status, model, limit, cursor))
        return JobPage([Job.bind(state, self) for state in states], next_cursor)

    def cancel(self, job_id: str) -> Job:
        return Job.bind(self._run(job_calls.cancel(self._ctx, job_id)), self)


class Models:
    def __init__(self, transport: SyncTransport, ctx: Context):
        self._run, self._ctx = transport.run, ctx

    def list(self) -> builtins.list[dict[str, Any]]:
        return self._run(model_calls.list_models(self._ctx))

    def show(self, name: str, version: int | None = None) -> dict[str, Any]:
        return self._run(model_calls.show(self._ctx, name, version))

    def push(
        self,
        name: str,
        file: str | Path,
        config: Mapping[str, Any] | str | Path | None = None,
        alias: str | None = None,
        progress: UploadProgress | None = None,
    ) -> dict[str, Any]:
        """Uploads the next version (and points `alias` at it); returns the new version."""
        created = self._run(model_calls.push(self._ctx, name, file, config, progress))
        if alias is not None:
            self.promote(name, created["version"], alias)
        return created

    def resume_push(
        self, name: str, file: str | Path, upload_id: str, progress: UploadProgress | None = None
    ) -> dict[str, Any]:
        """Resumes a resumable upload of `file`: sends only the chunks the server lacks."""
        call = upload_calls.push_resumable(self._ctx, name, file, upload_id=upload_id, progress=progress)
        return self._run(call)

    def configure(self, name: str, version: int, patch: Mapping[str, Any]) -> dict[str, Any]:
        return self._run(model_calls.configure(self._ctx, name, version, patch))

    def promote(
        self, name: str, version: int, alias: str, wait_ready_workers: int = 0, wait_timeout_s: float = 60
    ) -> dict[str, Any]:
        """Points `alias` at `version`; with `wait_ready_workers`, once that many workers serve it."""
        call = model_calls.promote(self._ctx, name, version, alias, wait_ready_workers, wait_timeout_s)
        return self._run(call)

    def rollback(self, name: str, alias: str) -> dict[str, Any]:
        return self._run(model_calls.rollback(self._ctx, name, alias))

    def retire(self, name: str, version: int) -> dict[str, Any]:
        return self._run(model_calls.retire(self._ctx, name, version))


class Bulk:
    def __init__(self, transport: SyncTransport, ctx: Context):
        self._run, self._ctx = transport.run, ctx

    def submit(
        self,
        source: BulkSource,
        model: str,
        *,
        version: int | str | None = None,
        format: str | None = None,
        chunk_rows: int | None = None,
        webhook: str | Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        progress: Progress | None = None,
        wait: bool = False,
        timeout: float | None = None,
    ) -> BulkJob:
        """Uploads a .jsonl/.npy/.npz file, or an array (.npy) or arrays by input name (.npz).
        `progress` gets the upload's bytes, then (with `wait`) the rows done until it ends."""
        call = bulk_calls.submit(
            self._ctx,
            source,
            model,
            version=version,
            format=format,
            chunk_rows=chunk_rows,
            webhook=webhook,
            metadata=metadata,
            progress=progress,
        )
        job = self._run(call)
        return self.wait(job.id, timeout, progress=progress) if wait else job

    def get(self, bulk_id: str) -> BulkJob:
        return self._run(bulk_calls.get(self._ctx, bulk_id))

    def wait(
        self,
        bulk_id: str,
        timeout: float | None = None,
        *,
        poll_s: float = 0.5,
        progress: Progress | None = None,
    ) -> BulkJob:
        return self._run(bulk_calls.wait(self._ctx, bulk_id, timeout, poll_s, progress))

    def cancel(self, bulk_id: str) -> BulkJob:
        return self._run(bulk_calls.cancel(self._ctx, bulk_id))

    def list(self, limit: int = 20, before: float | None = None) -> builtins.list[BulkJob]:
        return self._run(bulk_calls.list_jobs(self._ctx, limit, before))

    def errors(self, bulk_id: str) -> builtins.list[dict[str, Any]]:
        return self._run(bulk_calls.failed_rows(self._ctx, bulk_id))

    def stream_output(self, bulk_id: str, format: str | None = None) -> Iterator[bytes]:
        """The output's bytes as they arrive (in input order)."""
        response = self._run(bulk_calls.output(self._ctx, bulk_id, format))
        try:
            yield from response.iter_bytes()
        finally:
            response.close()

    def download(self, bulk_id: str, dest: str | Path | None = None, format: str | None = None) -> Path:
        """Writes the output to `dest` (default: the server's name for it, here); returns it."""
        response = self._run(bulk_calls.output(self._ctx, bulk_id, format))
        try:
            path = Path(dest) if dest is not None else Path(bulk_calls.output_file_name(response, bulk_id))
            with path.open("wb") as f:
                for block in response.iter_bytes():
                    f.write(block)
        finally:
            response.close()
        return path


class Client:
    """A maas service's client (blocking). `url` defaults to MAAS_URL, else
    http://127.0.0.1:8000; `api_key` to MAAS_API_KEY (sent as `Authorization: Bearer`);
    `timeout` is each request's, seconds (long-polls add their wait); `retry` says how 429, 503
    and lost answers are retried. `transport` is passed to httpx (tests, proxies, mounts)."""

    def __init__(
        self,
        url: str | None = None,
        *,
        api_key: str | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        headers: dict[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ):
        self.connection = Connection.of(url, api_key, timeout)
        self._http = httpx.Client(transport=transport, **self.connection.httpx_options(headers))
        transport_ = SyncTransport(self.connection, self._http)
        ctx = Context(retry or RetryPolicy())
        self.jobs, self.models, self.bulk = (
            Jobs(transport_, ctx),
            Models(transport_, ctx),
            Bulk(transport_, ctx),
        )
        self.webhooks = Webhooks()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
