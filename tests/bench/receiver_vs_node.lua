-- ssf.receiver next to a plain Node.js receiver (node:http + npm jose's
-- jwtVerify, tests/bench/node_receiver.mjs), in one run, driven by the same
-- keep-alive load generator (wrk, tests/bench/wrk_sets.lua) with the same
-- pre-signed SETs: RS256 and ES256 at 16 and 64 connections, and without
-- verification (Node then reads each body and answers 202; ssflua's
-- verifier only reads the jti). Last, the generator's ceiling: the same
-- wrk against Debian's nginx answering `return 202;` (one worker), which
-- checks nothing. Prints the median pushes per second of `runs` runs
-- (ssflua's and Node's taken in turn) and their ratio, answers other than
-- 202, peak RSS, CPU time per push (Node's; ssflua's verification
-- threads' and the rest; wrk's), and for ssflua how many distinct SETs
-- rx:next returned and how many twice. Before and after each algorithm's
-- rows, the rate of libcrypto's plain signature check alone, one process
-- per core (the machine's speed drifts; each row's share is of the rate
-- before): it bounds Node, while ssflua's ES256 checks, made with a table
-- for the signer's key, can pass it. After
-- each pair of rows, the budget: the cores' time per push at twice Node's
-- rate, next to what ssflua's pushes took. A run that sent
-- more pushes than there are distinct SETs is marked "cycled": its
-- repeats are older than the receiver's jti memory, so rx:next returns
-- them again. Not a test: it prints figures.
--   build/bin/ssflua tests/bench/receiver_vs_node.lua [count [seconds [runs]]]
-- count SETs are signed per algorithm (default 40,000); without
-- verification the tokens are unsigned and five times as many.
-- Needs wrk, node and nginx, and npm ci in tests/fake (scripts/dev/deps.sh).
local here = (arg[0]:match("^(.*)/[^/]*$") or ".")
package.path = here .. "/../support/?.lua;" .. package.path
local ssf = require "ssf"
local jose = require "ssf.jose"
local http = require "ssf.http"

local count = math.tointeger(tonumber(arg[1] or "")) or 40000
local seconds = tonumber(arg[2] or "") or 3
local runs = math.tointeger(tonumber(arg[3] or "")) or 3
assert(count >= 2 and count % 2 == 0, "count must be even (two wrk threads share the SETs)")
local ISS, AUD = "https://bench.example.com", "https://receiver.example.com"
local ssflua = os.getenv("SSF_BUILD_DIR") and os.getenv("SSF_BUILD_DIR") .. "/bin/ssflua" or "build/bin/ssflua"
local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -m 700 " .. dir))

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
local function read(path)
  local f = io.open(path)
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end
local function write(path, s)
  local f = assert(io.open(path, "w"))
  f:write(s)
  f:close()
end

-- Signs n SETs with a new key (alg "none": not signed); returns the SETs
-- file and the JWKS file.
local function make_sets(alg, n)
  local key <close> = alg ~= "none" and jose.generate_key(alg) or nil
  local jwk = key and key:public_jwk() or {}
  jwk.kid = "bench-" .. alg
  local header = jose.b64url_encode(ssf.json.encode { alg = alg, kid = jwk.kid, typ = "secevent+jwt" })
  local lines, now = {}, os.time()
  for i = 1, n do
    local input = header .. "." .. jose.b64url_encode(ssf.json.encode {
      iss = ISS, aud = AUD, iat = now, jti = "bench-" .. i,
      sub_id = { format = "opaque", id = "esc-bench" },
      events = { [ssf.events.SESSION_REVOKED] = { event_timestamp = now } } })
    -- Unsigned tokens still end in distinct bytes: wrk's LuaJIT hashes a
    -- long string from a few sampled bytes, and 200,000 strings differing
    -- only in the middle made its loading of the file quadratic (minutes).
    lines[i] = input .. "." .. jose.b64url_encode(key and key:sign(input) or ("unsigned-" .. i))
  end
  local sets, jwks = dir .. "/" .. alg .. ".sets", dir .. "/" .. alg .. ".jwks"
  write(sets, table.concat(lines, "\n") .. "\n")
  write(jwks, ssf.json.encode { keys = { jwk } })
  return sets, jwks
end

-- Starts a receiver command; returns its pid, URL and log path.
local function start(cmd)
  local log = os.tmpname()
  local p = assert(io.popen(("exec %s > %s 2>&1 & echo $!"):format(cmd, q(log))))
  local pid = p:read("l")
  p:close()
  for _ = 1, 200 do
    local url = (read(log) or ""):match("listening (%S+)")
    if url then return pid, url, log end
    http.sleep(0.05)
  end
  error("receiver did not start: " .. cmd .. "\n" .. (read(log) or ""))
end

-- Stops it (Node on Ctrl-C, ssflua when the stop file appears); returns
-- what it printed last.
local STOP = dir .. "/stop"
local function stop(pid, log, who)
  write(STOP, "")
  if who == "node" then os.execute("kill -INT " .. pid) end
  for _ = 1, 200 do
    local out = read(log) or ""
    if out:find("maxrss") then
      os.remove(log)
      os.remove(STOP)
      return out
    end
    http.sleep(0.05)
  end
  os.execute("kill -KILL " .. pid .. " 2>/dev/null")
  error("receiver did not stop: " .. (read(log) or ""))
end

-- Runs wrk against url; returns its rate, pushes sent, non-202 count and
-- CPU seconds (the shell's `times`, for its children: wrk).
local function drive(url, conns, sets)
  local p = assert(io.popen(("wrk -t2 -c%d -d%ss -s %s %s -- %s 2 2>&1; times")
    :format(conns, seconds, q(here .. "/wrk_sets.lua"), q(url), q(sets))))
  local out = p:read("a")
  p:close()
  local um, us, sm, ss = out:match("(%d+)m([%d.]+)s (%d+)m([%d.]+)s%s*$")
  local r = {
    sent = tonumber(out:match("(%d+) requests in")),
    rate = tonumber(out:match("Requests/sec:%s+([%d%.]+)")),
    non202 = tonumber(out:match("non202 (%d+)")),
    wrk_cpu = um and (um * 60 + us + sm * 60 + ss),
  }
  assert(r.sent and r.rate and r.non202 and r.wrk_cpu, "wrk failed: " .. out)
  return r
end

-- CPU microseconds per push: the receiver's (ssflua's split into its
-- signature checks and the rest) and wrk's.
local function one_run(who, cmd, conns, sets)
  local pid, url, log = start(cmd)
  local r = drive(url, conns, sets)
  local tail = stop(pid, log, who)
  r.rss = tonumber(tail:match("maxrss (%d+)"))
  r.returned = tonumber(tail:match("returned (%d+)"))
  r.twice = tonumber(tail:match("twice (%d+)"))
  local checks, other = tail:match("cpu checks ([%d.]+) other (%-?[%d.]+)")
  local cpu = tail:match("cpu ([%d.]+)")
  local per_push = 1e6 / r.sent
  r.us = { wrk = r.wrk_cpu * per_push }
  if checks then
    r.us.checks, r.us.other = checks * per_push, other * per_push
  else
    r.us.receiver = assert(tonumber(cpu), "no cpu figure: " .. tail) * per_push
  end
  return r
end

local function median(list)
  table.sort(list)
  return list[(#list + 1) // 2]
end

local cores
do
  local p = assert(io.popen("getconf _NPROCESSORS_ONLN"))
  cores = math.tointeger(tonumber(p:read("l"))) or 1
  p:close()
end

-- Runs ssflua and Node in turn, run after run, so that a change in the
-- machine's speed (its neighbours move it by half) weighs on both alike.
-- ceiling: the plain signature checks per second the cores allow (or nil).
local function measure(label, conns, cmds, sets, n, ceiling)
  local rates, worst, us = {}, {}, {}
  for _, who in ipairs { "ssflua", "node" } do
    rates[who], worst[who], us[who] = {}, { non202 = 0, rss = 0, twice = 0, returned = math.huge, sent = 0 }, {}
  end
  for _ = 1, runs do
    for _, who in ipairs { "ssflua", "node" } do
      local r, w = one_run(who, cmds[who], conns, sets), worst[who]
      rates[who][#rates[who] + 1] = r.rate
      for k, v in pairs(r.us) do
        us[who][k] = us[who][k] or {}
        table.insert(us[who][k], v)
      end
      w.sent = math.max(w.sent, r.sent or 0)
      w.non202 = math.max(w.non202, r.non202)
      w.rss = math.max(w.rss, r.rss or 0)
      if r.returned then
        w.returned = math.min(w.returned, r.returned)
        w.twice = math.max(w.twice, r.twice)
      end
    end
  end
  local medians, cpu_medians = {}, {}
  for _, who in ipairs { "ssflua", "node" } do
    local w, cpu = worst[who], {}
    medians[who], cpu_medians[who] = median(rates[who]), cpu
    for k, list in pairs(us[who]) do cpu[k] = median(list) end
    local row = ("%-7s %-14s %3d conns: %7.0f pushes/s (median of %d), non-202 %d, max RSS %.1f MiB")
      :format(who, label, conns, medians[who], runs, w.non202, w.rss / 1024)
    if who == "ssflua" then
      row = row .. (", rx:next returned >= %d distinct, %d twice"):format(w.returned, w.twice)
      row = row .. (", CPU us per push: checks %.1f, other threads %.1f, wrk %.1f")
        :format(cpu.checks, cpu.other, cpu.wrk)
    else
      row = row .. (" (ssflua %.2fx), CPU us per push: %.1f, wrk %.1f")
        :format(medians.ssflua / medians.node, cpu.receiver, cpu.wrk)
    end
    if ceiling then row = row .. (", %.0f%% of the plain checks' rate"):format(100 * medians[who] / ceiling) end
    if w.sent > n then row = row .. " (cycled)" end
    print(row)
  end
  if ceiling then
    -- What twice Node's rate allows: the cores' time per push, against
    -- what ssflua's pushes took of it (medians of each part, so the sum
    -- is a guide, not a run's total).
    local s = cpu_medians.ssflua
    print(("%-7s %-14s %3d conns: at twice Node's rate (%.0f/s) the %d cores give %.1f us per push;"
      .. " ssflua's took %.1f (checks %.1f, other threads %.1f, wrk %.1f)")
      :format("budget", label, conns, 2 * medians.node, cores, cores * 1e6 / (2 * medians.node),
        s.checks + s.other + s.wrk, s.checks, s.other, s.wrk))
  end
  io.stdout:flush()
end

-- libcrypto's plain signature check alone (tests/bench/check_rate.lua),
-- one process per core at once: their sum bounds any receiver on these
-- cores that checks each SET that way, before it does anything else (and
-- the load generator takes its share of the same cores). Prints and
-- returns it.
local function check_ceiling(alg, sets, jwks, when)
  local procs = {}
  for i = 1, cores do
    procs[i] = assert(io.popen(("%s %s %s %s %s %s"):format(q(ssflua), q(here .. "/check_rate.lua"),
      q(sets), q(jwks), alg, seconds)))
  end
  local total = 0
  for _, proc in ipairs(procs) do
    local out = proc:read("a")
    proc:close()
    local n, s = out:match("checks (%d+) in ([%d.]+) s")
    assert(n, "check_rate.lua failed: " .. out)
    total = total + tonumber(n) / tonumber(s)
  end
  print(("%-7s %-14s plain signature checks alone, %d processes at once, %s the rows: %.0f/s")
    :format("checks", alg, cores, when, total))
  io.stdout:flush()
  return total
end

print(("%d distinct pre-signed SETs per algorithm, wrk -t2 for %s s per run, %d runs each")
  :format(count, seconds, runs))
io.stdout:flush()
local node = "node " .. q(here .. "/node_receiver.mjs")
local serve = q(ssflua) .. " " .. q(here .. "/receiver_serve.lua") .. " " .. q(STOP)
for _, alg in ipairs { "RS256", "ES256" } do
  local sets, jwks = make_sets(alg, count)
  local cmds = {
    ssflua = ("%s verify %s %s %s"):format(serve, q(jwks), q(ISS), q(AUD)),
    node = ("%s verify %s %s %s"):format(node, q(jwks), q(ISS), q(AUD)),
  }
  local ceiling = check_ceiling(alg, sets, jwks, "before")
  for _, conns in ipairs { 16, 64 } do measure(alg, conns, cmds, sets, count, ceiling) end
  check_ceiling(alg, sets, jwks, "after")
end
local plain = { ssflua = serve .. " accept", node = node .. " accept" }
local tokens = make_sets("none", count * 5)
for _, conns in ipairs { 16, 64 } do measure("no verifying", conns, plain, tokens, count * 5) end

-- The generator's ceiling: nginx answers 202 without a look at the SET.
local nginx = require("servers").nginx(dir .. "/nginx", 1, function(ports)
  return ("access_log off; server { listen 127.0.0.1:%d; keepalive_requests 1000000;"
    .. " location / { return 202; } }"):format(ports[1])
end)
for _, conns in ipairs { 16, 64 } do
  local rates, non202 = {}, 0
  for _ = 1, runs do
    local r = drive(("http://127.0.0.1:%d/ssf/events"):format(nginx.port), conns, tokens)
    rates[#rates + 1], non202 = r.rate, math.max(non202, r.non202)
  end
  print(("%-7s %-14s %3d conns: %7.0f pushes/s (median of %d), non-202 %d: the generator's ceiling")
    :format("nginx", "return 202", conns, median(rates), runs, non202))
  io.stdout:flush()
end
nginx:stop()
os.execute("rm -rf " .. q(dir))
