"""The job as clients see it, in GET /v1/jobs/{id} and in webhook deliveries alike."""

from datetime import UTC, datetime
from typing import Any

from batching.jobs.record import JobRecord


def iso(epoch_s: float | None) -> str | None:
    if epoch_s is None:
        return None
    return datetime.fromtimestamp(epoch_s, UTC).isoformat().replace("+00:00", "Z")


def job_public(record: JobRecord) -> dict[str, Any]:
    """A plain dict, so orjson writes numpy outputs directly."""
    body: dict[str, Any] = {
        "id": record.id,
        "status": record.status.value,
        "model": record.model,
        "version": record.version,
        "created_at": iso(record.created_at),
        "started_at": iso(record.started_at),
        "finished_at": iso(record.finished_at),
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
    if record.webhook is not None:
        body["webhook"] = record.webhook.public()
    return body
