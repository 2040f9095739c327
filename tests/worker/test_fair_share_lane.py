"""Noisy neighbour, bounded: with tenant A flooding a lane, tenant B's jobs run within a batch
or two of their arrival (not behind A's backlog), and while only A waits its batches stay full.
A real worker in process, real Redis, jobs written through the JobStore as the API does."""

import asyncio

import orjson

from batching import keys
from batching.jobs.record import TERMINAL, JobStatus
from batching.jobs.store import JobStore
from batching.jobs.tenant_rows import tenant_queued_rows
from tests.support.tenant_jobs import submit_rows
from tests.support.waiting import wait_until

LANE = keys.online_lane("digits", 1)  # max_batch_size 128, max_queue_delay_ms 2
FLOOD_JOBS, FLOOD_ROWS = 4000, 4  # 16,000 rows: 125 full batches
TRICKLE_JOBS, TRICKLE_GAP_S = 20, 0.02


async def flood(store: JobStore, tenant: str) -> list[str]:
    ids = []
    for start in range(0, FLOOD_JOBS, 50):
        batch = (submit_rows(store, LANE, tenant, FLOOD_ROWS) for _ in range(start, start + 50))
        ids += await asyncio.gather(*batch)
    return ids


async def claims(redis, ids: list[str]) -> list[tuple[float, int]]:
    """(started_at, batch rows) of each job: the jobs of one batch share one claim time."""
    async with redis.pipeline(transaction=False) as pipe:
        for job_id in ids:
            pipe.hmget(keys.job(job_id), "started_at", "timings")
        answers = await pipe.execute()
    return [(float(started), orjson.loads(timings)["batch_size"]) for started, timings in answers]


async def test_a_trickle_runs_within_a_batch_or_two_while_a_neighbour_floods(redis, settings, worker_handle):
    store = JobStore(redis, settings.result_ttl_s)
    flood_ids = await flood(store, "a")  # queued before the worker starts: a backlog of 125 batches
    await worker_handle.start()
    trickle_ids = []
    for _ in range(TRICKLE_JOBS):
        trickle_ids.append(await submit_rows(store, LANE, "b"))
        await asyncio.sleep(TRICKLE_GAP_S)

    async def all_done(ids: list[str]) -> bool:
        async with redis.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.hget(keys.job(job_id), "status")
            states = await pipe.execute()
        return all(JobStatus(s.decode()) in TERMINAL for s in states)

    await wait_until(lambda: all_done(trickle_ids), 60, "tenant b's jobs finish")
    await wait_until(lambda: all_done(flood_ids), 120, "tenant a's jobs finish")

    trickle = [await store.get(i) for i in trickle_ids]
    assert {job.status for job in trickle} == {JobStatus.SUCCEEDED}
    flood_claims = await claims(redis, flood_ids)
    a_batches = sorted({started for started, _ in flood_claims})
    waited = [sum(job.created_at < s < job.started_at for s in a_batches) for job in trickle]
    waits_s = [round(job.started_at - job.created_at, 4) for job in trickle]
    longest_wait_s = max(waits_s)
    drain_s = a_batches[-1] - a_batches[0]
    print(f"A batches claimed while each B job waited: {waited}; B's longest wait {longest_wait_s:.4f} s")
    print(f"A drained {len(a_batches)} batches in {drain_s:.2f} s")
    assert max(waited) <= 2  # behind at most the batch being collected, never A's backlog
    assert longest_wait_s < drain_s / 10

    by_batch = dict(flood_claims)  # claim time -> its batch's rows
    sizes = [by_batch[s] for s in a_batches]
    assert min(sizes[:-2]) >= 128 - FLOOD_ROWS  # full but for a job that did not fit beside B's
    assert sum(size == 128 for size in sizes) >= len(sizes) - TRICKLE_JOBS - 2
    assert await tenant_queued_rows(redis, "a") == 0
    assert await redis.smembers(keys.lane_tenants(LANE)) == set()
