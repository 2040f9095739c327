"""Every job and bulk script, and each transaction, runs on a real 3-master Redis Cluster: one
that touched keys of two slots would fail here (CROSSSLOT), and a slot's completion channel is
heard through SSUBSCRIBE on its node alone."""

import asyncio
import contextlib
import time

import pytest

from batching import keys, slot_tags
from batching.bulk.record import BulkFormat, BulkRecord, BulkStatus
from batching.bulk.retention import claim_due, forget
from batching.bulk.scripts import FEED
from batching.bulk.store import BulkStore
from batching.connection import connect, connect_sync
from batching.entry import LaneEntry
from batching.fair_lane import FairLaneReader
from batching.hiredis_packing import HiredisPacking
from batching.jobs.events import JobEvents
from batching.jobs.purge import purge
from batching.jobs.record import JobRecord, JobResult, JobStatus
from batching.jobs.store import JobStore
from batching.jobs.tenant_rows import tenant_queued_rows
from batching.webhook import WebhookRecord
from maas.core.ids import new_job_id, with_tag
from tests.support.redis_cluster import RedisCluster

LANES = [keys.online_lane(m, 1) for m in ("digits", "heavy", "pair")]  # three slots


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with RedisCluster(tmp_path_factory.mktemp("cluster")) as started:
        yield started


@pytest.fixture
async def redis(cluster):
    cluster.flush()
    client = connect(cluster.settings())
    yield client
    await client.aclose()


async def submit(store: JobStore, lane: str, tenant: str = "acme", cap: int = 0) -> str:
    now = time.time()
    job_id = with_tag(new_job_id(now), slot_tags.tag_of_key(lane))
    hook = WebhookRecord("http://127.0.0.1:9/hook", ("succeeded", "failed", "cancelled"))
    record = JobRecord(job_id, JobStatus.QUEUED, "m", 1, 2, now, now + 600, webhook=hook, tenant=tenant)
    await store.submit(record, LaneEntry(job_id, 2, now, b"x"), lane, 100, cap, {"action": "job.submit"})
    return job_id


async def spublish_calls(redis, node) -> int:
    stats = await redis.info("commandstats", target_nodes=node)
    return stats.get("cmdstat_spublish", {}).get("calls", 0)


async def test_job_scripts_each_touch_one_slot(redis):
    store, events = JobStore(redis, 60, cluster=True), JobEvents(redis, sharded=True)
    events.start()
    ids = [await submit(store, lane, cap=100) for lane in LANES]
    nodes = redis.get_nodes()
    assert len(nodes) == 3 and all(issubclass(n.connection_class, HiredisPacking) for n in nodes)
    assert {slot_tags.tag_of_key(lane) for lane in LANES} == {i.split("-")[1] for i in ids}
    assert await tenant_queued_rows(redis, "acme", cluster=True) == 6  # summed over the three slots
    assert all([await events.follow(i) for i in ids])
    for lane, job_id in zip(LANES, ids, strict=True):
        reader = FairLaneReader(redis, lane, "c1", visibility_timeout_s=30)
        await reader.ensure_group()
        [entry] = await reader.read(10, 0)
        assert await store.claim([entry], "w1") == ["running"]
        with events.watch(job_id) as ended:
            await store.finish(
                lane, [(entry, JobResult(JobStatus.SUCCEEDED, time.time(), outputs={}))], [entry], 2
            )
            await asyncio.wait_for(ended.wait(), 5)  # announced with SPUBLISH, heard on its node
        assert await store.queue_redelivery(job_id) == 0  # a transaction: record and outbox
        assert await purge(redis, job_id) == "succeeded"
    cancelled = await submit(store, LANES[0])
    await store.cancel(cancelled)
    dead = await submit(store, LANES[1])
    [entry] = await FairLaneReader(redis, LANES[1], "c1", visibility_timeout_s=30).read(10, 0)
    await store.dead_letter(LANES[1], [entry], max_deliveries=3)
    assert (await store.get(dead)).status is JobStatus.FAILED
    # the cancelled job's entry is still queued
    assert await tenant_queued_rows(redis, "acme", cluster=True) == 2
    for lane in LANES:  # each ended job's webhook event is in its own slot's outbox
        assert await redis.xlen(keys.webhook_outbox(slot_tags.tag_of_key(lane))) >= 2
    await events.stop()


async def test_bulk_scripts_each_touch_one_slot(redis, cluster):
    store = BulkStore(redis, 60)
    lane = keys.bulk_lane("digits", 1)
    bulk_id = with_tag(new_job_id(), slot_tags.tag_of_key(lane))
    hook = WebhookRecord("http://127.0.0.1:9/hook", ("succeeded",))
    record = BulkRecord(
        bulk_id,
        BulkStatus.VALIDATING,
        "digits",
        1,
        BulkFormat.JSONL,
        "file:///x",
        10,
        time.time(),
        webhook=hook,
    )
    await store.create(record, 0)
    sync = connect_sync(cluster.settings())
    entry = {"bulk": bulk_id, "chunk": 0}
    fed = FEED.run_sync(
        sync, bulk=keys.bulk_job(bulk_id), lane=lane, index=0, rows=10, split_offset=1, last=1, entry=entry
    )
    assert fed == b"fed"
    assert await store.start_chunk(bulk_id, 0) == "running"
    assert await store.chunk_done(bulk_id, 0, 10, 0) == "finalizing"
    assert await store.succeed(bulk_id)
    assert await redis.xlen(keys.webhook_outbox(slot_tags.tag_of_key(lane))) == 1
    assert (await store.mark_deleted(bulk_id)).deleted_at
    assert claim_due(sync, time.time() + 10**7, 60, 10) == [bulk_id]
    forget(sync, bulk_id, "default")
    assert not await redis.exists(keys.bulk_job(bulk_id))
    sync.close()


async def test_a_batch_on_a_cluster_is_one_sharded_frame_that_wakes_each_waiter(redis):
    """A slot's batch ends in one SPUBLISH on its job_ends channel, heard on its node alone; a
    cancel in the same slot still wakes its waiter alone, on the slot's job_events channel."""
    store, events = JobStore(redis, 60, cluster=True), JobEvents(redis, sharded=True)
    events.start()
    lane = LANES[2]
    ids = [await submit(store, lane) for _ in range(4)]
    assert all([await events.follow(i) for i in ids])
    entries = await FairLaneReader(redis, lane, "c1", visibility_timeout_s=30).read(10, 0)
    ended = {entry.job_id: entry for entry in entries if entry.job_id != ids[3]}
    result = JobResult(JobStatus.SUCCEEDED, time.time(), outputs={})
    node = redis.get_node_from_key(keys.job_ends(slot_tags.tag_of_key(lane)))
    before = await spublish_calls(redis, node)
    with contextlib.ExitStack() as stack:
        woken = {i: stack.enter_context(events.watch(i)) for i in ids}
        assert await store.finish(lane, [(e, result) for e in ended.values()], list(ended.values()), 6)
        await store.cancel(ids[3])
        await asyncio.wait_for(asyncio.gather(*(w.wait() for w in woken.values())), 5)
    for job_id, event in woken.items():
        assert event.fields == await redis.hgetall(keys.job(job_id))
    assert await spublish_calls(redis, node) - before == 2  # one frame for 3 jobs, one cancel
    await events.stop()
