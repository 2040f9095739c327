"""The audit stream: one entry per management action (who, what, when, before and after)."""

import time

import orjson
import redis.asyncio as aioredis

from batching import keys

MAX_ENTRIES = 100_000


async def record(
    redis: aioredis.Redis, actor: str, action: str, target: str, before: object, after: object
) -> None:
    entry = {
        "at": repr(time.time()),
        "actor": actor,
        "action": action,
        "target": target,
        "before": orjson.dumps(before),
        "after": orjson.dumps(after),
    }
    await redis.xadd(keys.AUDIT, entry, maxlen=MAX_ENTRIES, approximate=True)


async def recent(redis: aioredis.Redis, count: int) -> list[dict]:
    """The newest `count` entries, newest first."""
    entries = await redis.xrevrange(keys.AUDIT, count=count)
    return [
        {
            "id": entry_id.decode(),
            "at": float(f[b"at"]),
            "actor": f[b"actor"].decode(),
            "action": f[b"action"].decode(),
            "target": f[b"target"].decode(),
            "before": orjson.loads(f[b"before"]),
            "after": orjson.loads(f[b"after"]),
        }
        for entry_id, f in entries
    ]
