"""Bodies of the bulk job routes, as documented in OpenAPI at /docs."""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas import JobErrorPublic, WebhookCreate, WebhookPublic
from batching.bulk.record import BulkStatus


class BulkJobCreate(BaseModel):
    """The form fields of POST /v1/bulk-jobs besides the file (webhook and metadata as JSON)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: str
    version: int | str | None = Field(None, description="A version, `latest` or an alias; resolved now.")
    format: Literal["jsonl", "npy", "npz"] | None = Field(None, description="Default: the file's suffix.")
    path: str | None = Field(None, description="A server-side file instead of an upload.")
    chunk_rows: int | None = Field(None, ge=1, le=1_000_000, description="Rows per chunk.")
    retention_s: int | None = Field(
        None,
        ge=1,
        description="Keep the job's files and record this long after it ends, seconds; default "
        "MAAS_BULK_RETENTION_S, at most MAAS_BULK_MAX_RETENTION_S (422 above).",
    )
    webhook: WebhookCreate | None = None
    metadata: dict[str, Any] | None = None


class BulkCounts(BaseModel):
    total: int = Field(description="Rows read so far (final once the split is complete).")
    succeeded: int
    failed: int


class BulkChunks(BaseModel):
    total: int | None = Field(description="Chunks of the job; None until the split is complete.")
    fed: int = Field(description="Chunks in the bulk lane so far.")
    rows_per_chunk: int


class BulkJobPublic(BaseModel):
    id: str
    status: BulkStatus
    model: str
    version: int
    format: Literal["jsonl", "npy", "npz"]
    counts: BulkCounts
    chunks: BulkChunks
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: JobErrorPublic | None = None
    metadata: dict[str, Any] | None = None
    webhook: WebhookPublic | None = None
    retention_s: int | None = Field(
        None, description="Its files and record are deleted this long after it ends, seconds."
    )
    deleted_at: datetime | None = Field(
        None, description="When DELETE removed its files: output and errors are 410 Gone since."
    )


class BulkJobList(BaseModel):
    data: list[BulkJobPublic]
