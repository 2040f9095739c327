"""A lane on the consumer side, shared fairly among tenants: one sub-stream per tenant.

Each tenant's jobs wait in its own sub-stream of the lane (keys.lane_stream; the default
tenant's is the lane's own stream), read through the lane's consumer group; the lane's set of
active tenants (keys.lane_tenants) names the sub-streams that hold entries. The reader keeps a
short read-ahead per tenant and answers each read with a fair share of what waits, picked by
FairShare (deficit round robin with the tenants' weights). So a tenant with tens of thousands of
rows queued cannot put another tenant's jobs behind its own: those are read from their own
sub-stream on the next read and go into the next batch; and a tenant alone still fills batches.

Guarantees:
- A read is one round trip (the active set, and each active sub-stream whose read-ahead is
  short), plus one when the set names a tenant this read did not cover. Waiting (idle, or for a
  batch to fill), it blocks on every active sub-stream and the lane's doorbell (keys.lane_wake),
  which admit rings when a tenant becomes active, so a worker blocked on the others wakes for a
  new tenant at once; the block ends on time (batching.blocking_read), never by polling.
- With nothing read ahead, a read that may wait and whose active set is younger than
  ACTIVE_SET_REFRESH_S goes straight to the blocking read, which answers at once with
  whatever waits on the active sub-streams: a lone job costs one round trip to collect, not
  two. A tenant whose doorbell ring another worker took is seen at the next read of the set,
  at most that much later.
- Read-ahead: at most the rows asked for, per tenant. Those entries are this consumer's (other
  workers do not see them) until they go into a batch; stopping, the loop drains them (`take`).
- Reclaim, keep-alive and acks act per sub-stream, with LaneReader's rules; each tenant's jobs
  leave in their order.
"""

import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

import redis.asyncio as aioredis

from batching import keys
from batching.blocking_read import BlockingReads
from batching.entry import LaneEntry
from batching.fair_share import EVEN, FairShare
from batching.lane import MAX_BLOCK_S, REDIS_TICK_S, LaneReader

Messages = Sequence[tuple[bytes, dict[bytes, bytes]]]
# How old the active set may be when a read skips it (an idle worker reads it a few times a
# second instead of once per lone job).
ACTIVE_SET_REFRESH_S = 0.1


class FairLaneReader:
    """An ItemSource for the BatchCollector over every tenant's sub-stream of one lane."""

    def __init__(
        self,
        redis: aioredis.Redis,
        lane: str,
        consumer: str,
        visibility_timeout_s: float,
        fair_share: FairShare = EVEN,
        active_set_refresh_s: float = ACTIVE_SET_REFRESH_S,
    ):
        self.redis = redis
        self.lane = lane
        self.consumer = consumer
        self.visibility_timeout_s = visibility_timeout_s
        self.fair_share = fair_share
        self._readers: dict[str, LaneReader] = {}  # sub-streams whose group this reader ensured
        self._active: set[str] = {keys.DEFAULT_TENANT}  # as of the last read of the set
        self._held: dict[str, deque[LaneEntry]] = {}  # read, not yet handed out, per tenant
        self._credit: Mapping[str, float] = {}
        self._first: str | None = None
        self._doorbell = LaneReader(redis, keys.lane_wake(lane), consumer, visibility_timeout_s)
        self._blocking = BlockingReads(redis)
        self._tenant_of_stream: dict[str, str] = {}
        self._rings: list[bytes] = []
        self._next_reclaim = time.monotonic() + visibility_timeout_s / 2
        self._refresh_s = active_set_refresh_s
        self._next_refresh = 0.0  # when a read reads the active set again

    async def ensure_group(self) -> None:
        """Creates the groups of the default sub-stream and the doorbell (entries written before
        a group exists are kept); other sub-streams' as their tenants appear."""
        self._readers.clear()
        await self._doorbell.ensure_group()
        await self._ensure_readers([keys.DEFAULT_TENANT])

    async def read(self, max_items: int, timeout_s: float) -> list[LaneEntry]:
        """Jobs of up to max_items rows (a lone larger job alone), shared fairly among the
        tenants waiting; waits at most timeout_s for the first. Stalled entries of a dead worker
        come first, as with LaneReader."""
        if time.monotonic() >= self._next_reclaim:
            if reclaimed := await self.reclaim(max_items):
                return reclaimed
        if timeout_s <= 0 or self.holding() or time.monotonic() >= self._next_refresh:
            await self._fill(max_items)
        if not self.holding():
            await self._wait(max_items, timeout_s)
        return self.take(max_items)

    async def aclose(self) -> None:
        """Gives the blocking reads' connection back to the pool."""
        await self._blocking.aclose()

    def holding(self) -> bool:
        """Entries read and not handed out yet."""
        return any(self._held.values())

    def take(self, max_rows: int) -> list[LaneEntry]:
        """The fair pick of up to max_rows rows from entries already read, without reading."""
        queues = {t: [e.rows for e in held] for t, held in self._held.items() if held}
        if not queues:
            return []
        turn = self.fair_share.pick(queues, max_rows, self._credit, self._first)
        self._credit, self._first = turn.credit, turn.first
        return [self._held[t].popleft() for t, n in turn.taken.items() for _ in range(n)]

    async def _fill(self, rows: int) -> None:
        """Tops up each active tenant's read-ahead to `rows` rows, and reads the active set."""
        await self._ensure_readers(self._active)
        self._next_refresh = time.monotonic() + self._refresh_s
        active = await self._read_some(self._active, rows)
        new = active - self._active
        self._active = active
        if new:  # tenants that became active since the last read: read them now, not next time
            await self._ensure_readers(new)
            await self._read_some(new, rows)

    async def _read_some(self, tenants: Iterable[str], rows: int) -> set[str]:
        """One round trip: reads the tenants' sub-streams (those holding fewer than `rows`
        rows read ahead), and returns the lane's active tenants."""
        wanted = {t: rows - sum(e.rows for e in self._held.get(t, ())) for t in tenants}
        wanted = {t: n for t, n in wanted.items() if n > 0}
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.smembers(keys.lane_tenants(self.lane))
            for tenant, count in wanted.items():
                stream = {keys.lane_stream(self.lane, tenant): ">"}
                pipe.xreadgroup(keys.LANE_GROUP, self.consumer, stream, count=count)
            members, *responses = await pipe.execute()
        for tenant, response in zip(wanted, responses, strict=True):
            for _, messages in response or []:
                self._hold(tenant, messages)
        return {m.decode() for m in members} | {keys.DEFAULT_TENANT}

    async def _wait(self, rows: int, timeout_s: float) -> None:
        """Waits for an entry in any active sub-stream, or a ring of the doorbell (then reads the
        new tenant's), for at most timeout_s: one blocking read, ended on time (BlockingReads),
        so neither a lone job's queue delay nor an idle worker polls."""
        if timeout_s <= 0:
            return
        tenant_of = {keys.lane_stream(self.lane, t): t for t in self._active}
        # A late reply may be of an earlier read, over tenants no longer active: keep them all.
        self._tenant_of_stream.update(tenant_of)
        doorbell = keys.lane_wake(self.lane)
        streams = {**dict.fromkeys(tenant_of, ">"), doorbell: ">"}
        # The read's own timeout is a tick later: both stay inside the socket timeout.
        timeout_s = min(timeout_s, MAX_BLOCK_S - REDIS_TICK_S)
        reply = await self._blocking.xreadgroup(keys.LANE_GROUP, self.consumer, streams, rows, timeout_s)
        self._take_reply(reply)
        if rings := self._rings:
            self._rings = []
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.xack(doorbell, keys.LANE_GROUP, *rings)
                pipe.xdel(doorbell, *rings)
                await pipe.execute()
            await self._fill(rows)

    def _take_reply(self, response) -> None:
        """Holds a blocking read's entries; doorbell rings are kept for _wait to answer."""
        doorbell = keys.lane_wake(self.lane)
        for stream, messages in response or []:
            if stream.decode() == doorbell:
                self._rings += [sid for sid, _ in messages]
            else:
                self._hold(self._tenant_of_stream[stream.decode()], messages)

    async def settle(self) -> None:
        """Holds what a blocking read left at its deadline brought (before a drain: `take`)."""
        self._take_reply(await self._blocking.settle())

    def _hold(self, tenant: str, messages: Messages) -> None:
        held = self._held.setdefault(tenant, deque())
        for sid, fields in messages:
            if fields:  # an entry deleted after it was delivered reads back empty
                entry = LaneEntry.from_fields(sid, fields)
                # The sub-stream it came from is where it is acknowledged.
                held.append(entry if entry.tenant == tenant else replace(entry, tenant=tenant))

    async def _ensure_readers(self, tenants: Iterable[str]) -> None:
        for tenant in tenants:
            if tenant not in self._readers:
                reader = self._reader(tenant)
                await reader.ensure_group()
                self._readers[tenant] = reader

    def _reader(self, tenant: str) -> LaneReader:
        if reader := self._readers.get(tenant):
            return reader
        stream = keys.lane_stream(self.lane, tenant)
        return LaneReader(self.redis, stream, self.consumer, self.visibility_timeout_s)

    async def reclaim(self, max_items: int) -> list[LaneEntry]:
        """Entries of one sub-stream idle past the visibility timeout (their worker died), now
        this consumer's, with LaneReader's rules; the next read looks again while any are found."""
        for tenant in sorted(self._active):
            if entries := await self._reader(tenant).reclaim(max_items):
                # Read ahead and stalled since (a very slow lane): they come back reclaimed.
                ids = {e.stream_id for e in entries}
                held = self._held.get(tenant, deque())
                self._held[tenant] = deque(e for e in held if e.stream_id not in ids)
                self._next_reclaim = 0.0
                return entries
        self._next_reclaim = time.monotonic() + self.visibility_timeout_s / 2
        return []

    async def keep_alive(self, entries: Sequence[LaneEntry]) -> None:
        """Resets the entries' idle time in their sub-streams while a slow batch runs."""
        by_tenant: dict[str, list[LaneEntry]] = {}
        for entry in entries:
            by_tenant.setdefault(entry.tenant, []).append(entry)
        for tenant, group in by_tenant.items():
            await self._reader(tenant).keep_alive(group)
