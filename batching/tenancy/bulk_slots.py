"""A tenant's cap on unfinished bulk jobs. The set of its admitted bulk jobs is pruned of those
that ended (read from their records), then one script admits a new job only below the cap, so
concurrent submissions never pass it together. A job that ended but was not pruned yet only
makes the cap stricter until the next submission looks."""

import redis.asyncio as aioredis

from batching import keys, lua
from batching.bulk.record import BULK_TERMINAL

ADMIT = lua.Script(
    "bulk_slot_admit",
    keys=("active",),
    args=("bulk_id", "cap"),
    body="""
if redis.call('SCARD', K.active) >= tonumber(A.cap) then
  return 0
end
redis.call('SADD', K.active, A.bulk_id)
return 1
""",
)
ENDED = {s.value.encode() for s in BULK_TERMINAL}


class BulkSlots:
    def __init__(self, redis: aioredis.Redis, ttl_s: int):
        self.redis = redis
        self.ttl_s = ttl_s  # bulk records live this long; so does a tenant's set after its last use

    async def admit(self, tenant: str, bulk_id: str, cap: int) -> bool:
        """Takes a slot for `bulk_id`; False when the tenant has `cap` unfinished bulk jobs."""
        active = keys.tenant_active_bulk_jobs(tenant)
        members = [m.decode() for m in await self.redis.smembers(active)]
        if members:
            async with self.redis.pipeline(transaction=False) as pipe:
                for member in members:
                    pipe.hget(keys.bulk_job(member), "status")
                states = await pipe.execute()
            ended = [m for m, state in zip(members, states, strict=True) if state is None or state in ENDED]
            if ended:
                await self.redis.srem(active, *ended)
        admitted = await ADMIT.run(self.redis, active=active, bulk_id=bulk_id, cap=cap)
        await self.redis.expire(active, self.ttl_s)
        return bool(admitted)

    async def release(self, tenant: str, bulk_id: str) -> None:
        """Gives back the slot of a submission that did not create its job."""
        await self.redis.srem(keys.tenant_active_bulk_jobs(tenant), bulk_id)
