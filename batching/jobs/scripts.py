"""Lua scripts that change a job's or a lane's state atomically.

A terminal state is first-wins: once a job is succeeded, failed, cancelled or expired, nothing
overwrites it or announces it again, so a reclaimed batch may recompute but never re-deliver.
The same step that makes a job terminal queues its webhook event in the outbox, so an event is
created once, or not at all, whatever crashes. (Job scripts touch the job key and the global
outbox: on Redis Cluster the outbox would need one key per slot; maas runs on one Redis today.)
"""

# Heads the scripts a worker finishes accepted jobs with (and cancel), so that they still run
# when Redis is at maxmemory (noeviction): new jobs are refused there (503), but a job already
# accepted must reach its terminal state, or it would be lost. Redis < 7 knows no flags: the
# job store then loads these scripts without this line.
ALLOW_OOM = "#!lua flags=allow-oom\n"

# Ends a job (KEYS[1]): announce it, and queue its webhook event if it wants this state.
# Needs: ARGV[3] ttl, ARGV[4] channel, `state` the terminal state; KEYS[2] the webhook outbox.
_END = """
  redis.call('EXPIRE', KEYS[1], ARGV[3])
  local job_id = redis.call('HGET', KEYS[1], 'id')
  redis.call('PUBLISH', ARGV[4], job_id)
  local wanted = redis.call('HGET', KEYS[1], 'webhook_events')
  if wanted and string.find(',' .. wanted .. ',', ',' .. state .. ',', 1, true) then
    redis.call('HSET', KEYS[1], 'webhook_state', 'pending', 'webhook_id', 'msg_' .. job_id)
    redis.call('XADD', KEYS[2], '*', 'job', job_id)
  end
"""

# KEYS[1] job hash, KEYS[2] webhook outbox. ARGV: allowed current states ("*" = any
# non-terminal, else comma list), new state, ttl seconds, events channel, then field/value pairs.
# Returns {1, previous state} when applied, {0, current state} when refused, {0, ""} if missing.
TRANSITION = (
    ALLOW_OOM
    + """
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return {0, ''} end
if current == 'succeeded' or current == 'failed' or current == 'cancelled'
   or current == 'expired' then
  return {0, current}
end
if ARGV[1] ~= '*' and not string.find(',' .. ARGV[1] .. ',', ',' .. current .. ',', 1, true) then
  return {0, current}
end
redis.call('HSET', KEYS[1], 'status', ARGV[2], unpack(ARGV, 5))
local state = ARGV[2]
if state == 'succeeded' or state == 'failed' or state == 'cancelled' or state == 'expired' then
"""
    + _END
    + """
end
return {1, current}
"""
)

# KEYS[1] job hash, KEYS[2] webhook outbox. ARGV: now (epoch s), worker id, ttl seconds, events
# channel, expiry error.
# Returns the state the job is in afterwards: 'running' means compute it, anything else drop.
CLAIM = (
    ALLOW_OOM
    + """
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return 'missing' end
if current ~= 'queued' and current ~= 'running' then return current end
local deadline = tonumber(redis.call('HGET', KEYS[1], 'deadline'))
if deadline and tonumber(ARGV[1]) > deadline then
  redis.call('HSET', KEYS[1], 'status', 'expired', 'finished_at', ARGV[1], 'error', ARGV[5])
  local state = 'expired'
"""
    + _END
    + """
  return 'expired'
end
redis.call('HSET', KEYS[1], 'status', 'running', 'started_at', ARGV[1], 'worker', ARGV[2])
return 'running'
"""
)

# KEYS[1] lane stream, KEYS[2] its rows counter. ARGV: rows, max rows waiting (0 = no limit),
# then the entry's field/value pairs. Returns {1, rows waiting} or {0, rows waiting} when full.
ADMIT = """
local waiting = tonumber(redis.call('GET', KEYS[2]) or '0')
local rows = tonumber(ARGV[1])
local max_rows = tonumber(ARGV[2])
if max_rows > 0 and waiting > 0 and waiting + rows > max_rows then return {0, waiting} end
redis.call('XADD', KEYS[1], '*', unpack(ARGV, 3))
redis.call('INCRBY', KEYS[2], rows)
return {1, waiting + rows}
"""

# KEYS[1] lane stream, KEYS[2] its rows counter, KEYS[3] its stats hash. ARGV: group, rows
# computed by this batch, of those the rows of reclaimed entries (computed before, perhaps, by a
# worker that died), dead letters, then (entry id, rows) pairs. Each entry is acknowledged
# and deleted once; only entries this call acknowledged free their rows, so a batch finished
# twice (after a reclaim) never frees them twice. Returns the rows freed.
ACK = (
    ALLOW_OOM
    + """
local freed = 0
for i = 5, #ARGV, 2 do
  if redis.call('XACK', KEYS[1], ARGV[1], ARGV[i]) == 1 then
    redis.call('XDEL', KEYS[1], ARGV[i])
    freed = freed + tonumber(ARGV[i + 1])
  end
end
if freed > 0 then redis.call('DECRBY', KEYS[2], freed) end
if tonumber(ARGV[2]) > 0 then
  redis.call('HINCRBY', KEYS[3], 'computed_rows', ARGV[2])
  redis.call('HINCRBY', KEYS[3], 'batches', 1)
end
if tonumber(ARGV[3]) > 0 then redis.call('HINCRBY', KEYS[3], 'recomputed_rows', ARGV[3]) end
if tonumber(ARGV[4]) > 0 then redis.call('HINCRBY', KEYS[3], 'dead_letters', ARGV[4]) end
return freed
"""
)
