"""A submit is one round trip that records, lists and audits only what it admitted; a job's end is
announced with its ended record, which a waiter reads instead of the job hash (a large one by id
alone)."""

import asyncio
import time

import numpy as np
import pytest

from batching import audit, keys
from batching.codec import encode_tensors
from batching.entry import LaneEntry
from batching.jobs.announcement import announced_ids
from batching.jobs.events import PATTERNS, JobEvents
from batching.jobs.record import JobRecord, JobResult, JobStatus, JobTimings
from batching.jobs.store import JobStore
from maas.core.access import Caller
from maas.core.errors import QueueFullError

LANE = keys.online_lane("digits", 1)
CALLER = Caller("acme", "k1", "ops", frozenset())


async def submit(store: JobStore, job_id: str, max_rows: int = 0) -> LaneEntry:
    now = time.time()
    record = JobRecord(job_id, JobStatus.QUEUED, "digits", 1, 1, now, now + 60, {"k": 1}, tenant="acme")
    entry = LaneEntry(job_id, 1, now, encode_tensors({"x": np.zeros((1, 64), np.float32)}))
    facts = audit.entry_of(CALLER, "job.submit", job_id, None, {"model": "digits:1"})
    await store.submit(record, entry, LANE, max_rows, 0, facts)
    return LaneEntry(entry.job_id, 1, now, entry.inputs, tenant="acme")


async def test_only_an_admitted_submit_is_audited_recorded_and_listed(redis):
    store = JobStore(redis, 60)
    await submit(store, "j1", max_rows=1)
    with pytest.raises(QueueFullError):
        await submit(store, "j2", max_rows=1)
    entries = await audit.recent(redis, 10, "acme", keys.AUDIT_DATA)
    assert [(e["action"], e["target"], e["after"]) for e in entries] == [
        ("job.submit", "j1", {"model": "digits:1"})
    ]
    assert len(await audit.recent(redis, 10, None, keys.AUDIT_DATA)) == 1
    assert not await redis.exists(keys.job("j2"))
    assert await redis.zrange(keys.tenant_jobs("acme"), 0, -1) == [b"j1"]
    assert 0 < await redis.ttl(keys.job("j1")) <= 60 + 60  # its queue time, then the result's
    assert 0 < await redis.ttl(keys.tenant_jobs("acme")) <= 60 + 60
    assert (await store.get("j1")).metadata == {"k": 1}


@pytest.mark.parametrize("rows", [1, 4096])  # 4096 x 10 float32: past the announced size
async def test_a_waiter_is_woken_with_the_ended_record(redis, rows):
    store, events = JobStore(redis, 60), JobEvents(redis)
    events.start()
    await asyncio.wait_for(events.subscribed.wait(), 5)
    announced = []
    async with redis.pubsub(ignore_subscribe_messages=True) as pubsub:
        await pubsub.psubscribe(*PATTERNS)
        entry = await submit(store, "j1")
        outputs = {"probabilities": np.full((rows, 10), 0.5, np.float32)}
        result = JobResult(JobStatus.SUCCEEDED, time.time(), outputs, timings=JobTimings(1.0, 0.5, 1))
        with events.watch("j1") as ended:
            await store.finish(LANE, [(entry, result)], [entry], 1)
            await asyncio.wait_for(ended.wait(), 5)
        while not announced:
            message = await pubsub.get_message(timeout=1.0)
            if message:
                announced.append(message["data"])
    await events.stop()
    assert announced_ids(announced[0]) == ["j1"]
    if rows > 1:
        assert ended.fields is None  # too large to carry: the waiter reads the hash
        return
    assert ended.fields == await redis.hgetall(keys.job("j1"))
    carried = JobRecord.from_fields(ended.fields)
    assert carried.status is JobStatus.SUCCEEDED and carried.metadata == {"k": 1}
    np.testing.assert_array_equal(carried.outputs["probabilities"], outputs["probabilities"])
