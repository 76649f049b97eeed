-- The cost of the receiver's jti dedup per SET as SETs go by: the two
-- generations in ssf.receiver next to the 4096-entry ring they replaced
-- (reproduced here, as it was, for the comparison). Prints microseconds per
-- check-and-remember in windows of the run; a cliff shows as a jump.
--   build/bin/ssflua tests/bench/receiver_dedup.lua [count]
local ssf = require "ssf"
local clock = require("ssf.httpd").clock

local count = math.tointeger(tonumber(arg[1] or "")) or 200000
local WINDOW = count // 10

-- The ring: a table of live jtis and a ring of the last 4096 inserted.
local function ring()
  local MAX, jtis, slots, nxt = 4096, {}, {}, 1
  return function(jti)
    if jtis[jti] then return false end
    local old = slots[nxt]
    if old ~= nil then jtis[old] = nil end
    slots[nxt] = jti
    jtis[jti] = true
    nxt = nxt % MAX + 1
    return true
  end
end

local function generations()
  local rx = assert(ssf.receiver { verifier = function() end })
  return function(jti)
    if rx:_seen(jti) then return false end
    rx:_remember(jti)
    return true
  end, rx
end

local jtis = {}
for i = 1, count do jtis[i] = ("%032x"):format(i * 2654435761 % 2 ^ 52) .. i end

for _, case in ipairs { { "4096-entry ring (before)", ring }, { "two generations (now)", generations } } do
  local name, make = case[1], case[2]
  local check, rx = make()
  local cells = {}
  for w = 0, count // WINDOW - 1 do
    local t0 = clock()
    for i = w * WINDOW + 1, (w + 1) * WINDOW do assert(check(jtis[i])) end
    cells[#cells + 1] = ("%.2f"):format((clock() - t0) / WINDOW * 1e6)
  end
  print(("%-26s us per SET, by tenths of %d: %s"):format(name, count, table.concat(cells, " ")))
  if rx then rx:close() end
end
