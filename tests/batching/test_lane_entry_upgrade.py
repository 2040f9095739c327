"""Lane entries queued by an older maas (which wrote the job's deadline into the entry too)
still decode and still run after an upgrade."""

import asyncio
import time

from batching import keys
from batching.codec import encode_tensors
from batching.jobs.record import JobRecord, JobStatus
from batching.jobs.store import JobStore
from batching.lane import LaneReader
from maas.models.registry import ModelRepository

LANE = keys.online_lane("digits", 1)


def _old_entry(job_id: str, now: float, inputs: bytes) -> dict:
    return {"job": job_id, "rows": "1", "t": repr(now), "deadline": repr(now + 60), "inputs": inputs}


async def test_an_entry_with_the_old_deadline_field_is_read_from_the_lane(redis):
    now = time.time()
    await redis.xadd(LANE, _old_entry("old", now, b"MT1payload"))
    reader = LaneReader(redis, LANE, "c1", visibility_timeout_s=30)
    await reader.ensure_group()
    [entry] = await reader.read(10, 0)
    assert (entry.job_id, entry.rows, entry.created_at, entry.inputs) == ("old", 1, now, b"MT1payload")
    assert "deadline" not in entry.to_fields()


async def test_a_job_queued_before_the_upgrade_is_computed(redis, settings, worker):
    now = time.time()
    record = JobRecord("old", JobStatus.QUEUED, "digits", 1, 1, now, now + 60)
    await redis.hset(keys.job("old"), mapping=record.to_fields())
    zeros = ModelRepository(settings.model_repository).get("digits", 1).signature.zeros(1)
    await redis.xadd(LANE, _old_entry("old", now, encode_tensors(zeros)))
    await redis.incrby(keys.lane_rows(LANE), 1)
    store = JobStore(redis, settings.result_ttl_s)
    for _ in range(200):
        done = await store.get("old")
        if done.terminal:
            break
        await asyncio.sleep(0.05)
    assert done.status is JobStatus.SUCCEEDED, done.error
    assert await redis.get(keys.lane_rows(LANE)) == b"0"  # acknowledged and its rows freed
