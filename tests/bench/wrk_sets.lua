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

local bodies, index, step = {}, 1, 1
non202 = 0

function init(args)
  local f = assert(io.open(args[1]))
  for line in f:lines() do bodies[#bodies + 1] = line end
  f:close()
  step = tonumber(args[2])
  index = id + 1
  wrk.headers["Authorization"] = "Bearer bench"
  wrk.headers["Content-Type"] = "application/secevent+jwt"
  wrk.method = "POST"
end

function request()
  local body = bodies[index]
  index = index + step
  if index > #bodies then index = index - #bodies end
  return wrk.format(nil, nil, nil, body)
end

function response(status)
  if status ~= 202 then non202 = non202 + 1 end
end

function done()
  local n = 0
  for _, t in ipairs(threads) do n = n + t:get("non202") end
  io.write(("non202 %d\n"):format(n))
end
