-- bench/replay.lua at a paced rate (the soak): each connection pauses MS milliseconds after
-- every answer before its next request.
--
--   wrk -t 1 -c 64 -d 60s -s bench/paced.lua http://127.0.0.1:PORT -- PREFIX once MS

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "replay.lua")

function delay()
  return pause_ms
end
