"""What the job routes do, on plain values (no HTTP here): submit, read, wait, cancel, purge,
redeliver."""

import asyncio
import contextlib
import hashlib
import logging
import math
import time
from dataclasses import dataclass

import numpy as np

from api.limits import check_metadata, shortened
from api.schemas import JobCreate
from api.services.audit_trail import AuditTrail
from api.services.models import visible
from api.services.registry import AsyncRegistry
from api.services.version_health import VersionHealth
from api.services.webhooks import WebhookIntake
from batching import keys, slot_tags
from batching.codec import encode_tensors
from batching.entry import LaneEntry
from batching.jobs.events import JobEvents
from batching.jobs.idempotency import IdempotencyKeys, check_key, fingerprint
from batching.jobs.listing import JobIndex
from batching.jobs.purge import purge
from batching.jobs.record import TERMINAL_VALUES, JobRecord, JobStatus
from batching.jobs.store import EXPIRED_ERROR, JobStore
from batching.metrics import count_finished, count_submitted
from batching.tenant_limits import max_queued_rows
from maas.core import tracing
from maas.core.access import Caller
from maas.core.errors import (
    InvalidInputError,
    JobNotFoundError,
    JobStateError,
    NotReplicatedError,
    RateLimitedError,
)
from maas.core.ids import is_job_id, new_job_id, with_tag
from maas.core.inputs import parse_inputs
from maas.core.log_fields import fields
from maas.core.settings import Settings
from maas.models.registry import ModelVersion

log = logging.getLogger(__name__)


def declared_rows(raw: object) -> int:
    """The most rows any input of a job claims (its outer list's length), read without
    converting anything; parse_inputs later checks that they agree."""
    values = raw.values() if isinstance(raw, dict) else [raw]
    return max((len(v) for v in values if isinstance(v, list | np.ndarray)), default=0)


def body_of(request: JobCreate) -> dict:
    """The request as JSON for its idempotency fingerprint; an input that came as an array (a
    big body) stands as its dtype, shape and digest."""
    inputs = request.inputs
    named = inputs if isinstance(inputs, dict) else {"": inputs}
    shown = {
        name: {
            "dtype": v.dtype.str,
            "shape": list(v.shape),
            "sha256": hashlib.sha256(v.tobytes()).hexdigest(),
        }
        if isinstance(v, np.ndarray)
        else v
        for name, v in named.items()
    }
    body = request.model_dump(mode="json", exclude={"inputs"})
    body["inputs"] = shown if isinstance(inputs, dict) else shown[""]
    return body


def check_rows(rows: int, model: ModelVersion) -> None:
    if rows > model.config.max_batch_size:
        raise InvalidInputError(
            f"inputs: {rows} rows exceed the model's max_batch_size "
            f"({model.config.max_batch_size}); split the job",
            ("inputs",),
        )


REPLAY_WAIT_S = 10.0  # longest a repeated Idempotency-Key waits for the first request's job


@dataclass
class JobService:
    settings: Settings
    registry: AsyncRegistry
    store: JobStore
    events: JobEvents
    idempotency: IdempotencyKeys
    webhooks: WebhookIntake
    health: VersionHealth
    audit: AuditTrail
    index: JobIndex

    async def submit(
        self,
        caller: Caller,
        request: JobCreate,
        idempotency_key: str | None = None,
        wait_s: float = 0.0,
        traceparent: str | None = None,
    ) -> tuple[JobRecord, bool]:
        """The new job (or, for a repeated Idempotency-Key of the caller's tenant, the original)
        and whether replayed; with wait_s > 0, as it is once terminal or after wait_s. Its inputs
        are nested lists, or numpy arrays already (a big body, parsed in the child process). The
        job is the caller's tenant's: its queued rows count against the tenant's cap (and the
        key's, if lower), and it shares lanes fairly with other tenants' jobs. `traceparent`:
        the caller's W3C trace context header (HTTP or gRPC), kept with the job (maas.core.tracing)."""
        job_id = new_job_id(time.time())
        if wait_s <= 0:
            return await self._traced_submit(caller, request, idempotency_key, job_id, traceparent)
        deadline = time.monotonic() + min(wait_s, self.settings.max_wait_s)
        # Watched before it is written, so its end cannot be missed: a fresh job needs no read.
        with self.events.watch(job_id) as ended:
            record, replayed = await self._traced_submit(
                caller, request, idempotency_key, job_id, traceparent
            )
            if not replayed and self.events.ready(record.id):
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(deadline - time.monotonic()):
                        await ended.wait()
                if ended.fields is not None:
                    return owned(JobRecord.from_fields(ended.fields, self.store.sealer), caller), False
        return await self.wait(caller, record.id, deadline - time.monotonic()), replayed

    async def _traced_submit(
        self,
        caller: Caller,
        request: JobCreate,
        idempotency_key: str | None,
        job_id: str,
        traceparent: str | None,
    ) -> tuple[JobRecord, bool]:
        with tracing.submit_span(traceparent) as kept:
            return await self._submit(caller, request, idempotency_key, job_id, kept)

    async def _submit(
        self,
        caller: Caller,
        request: JobCreate,
        idempotency_key: str | None,
        job_id: str,
        traceparent: str | None,
    ) -> tuple[JobRecord, bool]:
        if idempotency_key is not None:
            check_key(idempotency_key)
        check_metadata(request.metadata, self.settings.max_metadata_bytes)
        model = visible(await self.registry.get(request.model, request.version), caller)
        await self.health.check(model)
        # Cheap bounds first: the outer lists' lengths, before a single array is built.
        check_rows(declared_rows(request.inputs), model)
        inputs, rows = parse_inputs(request.inputs, model.signature)
        check_rows(rows, model)
        record = await self._record(caller.tenant, request, model, rows, job_id)
        record.traceparent = traceparent
        await self.events.follow(record.id)  # before it is written: its end cannot be missed
        if idempotency_key is not None:
            body = fingerprint(body_of(request))
            reservation = await self.idempotency.reserve(caller.tenant, idempotency_key, body, record.id)
            if reservation.replayed:
                return await self._replay(caller, reservation.job_id), True
        try:
            await self._enqueue(caller, record, model, inputs)
        except NotReplicatedError:
            raise  # the job is queued: a retry with the key must find it, not queue another
        except BaseException:
            if idempotency_key is not None:
                await self.idempotency.release(caller.tenant, idempotency_key)
            raise
        return record, False

    async def _record(
        self, tenant: str, request: JobCreate, model: ModelVersion, rows: int, job_id: str
    ) -> JobRecord:
        now = time.time()
        queue_time_s = self.settings.max_queue_time_s
        longest = self.settings.result_ttl_s
        if request.retention_s is not None and request.retention_s > longest:
            raise InvalidInputError(
                f"retention_s: {request.retention_s} s is more than the longest a job is kept, "
                f"{longest} s (MAAS_RESULT_TTL_S)",
                ("retention_s",),
            )
        if request.timeout_s is not None:
            queue_time_s = min(queue_time_s, request.timeout_s)
        # The id carries its lane's slot tag: its record is found, and lives, in the lane's slot.
        lane = keys.online_lane(model.name, model.version)
        return JobRecord(
            id=with_tag(job_id, slot_tags.tag_of_key(lane)),
            status=JobStatus.QUEUED,
            model=model.name,
            version=model.version,
            rows=rows,
            created_at=now,
            deadline=now + queue_time_s,
            metadata=request.metadata,
            webhook=await self.webhooks.accept(request.webhook),
            tenant=tenant,
            retention_s=request.retention_s,
        )

    async def _enqueue(
        self, caller: Caller, record: JobRecord, model: ModelVersion, inputs: dict[str, np.ndarray]
    ) -> None:
        """Admits the job to its lane; audited once admitted (batching.jobs.store)."""
        entry = LaneEntry(
            record.id,
            record.rows,
            record.created_at,
            encode_tensors(inputs),
            traceparent=record.traceparent or "",
        )
        lane = keys.online_lane(model.name, model.version)
        facts = {"model": f"{record.model}:{record.version}"}
        audited = self.audit.data_entry(caller, "job.submit", record.id, facts)
        tenant_cap = queued_rows_cap(self.settings, caller)
        await self.store.submit(record, entry, lane, model.config.max_queue_rows, tenant_cap, audited)
        count_submitted(record.model, record.version)
        if log.isEnabledFor(logging.DEBUG):
            extra = fields(job_id=record.id, model=record.model, version=record.version, rows=record.rows)
            log.debug("job accepted", extra=extra)

    def _shown(self, text: str) -> str:
        return shortened(text, self.settings.max_echo_chars)

    async def redeliver(self, caller: Caller, job_id: str) -> JobRecord:
        """Queues a fresh delivery of the job's webhook event, with the same webhook-id."""
        record = await self.get(caller, job_id)
        if record.webhook is None or record.webhook.event_id is None:
            raise JobStateError(f"job {job_id} has no webhook event to deliver (yet)")
        interval_s = self.settings.webhook_redeliver_interval_s
        if wait_s := await self.store.queue_redelivery(job_id, interval_s):
            message = f"job {job_id}: its webhook may be redelivered once per {interval_s:g} s"
            raise RateLimitedError(message, math.ceil(wait_s))
        await self.audit.data(caller, "job.redeliver", job_id)
        return await self.get(caller, job_id)

    async def _replay(self, caller: Caller, job_id: str) -> JobRecord:
        """The job an earlier request with the same key created; it may still be being written
        (on a busy API the first request can take seconds to reach Redis)."""
        deadline = time.monotonic() + REPLAY_WAIT_S
        while time.monotonic() < deadline:
            try:
                return await self.get(caller, job_id)
            except JobNotFoundError:
                await asyncio.sleep(0.05)
        raise JobStateError("a request with this Idempotency-Key is still in progress; retry")

    async def read(self, caller: Caller, job_id: str, wait_s: float = 0.0) -> JobRecord:
        """The job now, or with wait_s > 0 once terminal or after wait_s (a long poll)."""
        return await self.wait(caller, job_id, wait_s) if wait_s > 0 else await self.get(caller, job_id)

    async def get(self, caller: Caller, job_id: str) -> JobRecord:
        """The caller's tenant's job; another tenant's is as unknown (404), so ids leak nothing."""
        if not is_job_id(job_id):
            raise JobNotFoundError(f"job {self._shown(job_id)!r} not found (not a job id)")
        record = owned(await self.store.get(job_id), caller)
        if await self.store.expire_if_overdue(record):
            count_finished(record.model, record.version, JobStatus.EXPIRED.value, EXPIRED_ERROR.code)
            record = await self.store.get(job_id)
        return record

    async def list(
        self, caller: Caller, *, limit: int, cursor: str | None, status: JobStatus | None, model: str | None
    ) -> tuple[list[JobRecord], str | None]:
        """The caller's tenant's jobs, newest first, filtered; and the next page's cursor."""

        def wanted(record: JobRecord) -> bool:
            return (status is None or record.status is status) and (model is None or record.model == model)

        return await self.index.page(caller.tenant, limit, cursor, wanted)

    async def wait(self, caller: Caller, job_id: str, wait_s: float) -> JobRecord:
        """The job once terminal, or as it is after wait_s; woken by completion events, which
        carry the ended record (read again only when they do not)."""
        deadline = time.monotonic() + min(wait_s, self.settings.max_wait_s)
        while True:
            following = await self.events.follow(job_id)
            with self.events.watch(job_id) as ended:
                record = await self.get(caller, job_id)
                remaining = deadline - time.monotonic()
                if record.terminal or remaining <= 0:
                    return record
                if not following:
                    remaining = min(remaining, 0.5)  # events are down: fall back to slow polling
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(remaining):
                        await ended.wait()
                if ended.fields is not None:
                    return owned(JobRecord.from_fields(ended.fields, self.store.sealer), caller)

    async def cancel(self, caller: Caller, job_id: str) -> JobRecord:
        if not is_job_id(job_id):
            raise JobNotFoundError(f"job {self._shown(job_id)!r} not found (not a job id)")
        record = owned(await self.store.get(job_id), caller)  # 404 unless the caller's tenant's
        await self.store.cancel(job_id)
        count_finished(record.model, record.version, JobStatus.CANCELLED.value)
        await self.audit.data(caller, "job.cancel", job_id)
        return await self.store.get(job_id)

    async def purge(self, caller: Caller, job_id: str) -> JobRecord:
        """Erases the job's outputs, metadata and webhook now, keeping a tombstone (purged_at).
        A queued job is cancelled first; a running one is 409: purge it once it ended."""
        record = await self.get(caller, job_id)
        if record.status is JobStatus.QUEUED:
            with contextlib.suppress(JobStateError):  # it started meanwhile: refused below
                await self.store.cancel(job_id)
                count_finished(record.model, record.version, JobStatus.CANCELLED.value)
        state = await purge(self.store.redis, job_id)
        if not state:
            raise JobNotFoundError(f"job {job_id!r} not found (unknown, or its result expired)")
        if state not in TERMINAL_VALUES:
            raise JobStateError(f"job {job_id} is {state}; purge it once it has ended")
        await self.audit.data(caller, "job.purge", job_id)
        return await self.store.get(job_id)


def owned(record: JobRecord, caller: Caller) -> JobRecord:
    if record.tenant != caller.tenant:
        raise JobNotFoundError(f"job {record.id!r} not found (unknown, or its result expired)")
    return record


def queued_rows_cap(settings: Settings, caller: Caller) -> int:
    """The cap on the tenant's queued rows for this submit (0: none): the tenant's, or the key's
    `max_queued_rows` where that is lower."""
    cap = max_queued_rows(settings, caller.tenant)
    if caller.max_queued_rows is None:
        return cap
    return caller.max_queued_rows if cap == 0 else min(cap, caller.max_queued_rows)
