"""The Lua of the repository's shared state in Redis (batching/model_state.py): each change of a
model's aliases, history, retire marks or version counter is one atomic script over keys that
share the model's hash tag."""

from batching import lua

# Points an alias (version '' removes it); remembers the version it left. Refuses a retired
# version (-1), atomically with MARK_RETIRED, so no alias ever points to one.
SET_ALIAS = lua.Script(
    "model_set_alias",
    keys=("aliases", "history", "retired"),
    args=("alias", "version", "depth"),
    body="""
if A.version ~= '' and redis.call('SISMEMBER', K.retired, A.version) == 1 then
  return {-1, ''}
end
local before = redis.call('HGET', K.aliases, A.alias)
if before and before ~= A.version then
  local kept = redis.call('HGET', K.history, A.alias)
  local list = kept and cjson.decode(kept) or {}
  table.insert(list, tonumber(before))
  while #list > tonumber(A.depth) do table.remove(list, 1) end
  redis.call('HSET', K.history, A.alias, cjson.encode(list))
end
if A.version == '' then
  redis.call('HDEL', K.aliases, A.alias)
else
  redis.call('HSET', K.aliases, A.alias, A.version)
end
return {1, before or ''}
""",
)

# Points an alias back at the newest version in its history that is servable (listed in the
# rest) and not retired, dropping the ones passed over; {0} when there is none.
ROLLBACK_ALIAS = lua.Script(
    "model_rollback_alias",
    keys=("aliases", "history", "retired"),
    args=("alias",),
    rest="servable",
    body="""
local servable = {}
for i = REST, #ARGV do servable[ARGV[i]] = true end
local kept = redis.call('HGET', K.history, A.alias)
local list = kept and cjson.decode(kept) or {}
local function usable(v)
  local s = tostring(v)
  return servable[s] and redis.call('SISMEMBER', K.retired, s) == 0
end
while #list > 0 and not usable(list[#list]) do table.remove(list) end
if #list == 0 then
  redis.call('HDEL', K.history, A.alias)
  return {0, '', ''}
end
local after = tostring(table.remove(list))
if #list == 0 then
  redis.call('HDEL', K.history, A.alias)
else
  redis.call('HSET', K.history, A.alias, cjson.encode(list))
end
local before = redis.call('HGET', K.aliases, A.alias)
redis.call('HSET', K.aliases, A.alias, after)
return {1, before or '', after}
""",
)

# Marks a version retired unless aliases point to it; returns those aliases.
MARK_RETIRED = lua.Script(
    "model_mark_retired",
    keys=("aliases", "retired"),
    args=("version",),
    body="""
local pointing = {}
local all = redis.call('HGETALL', K.aliases)
for i = 1, #all, 2 do
  if all[i + 1] == A.version then table.insert(pointing, all[i]) end
end
if #pointing == 0 then redis.call('SADD', K.retired, A.version) end
return pointing
""",
)

# The next version number: above both the last one handed out and the highest on disk.
NEXT_VERSION = lua.Script(
    "model_next_version",
    keys=("last",),
    args=("highest_on_disk",),
    body="""
local n = math.max(tonumber(redis.call('GET', K.last) or '0'), tonumber(A.highest_on_disk)) + 1
redis.call('SET', K.last, n)
return n
""",
)

# Copies a model's aliases.json and alias_history.json (and its retired versions, the rest)
# into Redis once: only the first process to get here writes, and never over state Redis
# already holds; 0 when it was done before. Nothing to copy: nothing written (a lookup that
# only reads leaves Redis as it was).
IMPORT_FILES = lua.Script(
    "model_import_files",
    keys=("imported", "aliases", "history", "retired"),
    args=("aliases_json", "history_json"),
    rest="retired_versions",
    body="""
if redis.call('EXISTS', K.imported) == 1 then return 0 end
local aliases, history = cjson.decode(A.aliases_json), cjson.decode(A.history_json)
if next(aliases) == nil and next(history) == nil and #ARGV < REST then return 2 end
redis.call('SET', K.imported, '1')
if redis.call('EXISTS', K.aliases, K.history) > 0 then return 0 end
for alias, version in pairs(aliases) do
  redis.call('HSET', K.aliases, alias, tostring(version))
end
for alias, versions in pairs(history) do
  if #versions > 0 then redis.call('HSET', K.history, alias, cjson.encode(versions)) end
end
for i = REST, #ARGV do redis.call('SADD', K.retired, ARGV[i]) end
return 1
""",
)
