"""Tells workers that the model repository changed, so they rescan it at once rather than at
their next periodic rescan (which still catches a message missed while disconnected)."""

import asyncio
import logging

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from batching import keys

log = logging.getLogger(__name__)


async def announce(redis: aioredis.Redis, action: str, name: str, version: int | None = None) -> None:
    message = {"action": action, "name": name, "version": version}
    await redis.publish(keys.MODEL_CHANGES_CHANNEL, orjson.dumps(message))


def parse(data: bytes) -> dict:
    return orjson.loads(data)


async def follow(redis: aioredis.Redis, changed: asyncio.Event) -> None:
    """Sets `changed` on every notice, and on every (re)subscription for what was missed while
    not subscribed; reconnects after Redis errors. Runs until cancelled."""
    while True:
        try:
            async with redis.pubsub() as pubsub:
                await pubsub.subscribe(keys.MODEL_CHANGES_CHANNEL)
                changed.set()
                async for message in pubsub.listen():
                    if message["type"] == "message":
                        log.info("repository changed: %s", parse(message["data"]))
                        changed.set()
        except (RedisError, OSError) as e:
            log.warning("model change notices interrupted: %r", e)
            await asyncio.sleep(1)
