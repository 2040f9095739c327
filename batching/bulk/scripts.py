"""Lua scripts that move a bulk job on atomically, so that counts are exact whatever crashes.

A chunk is counted once: its "done" mark is first-wins (HSETNX), and only the call that set it
adds the chunk's rows to the counts, so a chunk recomputed after a reclaim never counts twice.
A terminal state is first-wins too, and the step that makes it terminal queues the webhook
event in the outbox. (FEED and the terminal step also touch the bulk lane or the global outbox,
which lie in other hash slots: like the job scripts, they assume one Redis, not a Cluster.)
"""

_TERMINAL = """
local function terminal(s)
  return s == 'succeeded' or s == 'failed' or s == 'cancelled'
end
"""

# Ends the bulk job KEYS[1] in state `state` at ARGV[3]; KEYS[2] the webhook outbox.
_END = """
  redis.call('HSET', KEYS[1], 'finished_at', ARGV[3])
  local bulk_id = redis.call('HGET', KEYS[1], 'id')
  local wanted = redis.call('HGET', KEYS[1], 'webhook_events')
  if wanted and string.find(',' .. wanted .. ',', ',' .. state .. ',', 1, true) then
    redis.call('HSET', KEYS[1], 'webhook_state', 'pending', 'webhook_id', 'msg_' .. bulk_id)
    redis.call('XADD', KEYS[2], '*', 'bulk', bulk_id)
  end
"""

# KEYS[1] bulk hash, KEYS[2] webhook outbox. ARGV: allowed current states (comma list), new
# state, now, then field/value pairs. Returns {1, previous} when applied, {0, current} when not
# ({0, ''} for a missing job).
TRANSITION = (
    _TERMINAL
    + """
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return {0, ''} end
if terminal(current) or not string.find(',' .. ARGV[1] .. ',', ',' .. current .. ',', 1, true) then
  return {0, current}
end
redis.call('HSET', KEYS[1], 'status', ARGV[2], unpack(ARGV, 4))
local state = ARGV[2]
if terminal(state) then
"""
    + _END
    + """
end
return {1, current}
"""
)

# KEYS[1] bulk hash, KEYS[2] bulk lane. ARGV: chunk index, its rows, the split offset after it,
# 1 if it is the last chunk, then the lane entry's field/value pairs. Feeds each chunk once (a
# split resumed after a crash skips what it already fed). Returns 'fed', 'dup' or the state
# that stopped it (cancelled, failed, missing).
FEED = """
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return 'missing' end
if current ~= 'validating' and current ~= 'queued' and current ~= 'running' then return current end
local index = tonumber(ARGV[1])
if tonumber(redis.call('HGET', KEYS[1], 'fed')) > index then return 'dup' end
redis.call('XADD', KEYS[2], '*', unpack(ARGV, 5))
redis.call('HINCRBY', KEYS[1], 'total', ARGV[2])
redis.call('HSET', KEYS[1], 'fed', index + 1, 'split_offset', ARGV[3])
if ARGV[4] == '1' then
  redis.call('HSET', KEYS[1], 'chunks', index + 1)
  if current == 'validating' then redis.call('HSET', KEYS[1], 'status', 'queued') end
end
return 'fed'
"""

# KEYS[1] bulk hash, KEYS[2] its chunks-done hash. ARGV: now, chunk index. A worker starts a
# chunk: the job is running from now on. Returns 'running' (compute the chunk), 'done' (it was
# computed and counted before) or the state that says not to (cancelled, ...).
START = (
    _TERMINAL
    + """
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return 'missing' end
if terminal(current) then return current end
if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 1 then return 'done' end
if current == 'validating' or current == 'queued' then
  redis.call('HSET', KEYS[1], 'status', 'running')
end
redis.call('HSETNX', KEYS[1], 'started_at', ARGV[1])
return 'running'
"""
)

# KEYS[1] bulk hash, KEYS[2] its chunks-done hash. ARGV: chunk index, rows succeeded, rows
# failed. Counts the chunk unless it was counted before; once every chunk of a completely split
# job is done the job is finalizing. Returns the job's state afterwards.
CHUNK_DONE = (
    _TERMINAL
    + """
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return 'missing' end
if terminal(current) then return current end
if redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2] .. ',' .. ARGV[3]) == 1 then
  redis.call('HINCRBY', KEYS[1], 'succeeded', ARGV[2])
  redis.call('HINCRBY', KEYS[1], 'failed', ARGV[3])
  redis.call('PEXPIRE', KEYS[2], redis.call('PTTL', KEYS[1]))
end
local chunks = redis.call('HGET', KEYS[1], 'chunks')
if chunks and redis.call('HLEN', KEYS[2]) >= tonumber(chunks) then
  redis.call('HSET', KEYS[1], 'status', 'finalizing')
  return 'finalizing'
end
return current
"""
)
