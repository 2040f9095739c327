"""Bulk job records in Redis: create, read, list, cancel (api side); start and count chunks,
finish (worker side)."""

import time

import orjson
import redis.asyncio as aioredis

from batching import keys, lua
from batching.bulk.record import BulkRecord, BulkStatus
from batching.bulk.scripts import CHUNK_DONE, START, TRANSITION
from batching.jobs.record import JobError
from maas.core.errors import JobNotFoundError, JobStateError

CANCELLABLE = ",".join((BulkStatus.VALIDATING, BulkStatus.QUEUED, BulkStatus.RUNNING))
FAILABLE = ",".join((*CANCELLABLE.split(","), BulkStatus.FINALIZING))


def transition_call(bulk_id: str, allowed: str, status: BulkStatus, fields: dict) -> lua.Call:
    """A guarded state change of the bulk job (shared with the rq worker's synchronous client)."""
    return TRANSITION.call(
        bulk=keys.bulk_job(bulk_id),
        outbox=keys.WEBHOOK_OUTBOX,
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
        self.ttl_s = ttl_s  # how long a bulk job's record stays after it was created

    async def create(self, record: BulkRecord) -> None:
        key = keys.bulk_job(record.id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=record.to_fields())
            pipe.expire(key, self.ttl_s)
            index = keys.tenant_bulk_jobs(record.tenant)
            pipe.zadd(index, {record.id: record.created_at})
            pipe.zremrangebyscore(index, 0, time.time() - self.ttl_s)
            pipe.expire(index, self.ttl_s)
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
