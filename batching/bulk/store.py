"""Bulk job records in Redis: create, read, list, cancel, mark deleted (api side); start and
count chunks, finish (worker side).

Retention: a job is due for the sweeper (keys.BULK_SWEEP) its retention after it ends (set in the
step that ends it), and, in case it never ends, its retention after the longest a job may
take (`unended_s`) from its submission; its record outlives its due time by SWEEP_GRACE_S."""

import time

import orjson
import redis.asyncio as aioredis

from batching import keys, lua
from batching.bulk.record import BulkRecord, BulkStatus
from batching.bulk.scripts import CHUNK_DONE, DELETE, START, SWEEP_GRACE_S, TRANSITION
from batching.jobs.record import JobError
from batching.webhook import WebhookState
from maas.core.errors import JobNotFoundError, JobStateError
from maas.core.ids import tag_of

CANCELLABLE = ",".join((BulkStatus.VALIDATING, BulkStatus.QUEUED, BulkStatus.RUNNING))
FAILABLE = ",".join((*CANCELLABLE.split(","), BulkStatus.FINALIZING))


def transition_call(bulk_id: str, allowed: str, status: BulkStatus, fields: dict) -> lua.Call:
    """A guarded state change of the bulk job (shared with the rq worker's synchronous client)."""
    return TRANSITION.call(
        bulk=keys.bulk_job(bulk_id),
        outbox=keys.webhook_outbox(tag_of(bulk_id)),
        sweep=keys.bulk_sweep(tag_of(bulk_id)),
        allowed=allowed,
        state=status.value,
        now=repr(time.time()),
        fields=fields,
    )


def failure_fields(error: JobError) -> dict:
    return {"error": orjson.dumps(error.__dict__)}


class BulkStore:
    def __init__(self, redis: aioredis.Redis, ttl_s: int = 0):
        self.redis = redis
        self.ttl_s = ttl_s  # the default retention, for a record that names none

    async def create(self, record: BulkRecord, unended_s: int) -> None:
        """Writes the record, due for the sweeper `unended_s` + its retention from now unless
        it ends sooner (then its retention after it ended)."""
        key = keys.bulk_job(record.id)
        due_s = unended_s + (record.retention_s or self.ttl_s)
        # No job outlives this from its submission (retention is at most unended_s): older
        # ids in the tenant's list are of records Redis expired.
        longest_s = 2 * unended_s + SWEEP_GRACE_S
        tag = tag_of(record.id)
        # No transaction: the tenant's list lies in another slot (Redis Cluster). The sweep
        # entry goes first, so a record is never written that no sweeper would find.
        async with self.redis.pipeline(transaction=False) as pipe:
            if tag:
                pipe.sadd(keys.SLOT_TAGS, tag)  # its outbox and sweep list are found
            pipe.zadd(keys.bulk_sweep(tag), {record.id: record.created_at + due_s})
            pipe.hset(key, mapping=record.to_fields())
            pipe.expire(key, due_s + SWEEP_GRACE_S)
            index = keys.tenant_bulk_jobs(record.tenant)
            pipe.zadd(index, {record.id: record.created_at})
            pipe.zremrangebyscore(index, 0, time.time() - longest_s)
            pipe.expire(index, longest_s)
            await pipe.execute()

    async def get(self, bulk_id: str) -> BulkRecord:
        raw = await self.redis.hgetall(keys.bulk_job(bulk_id))
        if not raw:
            raise JobNotFoundError(f"bulk job {bulk_id!r} not found (unknown, or expired)")
        return BulkRecord.from_fields(raw)

    async def list(self, tenant: str, limit: int, before: float | None = None) -> list[BulkRecord]:
        """The tenant's bulk jobs, newest first; `before` (epoch s) pages back."""
        top = f"({before}" if before is not None else "+inf"
        index = keys.tenant_bulk_jobs(tenant)
        ids = await self.redis.zrevrangebyscore(index, top, "-inf", start=0, num=limit)
        async with self.redis.pipeline(transaction=False) as pipe:
            for bulk_id in ids:
                pipe.hgetall(keys.bulk_job(bulk_id.decode()))
            raws = await pipe.execute()
        return [BulkRecord.from_fields(raw) for raw in raws if raw]

    async def transition(self, bulk_id: str, allowed: str, status: BulkStatus, fields: dict):
        """(applied, the state before) of a guarded state change."""
        applied, state = await transition_call(bulk_id, allowed, status, fields).run(self.redis)
        return bool(applied), state.decode()

    async def cancel(self, bulk_id: str) -> BulkRecord:
        applied, state = await self.transition(bulk_id, CANCELLABLE, BulkStatus.CANCELLED, {})
        if not applied:
            if not state:
                raise JobNotFoundError(f"bulk job {bulk_id!r} not found")
            raise JobStateError(f"bulk job {bulk_id} is {state}; it can no longer be cancelled")
        return await self.get(bulk_id)

    async def mark_deleted(self, bulk_id: str) -> BulkRecord:
        """Marks an ended job's files deleted (its output is gone from now on); 409 while it runs."""
        applied, state = await DELETE.run(self.redis, bulk=keys.bulk_job(bulk_id), now=repr(time.time()))
        if not applied:
            if not state:
                raise JobNotFoundError(f"bulk job {bulk_id!r} not found")
            raise JobStateError(
                f"bulk job {bulk_id} is {state.decode()}; cancel it first, then delete its files"
            )
        return await self.get(bulk_id)

    async def queue_redelivery(self, bulk_id: str, interval_s: float = 0) -> float:
        """Queues a fresh delivery of the bulk job's webhook event (same webhook-id) unless one
        was queued less than interval_s ago; returns 0, or the seconds until one may be. The
        relay gives a redelivery an rq task of its own, as for a job's."""
        if interval_s > 0:
            key = keys.bulk_webhook_redelivered(bulk_id)
            if not await self.redis.set(key, b"1", nx=True, px=max(1, int(interval_s * 1000))):
                return max(await self.redis.pttl(key), 1) / 1000
        # Not a transaction: the record and the outbox sit in two slots on Redis Cluster.
        async with self.redis.pipeline(transaction=False) as pipe:
            state = {"webhook_state": WebhookState.PENDING.value, "webhook_next_attempt_at": ""}
            pipe.hset(keys.bulk_job(bulk_id), mapping=state)
            pipe.xadd(keys.WEBHOOK_OUTBOX, {"bulk": bulk_id, "redeliver": "1"})
            await pipe.execute()
        return 0.0

    async def start_chunk(self, bulk_id: str, index: int) -> str:
        """'running' when the chunk should be computed, 'done' if it was, else the job's state."""
        state = await START.run(
            self.redis,
            bulk=keys.bulk_job(bulk_id),
            chunks_done=keys.bulk_chunks_done(bulk_id),
            now=repr(time.time()),
            index=index,
        )
        return state.decode()

    async def chunk_done(self, bulk_id: str, index: int, succeeded: int, failed: int) -> str:
        """Counts the chunk (once, whoever calls); returns the job's state afterwards."""
        state = await CHUNK_DONE.run(
            self.redis,
            bulk=keys.bulk_job(bulk_id),
            chunks_done=keys.bulk_chunks_done(bulk_id),
            index=index,
            succeeded=succeeded,
            failed=failed,
        )
        return state.decode()

    async def succeed(self, bulk_id: str) -> bool:
        applied, _ = await self.transition(bulk_id, BulkStatus.FINALIZING.value, BulkStatus.SUCCEEDED, {})
        return applied

    async def fail(self, bulk_id: str, error: JobError) -> bool:
        applied, _ = await self.transition(bulk_id, FAILABLE, BulkStatus.FAILED, failure_fields(error))
        return applied
