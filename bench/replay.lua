-- Replays pre-signed requests (bench/presign.py), each at most once, and checks every answer.
--
--   wrk -t T -c 64 -d 10s -s bench/replay.lua http://127.0.0.1:PORT -- PREFIX once|wrap [MS]
--
-- Thread t reads PREFIX.t: raw HTTP/1.1 requests with empty bodies, back to back (each ends
-- with the blank line that ends its head). In "once" mode a thread that runs out of requests
-- stops and counts it as `exhausted` (a nonce may be used only once: the run is then invalid);
-- in "wrap" mode (the bare app, which checks nothing) it starts over.
--
-- MS is for bench/paced.lua, which adds a pause of MS milliseconds after each answer before
-- a connection's next request: a paced load (C connections: about C * 1000 / MS a second).
-- It is a script of its own because wrk adds a timer per request to any script that
-- defines delay(), even one returning 0.
--
-- A response counts as ok when its status is 200 and its body has "Code": "OK". done() prints
-- one line, `BENCH-RESULT {json}`, that bench/run.py parses.

local threads = {}
local thread_count = 0

function setup(thread)
  thread:set("id", thread_count)
  thread_count = thread_count + 1
  table.insert(threads, thread)
end

function init(args)
  local prefix = args[1]
  wrap = args[2] == "wrap"
  pause_ms = tonumber(args[3] or "0")
  local file = assert(io.open(prefix .. "." .. id, "rb"))
  -- The requests stay one string, cut one at a time in request(): a table of 400,000
  -- strings made every Lua garbage collection traverse them all, which stalled wrk for
  -- tens of milliseconds and showed as the server's p99 (bench/README.md).
  data = file:read("*a")
  file:close()
  total = 0
  local at = 1
  while true do
    local _, e = string.find(data, "\r\n\r\n", at, true)
    if not e then
      break
    end
    total = total + 1
    at = e + 1
  end
  pos = 1 -- where the next request starts
  index = 0
  sent = 0
  exhausted = 0
  ok = 0
  bad = 0
  bad_statuses = {}
  first_bad = ""
end

function request()
  index = index + 1
  if index > total then
    if wrap then
      index, pos = 1, 1
    else
      -- Out of distinct requests: stop this thread; resending one would be a replayed nonce.
      exhausted = exhausted + 1
      index = total
      wrk.thread:stop()
      return last
    end
  end
  local _, e = string.find(data, "\r\n\r\n", pos, true)
  last = string.sub(data, pos, e)
  pos = e + 1
  sent = sent + 1
  return last
end

function response(status, headers, body)
  if status == 200 and string.find(body, '"Code":%s*"OK"') then
    ok = ok + 1
  else
    bad = bad + 1
    local key = tostring(status)
    bad_statuses[key] = (bad_statuses[key] or 0) + 1
    if first_bad == "" then
      first_bad = string.sub(body, 1, 400)
    end
  end
end

local function json_string(s)
  s = string.gsub(s, '[%c"\\]', function(c)
    return string.format("\\u%04x", string.byte(c))
  end)
  return '"' .. s .. '"'
end

function done(summary, latency, requests)
  local totals = { ok = 0, bad = 0, sent = 0, exhausted = 0, loaded = 0 }
  local statuses = {}
  local sample = ""
  for _, t in ipairs(threads) do
    totals.ok = totals.ok + t:get("ok")
    totals.bad = totals.bad + t:get("bad")
    totals.sent = totals.sent + t:get("sent")
    totals.exhausted = totals.exhausted + t:get("exhausted")
    totals.loaded = totals.loaded + t:get("total")
    for status, n in pairs(t:get("bad_statuses")) do
      statuses[status] = (statuses[status] or 0) + n
    end
    if sample == "" then
      sample = t:get("first_bad")
    end
  end
  local parts = {}
  for status, n in pairs(statuses) do
    table.insert(parts, json_string(status) .. ":" .. n)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH-RESULT {"duration_us":%d,"requests":%d,"bytes":%d,' ..
    '"ok":%d,"bad":%d,"sent":%d,"exhausted":%d,"loaded":%d,"bad_statuses":{%s},' ..
    '"first_bad":%s,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d,"mean":%.1f}}\n',
    summary.duration, summary.requests, summary.bytes,
    totals.ok, totals.bad, totals.sent, totals.exhausted, totals.loaded,
    table.concat(parts, ","), json_string(sample),
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, latency.mean))
end
