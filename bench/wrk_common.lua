-- What bench/wrk_post.lua and bench/wrk_oip.lua share: the body read from BENCH_BODY_FILE (as
-- bytes, so a binary body is sent as is), the per-thread counters, and done(), which prints one
-- line "BENCH_JSON {...}" that bench/load.py parses. Loaded by each script with dofile (wrk runs
-- every script in a Lua state per thread and one more for setup/done; each loads this file).
-- Each wrk thread has its own Lua state: the counters are globals of that state, summed in done().

local common = {}
local threads = {}

function common.read_body()
  local body_file = assert(os.getenv("BENCH_BODY_FILE"), "BENCH_BODY_FILE is not set")
  local f = assert(io.open(body_file, "rb"))
  wrk.method = "POST"
  wrk.body = f:read("*a")
  f:close()
end

function common.setup(thread)
  table.insert(threads, thread)
end

function common.init(args)
  ok, accepted, other, other_codes = 0, 0, 0, ""
  batch_jobs, batch_sum, inverse_batch_sum = 0, 0, 0
  queue_ms_sum, inference_ms_sum = 0, 0
end

-- One answer's batch size (a job's timings or a /v2 answer's parameters); true when it had one.
function common.count_batch(body)
  local batch = tonumber(body:match('"batch_size"%s*:%s*(%d+)'))
  if not batch or batch <= 0 then return false end
  batch_jobs = batch_jobs + 1
  batch_sum = batch_sum + batch
  -- Summing 1/batch counts each batch once (a batch of b rows answers b jobs).
  inverse_batch_sum = inverse_batch_sum + 1 / batch
  return true
end

-- An answer that is neither done nor a 202 (still queued or running when the wait ran out).
function common.count_not_done(status)
  if status == 202 then
    accepted = accepted + 1
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

function common.done(summary, latency, requests)
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

return common
