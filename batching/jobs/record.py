"""The stored job record (a Redis hash), its states, and the result a worker writes into it.

Client data (outputs, metadata) is sealed into the hash and opened out of it by a Sealer
(maas.core.sealing), bound to the job's id and tenant; the rest (status, model, timings, error
codes, webhook state) stays clear, for Lua scripts and operators.
"""

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import orjson

from batching.codec import decode_tensors, encode_tensors
from batching.keys import DEFAULT_TENANT
from batching.webhook import WebhookRecord
from maas.core.errors import MaasError
from maas.core.sealing import CLEAR, Purpose, Sealer


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


TERMINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.EXPIRED})
# The same states as values in the enum's order: the webhook events one may ask for, the API's
# Literal of them, and the Lua scripts' terminal set are all built from this.
TERMINAL_VALUES = tuple(s.value for s in JobStatus if s in TERMINAL)


@dataclass(frozen=True)
class JobError:
    code: str
    message: str

    @classmethod
    def of(cls, error: Exception, code: str) -> "JobError":
        """What went wrong, for the job's owner: a MaasError's own code and message, else `code`
        and the exception itself."""
        if isinstance(error, MaasError):
            return cls(error.code, error.message)
        return cls(code, repr(error))


@dataclass(frozen=True)
class JobTimings:
    queue_ms: float
    inference_ms: float
    batch_size: int


@dataclass(frozen=True)
class JobResult:
    """What a worker writes when a job ends: outputs on success, an error otherwise."""

    status: JobStatus
    finished_at: float
    outputs: dict[str, np.ndarray] | None = None
    error: JobError | None = None
    timings: JobTimings | None = None

    def to_fields(
        self, sealer: Sealer = CLEAR, job_id: str = "", tenant: str = DEFAULT_TENANT
    ) -> dict[str, bytes | str]:
        """The fields to write into job `job_id` of `tenant`, its outputs sealed for it."""
        fields: dict[str, bytes | str] = {"finished_at": repr(self.finished_at)}
        if self.outputs is not None:
            fields["outputs"] = sealer.seal(Purpose.JOB_OUTPUTS, job_id, tenant, encode_tensors(self.outputs))
        if self.error is not None:
            fields["error"] = orjson.dumps(self.error.__dict__)
        if self.timings is not None:
            fields["timings"] = orjson.dumps(self.timings.__dict__)
        return fields


@dataclass
class JobRecord:
    id: str
    status: JobStatus
    model: str
    version: int
    rows: int
    created_at: float
    deadline: float
    metadata: dict | None = None
    retention_s: int | None = None  # kept this long after it ends; None: MAAS_RESULT_TTL_S
    purged_at: float | None = None  # its outputs and metadata were erased on request
    started_at: float | None = None
    finished_at: float | None = None
    outputs: dict[str, np.ndarray] | None = None
    error: JobError | None = None
    timings: JobTimings | None = None
    webhook: WebhookRecord | None = None
    tenant: str = DEFAULT_TENANT  # who submitted it: its lane sub-stream, quota and fair share
    traceparent: str | None = None  # W3C trace context of its submit: its webhook POST carries it

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def to_fields(self, sealer: Sealer = CLEAR) -> dict[str, bytes | str]:
        """The fields written at submit; later fields come from JobResult and the claim script."""
        fields: dict[str, bytes | str] = {
            "id": self.id,
            "status": self.status.value,
            "model": self.model,
            "version": str(self.version),
            "rows": str(self.rows),
            "created_at": repr(self.created_at),
            "deadline": repr(self.deadline),
            "tenant": self.tenant,
        }
        if self.metadata is not None:
            fields["metadata"] = sealer.seal(
                Purpose.JOB_METADATA, self.id, self.tenant, orjson.dumps(self.metadata)
            )
        if self.retention_s is not None:
            fields["retention_s"] = str(self.retention_s)  # read by the script that ends the job
        if self.webhook is not None:
            fields.update(self.webhook.to_fields())
        if self.traceparent is not None:
            fields["traceparent"] = self.traceparent  # ids only, no client data: kept clear
        return fields

    @classmethod
    def from_fields(cls, raw: dict[bytes, bytes], sealer: Sealer = CLEAR) -> "JobRecord":
        """The record; its sealed fields opened (SealError if one was not sealed for this job)."""
        f = {k.decode(): v for k, v in raw.items()}
        job_id = f["id"].decode()
        tenant = f["tenant"].decode() if "tenant" in f else DEFAULT_TENANT

        def opt_float(name: str) -> float | None:
            return float(f[name]) if name in f else None

        def opened(name: str, purpose: Purpose) -> bytes | None:
            return sealer.open(purpose, job_id, tenant, f[name]) if name in f else None

        metadata, outputs = opened("metadata", Purpose.JOB_METADATA), opened("outputs", Purpose.JOB_OUTPUTS)

        return cls(
            id=job_id,
            status=JobStatus(f["status"].decode()),
            model=f["model"].decode(),
            version=int(f["version"]),
            rows=int(f["rows"]),
            created_at=float(f["created_at"]),
            deadline=float(f["deadline"]),
            metadata=orjson.loads(metadata) if metadata is not None else None,
            retention_s=int(f["retention_s"]) if "retention_s" in f else None,
            purged_at=opt_float("purged_at"),
            started_at=opt_float("started_at"),
            finished_at=opt_float("finished_at"),
            outputs=decode_tensors(outputs) if outputs is not None else None,
            error=JobError(**orjson.loads(f["error"])) if "error" in f else None,
            timings=JobTimings(**orjson.loads(f["timings"])) if "timings" in f else None,
            webhook=WebhookRecord.from_fields(f),
            tenant=tenant,
            traceparent=f["traceparent"].decode() if "traceparent" in f else None,
        )
