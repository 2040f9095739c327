-- Closed-loop synchronous jobs: every connection POSTs one job with `Prefer: wait=S` and sends
-- the next only once the answer is back, so each 200 is one job submitted, batched, computed and
-- returned. Env: BENCH_BODY_FILE (the JSON body), BENCH_WAIT_S (default 10).
-- done() prints one line "BENCH_JSON {...}" that bench/load.py parses.

local body_file = assert(os.getenv("BENCH_BODY_FILE"), "BENCH_BODY_FILE is not set")
local f = assert(io.open(body_file, "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Prefer"] = "wait=" .. (os.getenv("BENCH_WAIT_S") or "10")

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

-- Each wrk thread has its own Lua state: these globals are per thread, summed in done().
function init(args)
  ok, accepted, other, other_codes = 0, 0, 0, ""
  batch_jobs, batch_sum, inverse_batch_sum = 0, 0, 0
  queue_ms_sum, inference_ms_sum = 0, 0
end

local function timings(body)
  local batch = tonumber(body:match('"batch_size"%s*:%s*(%d+)'))
  if batch and batch > 0 then
    batch_jobs = batch_jobs + 1
    batch_sum = batch_sum + batch
    -- Summing 1/batch counts each batch once (a batch of b rows answers b jobs).
    inverse_batch_sum = inverse_batch_sum + 1 / batch
    queue_ms_sum = queue_ms_sum + (tonumber(body:match('"queue_ms"%s*:%s*([%d.eE+-]+)')) or 0)
    inference_ms_sum = inference_ms_sum + (tonumber(body:match('"inference_ms"%s*:%s*([%d.eE+-]+)')) or 0)
  end
end

function response(status, headers, body)
  if status == 200 and body:find('"status":"succeeded"', 1, true) then
    ok = ok + 1
    timings(body)
  elseif status == 202 then
    accepted = accepted + 1  -- still queued or running when the wait ran out
  else
    other = other + 1
    if #other_codes < 200 then other_codes = other_codes .. status .. " " end
  end
end

local function total(name)
  local sum = 0
  for _, thread in ipairs(threads) do sum = sum + (thread:get(name) or 0) end
  return sum
end

function done(summary, latency, requests)
  local codes = ""
  for _, thread in ipairs(threads) do codes = codes .. (thread:get("other_codes") or "") end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"duration_us":%d,"responses":%d,"ok":%d,"accepted_202":%d,"other":%d,' ..
    '"other_codes":"%s","socket_errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},' ..
    '"batch_jobs":%d,"batch_sum":%d,"inverse_batch_sum":%.6f,"queue_ms_sum":%.3f,' ..
    '"inference_ms_sum":%.3f,"latency_us":{"mean":%.1f,"p50":%d,"p90":%d,"p99":%d,"max":%d}}\n',
    summary.duration, summary.requests, total("ok"), total("accepted"), total("other"), codes,
    e.connect, e.read, e.write, e.timeout, total("batch_jobs"), total("batch_sum"),
    total("inverse_batch_sum"), total("queue_ms_sum"), total("inference_ms_sum"),
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max))
end
