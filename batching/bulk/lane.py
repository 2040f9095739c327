"""A model version's bulk lane: a Redis Stream of chunk references read through a consumer
group, reliable like the online lane (a chunk held by a dead worker is reclaimed after the
visibility timeout), but read one chunk at a time."""

import logging
from dataclasses import dataclass

import redis.asyncio as aioredis

from batching import keys
from batching.lane import LaneReader

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChunkEntry:
    bulk_id: str
    index: int
    rows: int  # items in the chunk
    store: str  # URL of the file store holding the chunk
    stream_id: bytes = b""
    deliveries: int = 1
    traceparent: str = ""  # W3C trace context of the split that fed it; "" when untraced
    # A .npy job's chunk has no file of its own: its rows are rows [first_row, first_row + rows)
    # of the job's input file (-1: the chunk has a file, written by the split).
    first_row: int = -1

    def to_fields(self) -> dict[str, str]:
        fields = {"bulk": self.bulk_id, "chunk": str(self.index), "rows": str(self.rows), "store": self.store}
        if self.traceparent:
            fields["tp"] = self.traceparent
        if self.first_row >= 0:
            fields["row"] = str(self.first_row)
        return fields

    @classmethod
    def from_fields(cls, stream_id: bytes, raw: dict[bytes, bytes], deliveries: int = 1) -> "ChunkEntry":
        return cls(
            raw[b"bulk"].decode(),
            int(raw[b"chunk"]),
            int(raw[b"rows"]),
            raw[b"store"].decode(),
            stream_id,
            deliveries,
            raw[b"tp"].decode() if b"tp" in raw else "",
            int(raw.get(b"row", -1)),
        )


class BulkLaneReader:
    def __init__(self, redis: aioredis.Redis, stream: str, consumer: str, visibility_timeout_s: float):
        self.redis = redis
        self.stream = stream
        self.consumer = consumer
        self.visibility_timeout_s = visibility_timeout_s
        self._lane = LaneReader(redis, stream, consumer, visibility_timeout_s)

    async def ensure_group(self) -> None:
        await self._lane.ensure_group()

    async def next(self, block_ms: int | None, reclaim: bool = True) -> ChunkEntry | None:
        """A chunk stalled in a dead worker's hands first, else a new one (waiting up to block_ms;
        None: not waiting). With reclaim False, None while a stalled chunk waits: it is to be
        taken when the caller holds no other chunk."""
        idle_ms = int(self.visibility_timeout_s * 1000)
        pending = await self.redis.xpending_range(
            self.stream, keys.LANE_GROUP, min="-", max="+", count=1, idle=idle_ms
        )
        if pending and not reclaim:
            return None
        if pending:
            deliveries = pending[0]["times_delivered"] + 1
            claimed = await self.redis.xclaim(
                self.stream,
                keys.LANE_GROUP,
                self.consumer,
                min_idle_time=idle_ms,
                message_ids=[pending[0]["message_id"]],
            )
            if claimed and claimed[0][1]:
                log.warning("reclaimed stalled bulk chunk %s on %s", claimed[0][0], self.stream)
                return ChunkEntry.from_fields(claimed[0][0], claimed[0][1], deliveries)
        response = await self.redis.xreadgroup(
            keys.LANE_GROUP, self.consumer, {self.stream: ">"}, count=1, block=block_ms
        )
        if not response:
            return None
        [(_, [(stream_id, fields)])] = response
        return ChunkEntry.from_fields(stream_id, fields) if fields else None

    async def keep_alive(self, entries: list[ChunkEntry]) -> None:
        if entries:
            await self._lane.keep_alive(entries)

    async def release(self, entry: ChunkEntry) -> None:
        """Hands an unfinished chunk back at once (on shutdown): it looks stalled to the others."""
        await self.redis.xclaim(
            self.stream,
            keys.LANE_GROUP,
            self.consumer,
            min_idle_time=0,
            message_ids=[entry.stream_id],
            idle=int(self.visibility_timeout_s * 1000),
            justid=True,
        )

    async def ack(self, entry: ChunkEntry) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xack(self.stream, keys.LANE_GROUP, entry.stream_id)
            pipe.xdel(self.stream, entry.stream_id)
            await pipe.execute()
