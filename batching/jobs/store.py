"""Job records in Redis: submit, read, cancel (api side) and claim, finish (worker side).

Every command here touches one key or one lane's keys (which share a hash slot), so each
pipeline is one round trip on a single Redis and stays valid on Redis Cluster.
"""

import time

import orjson
import redis.asyncio as aioredis

from batching import keys, lua
from batching.entry import LaneEntry
from batching.jobs.listing import index_job
from batching.jobs.record import JobError, JobRecord, JobResult, JobStatus
from batching.jobs.scripts import ACK, ADMIT, CLAIM, TRANSITION
from maas.core.errors import JobNotFoundError, JobStateError, QueueFullError

EXPIRED_ERROR = JobError("expired", "the job waited past its deadline and was not computed")


def _transition(batch: lua.Batch, job_id: str, allowed: str, status: JobStatus, ttl_s: int, fields: dict):
    batch.run(
        TRANSITION,
        job=keys.job(job_id),
        outbox=keys.WEBHOOK_OUTBOX,
        allowed=allowed,
        state=status.value,
        ttl=ttl_s,
        channel=keys.JOB_EVENTS_CHANNEL,
        fields=fields,
    )


def _ack(batch: lua.Batch, lane: str, entries: list[LaneEntry], computed_rows: int, dead: int = 0):
    batch.run(
        ACK,
        lane=lane,
        lane_rows=keys.lane_rows(lane),
        stats=keys.lane_stats(lane),
        group=keys.LANE_GROUP,
        computed_rows=computed_rows,
        recomputed_rows=sum(e.rows for e in entries if e.deliveries > 1) if computed_rows else 0,
        dead_letters=dead,
        entries=[item for e in entries for item in (e.stream_id, e.rows)],
    )


class JobStore:
    def __init__(self, redis: aioredis.Redis, result_ttl_s: int):
        self.redis = redis
        self.result_ttl_s = result_ttl_s

    async def submit(self, record: JobRecord, entry: LaneEntry, lane: str, max_rows: int) -> None:
        """Writes the record, then admits its entry to the lane unless the lane is full; one
        round trip. The record goes first: a worker drops an entry whose record is missing."""
        ttl = max(1, int(record.deadline - time.time()) + self.result_ttl_s)
        job_key = keys.job(record.id)

        def build(batch: lua.Batch):
            batch.pipe.hset(job_key, mapping=record.to_fields())
            batch.pipe.expire(job_key, ttl)
            index_job(batch.pipe, record, ttl)
            batch.run(
                ADMIT,
                lane=lane,
                lane_rows=keys.lane_rows(lane),
                rows=entry.rows,
                max_rows=max_rows,
                entry=entry.to_fields(),
            )

        *_, (admitted, waiting) = await lua.execute(self.redis, build)
        if not admitted:
            await self.redis.delete(job_key)
            raise QueueFullError(
                f"model {record.model} v{record.version} has {waiting} rows waiting "
                f"(limit {max_rows}); retry later"
            )

    async def get(self, job_id: str) -> JobRecord:
        raw = await self.redis.hgetall(keys.job(job_id))
        if not raw:
            raise JobNotFoundError(f"job {job_id!r} not found (unknown, or its result expired)")
        return JobRecord.from_fields(raw)

    async def cancel(self, job_id: str) -> None:
        applied, state = await self._apply(
            job_id, JobStatus.QUEUED.value, JobStatus.CANCELLED, {"finished_at": repr(time.time())}
        )
        if not applied:
            if not state:
                raise JobNotFoundError(f"job {job_id!r} not found")
            raise JobStateError(f"job {job_id} is {state}; only a queued job can be cancelled")

    async def expire_if_overdue(self, record: JobRecord) -> bool:
        """Marks a job still queued past its deadline expired; True when it did."""
        if record.status is not JobStatus.QUEUED or time.time() <= record.deadline:
            return False
        fields = {"finished_at": repr(time.time()), "error": orjson.dumps(EXPIRED_ERROR.__dict__)}
        applied, _ = await self._apply(record.id, JobStatus.QUEUED.value, JobStatus.EXPIRED, fields)
        return bool(applied)

    async def _apply(self, job_id: str, allowed: str, status: JobStatus, fields: dict):
        [(applied, state)] = await lua.execute(
            self.redis, lambda batch: _transition(batch, job_id, allowed, status, self.result_ttl_s, fields)
        )
        return applied, state.decode()

    async def claim(self, entries: list[LaneEntry], worker_id: str) -> list[str]:
        """Marks the entries' jobs running; returns each job's state ('running' = compute it)."""
        now = repr(time.time())
        error = orjson.dumps(EXPIRED_ERROR.__dict__)

        def build(batch: lua.Batch):
            for entry in entries:
                batch.run(
                    CLAIM,
                    job=keys.job(entry.job_id),
                    outbox=keys.WEBHOOK_OUTBOX,
                    now=now,
                    worker=worker_id,
                    ttl=self.result_ttl_s,
                    channel=keys.JOB_EVENTS_CHANNEL,
                    expiry_error=error,
                )

        return [state.decode() for state in await lua.execute(self.redis, build)]

    async def finish(
        self,
        lane: str,
        results: list[tuple[LaneEntry, JobResult]],
        done: list[LaneEntry],
        computed_rows: int = 0,
    ) -> None:
        """Writes results (the first terminal write wins), then acknowledges and deletes every
        entry in `done`, in one round trip."""

        def build(batch: lua.Batch):
            for entry, result in results:
                fields = result.to_fields()
                _transition(batch, entry.job_id, "*", result.status, self.result_ttl_s, fields)
            if done:
                _ack(batch, lane, done, computed_rows)

        await lua.execute(self.redis, build)

    async def dead_letter(self, lane: str, entries: list[LaneEntry], max_deliveries: int) -> None:
        """Copies the entries to the lane's dead-letter stream, fails their jobs, then acks them."""
        error = JobError(
            "dead_lettered",
            f"delivered {max_deliveries} times without finishing: the worker running it crashed "
            "or stalled every time",
        )
        result = JobResult(JobStatus.FAILED, time.time(), error=error)

        def build(batch: lua.Batch):
            for entry in entries:
                copy = {**entry.to_fields(), "deliveries": entry.deliveries, "at": repr(time.time())}
                batch.pipe.xadd(keys.dead_letters(lane), copy, maxlen=100_000, approximate=True)
                fields = result.to_fields()
                _transition(batch, entry.job_id, "*", JobStatus.FAILED, self.result_ttl_s, fields)
            _ack(batch, lane, entries, 0, dead=len(entries))

        await lua.execute(self.redis, build)

    async def queue_redelivery(self, job_id: str, interval_s: float = 0) -> float:
        """Queues a redelivery unless one was queued less than interval_s ago; returns 0, or the
        seconds until one may be."""
        if interval_s > 0:
            key = keys.webhook_redelivered(job_id)
            if not await self.redis.set(key, b"1", nx=True, px=max(1, int(interval_s * 1000))):
                return max(await self.redis.pttl(key), 1) / 1000
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.job(job_id), mapping={"webhook_state": "pending", "webhook_next_attempt_at": ""})
            pipe.xadd(keys.WEBHOOK_OUTBOX, {"job": job_id, "redeliver": "1"})
            await pipe.execute()
        return 0.0

    async def lane_stats(self, lane: str) -> dict[str, int]:
        raw = await self.redis.hgetall(keys.lane_stats(lane))
        return {k.decode(): int(v) for k, v in raw.items()}
