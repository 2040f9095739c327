"""Lua scripts that move a bulk job on atomically, so that counts are exact whatever crashes.

A chunk is counted once: its "done" mark is first-wins (HSETNX), and only the call that set it
adds the chunk's rows to the counts, so a chunk recomputed after a reclaim never counts twice.
A terminal state is first-wins too, and the step that makes it terminal queues the webhook
event in the outbox. (FEED and the terminal step also touch the bulk lane or the global outbox,
which lie in other hash slots: like the job scripts, they assume one Redis, not a Cluster.)

The states come from BulkStatus: the prelude below is generated from it, so Lua never spells one.
"""

from batching import lua
from batching.bulk.record import BULK_TERMINAL, BulkStatus
from batching.webhook import QUEUE_EVENT_LUA

# A bulk job's record outlives its sweep time by this much, so that the sweeper (which reads the
# record to find its files) normally gets there first; Redis expiry is only the fallback.
SWEEP_GRACE_S = 3_600

# Ends the bulk job at `bulk` in `state` at `now`, queueing its webhook event in `outbox` if the
# webhook wants this state; its retention counts from now: it is due in `sweep` then.
_END_BULK = f"""
local function is_terminal(state) return TERMINAL[state] == true end
local function end_bulk(bulk, outbox, sweep, state, now)
  redis.call('HSET', bulk, 'finished_at', now)
  local id = redis.call('HGET', bulk, 'id')
  local retention = tonumber(redis.call('HGET', bulk, 'retention_s'))
  if retention then
    redis.call('ZADD', sweep, tonumber(now) + retention, id)
    redis.call('EXPIRE', bulk, retention + {SWEEP_GRACE_S})
  end
  queue_webhook_event(bulk, outbox, 'bulk', id, state)
end
"""
BULK_PRELUDE = (
    lua.constants("STATUS", BulkStatus)
    + lua.string_set("TERMINAL", (s.value for s in BulkStatus if s in BULK_TERMINAL))
    + lua.CSV_HAS
    + QUEUE_EVENT_LUA
    + _END_BULK
)

# Moves the bulk job to `state` if it is in `allowed` (a comma list), writing `fields` too.
# Returns {1, previous} when applied, {0, current} when not ({0, ''} for a missing job).
TRANSITION = lua.Script(
    "bulk_transition",
    keys=("bulk", "outbox", "sweep"),
    args=("allowed", "state", "now"),
    rest="fields",
    prelude=BULK_PRELUDE,
    body="""
local current = redis.call('HGET', K.bulk, 'status')
if not current then return {0, ''} end
if is_terminal(current) or not csv_has(A.allowed, current) then return {0, current} end
redis.call('HSET', K.bulk, 'status', A.state, unpack(ARGV, REST))
if is_terminal(A.state) then end_bulk(K.bulk, K.outbox, K.sweep, A.state, A.now) end
return {1, current}
""",
)

# Feeds chunk `index` of `rows` rows (the lane entry's field/value pairs in `entry`) to the bulk
# lane once: a split resumed after a crash skips what it already fed. `split_offset` is where the
# split resumes after it; `last` is 1 for the last chunk. Returns 'fed', 'dup' or the state that
# stopped it (cancelled, failed, missing).
FEED = lua.Script(
    "bulk_feed",
    keys=("bulk", "lane"),
    args=("index", "rows", "split_offset", "last"),
    rest="entry",
    prelude=lua.constants("STATUS", BulkStatus),
    body="""
local current = redis.call('HGET', K.bulk, 'status')
if not current then return 'missing' end
if current ~= STATUS.VALIDATING and current ~= STATUS.QUEUED and current ~= STATUS.RUNNING then
  return current
end
local index = tonumber(A.index)
if tonumber(redis.call('HGET', K.bulk, 'fed')) > index then return 'dup' end
redis.call('XADD', K.lane, '*', unpack(ARGV, REST))
redis.call('HINCRBY', K.bulk, 'total', A.rows)
redis.call('HSET', K.bulk, 'fed', index + 1, 'split_offset', A.split_offset)
if A.last == '1' then
  redis.call('HSET', K.bulk, 'chunks', index + 1)
  if current == STATUS.VALIDATING then redis.call('HSET', K.bulk, 'status', STATUS.QUEUED) end
end
return 'fed'
""",
)

# A worker starts chunk `index` at `now`: the job is running from now on. Returns 'running'
# (compute the chunk), 'done' (it was computed and counted before) or the state that says not to
# (cancelled, ...).
START = lua.Script(
    "bulk_start",
    keys=("bulk", "chunks_done"),
    args=("now", "index"),
    prelude=BULK_PRELUDE,
    body="""
local current = redis.call('HGET', K.bulk, 'status')
if not current then return 'missing' end
if is_terminal(current) then return current end
if redis.call('HEXISTS', K.chunks_done, A.index) == 1 then return 'done' end
if current == STATUS.VALIDATING or current == STATUS.QUEUED then
  redis.call('HSET', K.bulk, 'status', STATUS.RUNNING)
end
redis.call('HSETNX', K.bulk, 'started_at', A.now)
return STATUS.RUNNING
""",
)

# Counts chunk `index` (`succeeded` and `failed` rows) unless it was counted before; once every
# chunk of a completely split job is done the job is finalizing. Returns its state afterwards.
CHUNK_DONE = lua.Script(
    "bulk_chunk_done",
    keys=("bulk", "chunks_done"),
    args=("index", "succeeded", "failed"),
    prelude=BULK_PRELUDE,
    body="""
local current = redis.call('HGET', K.bulk, 'status')
if not current then return 'missing' end
if is_terminal(current) then return current end
if redis.call('HSETNX', K.chunks_done, A.index, A.succeeded .. ',' .. A.failed) == 1 then
  redis.call('HINCRBY', K.bulk, 'succeeded', A.succeeded)
  redis.call('HINCRBY', K.bulk, 'failed', A.failed)
  redis.call('PEXPIRE', K.chunks_done, redis.call('PTTL', K.bulk))
end
local chunks = redis.call('HGET', K.bulk, 'chunks')
if chunks and redis.call('HLEN', K.chunks_done) >= tonumber(chunks) then
  redis.call('HSET', K.bulk, 'status', STATUS.FINALIZING)
  return STATUS.FINALIZING
end
return current
""",
)

# Marks the ended bulk job at `bulk` deleted at `now` (first time wins), before its files go.
# Returns {1, state} when it is ended (marked now or before), {0, state} while it runs, {0, ''}
# for a missing job.
DELETE = lua.Script(
    "bulk_delete",
    keys=("bulk",),
    args=("now",),
    prelude=BULK_PRELUDE,
    body="""
local current = redis.call('HGET', K.bulk, 'status')
if not current then return {0, ''} end
if not is_terminal(current) then return {0, current} end
redis.call('HSETNX', K.bulk, 'deleted_at', A.now)
return {1, current}
""",
)

# Claims up to `limit` bulk jobs due in `sweep` by `now` for one sweeper: their due time moves to
# `lease_until`, so another sweeper skips them, and takes them if this one dies before it is done.
# Returns their ids.
SWEEP_CLAIM = lua.Script(
    "bulk_sweep_claim",
    keys=("sweep",),
    args=("now", "lease_until", "limit"),
    body="""
local due = redis.call('ZRANGEBYSCORE', K.sweep, '-inf', A.now, 'LIMIT', 0, tonumber(A.limit))
for _, id in ipairs(due) do redis.call('ZADD', K.sweep, A.lease_until, id) end
return due
""",
)
