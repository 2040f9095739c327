"""Job records in Redis: submit, read, cancel (api side) and claim, finish (worker side)."""

import hashlib
import time
from collections.abc import Callable

import orjson
import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

from batching import keys
from batching.entry import LaneEntry
from batching.job import JobError, JobRecord, JobResult, JobStatus
from batching.scripts import CLAIM, TRANSITION
from maas.errors import JobNotFoundError, JobStateError

EXPIRED_ERROR = JobError("expired", "the job waited past its deadline and was not computed")
_SCRIPTS = {name: text for name, text in (("transition", TRANSITION), ("claim", CLAIM))}
_SHA = {name: hashlib.sha1(text.encode()).hexdigest() for name, text in _SCRIPTS.items()}


def _transition_args(allowed: str, status: JobStatus, ttl_s: int, fields: dict) -> list:
    args = [allowed, status.value, ttl_s, keys.JOB_EVENTS_CHANNEL]
    for name, value in fields.items():
        args += [name, value]
    return args


class JobStore:
    def __init__(self, redis: aioredis.Redis, result_ttl_s: int):
        self.redis = redis
        self.result_ttl_s = result_ttl_s

    async def _run(self, build: Callable[[aioredis.client.Pipeline], None], transaction=False):
        """Runs one pipeline; scripts go by sha, loaded again if Redis lost its script cache."""
        for attempt in (1, 2):
            async with self.redis.pipeline(transaction=transaction) as pipe:
                build(pipe)
                try:
                    return await pipe.execute()
                except NoScriptError:
                    if attempt == 2:
                        raise
            for script in _SCRIPTS.values():
                await self.redis.script_load(script)
        raise AssertionError("unreachable")

    async def submit(self, record: JobRecord, entry: LaneEntry, lane: str) -> None:
        """Writes the record and appends its lane entry atomically, in one round trip."""
        ttl = max(1, int(record.deadline - time.time()) + self.result_ttl_s)

        def build(pipe):
            pipe.hset(keys.job(record.id), mapping=record.to_fields())
            pipe.expire(keys.job(record.id), ttl)
            pipe.xadd(lane, entry.to_fields())

        await self._run(build, transaction=True)

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
        args = _transition_args(allowed, status, self.result_ttl_s, fields)
        [(applied, state)] = await self._run(
            lambda pipe: pipe.evalsha(_SHA["transition"], 1, keys.job(job_id), *args)
        )
        return applied, state.decode()

    async def claim(self, entries: list[LaneEntry], worker_id: str) -> list[str]:
        """Marks the entries' jobs running; returns each job's state ('running' = compute it)."""
        now = repr(time.time())
        error = orjson.dumps(EXPIRED_ERROR.__dict__)
        args = [now, worker_id, self.result_ttl_s, keys.JOB_EVENTS_CHANNEL, error]

        def build(pipe):
            for entry in entries:
                pipe.evalsha(_SHA["claim"], 1, keys.job(entry.job_id), *args)

        return [state.decode() for state in await self._run(build)]

    async def finish(
        self, lane: str, results: list[tuple[LaneEntry, JobResult]], done: list[LaneEntry]
    ) -> None:
        """Writes results (first terminal write wins), then acknowledges and deletes every entry
        in `done`, in one round trip. Deleting acknowledged entries keeps XLEN = lane depth."""

        def build(pipe):
            for entry, result in results:
                args = _transition_args("*", result.status, self.result_ttl_s, result.to_fields())
                pipe.evalsha(_SHA["transition"], 1, keys.job(entry.job_id), *args)
            ids = [e.stream_id for e in done]
            if ids:
                pipe.xack(lane, keys.LANE_GROUP, *ids)
                pipe.xdel(lane, *ids)

        await self._run(build)
