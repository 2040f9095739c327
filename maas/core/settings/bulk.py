"""Bulk jobs: where their files live, how they are cut, how large and how long kept."""

from pathlib import Path

from pydantic import BaseModel, Field, model_validator


class BulkSettings(BaseModel):
    bulk_store_dir: Path | None = Field(
        None, description="Local directory of bulk jobs' files; unset: <state_dir>/bulk."
    )

    bulk_store_url: str | None = Field(
        None,
        pattern=r"^[a-z][a-z0-9+.-]*://.+",
        description="Where bulk jobs' files go, as a URL: file:///dir, or an object store fsspec "
        "speaks (s3://bucket/prefix with the `s3` extra; credentials and endpoint from AWS_* "
        "variables). Overrides bulk_store_dir. Every API, rq worker and batch worker must reach "
        "it; each job keeps the URL it was stored under.",
    )

    bulk_chunk_rows: int = Field(
        50_000,
        ge=1,
        le=1_000_000,
        description="Default rows (JSONL lines) per bulk chunk, within MAAS_BULK_CHUNK_MAX_BYTES. "
        "Each chunk costs a few Redis steps and a result file's fsync: fewer, larger chunks keep a "
        "light model's worker scoring; a chunk is also what a killed worker's successor redoes.",
    )

    bulk_chunk_max_bytes: int = Field(
        8 * 1024 * 1024,
        ge=1024,
        description="A bulk chunk holds fewer rows when they would take more than this, bytes "
        "(array data, or JSONL text), so that a worker's memory stays bounded whatever the rows.",
    )

    bulk_max_upload_bytes: int = Field(
        64 * 1024**3, ge=1, description="Largest bulk input file, bytes (413)."
    )

    bulk_input_dirs: list[Path] = Field(
        default_factory=list,
        description="Server-side directories whose files POST /v1/bulk-jobs may name by `path` "
        "instead of uploading them; empty: uploads only.",
    )

    bulk_retention_s: int = Field(
        7 * 86_400,
        ge=60,
        description="How long a finished bulk job's files and record are kept after it ended, "
        "unless the job asks for its own `retention_s` (at most bulk_max_retention_s), seconds.",
    )

    bulk_task_s: float = Field(
        20.0,
        gt=0,
        description="An rq split task works this long, then queues its continuation, seconds; its "
        "rq timeout is 3x this, so a split cut off by a crash is retried soon.",
    )

    bulk_max_rows: int = Field(
        10_000_000,
        ge=1,
        description="Most rows (JSONL lines, array rows) one bulk job may hold: refused with 422 "
        "at submit where the file tells (array headers, JSONL lines counted as stored), else the "
        "job fails with input_too_large while splitting, before more is fed.",
    )

    bulk_max_input_bytes: int = Field(
        4 * 1024**3,
        ge=1,
        description="Most bytes one bulk job's input may hold once decompressed (an .npz's arrays "
        "as their headers declare them, a JSONL file's text), bytes; the same checks as "
        "bulk_max_rows. A small deflated .npz can declare a huge array: this bounds it.",
    )

    bulk_max_retention_s: int = Field(
        30 * 86_400,
        ge=60,
        description="The longest `retention_s` a bulk job may ask for (422 above), seconds. A job "
        "that never ends is deleted this long plus its retention after its submission.",
    )

    bulk_sweep_interval_s: float = Field(
        60.0,
        gt=0,
        description="Each rq worker looks this often for bulk jobs whose retention ran out and "
        "deletes their files and records, seconds.",
    )

    @model_validator(mode="after")
    def _bulk_retention_within_max(self) -> "BulkSettings":
        if self.bulk_retention_s > self.bulk_max_retention_s:
            raise ValueError("bulk_retention_s must not exceed bulk_max_retention_s")
        return self
