"""What the job routes do, on plain values (no HTTP here): submit, read, wait, cancel, redeliver."""

import asyncio
import time
from dataclasses import dataclass

import numpy as np

from api.schemas import JobCreate
from api.services.registry import AsyncRegistry
from api.services.version_health import VersionHealth
from api.services.webhooks import WebhookIntake
from batching import keys
from batching.codec import encode_tensors
from batching.entry import LaneEntry
from batching.jobs.events import JobEvents
from batching.jobs.idempotency import IdempotencyKeys, check_key, fingerprint
from batching.jobs.record import JobRecord, JobStatus
from batching.jobs.store import JobStore
from batching.tenant_limits import max_queued_rows
from maas.core.errors import InvalidInputError, JobNotFoundError, JobStateError
from maas.core.ids import is_job_id, new_job_id
from maas.core.inputs import parse_inputs
from maas.core.settings import Settings
from maas.models.registry import ModelVersion


@dataclass
class JobService:
    settings: Settings
    registry: AsyncRegistry
    store: JobStore
    events: JobEvents
    idempotency: IdempotencyKeys
    webhooks: WebhookIntake
    health: VersionHealth

    async def submit(
        self,
        request: JobCreate,
        idempotency_key: str | None = None,
        wait_s: float = 0.0,
        tenant: str = keys.DEFAULT_TENANT,
    ) -> tuple[JobRecord, bool]:
        """The new job (or, for a repeated Idempotency-Key, the original) and whether replayed;
        with wait_s > 0, as it is once terminal or after wait_s. The job is `tenant`'s: its
        queued rows count against the tenant's cap, and it shares lanes fairly with others'."""
        record, replayed = await self._submit(request, idempotency_key, tenant)
        if wait_s > 0:
            record = await self.wait(record.id, wait_s)
        return record, replayed

    async def _submit(
        self, request: JobCreate, idempotency_key: str | None, tenant: str
    ) -> tuple[JobRecord, bool]:
        if idempotency_key is not None:
            check_key(idempotency_key)
        model = await self.registry.get(request.model, request.version)
        await self.health.check(model)
        inputs, rows = parse_inputs(request.inputs, model.signature)
        if rows > model.config.max_batch_size:
            raise InvalidInputError(
                f"inputs: {rows} rows exceed the model's max_batch_size "
                f"({model.config.max_batch_size}); split the job",
                ("inputs",),
            )
        record = await self._record(request, model, rows, tenant)
        if idempotency_key is not None:
            body = fingerprint(request.model_dump(mode="json"))
            reservation = await self.idempotency.reserve(idempotency_key, body, record.id)
            if reservation.replayed:
                return await self._replay(reservation.job_id), True
        try:
            await self._enqueue(record, model, inputs)
        except BaseException:
            if idempotency_key is not None:
                await self.idempotency.release(idempotency_key)
            raise
        return record, False

    async def _record(self, request: JobCreate, model: ModelVersion, rows: int, tenant: str) -> JobRecord:
        now = time.time()
        queue_time_s = self.settings.max_queue_time_s
        if request.timeout_s is not None:
            queue_time_s = min(queue_time_s, request.timeout_s)
        return JobRecord(
            id=new_job_id(now),
            status=JobStatus.QUEUED,
            model=model.name,
            version=model.version,
            rows=rows,
            created_at=now,
            deadline=now + queue_time_s,
            metadata=request.metadata,
            webhook=await self.webhooks.accept(request.webhook),
            tenant=tenant,
        )

    async def _enqueue(self, record: JobRecord, model: ModelVersion, inputs: dict[str, np.ndarray]) -> None:
        entry = LaneEntry(record.id, record.rows, record.created_at, encode_tensors(inputs))
        lane = keys.online_lane(model.name, model.version)
        tenant_cap = max_queued_rows(self.settings, record.tenant)
        await self.store.submit(record, entry, lane, model.config.max_queue_rows, tenant_cap)

    async def redeliver(self, job_id: str) -> JobRecord:
        """Queues a fresh delivery of the job's webhook event, with the same webhook-id."""
        record = await self.get(job_id)
        if record.webhook is None or record.webhook.event_id is None:
            raise JobStateError(f"job {job_id} has no webhook event to deliver (yet)")
        await self.store.queue_redelivery(job_id)
        return await self.get(job_id)

    async def _replay(self, job_id: str) -> JobRecord:
        """The job an earlier request with the same key created; it may still be being written."""
        for _ in range(40):
            try:
                return await self.get(job_id)
            except JobNotFoundError:
                await asyncio.sleep(0.05)
        raise JobStateError("a request with this Idempotency-Key is still in progress; retry")

    async def read(self, job_id: str, wait_s: float = 0.0) -> JobRecord:
        """The job now, or with wait_s > 0 once terminal or after wait_s (a long poll)."""
        return await self.wait(job_id, wait_s) if wait_s > 0 else await self.get(job_id)

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
