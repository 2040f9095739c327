"""What the soak watches in Redis while it runs: lane depths and every completion announcement."""

import asyncio
import contextlib
from collections import Counter

import redis.asyncio as aioredis

from batching import keys
from batching.jobs.announcement import announced_ids
from batching.jobs.events import PATTERNS

SAMPLE_EVERY_S = 0.5


class LaneSampler:
    """Max and last depth of one lane: rows accepted and not acknowledged, and stream entries."""

    def __init__(self, redis: aioredis.Redis, model: str, lane: str):
        self.redis = redis
        self.model = model
        self.lane = lane
        self.max_rows = 0
        self.max_entries = 0
        self._task: asyncio.Task | None = None

    async def depth(self) -> tuple[int, int]:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(keys.lane_rows(self.lane))
            pipe.xlen(self.lane)
            rows, entries = await pipe.execute()
        return int(rows or 0), entries

    async def _sample(self) -> None:
        while True:
            rows, entries = await self.depth()
            self.max_rows = max(self.max_rows, rows)
            self.max_entries = max(self.max_entries, entries)
            await asyncio.sleep(SAMPLE_EVERY_S)

    def start(self) -> None:
        self._task = asyncio.create_task(self._sample())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def summary(self, rows_with_results: dict[str, int]) -> dict:
        raw = await self.redis.hgetall(keys.lane_stats(self.lane))
        rows, entries = await self.depth()
        return {
            "max_depth": {"rows": self.max_rows, "entries": self.max_entries},
            "depth_at_end": {"rows": rows, "entries": entries},
            "stats": {k.decode(): int(v) for k, v in raw.items()},
            "rows_with_results": rows_with_results.get(self.model, 0),
        }


class EventCounter:
    """Counts announcements per job id on the events channel, to prove each job ends exactly once."""

    def __init__(self, redis: aioredis.Redis):
        self.counts: Counter = Counter()
        self.failure: str | None = None  # a listener that died would under-count silently
        self._pubsub = redis.pubsub(ignore_subscribe_messages=True)
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        await self._pubsub.psubscribe(*PATTERNS)
        self._task = asyncio.create_task(self._count())

    async def _count(self) -> None:
        try:
            async for message in self._pubsub.listen():
                self.counts.update(announced_ids(message["data"]))
        except Exception as e:
            self.failure = repr(e)

    async def stop(self) -> None:
        await asyncio.sleep(0.5)  # let the last announcements arrive
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._pubsub.aclose()
