"""The stored bulk job record (a Redis hash), its states, and the bulk job as clients see it."""

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson

from batching.jobs.record import JobError
from batching.jobs.view import iso
from batching.webhook import WebhookRecord


class BulkStatus(StrEnum):
    VALIDATING = "validating"  # the rq task is checking and splitting the file
    QUEUED = "queued"  # every chunk is in the bulk lane; none started yet
    RUNNING = "running"
    FINALIZING = "finalizing"  # every chunk is done; results being checked
    SUCCEEDED = "succeeded"  # every row was scored or failed alone (counts.failed)
    FAILED = "failed"  # the job as a whole failed (unreadable file, ...): see error
    CANCELLED = "cancelled"


BULK_TERMINAL = frozenset({BulkStatus.SUCCEEDED, BulkStatus.FAILED, BulkStatus.CANCELLED})


class BulkFormat(StrEnum):
    JSONL = "jsonl"
    NPY = "npy"
    NPZ = "npz"


def input_path(bulk_id: str, fmt: BulkFormat) -> str:
    return f"{bulk_id}/input.{fmt.value}"


def chunk_path(bulk_id: str, index: int) -> str:
    return f"{bulk_id}/chunks/{index:08d}"


def result_path(bulk_id: str, index: int) -> str:
    return f"{bulk_id}/results/{index:08d}"


@dataclass
class BulkRecord:
    id: str
    status: BulkStatus
    model: str
    version: int
    format: BulkFormat
    store: str  # URL of the file store holding its files
    chunk_rows: int
    created_at: float
    total: int = 0  # rows read so far; final once `chunks` is set
    succeeded: int = 0
    failed: int = 0
    chunks: int | None = None  # set when the split is complete
    fed: int = 0  # chunks already in the bulk lane
    split_offset: int = 0  # where the split resumes: a byte offset (JSONL) or a row (npy/npz)
    started_at: float | None = None
    finished_at: float | None = None
    error: JobError | None = None
    metadata: dict | None = None
    webhook: WebhookRecord | None = None
    tenant: str = "default"
    retention_s: int | None = None  # files and record kept this long after it ends (None: older)
    deleted_at: float | None = None  # its files were deleted on request; the record is a tombstone
    traceparent: str | None = None  # W3C trace context of its submit: split and chunk spans join it

    @property
    def terminal(self) -> bool:
        return self.status in BULK_TERMINAL

    def to_fields(self) -> dict[str, bytes | str]:
        """The fields written at submit; the rest are written by the Lua scripts as it runs."""
        fields: dict[str, bytes | str] = {
            "id": self.id,
            "status": self.status.value,
            "model": self.model,
            "version": str(self.version),
            "format": self.format.value,
            "store": self.store,
            "chunk_rows": str(self.chunk_rows),
            "created_at": repr(self.created_at),
            "total": "0",
            "succeeded": "0",
            "failed": "0",
            "fed": "0",
            "split_offset": "0",
            "tenant": self.tenant,
        }
        if self.retention_s is not None:
            fields["retention_s"] = str(self.retention_s)
        if self.metadata is not None:
            fields["metadata"] = orjson.dumps(self.metadata)
        if self.webhook is not None:
            fields.update(self.webhook.to_fields())
        if self.traceparent is not None:
            fields["traceparent"] = self.traceparent
        return fields

    @classmethod
    def from_fields(cls, raw: dict[bytes, bytes]) -> "BulkRecord":
        f = {k.decode(): v for k, v in raw.items()}

        def opt_float(name: str) -> float | None:
            return float(f[name]) if f.get(name) else None

        return cls(
            id=f["id"].decode(),
            status=BulkStatus(f["status"].decode()),
            model=f["model"].decode(),
            version=int(f["version"]),
            format=BulkFormat(f["format"].decode()),
            store=f["store"].decode(),
            chunk_rows=int(f["chunk_rows"]),
            created_at=float(f["created_at"]),
            total=int(f["total"]),
            succeeded=int(f["succeeded"]),
            failed=int(f["failed"]),
            chunks=int(f["chunks"]) if f.get("chunks") else None,
            fed=int(f["fed"]),
            split_offset=int(f["split_offset"]),
            started_at=opt_float("started_at"),
            finished_at=opt_float("finished_at"),
            error=JobError(**orjson.loads(f["error"])) if f.get("error") else None,
            metadata=orjson.loads(f["metadata"]) if "metadata" in f else None,
            webhook=WebhookRecord.from_fields(f),
            tenant=f["tenant"].decode() if "tenant" in f else "default",  # older records: default
            retention_s=int(f["retention_s"]) if "retention_s" in f else None,
            deleted_at=opt_float("deleted_at"),
            traceparent=f["traceparent"].decode() if "traceparent" in f else None,
        )


def bulk_public(record: BulkRecord) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": record.id,
        "status": record.status.value,
        "model": record.model,
        "version": record.version,
        "format": record.format.value,
        "counts": {"total": record.total, "succeeded": record.succeeded, "failed": record.failed},
        "chunks": {"total": record.chunks, "fed": record.fed, "rows_per_chunk": record.chunk_rows},
        "created_at": iso(record.created_at),
        "started_at": iso(record.started_at),
        "finished_at": iso(record.finished_at),
        "error": record.error.__dict__ if record.error else None,
        "metadata": record.metadata,
        "retention_s": record.retention_s,
        "deleted_at": iso(record.deleted_at),
    }
    if record.webhook is not None:
        body["webhook"] = record.webhook.public()
    return body
