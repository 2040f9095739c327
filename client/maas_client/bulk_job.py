"""A bulk job as the server last described it, and the progress events of `bulk.submit` and
`bulk.wait`."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

BULK_TERMINAL = frozenset({"succeeded", "failed", "cancelled"})


@dataclass(frozen=True)
class BulkProgress:
    """`stage` is `uploading` (`done`/`total` in bytes) or the bulk job's status (`validating`,
    `queued`, `running`, `finalizing`, then a terminal one; in rows: `total` is None while the
    file is still being split)."""

    stage: str
    done: int
    total: int | None
    unit: str


@dataclass(frozen=True)
class BulkJob:
    """`counts` is `{total, succeeded, failed}` rows; `error` says why the job as a whole failed;
    `raw` is the JSON."""

    id: str
    status: str
    model: str
    version: int
    format: str | None
    counts: dict[str, int]
    chunks: dict[str, Any]
    error: dict[str, str] | None
    metadata: dict[str, Any] | None
    created_at: Any
    finished_at: Any
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> "BulkJob":
        return cls(
            id=record["id"],
            status=record["status"],
            model=record["model"],
            version=record["version"],
            format=record.get("format"),
            counts=dict(record.get("counts") or {}),
            chunks=dict(record.get("chunks") or {}),
            error=record.get("error"),
            metadata=record.get("metadata"),
            created_at=record.get("created_at"),
            finished_at=record.get("finished_at"),
            raw=dict(record),
        )

    @property
    def done(self) -> bool:
        return self.status in BULK_TERMINAL

    def progress(self) -> BulkProgress:
        rows_done = self.counts.get("succeeded", 0) + self.counts.get("failed", 0)
        split = self.chunks.get("total") is not None
        return BulkProgress(self.status, rows_done, self.counts.get("total") if split else None, "rows")
