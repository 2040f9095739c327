"""The lane read per tenant: a flood does not hide a trickle, order within a tenant holds, a
blocked reader wakes for a new tenant, and reclaim works per sub-stream."""

import asyncio
import time

from batching import keys
from batching.fair_lane import FairLaneReader
from batching.fair_share import FairShare
from batching.jobs.store import JobStore
from batching.lane import MAX_BLOCK_S
from tests.support.tenant_jobs import submit_rows

LANE = keys.online_lane("digits", 1)


async def reader_of(redis, consumer: str = "c1", visibility_timeout_s: float = 30, **kw) -> FairLaneReader:
    reader = FairLaneReader(redis, LANE, consumer, visibility_timeout_s, **kw)
    await reader.ensure_group()
    return reader


async def test_a_trickle_is_read_past_a_flood_in_the_next_batch(redis):
    store = JobStore(redis, 60)
    flood = [await submit_rows(store, LANE, "a") for _ in range(2000)]
    trickle = await submit_rows(store, LANE, "b")
    reader = await reader_of(redis)
    batch = await reader.read(64, 0)
    assert len(batch) == 64
    assert trickle in [e.job_id for e in batch]
    assert [e.job_id for e in batch if e.tenant == "a"] == flood[:63]  # a's jobs in their order


async def test_a_tenant_alone_fills_every_batch_in_order(redis):
    store = JobStore(redis, 60)
    jobs = [await submit_rows(store, LANE, "a") for _ in range(300)]
    reader = await reader_of(redis)
    batches = [await reader.read(64, 0) for _ in range(5)]
    assert [len(b) for b in batches] == [64, 64, 64, 64, 44]
    assert [e.job_id for b in batches for e in b] == jobs


async def test_weights_share_a_contended_lane(redis):
    store = JobStore(redis, 60)
    for tenant in ("a", "b"):
        for _ in range(300):
            await submit_rows(store, LANE, tenant)
    reader = await reader_of(redis, fair_share=FairShare(weights={"a": 3.0}))
    batch = await reader.read(64, 0)
    assert sum(e.tenant == "a" for e in batch) == 48


async def test_a_blocked_reader_wakes_when_a_new_tenant_submits(redis):
    store = JobStore(redis, 60)
    reader = await reader_of(redis)
    await reader.read(64, 0)  # learns the (empty) set of active tenants
    started = time.monotonic()
    reading = asyncio.create_task(reader.read(64, 5.0))
    await asyncio.sleep(0.2)  # it is blocked by now
    job = await submit_rows(store, LANE, "newcomer")
    batch = await asyncio.wait_for(reading, 5)
    assert [e.job_id for e in batch] == [job]
    assert time.monotonic() - started < 1.0  # woken by the doorbell, not at the end of its wait
    assert await redis.xlen(keys.lane_wake(LANE)) == 0  # the ring was answered and deleted


async def _calls(redis, command: str) -> int:
    return (await redis.info("commandstats")).get(f"cmdstat_{command}", {}).get("calls", 0)


async def test_lone_jobs_are_collected_by_the_blocking_read_alone(redis):
    store = JobStore(redis, 60)
    reader = await reader_of(redis, active_set_refresh_s=3600)  # the set read once, below
    await reader.read(64, 0)
    await redis.config_resetstat()
    for tenant in ("default", "default", "default"):
        job = await submit_rows(store, LANE, tenant)
        assert [e.job_id for e in await reader.read(64, 5.0)] == [job]
    # One XREADGROUP per lone job; the active set and a non-blocking read are not read before it.
    assert await _calls(redis, "xreadgroup") == 3
    assert await _calls(redis, "smembers") == 0


async def test_the_active_set_is_read_again_once_it_is_old(redis):
    store = JobStore(redis, 60)
    reader = await reader_of(redis, active_set_refresh_s=0)  # always old: read on every read
    await reader.read(64, 0)
    await redis.config_resetstat()
    for _ in range(3):
        job = await submit_rows(store, LANE, "other")  # a tenant whose ring the reader also gets
        assert [e.job_id for e in await reader.read(64, 5.0)] == [job]
    assert await _calls(redis, "smembers") >= 3


async def test_a_dead_consumers_entries_are_reclaimed_from_each_sub_stream(redis):
    store = JobStore(redis, 60)
    jobs = {await submit_rows(store, LANE, t) for t in ("a", "b", "default")}
    dead = await reader_of(redis, "dead")
    assert {e.job_id for e in await dead.read(64, 0)} == jobs
    survivor = await reader_of(redis, "survivor", visibility_timeout_s=0.05)
    await survivor.read(64, 0)
    await asyncio.sleep(0.1)
    reclaimed = []
    for _ in range(5):
        reclaimed += await survivor.read(64, 0)
    assert {e.job_id for e in reclaimed} == jobs
    assert {e.deliveries for e in reclaimed} == {2}


async def test_stopping_drains_what_was_read_ahead(redis):
    store = JobStore(redis, 60)
    for tenant in ("a", "b"):
        for _ in range(100):
            await submit_rows(store, LANE, tenant)
    reader = await reader_of(redis)
    first = await reader.read(64, 0)
    assert reader.holding()
    rest = []
    while batch := reader.take(64):
        rest += batch
    assert len(first) + len(rest) == 128  # one batch's read-ahead per tenant, all handed out
    assert not reader.holding()


async def test_a_wait_longer_than_the_socket_timeout_is_cut_into_shorter_reads(redis):
    """A lane with max_queue_delay_ms past the connection's socket timeout (10 s) once made
    every idle read fail as a Redis timeout; a read now blocks at most MAX_BLOCK_S."""
    reader = await reader_of(redis)
    started = time.monotonic()
    assert await reader.read(64, 30.0) == []
    assert time.monotonic() - started < MAX_BLOCK_S + 2
