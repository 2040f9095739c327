"""Request and response bodies, as documented in OpenAPI at /docs."""

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, StrictStr

from batching.jobs.record import TERMINAL_VALUES, JobStatus
from batching.webhook import WebhookState

# Built from the enums, so the OpenAPI lists exactly the states the code has (a type checker,
# which cannot evaluate them, sees plain strings).
if TYPE_CHECKING:
    TerminalJobStatus = str
    WebhookDeliveryState = str
else:
    TerminalJobStatus = Literal[TERMINAL_VALUES]
    WebhookDeliveryState = Literal[tuple(s.value for s in WebhookState)]


def _whole_number(value: Any) -> Any:
    """JSON Schema's `integer` includes 3.0; so does the server (3.5, "3" and true stay refused)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


# A strict integer, which a JSON number without a fraction (`347326.0`) also is.
WholeInt = Annotated[StrictInt, BeforeValidator(_whole_number)]


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="https URL to POST the job to when it ends.", max_length=2048)
    events: list[TerminalJobStatus] = Field(
        default_factory=lambda: list(TERMINAL_VALUES),
        min_length=1,
        max_length=len(TERMINAL_VALUES),
        description="Terminal states to be called for; default all.",
    )


class JobCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: str = Field(description="Model name.", examples=["digits"])
    # Strict: JSON `true` is not version 1, nor `1.0`; a string is a version number, alias or `latest`.
    version: WholeInt | StrictStr | None = Field(
        None,
        description="Model version, `latest` (the default) or an alias such as `stable`; resolved "
        "at submit and kept on the job, so a later promotion never changes what it runs.",
    )
    inputs: dict[str, Any] | list = Field(
        description="Nested lists by input name, leading batch dimension; a bare nested list "
        "for single-input models.",
        examples=[[[0.0] * 64]],
    )
    timeout_s: float | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        description="The job expires, uncomputed, if not started within this.",
    )
    metadata: dict[str, Any] | None = Field(None, description="Returned with the job as given.")
    webhook: WebhookCreate | None = Field(
        None, description="Signed POST of the job (Standard Webhooks) when it ends."
    )
    retention_s: int | None = Field(
        None,
        ge=1,
        description="Keep the ended job's record and result this long, seconds; default and "
        "maximum MAAS_RESULT_TTL_S (422 above).",
    )


class JobErrorPublic(BaseModel):
    code: str
    message: str


class JobTimingsPublic(BaseModel):
    queue_ms: float | None = Field(None, description="Submit to start of its batch.")
    inference_ms: float | None = Field(None, description="Runtime time of its micro-batch.")
    batch_size: int | None = Field(None, description="Rows in the micro-batch it ran in.")
    total_ms: float | None = Field(None, description="Submit to finish.")


class WebhookPublic(BaseModel):
    url: str
    events: list[str]
    state: WebhookDeliveryState | None = Field(
        None, description="None until an event the webhook wants happens."
    )
    id: str | None = Field(None, description="The `webhook-id` header, the same on every attempt.")
    attempts: int
    last_status: int | str | None = Field(None, description="HTTP status, or why none came back.")
    next_attempt_at: float | None = Field(None, description="Epoch seconds, while retrying.")


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
    webhook: WebhookPublic | None = None
    retention_s: int | None = Field(None, description="Its own retention, if it asked for one.")
    purged_at: datetime | None = Field(
        None, description="When its outputs and metadata were erased (DELETE ?purge=true)."
    )


class JobList(BaseModel):
    data: list[JobPublic] = Field(description="Newest first; outputs are null here.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null at the end.")


class WorkerModelState(BaseModel):
    worker: str
    state: str = Field(description="loading | ready | failed")
    error: str | None = None
    runtime: str | None = Field(None, description="What runs it once ready: onnxruntime, litert, ...")
    provider: str | None = Field(
        None, description="The execution provider it really runs on, e.g. CUDAExecutionProvider."
    )
    device: str | None = Field(
        None, description="cpu or cuda:N: where it really runs (a .tflite on a GPU worker: cpu)."
    )
    io_binding: bool | None = Field(None, description="Batches go through onnxruntime IO binding.")
    phase: str | None = Field(
        None,
        description="While loading: fetching (from an object-store repository into the worker's "
        "cache: bytes_read of bytes_total fetched), queued (for a load slot), rehearsing, reading "
        "(its files: bytes_read of bytes_total), building (the runtime's session), warming (its "
        "warm-up batch).",
    )
    bytes_read: int | None = Field(None, description="While loading: bytes of its files read so far.")
    bytes_total: int | None = Field(None, description="While loading: bytes of its files (model and data).")
    progress: float | None = Field(None, description="While loading: bytes_read / bytes_total, 0 to 1.")


class ModelVersionPublic(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    name: str
    version: int
    runtime: str
    signature: dict[str, Any]
    config: dict[str, Any]
    sha256: str
    size_bytes: int
    created_at: float | None = Field(description="Epoch seconds of the upload; None if put by hand.")
    status: str = Field(
        description="ready (a worker serves it), loading, failed (every worker that tried failed), "
        "unloaded (valid, loaded on its first job) or retired."
    )
    retired: dict[str, Any] | None = Field(None, description="{retired_at, by} once retired.")
    workers: list[WorkerModelState] = Field(default_factory=list, description="Live workers holding it.")


class ModelPublic(BaseModel):
    name: str
    versions: list[int]
    aliases: dict[str, int] = Field(description="Alias -> version; `latest` is implicit.")
    latest: ModelVersionPublic


class AliasUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    version: WholeInt = Field(ge=1, description="The version the alias points to from now on.")
    wait_ready_workers: WholeInt = Field(
        0,
        ge=0,
        description="Point the alias only once this many live workers report the version ready "
        "(loaded and warmed up), so the first jobs after the promotion do not queue behind a "
        "load; 0 (default) points it at once.",
    )
    wait_timeout_s: float = Field(
        60.0, gt=0, le=3600, description="How long to wait for them; past it, 409 and the alias is unchanged."
    )


class AliasPublic(BaseModel):
    name: str
    alias: str
    version: int | None = Field(description="Now; None once deleted.")
    previous: int | None = Field(description="Before this change.")


class RetiredPublic(BaseModel):
    name: str
    version: int
    retired_at: float
    by: str


class AuditEntry(BaseModel):
    id: str
    at: float = Field(description="Epoch seconds.")
    actor: str = Field(description="The key's name (or admin token's), or X-Actor while auth is off.")
    tenant: str | None = Field(None, description="The tenant acted for (null in older entries).")
    key_id: str | None = Field(None, description="The key's id (null while auth is off).")
    key_name: str | None = None
    action: str
    target: str
    before: Any
    after: Any


class ErrorBody(BaseModel):
    error: dict[str, Any] = Field(description="{code, message, loc?}")
