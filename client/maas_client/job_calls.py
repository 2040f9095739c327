"""The /v1/jobs operations, without I/O (see wire.py): submit, read, long-poll, cancel."""

import time
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import numpy as np

from maas_client.arrays import Inputs, as_input_payload, outputs_as_arrays
from maas_client.errors import Timeout
from maas_client.job import JobState
from maas_client.wire import Call, Context, Send, json_bytes, json_of, send

LONG_POLL_S = 30.0  # one GET ?wait= at most this long (the server caps it at its max_wait_s)


def _path(job_id: str) -> str:
    return f"/v1/jobs/{quote(job_id, safe='')}"


def output_dtypes(ctx: Context, model: str, version: int) -> Call[dict[str, np.dtype]]:
    """The output dtypes of (model, version), from its signature; fetched once per version."""
    key = (model, version)
    if key not in ctx.output_dtypes:
        response = yield from send(
            Send("GET", f"/v1/models/{quote(model, safe='')}/versions/{version}"), ctx.retry
        )
        outputs = json_of(response)["signature"]["outputs"]
        ctx.output_dtypes[key] = {o["name"]: np.dtype(o["dtype"]) for o in outputs}
    return ctx.output_dtypes[key]


def job_state(ctx: Context, record: Mapping[str, Any]) -> Call[JobState]:
    outputs = None
    if record.get("outputs") is not None:
        dtypes = yield from output_dtypes(ctx, record["model"], record["version"])
        outputs = outputs_as_arrays(record["outputs"], dtypes)
    return JobState.from_record(record, outputs)


def webhook_body(webhook: str | Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A URL alone means every terminal event."""
    if webhook is None:
        return None
    return {"url": webhook} if isinstance(webhook, str) else dict(webhook)


def submit(
    ctx: Context,
    model: str,
    inputs: Inputs,
    *,
    version: int | str | None = None,
    wait: float | None = None,
    timeout_s: float | None = None,
    webhook: str | Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
    idempotency_key: str | None = None,
) -> Call[JobState]:
    """POST /v1/jobs. The Idempotency-Key (a fresh one unless given) is the same on every retry,
    so a retried submit whose first answer was lost gets the first job back, not a second one."""
    body: dict[str, Any] = {"model": model, "inputs": as_input_payload(inputs)}
    optional = {
        "version": version,
        "timeout_s": timeout_s,
        "metadata": metadata,
        "webhook": webhook_body(webhook),
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    headers = {"Content-Type": "application/json", "Idempotency-Key": idempotency_key or uuid.uuid4().hex}
    if wait:
        headers["Prefer"] = f"wait={wait:g}"
    request = Send("POST", "/v1/jobs", content=json_bytes(body), headers=headers, extra_read_s=wait or 0.0)
    response = yield from send(request, ctx.retry)
    return (yield from job_state(ctx, json_of(response)))


def get(ctx: Context, job_id: str, wait_s: float = 0.0) -> Call[JobState]:
    """GET /v1/jobs/{id}; with `wait_s`, the server answers when it ends or after wait_s."""
    params = {"wait": f"{wait_s:g}"} if wait_s > 0 else None
    response = yield from send(Send("GET", _path(job_id), params=params, extra_read_s=wait_s), ctx.retry)
    return (yield from job_state(ctx, json_of(response)))


def wait(ctx: Context, job_id: str, timeout: float | None) -> Call[JobState]:
    """Long-polls until the job ends; `Timeout` if it has not within `timeout` seconds."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        remaining = LONG_POLL_S if deadline is None else max(0.0, deadline - time.monotonic())
        state = yield from get(ctx, job_id, min(LONG_POLL_S, remaining))
        if state.done:
            return state
        if deadline is not None and time.monotonic() >= deadline:
            raise Timeout(f"job {job_id} is still {state.status} after {timeout:g} s", code="timeout")


def list_jobs(
    ctx: Context, status: str | None, model: str | None, limit: int, cursor: str | None
) -> Call[tuple[list[JobState], str | None]]:
    """GET /v1/jobs: the caller's jobs, newest first, one page (outputs left out)."""
    params = {"status": status, "model": model, "limit": limit, "cursor": cursor}
    request = Send("GET", "/v1/jobs", params={k: v for k, v in params.items() if v is not None})
    page = json_of((yield from send(request, ctx.retry)))
    return [JobState.from_record(record, None) for record in page["data"]], page.get("next_cursor")


def cancel(ctx: Context, job_id: str) -> Call[JobState]:
    """DELETE /v1/jobs/{id}: not repeated when its answer is lost (a second cancel is a 409)."""
    response = yield from send(Send("DELETE", _path(job_id), repeatable=False), ctx.retry)
    return (yield from job_state(ctx, json_of(response)))
