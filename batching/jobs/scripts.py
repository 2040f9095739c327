"""Lua scripts that change a job's or a lane's state atomically.

A terminal state is first-wins: once a job is succeeded, failed, cancelled or expired, nothing
overwrites it or announces it again, so a reclaimed batch may recompute but never re-deliver.
The same step that makes a job terminal queues its webhook event in the outbox, so an event is
created once, or not at all, whatever crashes. Every script but SUBMIT (for one Redis
only) touches one hash slot (Redis Cluster): a job's record, its slot's outbox and channel, and
its lane's keys with the slot's tenant row counts all sit in its lane's slot (batching.keys).

The states come from JobStatus: the prelude below is generated from it, so Lua never spells one.
"""

from batching import lua
from batching.jobs.record import TERMINAL_VALUES, JobStatus
from batching.webhook import QUEUE_EVENT_LUA

# Scripts that finish accepted jobs (and cancel) still run when Redis is at maxmemory
# (noeviction): new jobs are refused there (503), but a job already accepted must reach its
# terminal state, or it would be lost. (Redis < 7 knows no flags: see batching/lua.py.)
ALLOW_OOM = ("allow-oom",)

# Ends the job at `job` in `state`: keeps it `ttl` seconds (or its own retention_s) and queues its
# webhook event in `outbox` if the webhook wants this state; returns its id. Its end is announced
# by the caller: alone (`announce`: PUBLISH on `channel`, or SPUBLISH on Redis Cluster, where only
# the channel's shard hears it) or in its batch's frame (FINISH). An announcement carries the
# ended record (batching.jobs.announcement), so that a request waiting for the job answers without
# reading it again; a record larger than ANNOUNCED_RECORD_MAX_BYTES is announced by its id alone,
# and its waiters read it. A batch frame is published once its records pass
# ANNOUNCED_FRAME_MAX_BYTES (so one message stays far below a subscriber's output buffer limit).
ANNOUNCED_RECORD_MAX_BYTES = 65_536
ANNOUNCED_FRAME_MAX_BYTES = 1_048_576
_END_JOB = f"""
local function is_terminal(state) return TERMINAL[state] == true end
local function record_items(job)
  local fields = redis.call('HGETALL', job)
  local parts, size = {{}}, 0
  for _, item in ipairs(fields) do
    size = size + #item
    if size > {ANNOUNCED_RECORD_MAX_BYTES} then return '' end
    parts[#parts + 1] = #item .. ':' .. item
  end
  return table.concat(parts)
end
local function end_job(job, outbox, state, ttl)
  redis.call('EXPIRE', job, tonumber(redis.call('HGET', job, 'retention_s')) or ttl)
  local job_id = redis.call('HGET', job, 'id')
  queue_webhook_event(job, outbox, 'job', job_id, state)
  return job_id
end
local function announce(job, job_id, channel, publish)
  local record = record_items(job)
  if record == '' then redis.call(publish, channel, job_id)
  else redis.call(publish, channel, job_id .. '\\n' .. record) end
end
local function new_frame() return {{head = {{'*'}}, records = {{}}, size = 0}} end
local function frame_add(frame, job, job_id)
  local record = record_items(job)
  frame.head[#frame.head + 1] = ' ' .. job_id .. ' ' .. #record
  frame.records[#frame.records + 1] = record
  frame.size = frame.size + #record
  return frame.size >= {ANNOUNCED_FRAME_MAX_BYTES}
end
local function frame_publish(frame, channel, publish)
  if #frame.records == 0 then return end
  redis.call(publish, channel, table.concat(frame.head) .. '\\n' .. table.concat(frame.records))
end
"""
# Moves `job` to `state` if it is in `allowed` ("*" = any non-terminal state, else a comma list),
# writing the field/value items ARGV[first..last] too; ends it (end_job) if `state` is terminal,
# then calls `ended(job, job_id)` to announce it.
_TRANSITION_JOB = """
local function transition(job, outbox, allowed, state, ttl, first, last, ended)
  local current = redis.call('HGET', job, 'status')
  if not current then return {0, ''} end
  if is_terminal(current) then return {0, current} end
  if allowed ~= '*' and not csv_has(allowed, current) then return {0, current} end
  redis.call('HSET', job, 'status', state, unpack(ARGV, first, last))
  if is_terminal(state) then ended(job, end_job(job, outbox, state, ttl)) end
  return {1, current}
end
"""
JOB_PRELUDE = (
    lua.constants("STATUS", JobStatus)
    + lua.string_set("TERMINAL", TERMINAL_VALUES)
    + lua.CSV_HAS
    + QUEUE_EVENT_LUA
    + _END_JOB
    + _TRANSITION_JOB
)

# Moves the job to `state` if it is in `allowed` ("*" = any non-terminal state, else a comma
# list), writing `fields` too; an end is announced alone on `channel` (batching.keys.job_events).
# Returns {1, previous state} when applied, {0, current state} when refused, {0, ""} if the job
# is missing.
TRANSITION = lua.Script(
    "transition",
    keys=("job", "outbox"),
    args=("allowed", "state", "ttl", "channel", "publish"),
    rest="fields",
    flags=ALLOW_OOM,
    prelude=JOB_PRELUDE,
    body="""
local function ended(job, job_id) announce(job, job_id, A.channel, A.publish) end
return transition(K.job, K.outbox, A.allowed, A.state, A.ttl, REST, #ARGV, ended)
""",
)

# Ends the jobs whose records are `jobs` (all of one slot, as are `outbox` and `channel`) as
# TRANSITION does with allowed "*": for each job in order, `results` holds its state, the count of
# its field/value items, then those items. The jobs this call ended are announced together, in
# one batch frame on `channel` (batching.keys.job_ends; more than one only past
# ANNOUNCED_FRAME_MAX_BYTES), in their order. Returns {1, previous state} per job that this call
# ended, {0, current state} per job that had ended already, {0, ""} per missing record. One call
# per batch (and slot).
FINISH = lua.Script(
    "finish",
    keys=("outbox",),
    rest_keys="jobs",
    args=("ttl", "channel", "publish"),
    rest="results",
    flags=ALLOW_OOM,
    prelude=JOB_PRELUDE,
    body="""
local frame, replies, at = new_frame(), {}, REST
local function ended(job, job_id)
  if frame_add(frame, job, job_id) then
    frame_publish(frame, A.channel, A.publish)
    frame = new_frame()
  end
end
for i = KREST, #KEYS do
  local state, last = ARGV[at], at + 1 + tonumber(ARGV[at + 1])
  replies[#replies + 1] = transition(KEYS[i], K.outbox, '*', state, A.ttl, at + 2, last, ended)
  at = last + 1
end
frame_publish(frame, A.channel, A.publish)
return replies
""",
)

# A worker takes the jobs whose records are `jobs` (all of one slot, as are `outbox` and
# `channel`): each is running from `now` on, unless it waited past its deadline (then it expires
# with `expiry_error`). Returns each job's state afterwards, in order: 'running' means compute
# it, anything else drop it ('missing' when the record is gone). One call per batch (and slot).
CLAIM = lua.Script(
    "claim",
    keys=("outbox",),
    rest_keys="jobs",
    args=("now", "worker", "ttl", "channel", "publish", "expiry_error"),
    flags=ALLOW_OOM,
    prelude=JOB_PRELUDE,
    body="""
local function claim(job)
  local current = redis.call('HGET', job, 'status')
  if not current then return 'missing' end
  if current ~= STATUS.QUEUED and current ~= STATUS.RUNNING then return current end
  local deadline = tonumber(redis.call('HGET', job, 'deadline'))
  if deadline and tonumber(A.now) > deadline then
    redis.call('HSET', job, 'status', STATUS.EXPIRED, 'finished_at', A.now, 'error', A.expiry_error)
    announce(job, end_job(job, K.outbox, STATUS.EXPIRED, A.ttl), A.channel, A.publish)
    return STATUS.EXPIRED
  end
  redis.call('HSET', job, 'status', STATUS.RUNNING, 'started_at', A.now, 'worker', A.worker)
  return STATUS.RUNNING
end
local states = {}
for i = KREST, #KEYS do states[#states + 1] = claim(KEYS[i]) end
return states
""",
)

# Adds the entry (its field/value pairs) of `rows` rows to the tenant's sub-stream of the lane
# (`stream`) unless that would put more than `max_rows` rows waiting in the lane, or more than
# `tenant_max_rows` queued for the tenant across lanes (0 = no limit; a lone job always fits): its
# rows counted in `tenant_rows` (field `tenant`) plus `tenant_elsewhere`. Counts the rows in
# both, marks the tenant active in the lane and, when it was not and `announce` is 1, rings the
# lane's doorbell (`wake`) for workers blocked on other tenants.
# Returns {ADMITTED, rows waiting in the lane}, {LANE_FULL, rows waiting in the lane} or
# {TENANT_FULL, rows the tenant has queued}.
ADMITTED, LANE_FULL, TENANT_FULL = 1, 0, 2
_ADMIT_LUA = f"""
local function admit(K, A, entry_from)
  local waiting = tonumber(redis.call('GET', K.lane_rows) or '0')
  local queued = tonumber(redis.call('HGET', K.tenant_rows, A.tenant) or '0') + tonumber(A.tenant_elsewhere)
  local rows = tonumber(A.rows)
  local max_rows = tonumber(A.max_rows)
  local tenant_max = tonumber(A.tenant_max_rows)
  if max_rows > 0 and waiting > 0 and waiting + rows > max_rows then return {{{LANE_FULL}, waiting}} end
  if tenant_max > 0 and queued > 0 and queued + rows > tenant_max then return {{{TENANT_FULL}, queued}} end
  redis.call('XADD', K.stream, '*', unpack(ARGV, entry_from))
  redis.call('INCRBY', K.lane_rows, rows)
  redis.call('HINCRBY', K.tenant_rows, A.tenant, rows)
  if redis.call('SADD', K.tenants, A.tenant) == 1 and A.announce == '1' then
    redis.call('XADD', K.wake, 'MAXLEN', '~', '1000', '*', 'tenant', A.tenant)
  end
  return {{{ADMITTED}, waiting + rows}}
end
"""
_ADMIT_KEYS = ("stream", "lane_rows", "tenants", "wake", "tenant_rows")
_ADMIT_ARGS = ("rows", "max_rows", "tenant", "tenant_max_rows", "tenant_elsewhere", "announce")

# On a Redis Cluster: every key in the lane's slot; `tenant_rows` is the slot's count
# (batching.jobs.tenant_rows), `tenant_elsewhere` the tenant's rows in other slots as read just
# before (so concurrent submits to other slots may pass the cap together by their own rows).
ADMIT = lua.Script(
    "admit",
    keys=_ADMIT_KEYS,
    args=_ADMIT_ARGS,
    rest="entry",
    prelude=_ADMIT_LUA,
    body="return admit(K, A, REST)",
)

# The whole submit on one Redis (standalone or Sentinel), where a script may touch any key: admits
# the entry as ADMIT does, with `tenant_rows` counting every lane (the cap is exact,
# `tenant_elsewhere` is 0), and only if admitted writes the job's record (the rest's first
# `record_fields` items) at `job`, kept `job_ttl` seconds, adds the lane's slot `tag` to
# `slot_tags`, indexes the job in its tenant's `index` (batching.jobs.listing: dropping ids under
# `index_floor`, kept `index_ttl` seconds) and appends its data-plane audit entry (the next
# `audit_fields` items; batching.audit) to `audit` and the tenant's `tenant_audit`. One command,
# one reply: nothing written for a refused job, nothing admitted unaudited.
SUBMIT = lua.Script(
    "submit",
    keys=(*_ADMIT_KEYS, "job", "slot_tags", "index", "audit", "tenant_audit"),
    args=(
        *_ADMIT_ARGS,
        "job_id",
        "job_ttl",
        "tag",
        "index_floor",
        "index_ttl",
        "record_fields",
        "audit_fields",
        "audit_max",
        "tenant_audit_max",
    ),
    rest="record_audit_entry",
    prelude=_ADMIT_LUA,
    body=f"""
local record_end = REST + tonumber(A.record_fields) - 1
local audit_end = record_end + tonumber(A.audit_fields)
local admitted = admit(K, A, audit_end + 1)
if admitted[1] ~= {ADMITTED} then return admitted end
redis.call('HSET', K.job, unpack(ARGV, REST, record_end))
redis.call('EXPIRE', K.job, A.job_ttl)
redis.call('SADD', K.slot_tags, A.tag)
redis.call('ZADD', K.index, 0, A.job_id)
redis.call('ZREMRANGEBYLEX', K.index, '-', '(' .. A.index_floor)
redis.call('EXPIRE', K.index, A.index_ttl)
if audit_end > record_end then
  local from = record_end + 1
  redis.call('XADD', K.audit, 'MAXLEN', '~', A.audit_max, '*', unpack(ARGV, from, audit_end))
  redis.call('XADD', K.tenant_audit, 'MAXLEN', '~', A.tenant_audit_max, '*', unpack(ARGV, from, audit_end))
end
return admitted
""",
)

# Acknowledges and deletes the (entry id, rows) pairs in `entries` of one tenant's sub-stream of
# the lane, each once; only entries this call acknowledged free their rows (in the lane's count
# and the tenant's), so a batch finished twice (after a reclaim) never frees them twice. The ack
# that empties the sub-stream marks the tenant inactive in the lane. Counts in the lane's stats
# the rows computed by this batch, of those the rows of reclaimed entries (computed before,
# perhaps, by a worker that died), dead letters, and the batch in its size bucket (batch_bucket:
# a hash field name, batch_rows_le_N, for the dashboard). Returns the rows freed.
# The tenant's count (its field of the slot's `tenant_rows` hash) is clamped at 0: entries queued
# before tenants (or slot tags) existed were never counted there.
ACK = lua.Script(
    "ack",
    keys=("stream", "lane_rows", "stats", "tenants", "tenant_rows"),
    args=("group", "tenant", "computed_rows", "recomputed_rows", "dead_letters", "batch_bucket"),
    rest="entries",
    flags=ALLOW_OOM,
    body="""
local freed = 0
for i = REST, #ARGV, 2 do
  if redis.call('XACK', K.stream, A.group, ARGV[i]) == 1 then
    redis.call('XDEL', K.stream, ARGV[i])
    freed = freed + tonumber(ARGV[i + 1])
  end
end
if freed > 0 then
  redis.call('DECRBY', K.lane_rows, freed)
  if redis.call('HINCRBY', K.tenant_rows, A.tenant, -freed) < 0 then
    redis.call('HSET', K.tenant_rows, A.tenant, 0)
  end
end
if redis.call('XLEN', K.stream) == 0 then redis.call('SREM', K.tenants, A.tenant) end
if tonumber(A.computed_rows) > 0 then
  redis.call('HINCRBY', K.stats, 'computed_rows', A.computed_rows)
  redis.call('HINCRBY', K.stats, 'batches', 1)
  redis.call('HINCRBY', K.stats, A.batch_bucket, 1)
end
if tonumber(A.recomputed_rows) > 0 then
  redis.call('HINCRBY', K.stats, 'recomputed_rows', A.recomputed_rows)
end
if tonumber(A.dead_letters) > 0 then redis.call('HINCRBY', K.stats, 'dead_letters', A.dead_letters) end
return freed
""",
)
