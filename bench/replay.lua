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

-- The requests are read from the file a chunk at a time, not held whole: a string of
-- hundreds of megabytes in wrk's Lua state made its collector's cycles long and rare, and
-- the stalls showed as the server's latency (bench/README.md: the bare app's p999 went
-- from 6 to 41 ms with 400,000 requests loaded instead of 50,000).
local CHUNK = 1048576

-- How many requests `file` holds (each ends with a blank line), counted a chunk at a time.
local function count_requests(file)
  local count, rest = 0, ""
  while true do
    local chunk = file:read(CHUNK)
    if not chunk then
      break
    end
    local text = rest .. chunk
    local at = 1
    while true do
      local _, e = string.find(text, "\r\n\r\n", at, true)
      if not e then
        break
      end
      count = count + 1
      at = e + 1
    end
    rest = string.sub(text, math.max(at, #text - 2)) -- a separator may span two chunks
  end
  file:seek("set", 0)
  return count
end

-- The next request of the file, or nil at its end.
local function next_request()
  while true do
    local _, e = string.find(buffer, "\r\n\r\n", pos, true)
    if e then
      local request = string.sub(buffer, pos, e)
      pos = e + 1
      return request
    end
    local chunk = file:read(CHUNK)
    if not chunk then
      return nil
    end
    buffer = string.sub(buffer, pos) .. chunk
    pos = 1
  end
end

function init(args)
  local prefix = args[1]
  wrap = args[2] == "wrap"
  pause_ms = tonumber(args[3] or "0")
  file = assert(io.open(prefix .. "." .. id, "rb"))
  total = count_requests(file)
  buffer = ""
  pos = 1 -- where the next request starts in buffer
  sent = 0
  exhausted = 0
  ok = 0
  bad = 0
  bad_statuses = {}
  first_bad = ""
end

function request()
  local request = next_request()
  if not request and wrap then
    file:seek("set", 0)
    buffer, pos = "", 1
    request = next_request()
  end
  if not request then
    -- Out of distinct requests: stop this thread; resending one would be a replayed nonce.
    exhausted = exhausted + 1
    wrk.thread:stop()
    return last
  end
  last = request
  sent = sent + 1
  return request
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
