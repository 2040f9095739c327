"""A model version's lane on the consumer side: a Redis Stream read through a consumer group."""

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import OutOfMemoryError, ResponseError

from batching import keys
from batching.connection import SOCKET_TIMEOUT_S
from batching.entry import LaneEntry

log = logging.getLogger(__name__)
# Redis times out a blocked XREADGROUP only on its cron tick (every 1/hz s, 100 ms by default),
# though new entries wake it at once. Here (bulk lanes) waits shorter than this are polled, or
# a lone job would wait ~100 ms for a 2 ms queue delay; online lanes end their blocking reads on
# time instead (batching.blocking_read).
REDIS_TICK_S = 0.1
# A reclaimed entry was in a batch whose worker died. Its second try runs in a normal batch;
# from the third on it runs alone, so an input that crashes the process takes down only itself.
ISOLATE_FROM_DELIVERY = 3
MIN_POLL_S = 0.001
# Longest blocking read: well inside the connection's socket timeout, or a lane with a long
# max_queue_delay_ms would see its idle reads fail as timeouts. A longer wait is several reads.
MAX_BLOCK_S = SOCKET_TIMEOUT_S / 2


class Claimed(Protocol):
    """An entry this consumer holds: a job's LaneEntry, or a bulk lane's ChunkEntry."""

    @property
    def stream_id(self) -> bytes: ...


class LaneReader:
    """Reads entries for one consumer; an ItemSource for the BatchCollector.

    Every visibility_timeout_s / 2 it first claims entries that another consumer (a dead
    worker) has held unacknowledged for visibility_timeout_s, so nothing stays stranded.
    """

    def __init__(self, redis: aioredis.Redis, stream: str, consumer: str, visibility_timeout_s: float):
        self.redis = redis
        self.stream = stream
        self.consumer = consumer
        self.visibility_timeout_s = visibility_timeout_s
        self._next_reclaim = time.monotonic() + visibility_timeout_s / 2

    async def ensure_group(self) -> None:
        """Creates the lane and its group; entries written before the group exist are kept."""
        try:
            await self.redis.xgroup_create(self.stream, keys.LANE_GROUP, id="0", mkstream=True)
        except OutOfMemoryError:
            # Redis is full (noeviction) and refuses even a create that would change nothing:
            # a lane whose group exists can still be drained, which is what frees memory.
            groups = await self.redis.xinfo_groups(self.stream)
            if not any(g["name"].decode() == keys.LANE_GROUP for g in groups):
                raise
        except ResponseError as e:
            if "BUSYGROUP" not in str(e):
                raise

    async def read(self, max_items: int, timeout_s: float) -> list[LaneEntry]:
        if time.monotonic() >= self._next_reclaim:
            reclaimed = await self.reclaim(max_items)
            if reclaimed:
                return reclaimed
        if timeout_s >= 2 * REDIS_TICK_S:
            entries = await self._read_new(
                max_items, int((min(timeout_s, MAX_BLOCK_S) - REDIS_TICK_S) * 1000)
            )
        else:
            entries = await self._read_new(max_items, None)
            if not entries and timeout_s > 0:
                await asyncio.sleep(min(timeout_s, max(MIN_POLL_S, timeout_s / 4)))
        return entries

    async def _read_new(self, max_items: int, block_ms: int | None) -> list[LaneEntry]:
        response = await self.redis.xreadgroup(
            keys.LANE_GROUP, self.consumer, {self.stream: ">"}, count=max_items, block=block_ms
        )
        if not response:
            return []
        [(_, messages)] = response
        return [LaneEntry.from_fields(sid, fields) for sid, fields in messages if fields]

    async def reclaim(self, max_items: int) -> list[LaneEntry]:
        """Entries idle longer than the visibility timeout (their worker died), now this
        consumer's, each with its delivery count. Entries that already failed to finish twice
        are claimed one at a time, and only when no first-time reclaim is waiting, so that each
        of them runs alone and a crash is charged to the entry that caused it."""
        idle_ms = int(self.visibility_timeout_s * 1000)
        pending = await self.redis.xpending_range(
            self.stream, keys.LANE_GROUP, min="-", max="+", count=max_items, idle=idle_ms
        )
        if not pending:
            self._next_reclaim = time.monotonic() + self.visibility_timeout_s / 2
            return []
        counts = {p["message_id"]: p["times_delivered"] + 1 for p in pending}
        fresh = [i for i, n in counts.items() if n < ISOLATE_FROM_DELIVERY]
        chosen = fresh or [next(iter(counts))]
        # More waiting: come back on the next read instead of after a tick.
        self._next_reclaim = (
            0.0 if len(chosen) < len(pending) else (time.monotonic() + self.visibility_timeout_s / 2)
        )
        claimed = await self.redis.xclaim(
            self.stream, keys.LANE_GROUP, self.consumer, min_idle_time=idle_ms, message_ids=chosen
        )
        entries = [LaneEntry.from_fields(sid, fields, counts[sid]) for sid, fields in claimed if fields]
        if entries:
            log.warning("reclaimed %d stalled entries on %s", len(entries), self.stream)
        return entries

    async def keep_alive(self, entries: Sequence[Claimed]) -> None:
        """Resets the entries' idle time (not their delivery count) while a slow batch runs, so
        no other worker reclaims them."""
        await self.redis.xclaim(
            self.stream,
            keys.LANE_GROUP,
            self.consumer,
            min_idle_time=0,
            message_ids=[e.stream_id for e in entries],
            justid=True,
        )
