"""What the queues hold right now, read from Redis in a TIME and three pipelined round trips whatever the
number of lanes: for /metrics at scrape time and for the dashboard.

The lanes read are the ones the caller names (the model versions in the repository) plus those
any live worker reports holding; nothing is found by scanning keys. Per lane:

- online: `rows_queued` is the lane's `:rows` counter (rows accepted and not yet acknowledged,
  in flight included: the depth backpressure reads); entries and pending summed over the
  tenants' sub-streams (`keys.lane_stream`) of the tenants in the lane's active set;
- bulk: one entry per chunk, `rows_queued` the rows of the chunks not yet handed out;
- `entries_waiting` entries not yet handed to any worker (acknowledged entries are deleted, so
  it is the stream's length less its pending entries), `pending` entries handed out and not
  acknowledged, `oldest_waiting_age_s` the age, on Redis's clock, of the oldest entry not yet
  handed out (None when nothing waits), `dead_letters` the lane's dead-letter stream's length.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

import orjson
import redis.asyncio as aioredis
from rq import Queue

from batching import keys
from batching.heartbeat import worker_infos

ONLINE = "online"
BULK = "bulk"
# Bulk rows waiting are summed from the chunk entries themselves; past this many chunks the sum
# is a lower bound (a chunk holds thousands of rows, so this is millions of rows).
BULK_CHUNKS_READ = 1000
RQ_QUEUE_PREFIX = Queue.redis_queue_namespace_prefix  # rq names a queue's list itself

Version = tuple[str, int]


@dataclass(frozen=True)
class LaneState:
    model: str
    version: int
    lane: str  # ONLINE or BULK
    rows_queued: int
    entries_waiting: int
    pending: int
    oldest_waiting_age_s: float | None
    dead_letters: int
    stats: dict[str, int] = field(default_factory=dict)  # online: computed_rows, batches, ...


@dataclass(frozen=True)
class WorkerState:
    worker_id: str
    heartbeat_age_s: float
    versions: dict[str, dict]  # "name:version" -> {"state": ..., "error": ...}
    info: dict  # everything else the worker reported (device, pid, ...)


@dataclass(frozen=True)
class QueueState:
    lanes: list[LaneState]
    workers: list[WorkerState]
    queues: dict[str, int]  # rq queues (webhooks, bulk) and the webhook outbox: entries waiting
    read_at: float  # Redis's clock, seconds since the epoch


@dataclass
class _Lane:
    """One lane being read: its streams (tenants' sub-streams, or the bulk lane) and answers."""

    model: str
    version: int
    lane: str
    key: str
    streams: list[str] = field(default_factory=list)
    rows: int = 0
    dead: int = 0
    stats: dict[str, int] = field(default_factory=dict)
    length: int = 0
    pending: int = 0
    oldest_ms: int | None = None
    cursors: dict[str, bytes] = field(default_factory=dict)  # stream -> last delivered id


async def read_queue_state(
    redis: aioredis.Redis,
    versions: Iterable[Version],
    heartbeat_s: float,
    rq_redis: aioredis.Redis | None = None,
) -> QueueState:
    """The queue state of `versions` and of every version a live worker holds; rq's queue
    lengths from `rq_redis` when rq has a Redis of its own (MAAS_RQ_REDIS_URL)."""
    now_s = await redis.time()  # not in the pipeline: a Cluster's pipelines refuse keyless commands
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zrangebyscore(keys.WORKERS, "-inf", "+inf", withscores=True)
        pipe.smembers(keys.SLOT_TAGS)
        if rq_redis is None:
            _queue_lengths(pipe)
        beats, tags, *lengths = await pipe.execute()
    if rq_redis is not None:
        async with rq_redis.pipeline(transaction=False) as pipe:
            lengths = await _queue_lengths(pipe).execute()
    webhooks, bulk = lengths
    outbox = await _outbox_length(redis, tags)
    now = now_s[0] + now_s[1] / 1e6
    live = [(w.decode(), at) for w, at in beats if at >= now - 3 * heartbeat_s]
    workers = await _read_workers(redis, live, now)
    held = {_split(label) for w in workers for label in w.versions}
    known = sorted(set(versions) | held)
    lanes = [_Lane(m, v, ONLINE, keys.online_lane(m, v)) for m, v in known]
    lanes += [_Lane(m, v, BULK, keys.bulk_lane(m, v)) for m, v in known]
    await _read_counts(redis, lanes)
    await _read_streams(redis, lanes)
    await _read_oldest(redis, lanes)
    queues = {keys.WEBHOOK_QUEUE: webhooks, keys.BULK_QUEUE: bulk, keys.WEBHOOK_OUTBOX: outbox}
    return QueueState([_state(lane, now) for lane in lanes], workers, queues, now)


def _queue_lengths(pipe):
    pipe.llen(RQ_QUEUE_PREFIX + keys.WEBHOOK_QUEUE)
    pipe.llen(RQ_QUEUE_PREFIX + keys.BULK_QUEUE)
    return pipe


async def _outbox_length(redis: aioredis.Redis, tags: set[bytes]) -> int:
    """Webhook events not yet handed to rq, over every slot's outbox (batching.keys)."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.xlen(keys.WEBHOOK_OUTBOX)
        for tag in tags:
            pipe.xlen(keys.webhook_outbox(tag.decode()))
        return sum(await pipe.execute())


def _split(label: str) -> Version:
    name, _, version = label.rpartition(":")
    return name, int(version)


async def _read_workers(
    redis: aioredis.Redis, live: list[tuple[str, float]], now: float
) -> list[WorkerState]:
    if not live:
        return []
    infos = await worker_infos(redis, [w for w, _ in live])
    workers = []
    for (worker_id, at), raw in zip(live, infos, strict=True):
        if raw is None:  # its info expired between the two reads: gone
            continue
        info = orjson.loads(raw)
        versions = info.pop("models", {})
        workers.append(WorkerState(worker_id, max(0.0, now - at), versions, info))
    return workers


async def _read_counts(redis: aioredis.Redis, lanes: list[_Lane]) -> None:
    """Round trip 1: which tenants have entries, rows, dead letters and stats per lane."""
    async with redis.pipeline(transaction=False) as pipe:
        for lane in lanes:
            pipe.smembers(keys.lane_tenants(lane.key))
            pipe.get(keys.lane_rows(lane.key))
            pipe.xlen(keys.dead_letters(lane.key))
            pipe.hgetall(keys.lane_stats(lane.key))
        answers = await pipe.execute()
    for i, lane in enumerate(lanes):
        tenants, rows, dead, stats = answers[4 * i : 4 * i + 4]
        if lane.lane == ONLINE:
            names = {t.decode() for t in tenants} | {keys.DEFAULT_TENANT}
            lane.streams = [keys.lane_stream(lane.key, t) for t in sorted(names)]
        else:
            lane.streams = [lane.key]
        lane.rows = int(rows or 0)
        lane.dead = dead
        lane.stats = {k.decode(): int(v) for k, v in stats.items()}


async def _read_streams(redis: aioredis.Redis, lanes: list[_Lane]) -> None:
    """Round trip 2: each stream's length, pending entries and last delivered id."""
    streams = [(lane, s) for lane in lanes for s in lane.streams]
    async with redis.pipeline(transaction=False) as pipe:
        for _, stream in streams:
            pipe.xlen(stream)
            pipe.xinfo_groups(stream)
        answers = await pipe.execute(raise_on_error=False)
    for i, (lane, stream) in enumerate(streams):
        length, groups = answers[2 * i : 2 * i + 2]
        if isinstance(groups, Exception):  # the stream does not exist (yet): nothing in it
            continue
        group = next((g for g in groups if g["name"].decode() == keys.LANE_GROUP), None)
        lane.length += length
        if group is None:  # no worker ever read it: everything in it waits
            lane.cursors[stream] = b"0-0"
            continue
        lane.pending += group["pending"]
        if length > group["pending"]:
            lane.cursors[stream] = group["last-delivered-id"]


async def _read_oldest(redis: aioredis.Redis, lanes: list[_Lane]) -> None:
    """Round trip 3: the first entry past each stream's last delivered id (for bulk lanes, up to
    BULK_CHUNKS_READ of them, for their rows)."""
    reads = [(lane, s, c) for lane in lanes for s, c in lane.cursors.items()]
    if not reads:
        return
    async with redis.pipeline(transaction=False) as pipe:
        for lane, stream, cursor in reads:
            count = BULK_CHUNKS_READ if lane.lane == BULK else 1
            pipe.xrange(stream, b"(" + cursor, "+", count=count)
        answers = await pipe.execute()
    for (lane, _, _), entries in zip(reads, answers, strict=True):
        if not entries:
            continue
        first_ms = int(entries[0][0].split(b"-")[0])
        lane.oldest_ms = first_ms if lane.oldest_ms is None else min(lane.oldest_ms, first_ms)
        if lane.lane == BULK:
            lane.rows += sum(int(fields.get(b"rows", 0)) for _, fields in entries)


def _state(lane: _Lane, now: float) -> LaneState:
    age = None if lane.oldest_ms is None else max(0.0, now - lane.oldest_ms / 1000)
    return LaneState(
        model=lane.model,
        version=lane.version,
        lane=lane.lane,
        rows_queued=lane.rows,
        entries_waiting=max(0, lane.length - lane.pending),
        pending=lane.pending,
        oldest_waiting_age_s=age,
        dead_letters=lane.dead,
        stats=lane.stats,
    )


def waiting_without_worker(state: QueueState) -> list[Version]:
    """Versions with entries waiting in a lane and no live worker holding them ready."""
    ready = {
        _split(label) for w in state.workers for label, s in w.versions.items() if s.get("state") == "ready"
    }
    waiting = {(lane.model, lane.version) for lane in state.lanes if lane.entries_waiting > 0}
    return sorted(waiting - ready)
