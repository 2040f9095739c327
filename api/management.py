"""Model management actions behind the /v1/models and /v1/audit routes; each one audited."""

import asyncio

import redis.asyncio as aioredis

from batching import audit
from maas.errors import ModelNotFoundError
from maas.registry import ModelRepository


async def set_alias(
    registry: ModelRepository, redis: aioredis.Redis, actor: str, name: str, alias: str, version: int
) -> dict:
    before, after = await asyncio.to_thread(registry.set_alias, name, alias, version)
    await audit.record(redis, actor, "alias.set", f"{name}:{alias}", before, after)
    return {"name": name, "alias": alias, "version": after, "previous": before}


async def delete_alias(
    registry: ModelRepository, redis: aioredis.Redis, actor: str, name: str, alias: str
) -> dict:
    if alias not in await asyncio.to_thread(registry.aliases.read, name):
        raise ModelNotFoundError(f"model {name!r} has no alias {alias!r}")
    before, _ = await asyncio.to_thread(registry.set_alias, name, alias, None)
    await audit.record(redis, actor, "alias.delete", f"{name}:{alias}", before, None)
    return {"name": name, "alias": alias, "version": None, "previous": before}
