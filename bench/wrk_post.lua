-- Closed-loop synchronous jobs: every connection POSTs one job with `Prefer: wait=S` and sends
-- the next only once the answer is back, so each 200 is one job submitted, batched, computed and
-- returned. Env: BENCH_BODY_FILE (the JSON body), BENCH_WAIT_S (default 10). The body, the
-- counters and done() are bench/wrk_common.lua's.

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(here .. "wrk_common.lua")
common.read_body()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Prefer"] = "wait=" .. (os.getenv("BENCH_WAIT_S") or "10")
setup, init, done = common.setup, common.init, common.done

function response(status, headers, body)
  if status == 200 and body:find('"status":"succeeded"', 1, true) then
    ok = ok + 1
    if common.count_batch(body) then
      queue_ms_sum = queue_ms_sum + (tonumber(body:match('"queue_ms"%s*:%s*([%d.eE+-]+)')) or 0)
      inference_ms_sum = inference_ms_sum + (tonumber(body:match('"inference_ms"%s*:%s*([%d.eE+-]+)')) or 0)
    end
  else
    common.count_not_done(status)
  end
end
