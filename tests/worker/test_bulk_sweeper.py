"""The bulk retention sweeper: a real `maas rq-worker` deletes the files and record of a job whose
retention ran out and leaves a fresh one alone; several sweepers share the due jobs without
deleting one twice; a sweeper that died mid-way leaves its claims to the next after the lease.
Real Redis, real files."""

import threading
import time

import numpy as np
import pytest
import redis as redis_sync

from batching import keys
from batching.bulk.record import BulkFormat, BulkRecord, BulkStatus, input_path
from batching.bulk.retention import claim_due
from batching.bulk.store import BulkStore
from maas.core.file_store import LocalFileStore
from maas.core.ids import new_job_id, tag_of
from tests.conftest import in_process_api
from tests.support.bulk_helpers import npy, submit, wait_for_status
from tests.support.processes import MaasProcess
from tests.support.waiting import wait_until
from worker.tasks.bulk_sweeper import LEASE_S, BulkSweeper


@pytest.fixture
def client(redis_server, redis):  # `redis` flushes the database first
    with redis_sync.Redis.from_url(redis_server.url) as sync_client:
        yield sync_client


async def test_the_rq_worker_deletes_expired_jobs_and_keeps_fresh_ones(settings, redis, worker, tmp_path):
    quick = settings.model_copy(update={"bulk_sweep_interval_s": 0.2})
    store = settings.state_dir / "bulk"
    async with (
        MaasProcess("rq-worker", tmp_path / "rq-worker.log", quick),
        in_process_api(quick) as api,
    ):
        rows = npy(np.ones((20, 64), np.float32))
        brief = await submit(api, "a.npy", rows, model="digits", chunk_rows=10, retention_s=1)
        fresh = await submit(api, "b.npy", rows, model="digits", chunk_rows=10)
        for job in (brief, fresh):
            assert (await wait_for_status(api, job["id"], {"succeeded", "failed"}))["status"] == "succeeded"
        assert (store / brief["id"] / "results").exists()

        async def brief_gone() -> bool:
            return (await api.get(f"/v1/bulk-jobs/{brief['id']}")).status_code == 404

        await wait_until(brief_gone, 20, "the brief job's record deleted")
        listed = [j["id"] for j in (await api.get("/v1/bulk-jobs")).json()["data"]]
    assert not (store / brief["id"]).exists()
    assert not await redis.exists(keys.bulk_job(brief["id"]), keys.bulk_chunks_done(brief["id"]))
    assert listed == [fresh["id"]]
    sweep = keys.bulk_sweep(tag_of(fresh["id"]))
    assert [m.decode() for m in await redis.zrange(sweep, 0, -1)] == [fresh["id"]]
    assert len(list((store / fresh["id"] / "results").iterdir())) == 2  # untouched
    assert await redis.exists(keys.bulk_job(fresh["id"]))
    # Its retention counts from its end; its record outlives that by the grace.
    due = await redis.zscore(sweep, fresh["id"])
    finished = float(await redis.hget(keys.bulk_job(fresh["id"]), "finished_at"))
    assert due == pytest.approx(finished + settings.bulk_retention_s)
    assert await redis.ttl(keys.bulk_job(fresh["id"])) > settings.bulk_retention_s


async def ended_jobs(redis, files: LocalFileStore, count: int, retention_s: int) -> list[str]:
    """`count` cancelled bulk jobs with an input file each, due `retention_s` from now."""
    store = BulkStore(redis)
    ids = []
    for _ in range(count):
        record = BulkRecord(
            new_job_id(), BulkStatus.VALIDATING, "digits", 1, BulkFormat.JSONL, files.url, 10, time.time()
        )
        record.retention_s = retention_s
        await store.create(record, 3600)
        with files.write_atomic(input_path(record.id, record.format)) as f:
            f.write(b"{}\n")
        await store.cancel(record.id)  # ends it: due retention_s from now
        ids.append(record.id)
    return ids


async def test_two_sweepers_share_the_due_jobs_and_delete_each_once(redis, client, tmp_path):
    files = LocalFileStore(tmp_path / "bulk")
    due = await ended_jobs(redis, files, 150, retention_s=1)
    kept = await ended_jobs(redis, files, 3, retention_s=3600)
    sweepers = [BulkSweeper(client, files, 1.0) for _ in range(2)]
    counts: list[int] = []
    later = time.time() + 2
    threads = [threading.Thread(target=lambda s=s: counts.append(s.sweep(later))) for s in sweepers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(counts) == 150
    assert sorted(p.name for p in (tmp_path / "bulk").iterdir()) == sorted(kept)
    assert await redis.exists(*(keys.bulk_job(i) for i in due)) == 0
    assert await redis.zcard(keys.BULK_SWEEP) == 3
    assert sweepers[0].sweep(later) == 0  # nothing left to do: a second pass deletes nothing


async def test_a_claim_of_a_sweeper_that_died_is_taken_over_after_the_lease(redis, client, tmp_path):
    files = LocalFileStore(tmp_path / "bulk")
    [bulk_id] = await ended_jobs(redis, files, 1, retention_s=1)
    later = time.time() + 2
    assert claim_due(client, later, LEASE_S, 10) == [bulk_id]  # ... and its sweeper dies here
    sweeper = BulkSweeper(client, files, 1.0)
    assert sweeper.sweep(later) == 0  # leased to the dead one
    await redis.delete(keys.bulk_job(bulk_id))  # meanwhile Redis expired the record too
    assert sweeper.sweep(later + LEASE_S + 1) == 1
    assert not (tmp_path / "bulk" / bulk_id).exists()  # found in the sweeper's own store
    assert await redis.zcard(keys.BULK_SWEEP) == 0
