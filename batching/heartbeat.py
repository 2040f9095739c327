"""Worker liveness in Redis: a sorted set of worker ids scored by their last heartbeat."""

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from batching import keys

log = logging.getLogger(__name__)


async def beat(redis: aioredis.Redis, worker_id: str, info: dict, interval_s: float) -> None:
    ttl_s = max(1, int(interval_s * 3))
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zadd(keys.WORKERS, {worker_id: time.time()})
        pipe.set(keys.worker(worker_id), orjson.dumps(info), ex=ttl_s)
        # Forget workers silent for an hour so the set does not grow with every restart.
        pipe.zremrangebyscore(keys.WORKERS, 0, time.time() - 3600)
        await pipe.execute()


async def heartbeat_forever(
    redis: aioredis.Redis,
    worker_id: str,
    info: Callable[[], dict],
    interval_s: float,
    wake: asyncio.Event,
    stop: asyncio.Event,
) -> None:
    """Beats every interval, and at once when `wake` is set, with what `info()` says then, until
    `stop` is set. One writer, so a newer state is never overwritten by an older one in flight.
    It ends on `stop` rather than on cancellation, which a Redis call in flight may swallow."""
    while not stop.is_set():
        wake.clear()
        try:
            await beat(redis, worker_id, info(), interval_s)
        except RedisError as e:
            log.warning("heartbeat failed: %r", e)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(interval_s):
                await wake.wait()


async def live_workers(redis: aioredis.Redis, interval_s: float) -> int:
    """Workers that beat within the last three intervals."""
    return await redis.zcount(keys.WORKERS, time.time() - 3 * interval_s, "+inf")


async def worker_infos(redis: aioredis.Redis, worker_ids: list[str]) -> list[bytes | None]:
    """Each worker's last report, in order. One pipelined GET per worker, not an MGET: each
    worker's key is in a slot of its own on a Redis Cluster, where an MGET across them fails."""
    async with redis.pipeline(transaction=False) as pipe:
        for worker_id in worker_ids:
            pipe.get(keys.worker(worker_id))
        return await pipe.execute()


async def live_worker_infos(redis: aioredis.Redis, interval_s: float) -> dict[str, dict]:
    """What each live worker last reported of itself (models, device, pid), by worker id."""
    ids = await redis.zrangebyscore(keys.WORKERS, time.time() - 3 * interval_s, "+inf")
    if not ids:
        return {}
    infos = await worker_infos(redis, [i.decode() for i in ids])
    return {i.decode(): orjson.loads(info) for i, info in zip(ids, infos, strict=True) if info}


def holders_by_version(infos: dict[str, dict]) -> dict[str, list[dict]]:
    """ "name:version" -> [{worker, state, error}] of the workers that report holding it."""
    held: dict[str, list[dict]] = {}
    for worker, info in sorted(infos.items()):
        for key, state in info.get("models", {}).items():
            held.setdefault(key, []).append({"worker": worker, **state})
    return held


async def forget(redis: aioredis.Redis, worker_id: str) -> None:
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zrem(keys.WORKERS, worker_id)
        pipe.delete(keys.worker(worker_id))
        await pipe.execute()
