"""What the bulk job routes do, on plain values (no HTTP here): submit, list, read, cancel,
stream a finished job's output and errors, and delete an ended job's files."""

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import redis

from api.limits import check_metadata, shortened
from api.schemas_bulk import BulkJobCreate
from api.services.audit_trail import AuditTrail
from api.services.models import visible
from api.services.registry import AsyncRegistry
from api.services.webhooks import WebhookIntake
from batching import keys, slot_tags
from batching.bulk.arrays import npy_columns, npz_columns, open_npz
from batching.bulk.limits import InputLimits
from batching.bulk.output import error_lines, jsonl_output, npy_output, npz_output
from batching.bulk.queue import enqueue_split
from batching.bulk.record import BulkFormat, BulkRecord, BulkStatus, input_path
from batching.bulk.store import BulkStore
from batching.tenancy.bulk_slots import BulkSlots
from maas.core import tracing
from maas.core.access import Caller
from maas.core.errors import (
    GoneError,
    InvalidInputError,
    JobNotFoundError,
    JobStateError,
    QuotaExceededError,
)
from maas.core.file_store import FileStore, copy_stream, open_store
from maas.core.ids import is_job_id, new_job_id, with_tag
from maas.core.settings import Settings
from maas.core.signature import Signature
from maas.models.registry import ModelVersion

MEDIA_TYPES = {"jsonl": "application/x-ndjson", "npy": "application/octet-stream", "npz": "application/zip"}


def format_of(declared: str | None, filename: str) -> BulkFormat:
    name = declared or Path(filename).suffix.removeprefix(".").lower()
    try:
        return BulkFormat(name)
    except ValueError as e:
        raise InvalidInputError(
            f"file: format {name!r} unknown; name the file .jsonl, .npy or .npz, or give format",
            ("format",),
        ) from e


def check_arrays(
    files: FileStore, path: str, fmt: BulkFormat, signature: Signature, limits: InputLimits
) -> None:
    """Reads the headers of an .npy/.npz input (not its data): 422 now, not a failed job later,
    also when they declare more rows or bytes than a bulk job may hold."""
    with files.open_read(path) as stream:
        try:
            if fmt is BulkFormat.NPY:
                limits.check_columns(npy_columns(stream, signature))
            elif fmt is BulkFormat.NPZ:
                limits.check_columns(npz_columns(open_npz(stream), signature))
        except InvalidInputError:
            raise
        except Exception as e:  # zipfile, zlib and numpy's header parser raise many types
            raise InvalidInputError(f"file: not a readable .{fmt.value} file: {e!r}", ("file",)) from e


@dataclass
class BulkService:
    settings: Settings
    registry: AsyncRegistry
    store: BulkStore
    files: FileStore
    sync_redis: redis.Redis  # rq is synchronous
    webhooks: WebhookIntake
    audit: AuditTrail
    slots: BulkSlots

    async def submit(
        self,
        caller: Caller,
        request: BulkJobCreate,
        upload: BinaryIO | None,
        filename: str,
        traceparent: str | None = None,
    ) -> BulkRecord:
        """Refused (429) while the caller's tenant has its cap of unfinished bulk jobs.
        `traceparent`: the caller's W3C trace context; the split and chunk spans join it."""
        with tracing.submit_span(traceparent, "maas.bulk_submit") as kept:
            return await self._submit(caller, request, upload, filename, kept)

    async def _submit(
        self,
        caller: Caller,
        request: BulkJobCreate,
        upload: BinaryIO | None,
        filename: str,
        traceparent: str | None,
    ) -> BulkRecord:
        check_metadata(request.metadata, self.settings.max_metadata_bytes)
        retention_s = self._retention(request.retention_s)
        model = visible(await self.registry.get(request.model, request.version), caller)
        source = None if upload is not None else self._server_file(request.path)
        fmt = format_of(request.format, filename)
        webhook = await self.webhooks.accept(request.webhook)
        # Its id carries its bulk lane's slot tag: its keys live in the lane's slot.
        bulk_id = with_tag(new_job_id(), slot_tags.tag_of_key(keys.bulk_lane(model.name, model.version)))
        max_active = self.max_active(caller)
        if max_active and not await self.slots.admit(caller.tenant, bulk_id, max_active):
            raise QuotaExceededError(
                f"tenant {caller.tenant} has {max_active} unfinished bulk jobs (its limit); "
                "retry once one has finished"
            )
        try:
            await asyncio.to_thread(self._store_input, bulk_id, fmt, upload, source, model)
        except BaseException:
            await self.slots.release(caller.tenant, bulk_id)
            await asyncio.to_thread(self.files.remove_tree, bulk_id)
            raise
        record = BulkRecord(
            id=bulk_id,
            status=BulkStatus.VALIDATING,
            model=model.name,
            version=model.version,
            format=fmt,
            store=self.files.url,
            chunk_rows=request.chunk_rows or self.settings.bulk_chunk_rows,
            created_at=time.time(),
            metadata=request.metadata,
            webhook=webhook,
            tenant=caller.tenant,
            retention_s=retention_s,
            traceparent=traceparent,
        )
        await self.store.create(record, self.settings.bulk_max_retention_s)
        await asyncio.to_thread(enqueue_split, self.sync_redis, bulk_id, 0, self.settings.bulk_task_s)
        await self.audit.data(caller, "bulk.submit", bulk_id, {"model": f"{model.name}:{model.version}"})
        return record

    def _retention(self, asked_s: int | None) -> int:
        longest = self.settings.bulk_max_retention_s
        if asked_s is not None and asked_s > longest:
            raise InvalidInputError(
                f"retention_s: {asked_s} s is more than the longest a bulk job is kept, {longest} s "
                "(MAAS_BULK_MAX_RETENTION_S)",
                ("retention_s",),
            )
        return asked_s or self.settings.bulk_retention_s

    def max_active(self, caller: Caller) -> int:
        """The caller's cap on unfinished bulk jobs: its key's, else its tenant's, else the
        default (0: none)."""
        if caller.max_bulk_jobs is not None:
            return caller.max_bulk_jobs
        by_tenant = self.settings.tenant_max_active_bulk_jobs_by_tenant
        return by_tenant.get(caller.tenant, self.settings.tenant_max_active_bulk_jobs)

    def _store_input(
        self,
        bulk_id: str,
        fmt: BulkFormat,
        upload: BinaryIO | None,
        source: Path | None,
        model: ModelVersion,
    ) -> None:
        destination = input_path(bulk_id, fmt)
        with self.files.write_atomic(destination) as target:
            if upload is not None:
                self._copy(upload, target, fmt)
            else:
                assert source is not None  # submit() passes a server file when there is no upload
                with source.open("rb") as f:
                    self._copy(f, target, fmt)
        check_arrays(self.files, destination, fmt, model.signature, self.limits)

    @property
    def limits(self) -> InputLimits:
        return InputLimits(self.settings.bulk_max_rows, self.settings.bulk_max_input_bytes)

    def _copy(self, source: BinaryIO, target: BinaryIO, fmt: BulkFormat) -> None:
        """A JSONL file is counted (bytes, lines) as it is stored; arrays by their headers after."""
        if fmt is BulkFormat.JSONL:
            self.limits.copy_jsonl(source, target, self.settings.bulk_max_upload_bytes)
        else:
            copy_stream(source, target, self.settings.bulk_max_upload_bytes)

    def _server_file(self, path: str | None) -> Path:
        allowed = self.settings.bulk_input_dirs
        if path is None:
            raise InvalidInputError("file: upload a file, or give a server-side path", ("file",))
        if not allowed:
            raise InvalidInputError("path: server-side paths are off (MAAS_BULK_INPUT_DIRS)", ("path",))
        if "\x00" in path:
            raise InvalidInputError("path: contains a NUL character", ("path",))
        resolved = Path(path).resolve()
        if not any(resolved.is_relative_to(Path(d).resolve()) for d in allowed):
            raise InvalidInputError(f"path: {path} is not under an allowed input directory", ("path",))
        if not resolved.is_file():
            raise InvalidInputError(f"path: {path} is not a file", ("path",))
        return resolved

    async def recent(self, caller: Caller, *, limit: int, before: float | None) -> list[BulkRecord]:
        """The tenant's newest `limit` bulk jobs, only those created before `before` when given."""
        return await self.store.list(caller.tenant, limit, before)

    async def get(self, caller: Caller, bulk_id: str) -> BulkRecord:
        """The caller's tenant's bulk job; another tenant's is as unknown (404)."""
        if not is_job_id(bulk_id):
            shown = shortened(bulk_id, self.settings.max_echo_chars)
            raise JobNotFoundError(f"bulk job {shown!r} not found (not a job id)")
        record = await self.store.get(bulk_id)
        if record.tenant != caller.tenant:
            raise JobNotFoundError(f"bulk job {bulk_id!r} not found (unknown, or expired)")
        return record

    async def cancel(self, caller: Caller, bulk_id: str) -> BulkRecord:
        await self.get(caller, bulk_id)
        cancelled = await self.store.cancel(bulk_id)
        await self.audit.data(caller, "bulk.cancel", bulk_id)
        return cancelled

    async def delete(self, caller: Caller, bulk_id: str) -> BulkRecord:
        """Deletes an ended job's files now (409 while it runs: cancel it first); its record
        stays, with deleted_at, until its retention ends. Deleting again changes nothing."""
        await self.get(caller, bulk_id)
        record = await self.store.mark_deleted(bulk_id)
        # The split task or a worker may still write one file of a just-cancelled job after
        # this: the sweeper deletes the job's whole directory again when its retention ends.
        await asyncio.to_thread(open_store(record.store).remove_tree, bulk_id)
        await self.audit.data(caller, "bulk.delete", bulk_id)
        return record

    async def _finished(self, caller: Caller, bulk_id: str) -> BulkRecord:
        record = await self.get(caller, bulk_id)
        if record.deleted_at is not None:
            raise GoneError(f"bulk job {bulk_id}: its files were deleted on request (DELETE)")
        if record.status is not BulkStatus.SUCCEEDED:
            raise JobStateError(f"bulk job {bulk_id} is {record.status}; results come once it succeeded")
        return record

    async def output(self, caller: Caller, bulk_id: str, wanted: str | None) -> tuple[str, Iterator[bytes]]:
        """(format, byte stream) of a finished job's output: the input's format unless `wanted`
        says jsonl (or npz for a .npy job with several outputs)."""
        record = await self._finished(caller, bulk_id)
        # A retired version's bulk jobs still finish and download (issue 6: queued work ends).
        model = await self.registry.get(record.model, record.version, True)
        outputs = model.signature.outputs
        fmt = wanted or record.format.value
        if fmt == "npy" and len(outputs) > 1:
            fmt = "npz"  # one .npy holds one array
        if fmt != "jsonl" and record.format is BulkFormat.JSONL:
            raise InvalidInputError("format: a JSONL job's output is JSONL", ("format",))
        if fmt == "jsonl":
            return fmt, jsonl_output(self.files, record)
        if fmt == "npy":
            return fmt, npy_output(self.files, record, outputs[0])
        if fmt == "npz":
            return fmt, npz_output(self.files, record, outputs)
        raise InvalidInputError(f"format: {fmt!r} unknown; jsonl, npy or npz", ("format",))

    async def errors(self, caller: Caller, bulk_id: str) -> Iterator[bytes]:
        """One JSONL line per failed row of a finished job."""
        return error_lines(self.files, await self._finished(caller, bulk_id))
