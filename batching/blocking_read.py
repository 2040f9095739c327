"""XREADGROUP that waits for exactly as long as asked, without polling.

Redis wakes a blocked XREADGROUP as soon as an entry arrives, but ends one that timed out only on
its cron tick (every 1/hz s: 100 ms by default), so a 5 ms wait would last up to 100 ms. Polling
(short non-blocking reads with sleeps between) is precise but costs a round trip per sleep and
keeps a worker busy while a batch fills. Here the read blocks on a connection of its own, and
the caller waits for it at most the time asked: at the deadline it gets None at once, while
CLIENT UNBLOCK (TIMEOUT), sent from the shared pool, ends the read in Redis. The read is not
abandoned: the next call first collects it and returns what it brought, if anything, so no
entry read is ever dropped (`settle` collects it without reading again, for a drain).

The read's own BLOCK timeout is the deadline plus a tick, so a lost unblock (a reconnect changed
the connection's id) delays the next read by at most a tick once, never hangs it.
"""

import asyncio
import logging
import math

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)
TICK_MS = 100  # Redis' default cron period (hz 10); only a lost unblock ever waits for it
# Shorter waits read without blocking: an unblock could reach Redis before the read it ends.
MIN_BLOCK_S = 0.0005


class BlockingReads:
    """Blocking XREADGROUPs of one consumer (one at a time), each waited for on time."""

    def __init__(self, redis: aioredis.Redis):
        self._shared = redis
        # The pool's connections carry its retry and timeout settings.
        self._own = aioredis.Redis(connection_pool=redis.connection_pool, single_connection_client=True)
        self._client_id: int | None = None
        self._pending: asyncio.Task | None = None  # a read past its deadline, being unblocked
        self._unblocking: asyncio.Task | None = None

    async def xreadgroup(self, group: str, consumer: str, streams: dict, count: int, timeout_s: float):
        """XREADGROUP ... BLOCK: the reply once an entry arrives, or None after timeout_s (an
        earlier read's late reply first, when it brought entries)."""
        if (late := await self.settle()) is not None:
            return late
        if timeout_s < MIN_BLOCK_S:
            return await self._shared.xreadgroup(group, consumer, streams, count=count)
        try:
            if self._client_id is None:
                self._client_id = await self._own.client_id()
            block_ms = math.ceil(timeout_s * 1000) + TICK_MS
            read = asyncio.ensure_future(
                self._own.xreadgroup(group, consumer, streams, count=count, block=block_ms)
            )
            done, _ = await asyncio.wait({read}, timeout=timeout_s)
        except RedisError:
            self._client_id = None  # the connection may come back as another client
            raise
        if done:
            return read.result()
        self._pending = read
        read.add_done_callback(_seen)  # a reader closed before collecting it logs no noise
        self._unblocking = asyncio.create_task(self._shared.client_unblock(self._client_id, error=False))
        self._unblocking.add_done_callback(_report)
        return None

    async def settle(self):
        """The reply of a read left at its deadline (None if none, or if it brought nothing),
        once Redis has ended it; and no unblock is left in flight to end a later read."""
        pending, self._pending = self._pending, None
        try:
            late = await pending if pending is not None else None
        except RedisError:
            self._client_id = None
            raise
        finally:
            if self._unblocking is not None:
                await asyncio.wait({self._unblocking})
        return late or None

    async def aclose(self) -> None:
        """Ends a read still in flight, then gives the connection back."""
        if self._pending is not None:
            self._pending.cancel()
            await asyncio.wait({self._pending})
            self._pending = None
        await self._own.aclose()


def _seen(task: asyncio.Task) -> None:
    if not task.cancelled():
        task.exception()  # marks it retrieved; `settle` still raises it


def _report(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("could not end a blocked read on time: %r", task.exception())
