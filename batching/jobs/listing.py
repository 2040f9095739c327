"""Each tenant's jobs, newest first: an index of job ids per tenant (a sorted set whose scores
are all 0, so it orders by id, and ids order by creation time), written in the submit's round
trip and trimmed as jobs expire; pages are read by id cursor."""

import time
from collections.abc import Callable

import redis.asyncio as aioredis

from batching import keys
from batching.jobs.record import JobRecord
from maas.core.ids import id_floor
from maas.core.sealing import CLEAR, Sealer

MAX_SCANNED = 5_000  # ids one page may look at before it returns what it found and a cursor


def index_floor(ttl_s: int) -> str:
    """The least id a live job can have when jobs are kept `ttl_s` seconds: the index drops
    ids under it."""
    return id_floor(time.time() - ttl_s)


def index_job(pipe, record: JobRecord, ttl_s: int) -> None:
    """Queues the job into its tenant's index on `pipe`, dropping ids older than any live job
    (on one Redis the submit script does the same: batching.jobs.scripts.SUBMIT)."""
    index = keys.tenant_jobs(record.tenant)
    pipe.zadd(index, {record.id: 0})
    pipe.zremrangebylex(index, "-", f"({index_floor(ttl_s)}")
    pipe.expire(index, ttl_s)


class JobIndex:
    def __init__(self, redis: aioredis.Redis, sealer: Sealer = CLEAR):
        self.redis = redis
        self.sealer = sealer  # opens each record's metadata (and outputs)

    async def page(
        self, tenant: str, limit: int, cursor: str | None, wanted: Callable[[JobRecord], bool]
    ) -> tuple[list[JobRecord], str | None]:
        """Up to `limit` of the tenant's jobs older than `cursor` that `wanted` accepts, newest
        first, and the cursor of the next page (None at the end)."""
        index = keys.tenant_jobs(tenant)
        top = f"({cursor}" if cursor else "+"
        found: list[JobRecord] = []
        scanned = 0
        while scanned < MAX_SCANNED:
            ids = [i.decode() for i in await self.redis.zrevrangebylex(index, top, "-", 0, max(limit, 100))]
            if not ids:
                return found, None
            records = await self._records(index, ids)
            for job_id, record in zip(ids, records, strict=True):
                scanned += 1
                if record is not None and wanted(record):
                    found.append(record)
                    if len(found) == limit:
                        return found, job_id
            top = f"({ids[-1]}"
        return found, top[1:]

    async def _records(self, index: str, ids: list[str]) -> list[JobRecord | None]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.hgetall(keys.job(job_id))
            raws = await pipe.execute()
        gone = [job_id for job_id, raw in zip(ids, raws, strict=True) if not raw]
        if gone:
            await self.redis.zrem(index, *gone)  # their results expired
        return [JobRecord.from_fields(raw, self.sealer) if raw else None for raw in raws]
