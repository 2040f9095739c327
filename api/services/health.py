"""What the readiness probe asks: how many workers sent a heartbeat recently."""

from dataclasses import dataclass

import redis.asyncio as aioredis

from batching.heartbeat import live_workers


@dataclass
class HealthService:
    redis: aioredis.Redis
    heartbeat_s: float

    async def live_workers(self) -> int:
        """Workers alive now; RedisError when Redis does not answer."""
        return await live_workers(self.redis, self.heartbeat_s)
