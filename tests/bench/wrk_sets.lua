-- wrk script for tests/bench/receiver_vs_node.lua: POSTs pre-signed SETs,
-- one per line of SETS_FILE, over wrk's keep-alive connections. Thread i of
-- N sends lines i, i+N, i+2N..., so the threads send distinct SETs, and
-- starts over at the end. Counts answers other than 202.
--   wrk -t N -c C -d S -s tests/bench/wrk_sets.lua URL -- SETS_FILE N
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

-- Each thread's requests are formatted once, before the clock starts: wrk
-- shares the receivers' cores, and formatting each request as it went took
-- a fifth of wrk's CPU (13.0 against 10.4 us per push, medians of three
-- runs at 64 connections) and made garbage for its GC.
local requests, index = {}, 1
non202 = 0

function init(args)
  local step, line_no = tonumber(args[2]), 0
  wrk.headers["Authorization"] = "Bearer bench"
  wrk.headers["Content-Type"] = "application/secevent+jwt"
  wrk.method = "POST"
  local f = assert(io.open(args[1]))
  for line in f:lines() do
    if line_no % step == id then requests[#requests + 1] = wrk.format(nil, nil, nil, line) end
    line_no = line_no + 1
  end
  f:close()
  assert(#requests > 0, "no SETs for this thread in " .. args[1])
end

function request()
  local r = requests[index]
  index = index < #requests and index + 1 or 1
  return r
end

function response(status)
  if status ~= 202 then non202 = non202 + 1 end
end

function done()
  local n = 0
  for _, t in ipairs(threads) do n = n + t:get("non202") end
  io.write(("non202 %d\n"):format(n))
end
