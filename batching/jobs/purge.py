"""Purging a job: its outputs, metadata and webhook erased now, a tombstone kept.

The tombstone keeps what says which job it was and how it went (id, tenant, model, version,
rows, state, error, timestamps) and `purged_at`, until the job's record expires as it would
have. Only an ended job is purged (the script checks, so a worker's result can never land on
a tombstone): the caller cancels a queued job first. A job's lane entry (its encoded inputs)
is deleted when the job ends; a cancelled job's entry is dropped, uncomputed, when a worker
reaches it.
"""

import time

import redis.asyncio as aioredis

from batching import keys, lua
from batching.jobs.record import TERMINAL_VALUES

KEPT_FIELDS = (
    "id",
    "tenant",
    "status",
    "model",
    "version",
    "rows",
    "created_at",
    "deadline",
    "started_at",
    "finished_at",
    "error",
    "retention_s",
    "purged_at",
)

# Deletes every field of the ended job at `job` but those in `kept` (a comma list) and marks it
# purged at `now` (the first purge's time stays). Returns its state ('' when missing); unchanged
# unless that state is terminal.
PURGE = lua.Script(
    "purge",
    keys=("job",),
    args=("now", "kept"),
    prelude=lua.string_set("TERMINAL", TERMINAL_VALUES) + lua.CSV_HAS,
    body="""
local current = redis.call('HGET', K.job, 'status')
if not current then return '' end
if not TERMINAL[current] then return current end
for _, name in ipairs(redis.call('HKEYS', K.job)) do
  if not csv_has(A.kept, name) then redis.call('HDEL', K.job, name) end
end
redis.call('HSETNX', K.job, 'purged_at', A.now)
return current
""",
)


async def purge(redis: aioredis.Redis, job_id: str) -> str:
    """Purges the job if it has ended; returns its state ('' when it is missing)."""
    state = await PURGE.call(job=keys.job(job_id), now=repr(time.time()), kept=",".join(KEPT_FIELDS)).run(
        redis
    )
    return state.decode()
