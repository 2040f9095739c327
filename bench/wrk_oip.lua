-- Closed-loop inference requests of any protocol (/v1 jobs with Prefer: wait, /v2 JSON, /v2 with
-- binary tensors): every connection POSTs the body file (read as bytes, so a binary body is sent
-- as is) and sends the next only once the answer is back. Env: BENCH_BODY_FILE, BENCH_HEADERS
-- ("Name: value" pairs separated by "|"). A 200 counts as done; the batch size is read from the
-- JSON part of the answer ("batch_size" in a job's timings or a /v2 answer's parameters).
-- done() prints one line "BENCH_JSON {...}" that bench/load.py parses.

local body_file = assert(os.getenv("BENCH_BODY_FILE"), "BENCH_BODY_FILE is not set")
local f = assert(io.open(body_file, "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
for pair in string.gmatch(os.getenv("BENCH_HEADERS") or "", "[^|]+") do
  local name, value = pair:match("^%s*(.-)%s*:%s*(.-)%s*$")
  wrk.headers[name] = value
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  ok, accepted, other, other_codes = 0, 0, 0, ""
  batch_jobs, batch_sum, inverse_batch_sum = 0, 0, 0
end

function response(status, headers, body)
  if status == 200 then
    ok = ok + 1
    local batch = tonumber(body:match('"batch_size"%s*:%s*(%d+)'))
    if batch and batch > 0 then
      batch_jobs = batch_jobs + 1
      batch_sum = batch_sum + batch
      inverse_batch_sum = inverse_batch_sum + 1 / batch
    end
  elseif status == 202 then
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

function done(summary, latency, requests)
  local codes = ""
  for _, thread in ipairs(threads) do codes = codes .. (thread:get("other_codes") or "") end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"duration_us":%d,"responses":%d,"ok":%d,"accepted_202":%d,"other":%d,' ..
    '"other_codes":"%s","socket_errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},' ..
    '"batch_jobs":%d,"batch_sum":%d,"inverse_batch_sum":%.6f,"queue_ms_sum":0,' ..
    '"inference_ms_sum":0,"latency_us":{"mean":%.1f,"p50":%d,"p90":%d,"p99":%d,"max":%d}}\n',
    summary.duration, summary.requests, total("ok"), total("accepted"), total("other"), codes,
    e.connect, e.read, e.write, e.timeout, total("batch_jobs"), total("batch_sum"),
    total("inverse_batch_sum"), latency.mean, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max))
end
