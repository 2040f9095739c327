"""Request and response bodies, as documented in OpenAPI at /docs."""

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from batching.job import JobRecord, JobStatus


class JobCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: str = Field(description="Model name.", examples=["digits"])
    version: int | Literal["latest"] | None = Field(
        None, description="Model version; default latest, resolved now and kept on the job."
    )
    inputs: dict[str, Any] | list = Field(
        description="Nested lists by input name, leading batch dimension; a bare nested list "
        "for single-input models.",
        examples=[[[0.0] * 64]],
    )
    timeout_s: float | None = Field(
        None, gt=0, description="The job expires, uncomputed, if not started within this."
    )
    metadata: dict[str, Any] | None = Field(None, description="Returned with the job as given.")


class JobErrorPublic(BaseModel):
    code: str
    message: str


class JobTimingsPublic(BaseModel):
    queue_ms: float | None = Field(None, description="Submit to start of its batch.")
    inference_ms: float | None = Field(None, description="Runtime time of its micro-batch.")
    batch_size: int | None = Field(None, description="Rows in the micro-batch it ran in.")
    total_ms: float | None = Field(None, description="Submit to finish.")


class JobPublic(BaseModel):
    id: str
    status: JobStatus
    model: str
    version: int
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    outputs: dict[str, Any] | None = None
    error: JobErrorPublic | None = None
    timings: JobTimingsPublic | None = None
    metadata: dict[str, Any] | None = None


class ModelVersionPublic(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    name: str
    version: int
    runtime: str
    signature: dict[str, Any]
    config: dict[str, Any]
    sha256: str


class ModelPublic(BaseModel):
    name: str
    versions: list[int]
    latest: ModelVersionPublic


class ErrorBody(BaseModel):
    error: dict[str, Any] = Field(description="{code, message, loc?}")


def _iso(epoch_s: float | None) -> str | None:
    if epoch_s is None:
        return None
    return datetime.fromtimestamp(epoch_s, UTC).isoformat().replace("+00:00", "Z")


def job_public(record: JobRecord) -> dict:
    """The job as the API shows it; a plain dict so orjson writes numpy outputs directly."""
    body: dict[str, Any] = {
        "id": record.id,
        "status": record.status.value,
        "model": record.model,
        "version": record.version,
        "created_at": _iso(record.created_at),
        "started_at": _iso(record.started_at),
        "finished_at": _iso(record.finished_at),
        "outputs": record.outputs,
        "error": record.error.__dict__ if record.error else None,
        "timings": None,
        "metadata": record.metadata,
    }
    if record.timings is not None:
        body["timings"] = dict(record.timings.__dict__)
    if record.finished_at is not None:
        body["timings"] = body["timings"] or {}
        body["timings"]["total_ms"] = round((record.finished_at - record.created_at) * 1000, 3)
    return body
