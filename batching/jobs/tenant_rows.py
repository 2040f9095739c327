"""A tenant's queued rows across lanes: kept per hash slot (admit and ack touch only their lane's
slot), summed over the slots in use when a cap is checked or a bench reads it."""

import redis.asyncio as aioredis

from batching import keys


async def tenant_queued_rows(redis: aioredis.Redis, tenant: str, but: str | None = None) -> int:
    """Rows the tenant has queued in online lanes: the sum of its counts in every slot in use
    (but the slot tagged `but`)."""
    tags = [t.decode() for t in await redis.smembers(keys.SLOT_TAGS)]
    tags = [t for t in tags if t != but]
    if not tags:
        return 0
    async with redis.pipeline(transaction=False) as pipe:
        for tag in tags:
            pipe.hget(keys.slot_tenant_rows(tag), tenant)
        counts = await pipe.execute()
    return sum(max(0, int(c)) for c in counts if c is not None)
