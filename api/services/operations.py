"""The operator's view of the whole service, for the dashboard (GET /v1/admin/overview): lanes,
workers, rq queues, dead letters and failed webhooks across tenants; and the operator's one
action on them, a webhook redelivery (of a job's or a bulk job's event). Both need models:admin
(MAAS_ADMIN_TOKENS have it)."""

import asyncio
import math
from dataclasses import asdict, dataclass

import redis.asyncio as aioredis

from api.services.audit_trail import AuditTrail
from api.services.registry import AsyncRegistry
from batching.bulk.store import BulkStore
from batching.jobs.store import JobStore
from batching.operations import failed_webhooks, recent_dead_letters
from batching.queue_state import read_queue_state
from maas.core.access import Caller
from maas.core.errors import JobStateError, RateLimitedError

Version = tuple[str, int]


@dataclass
class OperationsService:
    redis: aioredis.Redis
    registry: AsyncRegistry
    store: JobStore
    bulk: BulkStore
    audit: AuditTrail
    heartbeat_s: float
    redeliver_interval_s: float
    rq_redis: aioredis.Redis | None = None  # rq's own Redis, when it has one

    async def overview(self, caller: Caller) -> dict:
        versions = await self._versions()
        state, letters, webhooks = await asyncio.gather(
            read_queue_state(self.redis, versions, self.heartbeat_s, self.rq_redis),
            recent_dead_letters(self.redis, versions),
            failed_webhooks(self.redis),
        )
        return {
            "read_at": state.read_at,
            "caller": {"tenant": caller.tenant, "scopes": sorted(caller.scopes)},
            "lanes": [asdict(lane) for lane in state.lanes],
            "workers": [asdict(worker) for worker in state.workers],
            "queues": state.queues,
            "dead_letters": letters,
            "failed_webhooks": webhooks,
        }

    async def _versions(self) -> list[Version]:
        names = await self.registry.names()
        per_name = await asyncio.gather(*(self.registry.versions(n) for n in names))
        return [(name, v) for name, versions in zip(names, per_name, strict=True) for v in versions]

    async def redeliver(self, caller: Caller, job_id: str) -> None:
        """A fresh delivery of any tenant's job's webhook event (same webhook-id), audited as
        the operator's action; once per redeliver interval, as for the job's owner."""
        await self._redeliver(caller, self.store, "job", job_id)

    async def redeliver_bulk(self, caller: Caller, bulk_id: str) -> None:
        """The same for any tenant's bulk job."""
        await self._redeliver(caller, self.bulk, "bulk job", bulk_id)

    async def _redeliver(
        self, caller: Caller, store: JobStore | BulkStore, kind: str, record_id: str
    ) -> None:
        record = await store.get(record_id)  # JobNotFoundError when gone
        if record.webhook is None or record.webhook.event_id is None:
            raise JobStateError(f"{kind} {record_id} has no webhook event to deliver (yet)")
        interval_s = self.redeliver_interval_s
        if wait_s := await store.queue_redelivery(record_id, interval_s):
            message = f"{kind} {record_id}: its webhook may be redelivered once per {interval_s:g} s"
            raise RateLimitedError(message, math.ceil(wait_s))
        action = "job.redeliver" if store is self.store else "bulk.redeliver"
        await self.audit.data(caller, action, record_id, {"tenant": record.tenant})
