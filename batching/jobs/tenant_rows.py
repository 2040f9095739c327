"""A tenant's queued rows across online lanes, counted where admit and ack can keep them
atomically: on one Redis in one hash (keys.TENANT_ROWS), so the cap is exact and needs no read
before the admit; on a Redis Cluster per hash slot (admit and ack touch only their lane's slot),
summed over the slots in use when a cap is checked or a bench reads it."""

import redis.asyncio as aioredis

from batching import keys, slot_tags


def counter_of(lane: str, cluster: bool) -> str:
    """The hash that counts the tenants' rows of `lane`."""
    return keys.slot_tenant_rows(slot_tags.tag_of_key(lane)) if cluster else keys.TENANT_ROWS


async def tenant_queued_rows(
    redis: aioredis.Redis, tenant: str, cluster: bool = False, but: str | None = None
) -> int:
    """Rows the tenant has queued in online lanes (on a Cluster: but those in the slot tagged
    `but`)."""
    if not cluster:
        return max(0, int(await redis.hget(keys.TENANT_ROWS, tenant) or 0))
    tags = [t.decode() for t in await redis.smembers(keys.SLOT_TAGS)]
    tags = [t for t in tags if t != but]
    if not tags:
        return 0
    async with redis.pipeline(transaction=False) as pipe:
        for tag in tags:
            pipe.hget(keys.slot_tenant_rows(tag), tenant)
        counts = await pipe.execute()
    return sum(max(0, int(c)) for c in counts if c is not None)
