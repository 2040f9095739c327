"""XREADGROUP that blocks for exactly as long as asked, without polling.

Redis wakes a blocked XREADGROUP as soon as an entry arrives, but ends one that timed out only on
its cron tick (every 1/hz s: 100 ms by default), so a 5 ms wait would last up to 100 ms. Polling
(short non-blocking reads with sleeps between) is precise but costs a round trip per sleep and
keeps an idle worker busy. Here the read blocks on a connection of its own, and when the wait is
over a timer sends CLIENT UNBLOCK (TIMEOUT) for that connection from the shared pool: Redis ends
the read at once, as if it had timed out. A read answered before the deadline cancels the timer.

The read's own BLOCK timeout is the deadline plus a tick, so a lost unblock (a reconnect changed
the connection's id) costs at most a tick once, never a hang.
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
    """Blocking XREADGROUPs of one consumer (one at a time), each ended on time."""

    def __init__(self, redis: aioredis.Redis):
        self._shared = redis
        # The pool's connections carry its retry and timeout settings.
        self._own = aioredis.Redis(connection_pool=redis.connection_pool, single_connection_client=True)
        self._client_id: int | None = None
        self._unblocking: asyncio.Task | None = None

    async def xreadgroup(self, group: str, consumer: str, streams: dict, count: int, timeout_s: float):
        """XREADGROUP ... BLOCK, answered when an entry arrives or after timeout_s."""
        if timeout_s < MIN_BLOCK_S:
            return await self._shared.xreadgroup(group, consumer, streams, count=count)
        if self._unblocking is not None:  # an unblock sent for the last read must not end this one
            await asyncio.wait({self._unblocking})
        try:
            if self._client_id is None:
                self._client_id = await self._own.client_id()
            timer = asyncio.get_running_loop().call_later(timeout_s, self._unblock, self._client_id)
            try:
                block_ms = math.ceil(timeout_s * 1000) + TICK_MS
                return await self._own.xreadgroup(group, consumer, streams, count=count, block=block_ms)
            finally:
                timer.cancel()
        except RedisError:
            self._client_id = None  # the connection may come back as another client
            raise

    def _unblock(self, client_id: int) -> None:
        self._unblocking = asyncio.create_task(self._shared.client_unblock(client_id, error=False))
        self._unblocking.add_done_callback(_report)

    async def aclose(self) -> None:
        await self._own.aclose()


def _report(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("could not end a blocked read on time: %r", task.exception())
