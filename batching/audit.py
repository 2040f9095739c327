"""The audit streams: one entry per action (who, what, when, before and after). AUDIT holds
management actions (models, aliases, keys); AUDIT_DATA the data plane's (submit, cancel,
redeliver), which never carry inputs or outputs. Each entry is also written to its tenant's copy
of the stream, so that a tenant reads its own without scanning everyone's."""

import time

import orjson
import redis.asyncio as aioredis

from batching import keys
from maas.core.access import Caller

MAX_ENTRIES = 100_000
MAX_TENANT_ENTRIES = 10_000


def entry_of(
    caller: Caller, action: str, target: str, before: object, after: object
) -> dict[str, str | bytes]:
    """One audit entry's fields, as `record` writes them (and a job's submit, once admitted:
    batching.jobs.store)."""
    return {
        "at": repr(time.time()),
        "actor": caller.key_name,
        "tenant": caller.tenant,
        "key_id": caller.key_id,
        "action": action,
        "target": target,
        "before": orjson.dumps(before),
        "after": orjson.dumps(after),
    }


async def record(
    redis: aioredis.Redis,
    caller: Caller,
    action: str,
    target: str,
    before: object,
    after: object,
    stream: str = keys.AUDIT,
) -> None:
    await write(redis, caller.tenant, entry_of(caller, action, target, before, after), stream)


async def write(redis: aioredis.Redis, tenant: str, entry: dict, stream: str = keys.AUDIT) -> None:
    """Adds an entry (entry_of) to the stream and the tenant's copy: one round trip, no
    transaction (the two streams may lie on different Redis Cluster nodes)."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.xadd(stream, entry, maxlen=MAX_ENTRIES, approximate=True)
        pipe.xadd(keys.tenant_audit(tenant, stream), entry, maxlen=MAX_TENANT_ENTRIES, approximate=True)
        await pipe.execute()


def _text(f: dict[bytes, bytes], name: bytes) -> str | None:
    return f[name].decode() if name in f else None  # entries written before tenants lack it


async def recent(
    redis: aioredis.Redis, count: int, tenant: str | None = None, stream: str = keys.AUDIT
) -> list[dict]:
    """The newest `count` entries (of `tenant` only, when given), newest first."""
    source = stream if tenant is None else keys.tenant_audit(tenant, stream)
    entries = await redis.xrevrange(source, count=count)
    return [
        {
            "id": entry_id.decode(),
            "at": float(f[b"at"]),
            "actor": f[b"actor"].decode(),
            "tenant": _text(f, b"tenant"),
            "key_id": _text(f, b"key_id") or None,
            "key_name": f[b"actor"].decode(),
            "action": f[b"action"].decode(),
            "target": f[b"target"].decode(),
            "before": orjson.loads(f[b"before"]),
            "after": orjson.loads(f[b"after"]),
        }
        for entry_id, f in entries
    ]
