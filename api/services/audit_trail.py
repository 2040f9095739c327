"""The management audit: who changed what, and the announcement that tells workers to act on it."""

from dataclasses import dataclass

import redis.asyncio as aioredis

from batching import audit, model_events


@dataclass
class AuditTrail:
    redis: aioredis.Redis

    async def record(self, actor: str, action: str, target: str, before: object, after: object) -> None:
        await audit.record(self.redis, actor, action, target, before, after)

    async def changed(
        self,
        actor: str,
        action: str,
        target: str,
        before: object,
        after: object,
        *,
        name: str,
        version: int | None,
    ) -> None:
        """A change the workers must act on: audited, then announced to them (`version`: the one
        to load, if any)."""
        await self.record(actor, action, target, before, after)
        await model_events.announce(self.redis, action, name, version)

    async def recent(self, count: int) -> list[dict]:
        """The newest `count` entries, newest first."""
        return await audit.recent(self.redis, count)
