-- Closed-loop inference requests of any protocol (/v1 jobs with Prefer: wait, /v2 JSON, /v2 with
-- binary tensors): every connection POSTs the body file and sends the next only once the answer
-- is back. Env: BENCH_BODY_FILE, BENCH_HEADERS ("Name: value" pairs separated by "|"). A 200
-- counts as done; the batch size is read from the JSON part of the answer. The body, the
-- counters and done() are bench/wrk_common.lua's.

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(here .. "wrk_common.lua")
common.read_body()
for pair in string.gmatch(os.getenv("BENCH_HEADERS") or "", "[^|]+") do
  local name, value = pair:match("^%s*(.-)%s*:%s*(.-)%s*$")
  wrk.headers[name] = value
end
setup, init, done = common.setup, common.init, common.done

function response(status, headers, body)
  if status == 200 then
    ok = ok + 1
    common.count_batch(body)
  else
    common.count_not_done(status)
  end
end
