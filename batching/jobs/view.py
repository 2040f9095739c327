"""The job as clients see it, in GET /v1/jobs/{id} and in webhook deliveries alike.

Every key of api/schemas.py JobPublic (and of its nested models) is always present, null when
unknown; tests/api/test_job_view_schema.py holds the two together.
"""

import functools
import math
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

from batching.jobs.record import JobRecord, JobTimings


@functools.lru_cache(maxsize=64)
def _second(epoch_s: int) -> str:
    """`YYYY-MM-DDTHH:MM:SS` of a whole second (a job's times fall within a few)."""
    return datetime.fromtimestamp(epoch_s, UTC).isoformat()[:-6]


def iso(epoch_s: float | None) -> str | None:
    """What `datetime.fromtimestamp(epoch_s, UTC).isoformat()` says, with `Z` for `+00:00`:
    microseconds rounded half to even as it rounds them, left out when 0 as it leaves them."""
    if epoch_s is None:
        return None
    fraction, whole = math.modf(epoch_s)
    micros = round(fraction * 1e6)
    if micros >= 1_000_000:
        micros -= 1_000_000
        whole += 1
    elif micros < 0:
        micros += 1_000_000
        whole -= 1
    second = _second(int(whole))
    return f"{second}.{micros:06d}Z" if micros else f"{second}Z"


_TIMING_KEYS = tuple(f.name for f in fields(JobTimings))


def _timings(record: JobRecord) -> dict[str, Any] | None:
    """None until the job ends; then total_ms, and the batch's figures if it ran in one."""
    if record.timings is None and record.finished_at is None:
        return None
    body: dict[str, Any] = dict.fromkeys(_TIMING_KEYS)
    if record.timings is not None:
        body.update(record.timings.__dict__)
    body["total_ms"] = None
    if record.finished_at is not None:
        body["total_ms"] = round((record.finished_at - record.created_at) * 1000, 3)
    return body


def job_public(record: JobRecord) -> dict[str, Any]:
    """A plain dict, so orjson writes numpy outputs directly."""
    return {
        "id": record.id,
        "status": record.status.value,
        "model": record.model,
        "version": record.version,
        "created_at": iso(record.created_at),
        "started_at": iso(record.started_at),
        "finished_at": iso(record.finished_at),
        "outputs": record.outputs,
        "error": record.error.__dict__ if record.error else None,
        "timings": _timings(record),
        "metadata": record.metadata,
        "webhook": record.webhook.public() if record.webhook is not None else None,
        "retention_s": record.retention_s,
        "purged_at": iso(record.purged_at),
    }
