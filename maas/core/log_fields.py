"""The fields a maas log record may carry besides its message, and the request id of the HTTP
request being served (a context variable, so every record logged while serving it has it).

A record gets fields with `log.info("...", extra=fields(job_id=..., rows=...))`; the JSON
format writes them as keys, the text format appends them as key=value. Only these names are
written: anything else passed in `extra` stays out of the log, so a value never leaks into it
by being attached to a record."""

from contextvars import ContextVar

FIELDS = (
    "job_id",
    "model",
    "version",
    "batch_id",
    "rows",
    "jobs",
    "worker_id",
    "request_id",
    "webhook_id",
    "bulk_id",
    "chunk",
    "status",
    "outcome",
    "duration_ms",
)
REQUEST_ID: ContextVar[str | None] = ContextVar("maas_request_id", default=None)


def fields(**values: object) -> dict[str, object]:
    """`extra=` for a log call; refuses a name the formatters would not write."""
    unknown = set(values) - set(FIELDS)
    if unknown:
        raise ValueError(f"not log fields: {sorted(unknown)}")
    return values
