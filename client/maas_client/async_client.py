"""`AsyncClient`: the same calls as `Client`, awaited; the same operations (the *_calls modules)
run by an async transport."""

import builtins
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import httpx

from maas_client import bulk_calls, job_calls, model_calls, upload_calls
from maas_client.arrays import Inputs
from maas_client.bulk_calls import BulkSource, Progress
from maas_client.bulk_job import BulkJob
from maas_client.job import AsyncJob, JobPage
from maas_client.retry import RetryPolicy
from maas_client.transport import AsyncTransport, Connection
from maas_client.upload_calls import UploadProgress
from maas_client.webhooks import Webhooks
from maas_client.wire import Context


class AsyncJobs:
    def __init__(self, transport: AsyncTransport, ctx: Context):
        self._run, self._ctx = transport.run, ctx

    async def submit(
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
    ) -> AsyncJob:
        """As `Client.jobs.submit`."""
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
        return AsyncJob.bind(await self._run(call), self)

    async def get(self, job_id: str) -> AsyncJob:
        return AsyncJob.bind(await self._run(job_calls.get(self._ctx, job_id)), self)

    async def wait(self, job_id: str, timeout: float | None = None) -> AsyncJob:
        return AsyncJob.bind(await self._run(job_calls.wait(self._ctx, job_id, timeout)), self)

    async def list(
        self,
        *,
        status: str | None = None,
        model: str | None = None,
        limit: int = 20,
        cursor: str | None = None,
    ) -> JobPage[AsyncJob]:
        """The caller's jobs, newest first, one page (`cursor`: the last page's `next_cursor`).
        Needs a server with job listing (`GET /v1/jobs`)."""
        states, next_cursor = await self._run(job_calls.list_jobs(self._ctx, status, model, limit, cursor))
        return JobPage([AsyncJob.bind(state, self) for state in states], next_cursor)

    async def cancel(self, job_id: str) -> AsyncJob:
        return AsyncJob.bind(await self._run(job_calls.cancel(self._ctx, job_id)), self)


class AsyncModels:
    def __init__(self, transport: AsyncTransport, ctx: Context):
        self._run, self._ctx = transport.run, ctx

    async def list(self) -> builtins.list[dict[str, Any]]:
        return await self._run(model_calls.list_models(self._ctx))

    async def show(self, name: str, version: int | None = None) -> dict[str, Any]:
        return await self._run(model_calls.show(self._ctx, name, version))

    async def push(
        self,
        name: str,
        file: str | Path,
        config: Mapping[str, Any] | str | Path | None = None,
        alias: str | None = None,
        progress: UploadProgress | None = None,
    ) -> dict[str, Any]:
        created = await self._run(model_calls.push(self._ctx, name, file, config, progress))
        if alias is not None:
            await self.promote(name, created["version"], alias)
        return created

    async def resume_push(
        self, name: str, file: str | Path, upload_id: str, progress: UploadProgress | None = None
    ) -> dict[str, Any]:
        """Resumes a resumable upload of `file`: sends only the chunks the server lacks."""
        call = upload_calls.push_resumable(self._ctx, name, file, upload_id=upload_id, progress=progress)
        return await self._run(call)

    async def configure(self, name: str, version: int, patch: Mapping[str, Any]) -> dict[str, Any]:
        return await self._run(model_calls.configure(self._ctx, name, version, patch))

    async def promote(
        self, name: str, version: int, alias: str, wait_ready_workers: int = 0, wait_timeout_s: float = 60
    ) -> dict[str, Any]:
        """Points `alias` at `version`; with `wait_ready_workers`, once that many workers serve it."""
        call = model_calls.promote(self._ctx, name, version, alias, wait_ready_workers, wait_timeout_s)
        return await self._run(call)

    async def rollback(self, name: str, alias: str) -> dict[str, Any]:
        return await self._run(model_calls.rollback(self._ctx, name, alias))

    async def retire(self, name: str, version: int) -> dict[str, Any]:
        return await self._run(model_calls.retire(self._ctx, name, version))


class AsyncBulk:
    def __init__(self, transport: AsyncTransport, ctx: Context):
        self._run, self._ctx = transport.run, ctx

    async def submit(
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
        """As `Client.bulk.submit` (the upload's file is read in the event loop's thread)."""
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
        job = await self._run(call)
        return await self.wait(job.id, timeout, progress=progress) if wait else job

    async def get(self, bulk_id: str) -> BulkJob:
        return await self._run(bulk_calls.get(self._ctx, bulk_id))

    async def wait(
        self,
        bulk_id: str,
        timeout: float | None = None,
        *,
        poll_s: float = 0.5,
        progress: Progress | None = None,
    ) -> BulkJob:
        return await self._run(bulk_calls.wait(self._ctx, bulk_id, timeout, poll_s, progress))

    async def cancel(self, bulk_id: str) -> BulkJob:
        return await self._run(bulk_calls.cancel(self._ctx, bulk_id))

    async def list(self, limit: int = 20, before: float | None = None) -> builtins.list[BulkJob]:
        return await self._run(bulk_calls.list_jobs(self._ctx, limit, before))

    async def errors(self, bulk_id: str) -> builtins.list[dict[str, Any]]:
        return await self._run(bulk_calls.failed_rows(self._ctx, bulk_id))

    async def stream_output(self, bulk_id: str, format: str | None = None) -> AsyncIterator[bytes]:
        response = await self._run(bulk_calls.output(self._ctx, bulk_id, format))
        try:
            async for block in response.aiter_bytes():
                yield block
        finally:
            await response.aclose()

    async def download(self, bulk_id: str, dest: str | Path | None = None, format: str | None = None) -> Path:
        response = await self._run(bulk_calls.output(self._ctx, bulk_id, format))
        try:
            path = Path(dest) if dest is not None else Path(bulk_calls.output_file_name(response, bulk_id))
            with path.open("wb") as f:
                async for block in response.aiter_bytes():
                    f.write(block)
        finally:
            await response.aclose()
        return path


class AsyncClient:
    """As `Client`, for asyncio: every call is awaited; `async with AsyncClient() as client`."""

    def __init__(
        self,
        url: str | None = None,
        *,
        api_key: str | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        headers: dict[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        self.connection = Connection.of(url, api_key, timeout)
        self._http = httpx.AsyncClient(transport=transport, **self.connection.httpx_options(headers))
        transport_ = AsyncTransport(self.connection, self._http)
        ctx = Context(retry or RetryPolicy())
        self.jobs = AsyncJobs(transport_, ctx)
        self.models, self.bulk = AsyncModels(transport_, ctx), AsyncBulk(transport_, ctx)
        self.webhooks = Webhooks()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()
