-- wrk script for the minicrm benchmarks.
--   wrk -t1 -c16 -d10s -s bench/wrk/minicrm.lua http://127.0.0.1:PORT -- MODE TAG SOURCE_IDS
-- MODE: intake (POST /api/v1/contacts/), baseline (POST /bench/baseline/), healthz (GET /healthz),
--       contacts or leads (GET the first page of the list), search (GET /api/v1/leads/?search=
--       with a term drawn from the file BENCH_SEARCH_TERMS, one URL-encoded term a line).
-- TAG makes every external_id of the run unique: TAG-THREAD-N. SOURCE_IDS: "1,2,3".
-- The key comes from the environment (BENCH_TOKEN), so it never shows in a command line.
-- done() writes the figures as JSON to BENCH_WRK_OUT: requests sent (counted here, so the
-- server-side check can compare), responses by class, latency percentiles in microseconds.

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end

function init(args)
  mode = args[1]
  tag = args[2]
  sources = {}
  for id in string.gmatch(args[3] or "", "%d+") do
    table.insert(sources, id)
  end
  sent, ok, bad = 0, 0, 0
  -- wrk calls request() once on the first thread before the run to verify the script; that
  -- request is never sent, so it must not count.
  if tid == 1 then
    sent = -1
  end
  paths = {
    intake = "/api/v1/contacts/",
    baseline = "/bench/baseline/",
    contacts = "/api/v1/contacts/",
    leads = "/api/v1/leads/",
    search = "/api/v1/leads/?search=",
    healthz = "/healthz",
  }
  terms = {}
  if mode == "search" then
    for line in io.lines(os.getenv("BENCH_SEARCH_TERMS")) do
      table.insert(terms, line)
    end
  end
  path = paths[mode]
  wrk.headers["Authorization"] = "Token " .. os.getenv("BENCH_TOKEN")
  wrk.headers["Content-Type"] = "application/json"
  math.randomseed(tid * 7919 + os.time())
end

function request()
  sent = sent + 1
  if mode == "contacts" or mode == "leads" or mode == "healthz" then
    return wrk.format("GET", path)
  end
  if mode == "search" then
    return wrk.format("GET", path .. terms[math.random(#terms)])
  end
  local source = sources[math.random(#sources)]
  local body = string.format('{"external_id":"%s-%d-%d","source_id":%s}', tag, tid, sent, source)
  return wrk.format("POST", path, nil, body)
end

function response(status, headers, body)
  if status >= 200 and status < 300 then
    ok = ok + 1
  else
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local s, o, b = 0, 0, 0
  for _, thread in ipairs(threads) do
    s = s + thread:get("sent")
    o = o + thread:get("ok")
    b = b + thread:get("bad")
  end
  local e = summary.errors
  local out = io.open(os.getenv("BENCH_WRK_OUT"), "w")
  out:write(string.format(
    '{"duration_us":%d,"completed":%d,"sent":%d,"ok_2xx":%d,"non_2xx":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"mean":%.1f,"p50":%d,"p90":%d,"p95":%d,"p99":%d,"max":%d}}\n',
    summary.duration, summary.requests, s, o, b,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(95),
    latency:percentile(99), latency.max))
  out:close()
end
