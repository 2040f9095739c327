"""What the job and model routes do, as plain functions of plain values (no HTTP here)."""

import asyncio
import math
import time
from dataclasses import dataclass

from api.schemas import JobCreate
from api.services.version_health import VersionHealth
from batching import keys
from batching.codec import encode_tensors
from batching.entry import LaneEntry
from batching.jobs.events import JobEvents
from batching.jobs.idempotency import IdempotencyKeys, check_key, fingerprint
from batching.jobs.record import JobRecord, JobStatus
from batching.jobs.store import JobStore
from batching.webhook import WebhookRecord
from maas.core.errors import InvalidInputError, JobNotFoundError, JobStateError, RateLimitedError
from maas.core.ids import is_job_id, new_job_id
from maas.core.inputs import parse_inputs
from maas.core.settings import Settings
from maas.core.url_safety import UnsafeURLError, WebhookPolicy, resolve_safe_async
from maas.models.registry import ModelRepository


@dataclass
class DataPlane:
    settings: Settings
    registry: ModelRepository
    store: JobStore
    events: JobEvents
    idempotency: IdempotencyKeys
    webhook_policy: WebhookPolicy
    health: VersionHealth

    async def submit(self, request: JobCreate, idempotency_key: str | None = None) -> tuple[JobRecord, bool]:
        """The new job (or, for a repeated Idempotency-Key, the original) and whether replayed."""
        if idempotency_key is not None:
            check_key(idempotency_key)
        model = self.registry.get(request.model, request.version)
        await self.health.check(model)
        inputs, rows = parse_inputs(request.inputs, model.signature)
        if rows > model.config.max_batch_size:
            raise InvalidInputError(
                f"inputs: {rows} rows exceed the model's max_batch_size "
                f"({model.config.max_batch_size}); split the job",
                ("inputs",),
            )
        now = time.time()
        queue_time_s = self.settings.max_queue_time_s
        if request.timeout_s is not None:
            queue_time_s = min(queue_time_s, request.timeout_s)
        record = JobRecord(
            id=new_job_id(now),
            status=JobStatus.QUEUED,
            model=model.name,
            version=model.version,
            rows=rows,
            created_at=now,
            deadline=now + queue_time_s,
            metadata=request.metadata,
            webhook=await self._webhook(request),
        )
        if idempotency_key is not None:
            body = fingerprint(request.model_dump(mode="json"))
            reservation = await self.idempotency.reserve(idempotency_key, body, record.id)
            if reservation.replayed:
                return await self._replay(reservation.job_id), True
        entry = LaneEntry(record.id, rows, now, record.deadline, encode_tensors(inputs))
        lane = keys.online_lane(model.name, model.version)
        try:
            await self.store.submit(record, entry, lane, model.config.max_queue_rows)
        except BaseException:
            if idempotency_key is not None:
                await self.idempotency.release(idempotency_key)
            raise
        return record, False

    async def _webhook(self, request: JobCreate) -> WebhookRecord | None:
        """The job's webhook, its URL checked now (and again on every delivery attempt)."""
        if request.webhook is None:
            return None
        if not self.settings.webhook_secrets:
            raise InvalidInputError(
                "webhook: this server has no signing secret (MAAS_WEBHOOK_SECRETS); webhooks are off",
                ("webhook",),
            )
        try:
            await resolve_safe_async(request.webhook.url, self.webhook_policy)
        except UnsafeURLError as e:
            raise InvalidInputError(e.message, ("webhook", "url")) from e
        return WebhookRecord(request.webhook.url, tuple(dict.fromkeys(request.webhook.events)))

    async def redeliver(self, job_id: str) -> JobRecord:
        """Queues a fresh delivery of the job's webhook event, with the same webhook-id."""
        record = await self.get(job_id)
        if record.webhook is None or record.webhook.event_id is None:
            raise JobStateError(f"job {job_id} has no webhook event to deliver (yet)")
        interval_s = self.settings.webhook_redeliver_interval_s
        if wait_s := await self.store.queue_redelivery(job_id, interval_s):
            message = f"job {job_id}: its webhook may be redelivered once per {interval_s:g} s"
            raise RateLimitedError(message, math.ceil(wait_s))
        return await self.get(job_id)

    async def _replay(self, job_id: str) -> JobRecord:
        """The job an earlier request with the same key created; it may still be being written."""
        for _ in range(40):
            try:
                return await self.get(job_id)
            except JobNotFoundError:
                await asyncio.sleep(0.05)
        raise JobStateError("a request with this Idempotency-Key is still in progress; retry")

    async def get(self, job_id: str) -> JobRecord:
        if not is_job_id(job_id):
            raise JobNotFoundError(f"job {job_id!r} not found (not a job id)")
        record = await self.store.get(job_id)
        if await self.store.expire_if_overdue(record):
            record = await self.store.get(job_id)
        return record

    async def wait(self, job_id: str, wait_s: float) -> JobRecord:
        """The job once terminal, or as it is after wait_s; woken by completion events."""
        deadline = time.monotonic() + min(wait_s, self.settings.max_wait_s)
        while True:
            with self.events.watch(job_id) as ended:
                record = await self.get(job_id)
                remaining = deadline - time.monotonic()
                if record.terminal or remaining <= 0:
                    return record
                if not self.events.subscribed.is_set():
                    remaining = min(remaining, 0.5)  # events are down: fall back to slow polling
                try:
                    await asyncio.wait_for(ended.wait(), remaining)
                except TimeoutError:
                    pass

    async def cancel(self, job_id: str) -> JobRecord:
        if not is_job_id(job_id):
            raise JobNotFoundError(f"job {job_id!r} not found (not a job id)")
        await self.store.cancel(job_id)
        return await self.store.get(job_id)
