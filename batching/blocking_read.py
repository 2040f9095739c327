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

On Redis Cluster the read and its unblock must reach the node that holds the streams (one
lane's, so one slot): both go through a small pool of that node's, found from the first read's
key and found again after an error (the slot may have moved).
"""

import asyncio
import logging
import math

import redis.asyncio as aioredis
import redis.asyncio.cluster as aiocluster
from redis.exceptions import RedisError

log = logging.getLogger(__name__)
TICK_MS = 100  # Redis' default cron period (hz 10); only a lost unblock ever waits for it
# Shorter waits read without blocking: an unblock could reach Redis before the read it ends.
MIN_BLOCK_S = 0.0005


class BlockingReads:
    """Blocking XREADGROUPs of one consumer (one at a time), each waited for on time."""

    def __init__(self, redis: aioredis.Redis):
        self._shared = redis
        self._cluster = isinstance(redis, aiocluster.RedisCluster)
        # The pool's connections carry its retry and timeout settings. (Cluster: made per node.)
        self._unblocker: aioredis.Redis = redis
        self._own: aioredis.Redis | None = None if self._cluster else _single(redis.connection_pool)
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
            own = await self._connection(next(iter(streams)))
            if self._client_id is None:
                self._client_id = await own.client_id()
            block_ms = math.ceil(timeout_s * 1000) + TICK_MS
            read = asyncio.ensure_future(
                own.xreadgroup(group, consumer, streams, count=count, block=block_ms)
            )
            done, _ = await asyncio.wait({read}, timeout=timeout_s)
            if done:
                # Inside the try: a read that fails in time (its node was killed) must forget the
                # node too, or every later read goes back to the dead node, on a Cluster forever
                # (tests/batching/test_cluster_failover_reads.py).
                return read.result()
        except RedisError:
            await self._lost()
            raise
        self._pending = read
        read.add_done_callback(_seen)  # a reader closed before collecting it logs no noise
        self._unblocking = asyncio.create_task(self._unblocker.client_unblock(self._client_id, error=False))
        self._unblocking.add_done_callback(_report)
        return None

    async def settle(self):
        """The reply of a read left at its deadline (None if none, or if it brought nothing),
        once Redis has ended it; and no unblock is left in flight to end a later read."""
        pending, self._pending = self._pending, None
        try:
            late = await pending if pending is not None else None
        except RedisError:
            await self._lost()
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
        if self._own is not None:
            await self._own.aclose()
        if self._cluster and self._unblocker is not self._shared:
            await self._unblocker.connection_pool.disconnect()

    async def _connection(self, key: str) -> aioredis.Redis:
        """The connection the blocking read waits on (on a Cluster, one to the key's node)."""
        if self._own is None:
            node = self._shared.get_node_from_key(key)  # type: ignore[attr-defined]
            # The node's connection options: its address, credentials, TLS and timeouts.
            pool = aioredis.ConnectionPool(connection_class=node.connection_class, **node.connection_kwargs)
            self._unblocker = aioredis.Redis(connection_pool=pool)
            self._own = _single(pool)
        return self._own

    async def _lost(self) -> None:
        """After an error: the connection may come back as another client (or, on a Cluster,
        the slot may live on another node now)."""
        self._client_id = None
        if self._cluster and self._own is not None:
            own, self._own = self._own, None
            await own.aclose()
            await self._unblocker.connection_pool.disconnect()
            self._unblocker = self._shared


def _single(pool: aioredis.ConnectionPool) -> aioredis.Redis:
    return aioredis.Redis(connection_pool=pool, single_connection_client=True)


def _seen(task: asyncio.Task) -> None:
    if not task.cancelled():
        task.exception()  # marks it retrieved; `settle` still raises it


def _report(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("could not end a blocked read on time: %r", task.exception())
