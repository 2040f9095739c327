"""Job completion events: Redis announces a job when it ends; waiters here wake without polling.

Each hash slot has two channels (batching.keys): `job_events`, where a job that ends alone
(cancel, expiry, any TRANSITION) is announced by itself, and `job_ends`, where the jobs a
worker's batch ended are announced together, one frame per batch (batching.jobs.announcement),
so a listener pays one message per batch, not per job. On one Redis the listener takes them all
with two patterns. On a Cluster, where PUBLISH would copy every announcement to every node, they
are sharded channels (SPUBLISH/SSUBSCRIBE): a process subscribes to a slot's two channels the
first time it waits on a job there (`follow`), and only that slot's node sends it that slot's
ends.

An announcement carries each ended record unless it is large; a waiter woken with its record
answers without reading it from Redis again. A listener picks out of a frame the records of the
jobs its own coroutines wait on and skips the rest unread (most ends are other processes').
"""

import asyncio
import contextlib
import logging
from collections.abc import Iterator

import redis.asyncio as aioredis

from batching import keys
from batching.jobs.announcement import waited_ends
from maas.core.ids import base_of, tag_of

log = logging.getLogger(__name__)
# Cluster: how long the listener waits on each node for a message before it looks for channels
# to add (the most a first wait in a slot waits for its subscription, times the nodes).
SHARD_POLL_S = 0.05
FOLLOW_WAIT_S = 2.0  # the most `follow` waits for a subscription before the caller polls instead


class Ended(asyncio.Event):
    """Set when the job ends; `fields` is the ended record as announced (HGETALL's shape), or
    None when the announcement carried only the id (or the subscription was lost)."""

    fields: dict[bytes, bytes] | None = None


def slot_channels(tag: str) -> tuple[str, str]:
    """A slot's channels of job ends: one by one, and by batch."""
    return keys.job_events(tag), keys.job_ends(tag)


async def _pushed(response: list) -> list:
    """A pub/sub message as the parser read it. redis-py's own handler (8.x) first builds
    `"Push response: " + str(response)` for a debug log, on every message whatever the log
    level: a repr of the whole message, so a listener's CPU grew with the bytes it heard (~37 µs
    per 9 kB batch frame in a profile of bench/announcement_cost.py's listener)."""
    return response


# One Redis: every slot's channels (and the untagged ones) share these prefixes.
PATTERNS = (keys.JOB_EVENTS_CHANNEL + "*", keys.JOB_ENDS_CHANNEL + "*")


class JobEvents:
    """One subscription per process, fanned out to every coroutine waiting on a job."""

    def __init__(self, redis: aioredis.Redis, sharded: bool = False):
        self._redis = redis
        self._sharded = sharded  # a Cluster: one sharded channel per slot, subscribed on demand
        self._channels: dict[str, asyncio.Event] = {}  # sharded channel -> set while subscribed
        self._more = asyncio.Event()  # a channel was added to _channels
        self._waiters: dict[str, set[Ended]] = {}
        self._task: asyncio.Task | None = None
        self.subscribed = asyncio.Event()

    async def follow(self, job_id: str) -> bool:
        """Makes sure this process hears the job's end (on a Cluster: subscribes to its slot's
        channels, once per slot). Call before `watch`'s read; False: not subscribed (events are
        down), so poll."""
        if self._sharded and (tag := tag_of(job_id)):
            waits = []
            for channel in slot_channels(tag):
                ready = self._channels.get(channel)
                if ready is None:
                    ready = self._channels[channel] = asyncio.Event()
                    self._more.set()
                waits.append(ready.wait())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*waits), FOLLOW_WAIT_S)
        return self.ready(job_id)

    def ready(self, job_id: str) -> bool:
        """Whether the end of the job would wake its watchers now."""
        if not self.subscribed.is_set():
            return False
        if self._sharded and (tag := tag_of(job_id)):
            channels = [self._channels.get(channel) for channel in slot_channels(tag)]
            return all(ready is not None and ready.is_set() for ready in channels)
        return True

    def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="job-events")

    async def stop(self, timeout_s: float = 2.0) -> None:
        """Cancels the listener; bounded, since a cancel that lands mid-connect can leave the
        client's connection cleanup waiting, and shutdown must not hang on it."""
        if self._task:
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=timeout_s)

    @contextlib.contextmanager
    def watch(self, job_id: str) -> Iterator[Ended]:
        """An event set when the job ends. Enter it *before* reading (or writing) the job, so no
        end is missed."""
        event = Ended()
        base = base_of(job_id)  # with or without its slot tag (a submit watches before it knows it)
        self._waiters.setdefault(base, set()).add(event)
        try:
            yield event
        finally:
            waiters = self._waiters.get(base)
            if waiters is not None:
                waiters.discard(event)
                if not waiters:
                    del self._waiters[base]

    async def _listen(self) -> None:
        backoff_s = 0.1
        while True:
            try:
                if self._sharded:
                    await self._listen_sharded()
                    continue
                async with self._redis.pubsub(
                    ignore_subscribe_messages=True, push_handler_func=_pushed
                ) as pubsub:
                    await pubsub.psubscribe(*PATTERNS)
                    self.subscribed.set()
                    backoff_s = 0.1
                    async for message in pubsub.listen():
                        self._wake(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as e:  # any connection failure: wake everyone, resubscribe
                self.subscribed.clear()
                for ready in self._channels.values():
                    ready.clear()
                log.warning("job events subscription lost (%s); retrying in %.1fs", e, backoff_s)
                for waiters in self._waiters.values():
                    for event in waiters:
                        event.set()
                await asyncio.sleep(backoff_s)
                backoff_s = min(backoff_s * 2, 5.0)

    async def _listen_sharded(self) -> None:
        """Subscribes to each slot's channel as `follow` asks for it, and wakes waiters."""
        await self._redis.initialize()  # type: ignore[attr-defined]  # the slot map, to route SSUBSCRIBE
        shards = NodeSubscriptions(self._redis)
        try:
            self.subscribed.set()
            sent: set[str] = set()
            while True:
                for channel in [c for c in self._channels if c not in sent]:
                    await shards.ssubscribe(channel)
                    sent.add(channel)
                if not sent:
                    await self._more.wait()
                    self._more.clear()
                    continue
                message = await shards.get_message(SHARD_POLL_S)
                if message is None:
                    continue
                if message["type"] in ("ssubscribe", b"ssubscribe"):
                    self._channels[_text(message["channel"])].set()
                elif message["type"] in ("smessage", b"smessage"):
                    self._wake(message["data"])
        finally:
            await shards.aclose()

    def _wake(self, data: bytes) -> None:
        if not self._waiters:  # most announcements are for jobs another API process waits on
            return
        for base, fields in waited_ends(data, self._waiters):
            for event in self._waiters[base]:
                event.fields = fields
                event.set()


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


class NodeSubscriptions:
    """Sharded subscriptions on a Cluster: one plain PubSub per node, on a connection of its own
    (not from the Cluster client's pools, which serve commands), made from the node's options."""

    def __init__(self, cluster: aioredis.Redis):
        self._cluster = cluster
        self._by_node: dict[str, aioredis.client.PubSub] = {}
        self._next = 0  # the node get_message looks at first

    async def ssubscribe(self, channel: str) -> None:
        node = self._cluster.get_node_from_key(channel)  # type: ignore[attr-defined]
        pubsub = self._by_node.get(node.name)
        if pubsub is None:
            pool = aioredis.ConnectionPool(connection_class=node.connection_class, **node.connection_kwargs)
            pubsub = self._by_node[node.name] = aioredis.Redis(connection_pool=pool).pubsub(
                push_handler_func=_pushed
            )
        await pubsub.ssubscribe(channel)

    async def get_message(self, timeout_s: float) -> dict | None:
        """The next message of any node: first what a node has already sent, in turn from the
        node after the one that answered last; else waiting up to timeout_s on each. Taken from
        the first node every time, a node busy with its slots' completions starved the others:
        their subscriptions were never confirmed, their completions never heard (found by
        tests/system/test_redis_cluster_failover.py, three lanes under load)."""
        pubsubs = list(self._by_node.values())
        start = self._next % len(pubsubs) if pubsubs else 0
        for wait_s in (0.0, timeout_s):
            for i in [*range(start, len(pubsubs)), *range(start)]:
                if (message := await pubsubs[i].get_message(timeout=wait_s)) is not None:
                    self._next = i + 1
                    return message
        return None

    async def aclose(self) -> None:
        for pubsub in self._by_node.values():
            await pubsub.aclose()
            await pubsub.connection_pool.disconnect()
