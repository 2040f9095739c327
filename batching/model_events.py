"""Tells workers that the model repository changed, so they rescan it at once rather than at
their next periodic rescan (which still catches a message missed while disconnected)."""

import orjson
import redis.asyncio as aioredis

from batching import keys


async def announce(redis: aioredis.Redis, action: str, name: str, version: int | None = None) -> None:
    message = {"action": action, "name": name, "version": version}
    await redis.publish(keys.MODEL_CHANGES_CHANNEL, orjson.dumps(message))


def parse(data: bytes) -> dict:
    return orjson.loads(data)
