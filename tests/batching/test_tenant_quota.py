"""A tenant's cap on queued rows across lanes: counted on admit, freed exactly once on ack."""

import asyncio
import time

import pytest

from batching import keys
from batching.entry import LaneEntry
from batching.fair_lane import FairLaneReader
from batching.jobs.record import JobResult, JobStatus
from batching.jobs.store import JobStore
from batching.jobs.tenant_rows import tenant_queued_rows
from maas.core.errors import TenantQuotaError
from tests.support.tenant_jobs import submit_rows

LANE = keys.online_lane("digits", 1)
OTHER_LANE = keys.online_lane("digits", 2)


async def queued(redis, tenant: str) -> int:
    return await tenant_queued_rows(redis, tenant)


async def read_all(redis, lane: str = LANE) -> list[LaneEntry]:
    reader = FairLaneReader(redis, lane, "c1", visibility_timeout_s=30)
    await reader.ensure_group()
    return await reader.read(1000, 0)


def done(entries: list[LaneEntry]) -> list[tuple[LaneEntry, JobResult]]:
    return [(e, JobResult(JobStatus.SUCCEEDED, time.time(), outputs={})) for e in entries]


async def test_a_tenant_past_its_cap_is_refused_while_others_are_not(redis):
    store = JobStore(redis, 60)
    await submit_rows(store, LANE, "acme", rows=3, tenant_max_rows=5)
    await submit_rows(store, OTHER_LANE, "acme", rows=2, tenant_max_rows=5)  # the cap spans lanes
    with pytest.raises(TenantQuotaError, match=r"tenant acme has 5 rows queued across models \(limit 5\)"):
        await submit_rows(store, LANE, "acme", rows=1, tenant_max_rows=5)
    await submit_rows(store, LANE, "other", rows=4, tenant_max_rows=5)
    assert (await queued(redis, "acme"), await queued(redis, "other")) == (5, 4)
    assert await redis.get(keys.lane_rows(LANE)) == b"7"  # the refused job never entered the lane
    assert len(await redis.keys(keys.job("acme-*"))) == 2  # nor kept its record


async def test_on_one_redis_concurrent_submits_to_many_lanes_never_pass_the_cap(redis):
    # One count for every lane, read and raised by the admit script itself: no read before it
    # that a concurrent submit to another lane could make stale (a Cluster's per-slot counts can).
    store = JobStore(redis, 60)
    lanes = [keys.online_lane("digits", v) for v in range(1, 5)]
    outcomes = await asyncio.gather(
        *(submit_rows(store, lanes[i % 4], "acme", rows=1, tenant_max_rows=10) for i in range(40)),
        return_exceptions=True,
    )
    refused = [o for o in outcomes if isinstance(o, TenantQuotaError)]
    assert (len(outcomes) - len(refused), len(refused)) == (10, 30)
    assert await queued(redis, "acme") == 10
    assert sum([int(await redis.get(keys.lane_rows(lane)) or 0) for lane in lanes]) == 10


async def test_rows_are_freed_once_even_when_a_batch_is_finished_twice(redis):
    store = JobStore(redis, 60)
    for _ in range(3):
        await submit_rows(store, LANE, "acme", rows=2)
    await submit_rows(store, LANE, "default")
    entries = await read_all(redis)
    assert len(entries) == 4
    await store.finish(LANE, done(entries), entries, computed_rows=7)
    await store.finish(LANE, done(entries), entries, computed_rows=7)  # e.g. after a reclaim
    assert (await queued(redis, "acme"), await queued(redis, "default")) == (0, 0)
    assert await redis.get(keys.lane_rows(LANE)) == b"0"
    assert await redis.smembers(keys.lane_tenants(LANE)) == set()  # nobody waits any more
    stats = await store.lane_stats(LANE)
    assert (stats["computed_rows"], stats["batches"]) == (14, 2)  # once per finish, not per tenant


async def test_dead_letters_and_dropped_jobs_free_their_rows(redis):
    store = JobStore(redis, 60)
    poison = await submit_rows(store, LANE, "acme", rows=2)
    cancelled = await submit_rows(store, LANE, "acme", rows=2)
    await store.cancel(cancelled)
    entries = await read_all(redis)
    await store.dead_letter(LANE, [e for e in entries if e.job_id == poison], max_deliveries=3)
    assert await queued(redis, "acme") == 2
    await store.finish(LANE, [], [e for e in entries if e.job_id == cancelled])  # dropped at claim
    assert await queued(redis, "acme") == 0
    [(_, dead)] = await redis.xrange(keys.dead_letters(LANE))
    assert dead[b"tenant"] == b"acme"


async def test_an_entry_queued_before_tenants_existed_never_makes_a_count_negative(redis):
    now = time.time()
    old = {"job": "old", "rows": "1", "t": repr(now), "inputs": b"MT1payload"}  # no tenant field
    await redis.xadd(LANE, old)
    await redis.incrby(keys.lane_rows(LANE), 1)
    [entry] = await read_all(redis)
    assert entry.tenant == keys.DEFAULT_TENANT
    await JobStore(redis, 60).finish(LANE, [], [entry])
    assert await redis.hget(keys.TENANT_ROWS, keys.DEFAULT_TENANT) == b"0"
    assert await redis.get(keys.lane_rows(LANE)) == b"0"
