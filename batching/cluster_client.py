"""redis-py's async Redis Cluster client, made to wait for a free connection as maas's
standalone pool does (batching/connection.py), instead of failing at once.

redis-py's Cluster client keeps a pool of `max_connections` per node and raises
MaxConnectionsError when a command finds its node's pool exhausted: a burst of requests would
get 503s with Redis idle. Here each command or pipeline first takes one of `max_connections`
permits of the process (waiting up to `wait_s`, then a ConnectionError as from a full pool), and
each holds at most one connection per node, so no node's pool is ever exhausted.
"""

import asyncio
import contextlib
import contextvars
from collections.abc import AsyncIterator, Iterator
from typing import Any

import redis.asyncio.cluster as aiocluster
from redis.crc import key_slot
from redis.exceptions import ClusterDownError, SlotNotCoveredError, TryAgainError
from redis.exceptions import ConnectionError as RedisConnectionError

from batching.hiredis_packing import packed_by_hiredis

# Set while this task holds a permit: a command that a pipeline sends again itself (after a slot
# moved) runs under the pipeline's permit, never waiting for a second one.
_HOLDING = contextvars.ContextVar("holding_a_redis_permit", default=False)


_STREAM_SUBCOMMANDS = ("XGROUP", "XINFO")
# While a master is down and until the cluster has promoted its replica, nodes answer CLUSTERDOWN
# or TRYAGAIN and the client's slot map may leave the slot uncovered: the queue is unreachable for
# a few seconds, as a standalone Redis that is down. redis-py has retried them already; raised as
# a ConnectionError, the API answers 503 (they were 500s) and every loop that outlives a lost
# connection outlives them (tests/system/test_redis_cluster_failover.py).
_FAILING_OVER = (ClusterDownError, TryAgainError, SlotNotCoveredError)


@contextlib.contextmanager
def _failover_as_connection_error() -> Iterator[None]:
    try:
        yield
    except _FAILING_OVER as e:
        raise RedisConnectionError(f"the Redis Cluster is failing over: {e!r}") from e


class Permits:
    def __init__(self, count: int, wait_s: float):
        self._semaphore = asyncio.Semaphore(count)
        self._wait_s = wait_s

    @contextlib.asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        if _HOLDING.get():
            yield
            return
        try:
            await asyncio.wait_for(self._semaphore.acquire(), self._wait_s)
        except TimeoutError as e:
            raise RedisConnectionError(f"no free Redis connection within {self._wait_s} s") from e
        token = _HOLDING.set(True)
        try:
            yield
        finally:
            _HOLDING.reset(token)
            self._semaphore.release()


class BoundedRedisCluster(aiocluster.RedisCluster):
    def __init__(self, *args: Any, wait_s: float, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.permits = Permits(kwargs.get("max_connections", 64), wait_s)
        # Commands packed by hiredis (batching/hiredis_packing.py). redis-py fixes the nodes'
        # connection class itself; as it does for its own per-connection options, the class goes
        # into the template of nodes found from now on and into the startup nodes already made
        # (their connections open lazily, after this).
        packed = packed_by_hiredis(self.nodes_manager.connection_kwargs["connection_class"])
        self.nodes_manager.connection_kwargs["connection_class"] = packed
        for node in self.nodes_manager.startup_nodes.values():
            node.connection_class = packed

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        async with self.permits.held():
            with _failover_as_connection_error():
                return await super().execute_command(*args, **kwargs)

    async def _determine_slot(self, *args: Any) -> int:
        # XGROUP and XINFO subcommands take the stream as their first argument. redis-py asks a
        # node (COMMAND GETKEYS) for their keys, and under concurrent first use that failed
        # ("Missing key"): the slot is known without asking.
        command = args[0] if isinstance(args[0], str) else args[0].decode()
        if command.upper().split(" ")[0] in _STREAM_SUBCOMMANDS and " " in command and len(args) > 1:
            stream = args[1]
            return key_slot(stream if isinstance(stream, bytes) else str(stream).encode())
        return await super()._determine_slot(*args)

    def pipeline(
        self, transaction: Any | None = None, shard_hint: Any | None = None
    ) -> aiocluster.ClusterPipeline:
        if shard_hint:
            return super().pipeline(transaction, shard_hint)  # it refuses a shard hint
        return BoundedPipeline(self, transaction)


class BoundedPipeline(aiocluster.ClusterPipeline):
    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        async with self.cluster_client.permits.held():
            with _failover_as_connection_error():
                return await super().execute(*args, **kwargs)
