"""The audit trail: who did what (management and data plane), and the announcement that tells
workers to act on a model change."""

from dataclasses import dataclass
from enum import StrEnum

import redis.asyncio as aioredis

from batching import audit, keys, model_events
from maas.core.access import Caller


class AuditKind(StrEnum):
    MANAGEMENT = "management"  # models, aliases, keys
    DATA = "data"  # job and bulk job submit, cancel, webhook redeliver


STREAMS = {AuditKind.MANAGEMENT: keys.AUDIT, AuditKind.DATA: keys.AUDIT_DATA}


@dataclass
class AuditTrail:
    redis: aioredis.Redis

    async def record(self, caller: Caller, action: str, target: str, before: object, after: object) -> None:
        await audit.record(self.redis, caller, action, target, before, after)

    async def data(self, caller: Caller, action: str, target: str, facts: object = None) -> None:
        """A data-plane action: which job, and facts such as its model, never inputs or outputs."""
        await audit.record(self.redis, caller, action, target, None, facts, keys.AUDIT_DATA)

    def data_entry(self, caller: Caller, action: str, target: str, facts: object = None) -> dict:
        """The entry `data` writes, for a write that carries it in its own round trip (a job's
        submit: JobStore.submit)."""
        return audit.entry_of(caller, action, target, None, facts)

    async def changed(
        self,
        caller: Caller,
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
        await self.record(caller, action, target, before, after)
        await model_events.announce(self.redis, action, name, version)

    async def recent(self, caller: Caller, count: int, kind: AuditKind = AuditKind.MANAGEMENT) -> list[dict]:
        """The newest `count` entries, newest first: every tenant's for a key administrator, the
        caller's tenant's otherwise."""
        tenant = None if caller.sees_all_tenants else caller.tenant
        return await audit.recent(self.redis, count, tenant, STREAMS[kind])
