"""The job view that is sent (GET /v1/jobs/{id}, webhook bodies) against the JobPublic schema
that OpenAPI documents: every state a job can be in, read back from a real Redis."""

import time
import typing

import numpy as np
import orjson
import pytest
from pydantic import BaseModel

from api.responses import NumpyJSONResponse
from api.schemas import JobPublic
from batching import keys
from batching.codec import encode_tensors
from batching.entry import LaneEntry
from batching.jobs.record import JobError, JobRecord, JobResult, JobStatus, JobTimings
from batching.jobs.store import JobStore
from batching.jobs.view import job_public
from batching.webhook import WebhookRecord

LANE = keys.online_lane("digits", 1)


async def _submit(store: JobStore, job_id: str, deadline_in_s: float = 60, webhook=None) -> LaneEntry:
    now = time.time()
    record = JobRecord(
        job_id, JobStatus.QUEUED, "digits", 1, 1, now, now + deadline_in_s, {"k": 1}, webhook=webhook
    )
    entry = LaneEntry(job_id, 1, now, encode_tensors({"x": np.zeros((1, 64), np.float32)}))
    await store.submit(record, entry, LANE, 0)
    return entry


def _succeeded() -> JobResult:
    outputs = {"probabilities": np.full((1, 10), 0.1, np.float32), "label": np.array([3], np.int64)}
    return JobResult(JobStatus.SUCCEEDED, time.time(), outputs, timings=JobTimings(1.5, 0.25, 4))


async def _queued(store):
    await _submit(store, "queued")


async def _running(store):
    await store.claim([await _submit(store, "running")], "worker-1")


async def _succeeded_job(store):
    entry = await _submit(store, "succeeded")
    await store.finish(LANE, [(entry, _succeeded())], [])


async def _failed(store):
    entry = await _submit(store, "failed")
    failure = JobResult(JobStatus.FAILED, time.time(), error=JobError("inference_error", "boom"))
    await store.finish(LANE, [(entry, failure)], [])


async def _cancelled(store):
    await _submit(store, "cancelled")
    await store.cancel("cancelled")


async def _expired(store):
    assert await store.claim([await _submit(store, "expired", deadline_in_s=-1)], "w") == ["expired"]


async def _with_webhook(store):
    hook = WebhookRecord("https://example.com/hook", ("succeeded", "failed"))
    entry = await _submit(store, "with_webhook", webhook=hook)
    await store.finish(LANE, [(entry, _succeeded())], [])
    # As a failed first delivery attempt leaves it, so every webhook field has a value.
    retrying = {"webhook_state": "retrying", "webhook_attempts": 1, "webhook_last_status": 503}
    await store.redis.hset(keys.job("with_webhook"), mapping={**retrying, "webhook_next_attempt_at": "9.5"})


JOBS = [_queued, _running, _succeeded_job, _failed, _cancelled, _expired, _with_webhook]


def _model_of(annotation) -> type[BaseModel] | None:
    """The pydantic model inside `Model | None`, if any."""
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def assert_same_keys(sent: dict, model: type[BaseModel], where: str = "job") -> None:
    """The keys sent are the model's fields, both ways, in every nested object too."""
    fields = model.model_fields
    assert set(sent) - set(fields) == set(), f"{where}: sent but not in {model.__name__}"
    assert set(fields) - set(sent) == set(), f"{where}: in {model.__name__} but never sent"
    for name, field in fields.items():
        nested = _model_of(field.annotation)
        if nested is not None and sent[name] is not None:
            assert_same_keys(sent[name], nested, f"{where}.{name}")


@pytest.mark.parametrize("make", JOBS, ids=[make.__name__.strip("_") for make in JOBS])
async def test_the_sent_job_view_matches_the_documented_job_public(redis, make):
    store = JobStore(redis, result_ttl_s=60)
    await make(store)
    [job_id] = [k.decode().rsplit(":", 1)[1] for k in await redis.keys(keys.job("*"))]
    record = await store.get(job_id)
    body = NumpyJSONResponse(job_public(record)).body  # the API's bytes; webhooks encode alike
    parsed = JobPublic.model_validate_json(body, strict=True)
    assert parsed.status == record.status and parsed.id == job_id
    assert_same_keys(orjson.loads(body), JobPublic)


async def test_every_job_state_is_covered_here(redis):
    """A new JobStatus needs a case above (a running job is not terminal, so not an event)."""
    store = JobStore(redis, result_ttl_s=60)
    for make in JOBS:
        await make(store)
    records = [await store.get(k.decode().rsplit(":", 1)[1]) for k in await redis.keys(keys.job("*"))]
    assert {r.status for r in records} == set(JobStatus)
