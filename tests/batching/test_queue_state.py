"""The queue state read at scrape time: rows, waiting and pending entries across tenants'
sub-streams, the oldest waiting entry's age, dead letters, bulk chunks, workers."""

import time

from batching import keys
from batching.bulk.lane import ChunkEntry
from batching.fair_lane import FairLaneReader
from batching.heartbeat import beat
from batching.jobs.store import JobStore
from batching.queue_state import BULK, ONLINE, read_queue_state, waiting_without_worker
from tests.support.tenant_jobs import submit_rows

LANE = keys.online_lane("digits", 1)


def lane_of(state, model, version, lane):
    return next(s for s in state.lanes if (s.model, s.version, s.lane) == (model, version, lane))


async def test_an_unknown_version_reads_as_empty(redis):
    state = await read_queue_state(redis, [("digits", 1)], heartbeat_s=1)
    assert [(s.lane, s.rows_queued, s.entries_waiting, s.pending, s.dead_letters) for s in state.lanes] == [
        (ONLINE, 0, 0, 0, 0),
        (BULK, 0, 0, 0, 0),
    ]
    assert lane_of(state, "digits", 1, ONLINE).oldest_waiting_age_s is None
    assert state.workers == []
    assert state.queues == {keys.WEBHOOK_QUEUE: 0, keys.BULK_QUEUE: 0, keys.WEBHOOK_OUTBOX: 0}


async def test_waiting_and_pending_entries_are_counted_across_tenants(redis):
    store = JobStore(redis, 60)
    for tenant, n in (("default", 3), ("a", 4), ("b", 2)):
        for _ in range(n):
            await submit_rows(store, LANE, tenant, rows=2)
    reader = FairLaneReader(redis, LANE, "c1", 30)
    await reader.ensure_group()
    state = await read_queue_state(redis, [("digits", 1)], heartbeat_s=1)
    online = lane_of(state, "digits", 1, ONLINE)
    assert (online.rows_queued, online.entries_waiting, online.pending) == (18, 9, 0)
    assert online.oldest_waiting_age_s is not None and 0 <= online.oldest_waiting_age_s < 60
    await reader.read(2, 0)  # reads ahead two entries (one per row asked) per tenant
    state = await read_queue_state(redis, [("digits", 1)], heartbeat_s=1)
    online = lane_of(state, "digits", 1, ONLINE)
    assert (online.rows_queued, online.entries_waiting, online.pending) == (18, 3, 6)


async def test_dead_letters_and_stats_are_read(redis):
    store = JobStore(redis, 60)
    await submit_rows(store, LANE, "default")
    reader = FairLaneReader(redis, LANE, "c1", 30)
    await reader.ensure_group()
    entries = await reader.read(64, 0)
    await store.dead_letter(LANE, entries, 3)
    state = await read_queue_state(redis, [("digits", 1)], heartbeat_s=1)
    online = lane_of(state, "digits", 1, ONLINE)
    assert (online.rows_queued, online.entries_waiting, online.pending, online.dead_letters) == (0, 0, 0, 1)
    assert online.stats["dead_letters"] == 1
    assert online.oldest_waiting_age_s is None


async def test_bulk_chunks_waiting_count_their_rows(redis):
    lane = keys.bulk_lane("digits", 1)
    for index in range(3):
        await redis.xadd(lane, ChunkEntry("b1", index, 500, "file:///x").to_fields())
    state = await read_queue_state(redis, [("digits", 1)], heartbeat_s=1)
    bulk = lane_of(state, "digits", 1, BULK)
    assert (bulk.rows_queued, bulk.entries_waiting, bulk.pending) == (1500, 3, 0)
    assert waiting_without_worker(state) == [("digits", 1)]


async def test_live_workers_bring_the_versions_they_hold(redis):
    info = {"models": {"pair:1": {"state": "ready", "error": None}}, "device": "cpu", "pid": 7}
    await beat(redis, "w1", info, interval_s=1)
    await redis.zadd(keys.WORKERS, {"w-old": time.time() - 60})  # silent for a minute: not live
    await submit_rows(JobStore(redis, 60), keys.online_lane("pair", 1), "default")
    state = await read_queue_state(redis, [("digits", 1)], heartbeat_s=1)
    [worker] = state.workers
    assert (worker.worker_id, worker.versions, worker.info) == (
        "w1",
        info["models"],
        {"device": "cpu", "pid": 7},
    )
    assert 0 <= worker.heartbeat_age_s < 5
    assert {(s.model, s.version) for s in state.lanes} == {("digits", 1), ("pair", 1)}
    assert lane_of(state, "pair", 1, ONLINE).entries_waiting == 1
    assert waiting_without_worker(state) == []
