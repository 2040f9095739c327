"""One webhook delivery attempt, run as an rq task: sign, POST to the checked address, record.

rq retries a raised attempt on the job's Retry schedule; the delivery state (attempts, last
status, next attempt) lives in the job record, where GET /v1/jobs/{id} shows it.
"""

import logging
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import orjson
import redis
from opentelemetry.trace import SpanKind
from rq import get_current_job
from rq.job import Job

from batching import keys
from batching.jobs.record import JobRecord
from batching.jobs.view import job_public
from batching.metrics import WEBHOOK_DELIVERIES, WEBHOOK_DELIVERY_SECONDS
from batching.tasks import DELIVER_BULK_WEBHOOK, DELIVER_JOB_WEBHOOK, current_path
from batching.webhook import WebhookRecord, WebhookState
from maas.core import tracing
from maas.core.errors import MaasError
from maas.core.log_fields import fields
from maas.core.sealing import CLEAR, Sealer
from maas.core.url_safety import UnsafeURLError, WebhookPolicy
from worker.webhooks.http import DEFAULT_PORTS, WebhookTransportError, post_pinned
from worker.webhooks.signing import signature_header

log = logging.getLogger(__name__)
FAILURES_KEPT = 1000  # failed deliveries listed for operators (keys.WEBHOOK_FAILURES)


class WebhookDeliveryError(MaasError):
    """An attempt that did not get a 2xx; rq retries it while retries are left."""

    code = "webhook_delivery_failed"


@dataclass(frozen=True)
class DeliveryContext:
    redis: redis.Redis
    secrets: list[str]
    policy: WebhookPolicy
    timeout_s: float
    connect_timeout_s: float | None = None  # per address; None: within timeout_s only
    sealer: Sealer = CLEAR  # opens the job's outputs and metadata for the event's body


_context: DeliveryContext | None = None


def configure(context: DeliveryContext) -> None:
    """Called once by the rq-worker entry point; rq calls deliver() with the job id only."""
    global _context
    _context = context


def current_context() -> DeliveryContext:
    if _context is None:
        raise RuntimeError("webhook delivery is not configured: the rq worker calls configure() first")
    return _context


RECORD_OF_TASK = {DELIVER_JOB_WEBHOOK: keys.job, DELIVER_BULK_WEBHOOK: keys.bulk_job}


def destination(task: Job) -> str | None:
    """The receiver (host:port) a delivery task POSTs to, for the per-destination cap; None for
    any other task, or one whose record is gone."""
    record_key = RECORD_OF_TASK.get(current_path(task.func_name or ""))
    if record_key is None or not task.args:
        return None
    url = current_context().redis.hget(record_key(task.args[0]), "webhook_url")
    if url is None:
        return None
    parts = urlsplit(url.decode())
    try:
        port = parts.port or DEFAULT_PORTS.get(parts.scheme, 0)
    except ValueError:  # a malformed port: the attempt fails on its own; any key will do
        port = 0
    return f"{parts.hostname}:{port}"


def deliver(job_id: str) -> str:
    context = current_context()
    raw = context.redis.hgetall(keys.job(job_id))
    if not raw:
        return "job gone (its result expired)"
    record = JobRecord.from_fields(raw, context.sealer)
    return post_event(keys.job(job_id), record.webhook, job_public(record), record.traceparent)


def post_event(key: str, hook: WebhookRecord | None, view: dict, traceparent: str | None = None) -> str:
    """One attempt of the webhook event of the record at `key` (a job or a bulk job); the POST
    carries the record's trace context (`traceparent`: a `maas.webhook_delivery` span's, with
    tracing on, else the one the record kept)."""
    if hook is None or hook.event_id is None:
        return "no webhook event"
    with tracing.job_span("maas.webhook_delivery", traceparent, SpanKind.CLIENT) as passed:
        return _attempt(key, hook, view, passed)


def _attempt(key: str, hook: WebhookRecord, view: dict, traceparent: str | None) -> str:
    assert hook.event_id is not None  # post_event checked
    context = current_context()
    body = orjson.dumps(view, option=orjson.OPT_SERIALIZE_NUMPY)
    timestamp = int(time.time())
    headers = {
        "webhook-id": hook.event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(context.secrets, hook.event_id, timestamp, body),
    }
    if traceparent:
        headers["traceparent"] = traceparent
    started = time.perf_counter()
    try:
        status: int | str = post_pinned(
            hook.url, body, headers, context.timeout_s, context.policy, context.connect_timeout_s
        )
    except UnsafeURLError as e:
        WEBHOOK_DELIVERY_SECONDS.observe(time.perf_counter() - started)
        _record(context.redis, key, WebhookState.FAILED, e.message, hook.event_id)  # no retry fixes it
        return e.message
    except WebhookTransportError as e:
        status = e.message
    tracing.annotate({"http.response.status_code" if isinstance(status, int) else "error.type": status})
    WEBHOOK_DELIVERY_SECONDS.observe(time.perf_counter() - started)
    return _conclude(context.redis, key, status, hook.event_id)


def _conclude(client: redis.Redis, key: str, status: int | str, event_id: str) -> str:
    if isinstance(status, int) and 200 <= status < 300:
        _record(client, key, WebhookState.DELIVERED, status, event_id)
        return f"delivered ({status})"
    if status == 410:  # Gone: the receiver asks us to stop
        _record(client, key, WebhookState.FAILED, status, event_id)
        return "receiver answered 410 Gone; not retried"
    rq_job = get_current_job()
    if rq_job is not None and rq_job.retries_left:
        delay_s = rq_job.get_retry_interval()  # what rq will wait before the next attempt
        _record(client, key, WebhookState.RETRYING, status, event_id, time.time() + delay_s)
    else:
        _record(client, key, WebhookState.FAILED, status, event_id)
    raise WebhookDeliveryError(f"webhook for {key}: {status}")


def _record(
    client: redis.Redis,
    key: str,
    state: WebhookState,
    status: int | str,
    event_id: str,
    next_attempt_at: float | None = None,
) -> None:
    WEBHOOK_DELIVERIES.labels(state.value).inc()
    if not client.exists(key):
        return  # its result expired meanwhile: do not leave a partial record behind
    # No transaction: the failures index lies in another hash slot (Redis Cluster). This task is
    # the record's only webhook writer, and one connection's pipeline runs in order.
    with client.pipeline(transaction=False) as pipe:
        pipe.hincrby(key, "webhook_attempts", 1)
        pipe.hset(
            key,
            mapping={
                "webhook_state": state.value,
                "webhook_last_status": str(status),
                "webhook_next_attempt_at": repr(next_attempt_at) if next_attempt_at else "",
            },
        )
        if state is WebhookState.FAILED:
            pipe.zadd(keys.WEBHOOK_FAILURES, {key: time.time()})
            pipe.zremrangebyrank(keys.WEBHOOK_FAILURES, 0, -FAILURES_KEPT - 1)  # the newest only
        elif state is WebhookState.DELIVERED:
            pipe.zrem(keys.WEBHOOK_FAILURES, key)
        pipe.execute()
    log.info("webhook attempt %s (%s)", state.value, status, extra=_log_fields(key, event_id, state))


def _log_fields(key: str, event_id: str, state: WebhookState) -> dict[str, object]:
    """The record's id under its own name (a job's or a bulk job's), never its URL."""
    record_id = key.rsplit(":", 1)[-1].strip("{}")
    owner = fields(bulk_id=record_id) if key.startswith(keys.bulk_job("")[:-2]) else fields(job_id=record_id)
    return {**owner, **fields(webhook_id=event_id, outcome=state.value)}
