"""Job records in Redis: submit, read, cancel (api side) and claim, finish (worker side).

Every command here touches one key or one lane's keys (which share a hash slot), so each
pipeline is one round trip on a single Redis and stays valid on Redis Cluster.
"""

import hashlib
import time
from collections.abc import Callable

import orjson
import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

from batching import keys
from batching.entry import LaneEntry
from batching.jobs.record import JobError, JobRecord, JobResult, JobStatus
from batching.jobs.scripts import ACK, ADMIT, CLAIM, TRANSITION
from maas.core.errors import JobNotFoundError, JobStateError, QueueFullError

EXPIRED_ERROR = JobError("expired", "the job waited past its deadline and was not computed")
_SCRIPTS = {"transition": TRANSITION, "claim": CLAIM, "admit": ADMIT, "ack": ACK}
_SHA = {name: hashlib.sha1(text.encode()).hexdigest() for name, text in _SCRIPTS.items()}


def _pairs(fields: dict) -> list:
    return [item for pair in fields.items() for item in pair]


def _transition(pipe, job_id: str, allowed: str, status: JobStatus, ttl_s: int, fields: dict):
    args = [allowed, status.value, ttl_s, keys.JOB_EVENTS_CHANNEL, *_pairs(fields)]
    pipe.evalsha(_SHA["transition"], 2, keys.job(job_id), keys.WEBHOOK_OUTBOX, *args)


def _ack(pipe, lane: str, entries: list[LaneEntry], computed_rows: int, dead: int = 0):
    ids_and_rows = [item for e in entries for item in (e.stream_id, e.rows)]
    recomputed = sum(e.rows for e in entries if e.deliveries > 1) if computed_rows else 0
    lane_keys = (lane, keys.lane_rows(lane), keys.lane_stats(lane))
    counts = (computed_rows, recomputed, dead)
    pipe.evalsha(_SHA["ack"], 3, *lane_keys, keys.LANE_GROUP, *counts, *ids_and_rows)


class JobStore:
    def __init__(self, redis: aioredis.Redis, result_ttl_s: int):
        self.redis = redis
        self.result_ttl_s = result_ttl_s

    async def _run(self, build: Callable[[aioredis.client.Pipeline], None]) -> list:
        """Runs one pipeline. Scripts go by sha and are loaded again if Redis lost its script
        cache (a restart); a pipeline that may be retried so holds only idempotent commands."""
        for attempt in (1, 2):
            async with self.redis.pipeline(transaction=False) as pipe:
                build(pipe)
                try:
                    return await pipe.execute()
                except NoScriptError:
                    if attempt == 2:
                        raise
            for script in _SCRIPTS.values():
                await self.redis.script_load(script)
        raise AssertionError("unreachable")

    async def submit(self, record: JobRecord, entry: LaneEntry, lane: str, max_rows: int) -> None:
        """Writes the record, then admits its entry to the lane unless the lane is full; one
        round trip. The record goes first: a worker drops an entry whose record is missing."""
        ttl = max(1, int(record.deadline - time.time()) + self.result_ttl_s)
        job_key = keys.job(record.id)

        def build(pipe):
            pipe.hset(job_key, mapping=record.to_fields())
            pipe.expire(job_key, ttl)
            args = [entry.rows, max_rows, *_pairs(entry.to_fields())]
            pipe.evalsha(_SHA["admit"], 2, lane, keys.lane_rows(lane), *args)

        *_, (admitted, waiting) = await self._run(build)
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
        [(applied, state)] = await self._run(
            lambda pipe: _transition(pipe, job_id, allowed, status, self.result_ttl_s, fields)
        )
        return applied, state.decode()

    async def claim(self, entries: list[LaneEntry], worker_id: str) -> list[str]:
        """Marks the entries' jobs running; returns each job's state ('running' = compute it)."""
        now = repr(time.time())
        error = orjson.dumps(EXPIRED_ERROR.__dict__)
        args = [now, worker_id, self.result_ttl_s, keys.JOB_EVENTS_CHANNEL, error]

        def build(pipe):
            for entry in entries:
                pipe.evalsha(_SHA["claim"], 2, keys.job(entry.job_id), keys.WEBHOOK_OUTBOX, *args)

        return [state.decode() for state in await self._run(build)]

    async def finish(
        self,
        lane: str,
        results: list[tuple[LaneEntry, JobResult]],
        done: list[LaneEntry],
        computed_rows: int = 0,
    ) -> None:
        """Writes results (the first terminal write wins), then acknowledges and deletes every
        entry in `done`, in one round trip."""

        def build(pipe):
            for entry, result in results:
                fields = result.to_fields()
                _transition(pipe, entry.job_id, "*", result.status, self.result_ttl_s, fields)
            if done:
                _ack(pipe, lane, done, computed_rows)

        await self._run(build)

    async def dead_letter(self, lane: str, entries: list[LaneEntry], max_deliveries: int) -> None:
        """Copies the entries to the lane's dead-letter stream, fails their jobs, then acks them."""
        error = JobError(
            "dead_lettered",
            f"delivered {max_deliveries} times without finishing: the worker running it crashed "
            "or stalled every time",
        )
        result = JobResult(JobStatus.FAILED, time.time(), error=error)

        def build(pipe):
            for entry in entries:
                copy = {**entry.to_fields(), "deliveries": entry.deliveries, "at": repr(time.time())}
                pipe.xadd(keys.dead_letters(lane), copy, maxlen=100_000, approximate=True)
                fields = result.to_fields()
                _transition(pipe, entry.job_id, "*", JobStatus.FAILED, self.result_ttl_s, fields)
            _ack(pipe, lane, entries, 0, dead=len(entries))

        await self._run(build)

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
