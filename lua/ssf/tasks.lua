-- Tasks: coroutines on one thread, run by one scheduler that drives a
-- shared ssf.http multi handle. A task waits (for a transfer, a sleep, a
-- join or an event) by yielding a private marker; the scheduler resumes it
-- with what it waited for. Only Lua yields: C starts transfers and reports
-- completions, so no yield crosses a C call, and nothing here needs more
-- than Lua 5.1/LuaJIT offers (the same loop can later sit on ngx.thread).
local tasks = {}

local WAIT = {} -- what a waiting task yields
-- Transfers in flight at once to one host, unless ssf.all asks otherwise.
local DEFAULT_PER_HOST = 16
local DEFAULT_CONCURRENCY = 16

local unpack = table.unpack or unpack -- 5.1 and LuaJIT have only the global
local function pack(...) return { n = select("#", ...), ... } end

local of_co = setmetatable({}, { __mode = "k" }) -- coroutine -> task
local ready, ready_head, ready_tail = {}, 1, 0    -- tasks to resume, FIFO
local sleepers = {}                              -- {at=, task=}
local transfers, in_flight = {}, 0               -- transfer id -> {task=, origin=}
-- Per origin ("https://host:port"): transfers in flight, and the tasks
-- waiting for one of them to end. libcurl's own cap applies to new
-- connections only, while idle ones are reused beyond it, so the cap is
-- kept here too.
local busy, queued = {}, {}
local looping = false
local per_host = DEFAULT_PER_HOST
local http, multi -- loaded by the first transfer or clock read

local function lib()
  if not http then http = require "ssf.http" end
  return http
end

local function now() return lib().now() end

local Task = { __name = "ssf.task" }
Task.__index = Task

--- The task running now, or nil outside tasks.
function tasks.running()
  local co = coroutine.running()
  return co and of_co[co]
end

local function wake(task, ...)
  ready_tail = ready_tail + 1
  ready[ready_tail] = pack(task, ...)
end

-- Suspends the running task until something wakes it; returns what the
-- waker passed.
local function wait()
  return coroutine.yield(WAIT)
end

-- The handler that turns an error into its message and a traceback of
-- where it was raised.
local function traceback(e)
  return debug.traceback(tostring(e), 2)
end

local function finish(task, results)
  task.done = true
  task.results = results
  for _, joiner in ipairs(task.joiners) do wake(joiner) end
  task.joiners = nil
end

local function step(item)
  local task = item[1]
  local ok, err = coroutine.resume(task.co, unpack(item, 2, item.n))
  if not ok then
    -- Only the scheduler's own wrapper can fail here: the task's function
    -- runs under xpcall.
    of_co[task.co] = nil
    finish(task, pack(nil, traceback(err), { kind = "error" }))
  elseif coroutine.status(task.co) == "dead" then
    of_co[task.co] = nil
  elseif err ~= WAIT then
    -- A bare coroutine.yield in a task: it only gives the others a turn.
    wake(task)
  end
end

local function get_multi()
  if not multi then multi = lib().multi { max_host_connections = per_host } end
  return multi
end

-- A transfer to origin ended: the next task queued for it may start.
local function release(origin)
  busy[origin] = busy[origin] - 1
  if busy[origin] == 0 then busy[origin] = nil end
  local q = queued[origin]
  if q then
    wake(table.remove(q, 1))
    if #q == 0 then queued[origin] = nil end
  end
end

-- Runs tasks until done() holds. The caller is outside every task.
local function loop(done)
  if looping then
    error("ssf: cannot wait for tasks from a coroutine that is not a task while tasks run", 3)
  end
  looping = true
  local ok, err = pcall(function()
    while true do
      while ready_head <= ready_tail do
        local item = ready[ready_head]
        ready[ready_head] = nil
        ready_head = ready_head + 1
        step(item)
      end
      ready_head, ready_tail = 1, 0 -- the queue is empty: its indices start again
      if done() then return end
      local t = now()
      local timeout = math.huge
      for _, s in ipairs(sleepers) do timeout = math.min(timeout, s.at - t) end
      if in_flight == 0 and timeout == math.huge then
        error("ssf: deadlock: every task waits for another task", 0)
      end
      if in_flight > 0 or timeout > 0 then
        local ids = get_multi():run(math.max(0, math.min(timeout, 3600)))
        if not ids then error("interrupted", 0) end
        for _, id in ipairs(ids) do
          local xfer = transfers[id]
          transfers[id] = nil
          in_flight = in_flight - 1
          release(xfer.origin)
          wake(xfer.task, multi:result(id))
        end
      end
      t = now()
      local i = 1
      while i <= #sleepers do
        if sleepers[i].at <= t then
          wake(table.remove(sleepers, i).task)
        else
          i = i + 1
        end
      end
    end
  end)
  looping = false
  if not ok then error(err, 0) end
end

--- ssf.spawn(fn, ...): a task that runs fn(...) once the scheduler runs
--- (when a task is joined or waits).
function tasks.spawn(fn, ...)
  if type(fn) ~= "function" then
    error("bad argument #1 to 'spawn' (function expected, got " .. type(fn) .. ")", 2)
  end
  local args = pack(...)
  local task = setmetatable({ done = false, joiners = {} }, Task)
  task.co = coroutine.create(function()
    finish(task, pack(xpcall(function() return fn(unpack(args, 1, args.n)) end, traceback)))
  end)
  of_co[task.co] = task
  wake(task)
  return task
end

--- task:join(): the task's results once it ends; nil, message with a
--- traceback, {kind = "error"} when it raised.
function Task:join()
  if not self.done then
    local me = tasks.running()
    if me == self then error("a task cannot join itself", 2) end
    if me then
      self.joiners[#self.joiners + 1] = me
      repeat wait() until self.done
    else
      loop(function() return self.done end)
    end
  end
  local r = self.results
  if r[1] then return unpack(r, 2, r.n) end
  return nil, r[2], { kind = "error" }
end

function Task:__tostring()
  return "ssf.task: " .. (self.done and "done" or "running")
end

--- ssf.sleep(s): inside a task, lets the other tasks run meanwhile;
--- outside, just sleeps (Ctrl-C ends it early).
function tasks.sleep(seconds)
  if type(seconds) ~= "number" or not (seconds >= 0) then
    error("bad argument #1 to 'sleep' (non-negative number expected)", 2)
  end
  local me = tasks.running()
  if not me then return lib().sleep(seconds) end
  sleepers[#sleepers + 1] = { at = now() + seconds, task = me }
  wait()
end

--- One transfer (a request table for ssf.http) from inside a task: it joins
--- the scheduler's multi handle and the task waits for its outcome, which is
--- session:perform's.
function tasks.transfer(request)
  local me = tasks.running()
  if not me then error("ssf: tasks.transfer outside a task", 2) end
  local origin = type(request.url) == "string" and request.url:match("^%a[%w+.-]*://[^/?#]*") or ""
  while (busy[origin] or 0) >= per_host do
    local q = queued[origin] or {}
    queued[origin] = q
    q[#q + 1] = me
    wait()
  end
  local m = get_multi()
  local id, kind, msg, reached = m:start(request)
  if not id then return nil, kind, msg, reached end
  transfers[id] = { task = me, origin = origin }
  in_flight = in_flight + 1
  busy[origin] = (busy[origin] or 0) + 1
  return wait()
end

--- An event tasks can wait for: ev.wait() returns what ev.set(...) was
--- given, once it is called (at once if it was).
function tasks.event()
  local ev = { waiting = {} }
  function ev.wait()
    if not ev.values then
      local me = tasks.running()
      if me then
        ev.waiting[#ev.waiting + 1] = me
        repeat wait() until ev.values
      else
        loop(function() return ev.values ~= nil end)
      end
    end
    return unpack(ev.values, 1, ev.values.n)
  end
  function ev.set(...)
    ev.values = pack(...)
    for _, t in ipairs(ev.waiting) do wake(t) end
    ev.waiting = {}
  end
  return ev
end

-- results[i] for one function's outcome under xpcall. Shared with the
-- nginx scheduler (ssf.transport.nginx), which maps ssf.all onto ngx.thread.
function tasks.outcome(ok, value, msg, info)
  if not ok then return { ok = false, message = value, info = { kind = "error" } } end
  if value == nil then return { ok = false, message = msg, info = info } end
  return { ok = true, value = value }
end
local outcome = tasks.outcome

local function positive_integer(v)
  return type(v) == "number" and v >= 1 and v == math.floor(v) and v < 2 ^ 31
end

--- Checks ssf.all's arguments for either scheduler; raises at the caller
--- of ssf.all. Returns the concurrency and the per-host cap.
function tasks.all_options(fns, opts)
  if type(fns) ~= "table" then error("bad argument #1 to 'all' (table of functions expected)", 3) end
  for i = 1, #fns do
    if type(fns[i]) ~= "function" then
      error(("bad argument #1 to 'all' (entry %d is a %s, not a function)"):format(i, type(fns[i])), 3)
    end
  end
  if opts ~= nil and type(opts) ~= "table" then error("bad argument #2 to 'all' (table expected)", 3) end
  opts = opts or {}
  for k in pairs(opts) do
    if k ~= "concurrency" and k ~= "per_host" then
      error(("bad argument #2 to 'all' (unknown option '%s')"):format(tostring(k)), 3)
    end
  end
  local concurrency = opts.concurrency or DEFAULT_CONCURRENCY
  if not positive_integer(concurrency) then
    error("bad argument #2 to 'all' (concurrency must be a positive integer)", 3)
  end
  local cap = opts.per_host or concurrency
  if not positive_integer(cap) then error("bad argument #2 to 'all' (per_host must be a positive integer)", 3) end
  return concurrency, cap
end

--- ssf.all(fns, {concurrency = N, per_host = M}): runs the functions as
--- tasks, at most N at once (default 16) with at most M connections to one
--- host (default N), and returns their outcomes in input order.
function tasks.all(fns, opts)
  local concurrency, cap = tasks.all_options(fns, opts)
  local n, results, next_index = #fns, {}, 0
  local function worker()
    while next_index < n do
      next_index = next_index + 1
      local i = next_index
      results[i] = outcome(xpcall(fns[i], traceback))
    end
  end
  local previous = per_host
  per_host = cap
  if multi then multi:limit(cap) end
  local workers = {}
  for w = 1, math.min(concurrency, n) do workers[w] = tasks.spawn(worker) end
  local ok, err = pcall(function()
    for _, w in ipairs(workers) do w:join() end
  end)
  per_host = previous
  if multi then multi:limit(previous) end
  if not ok then error(err, 0) end
  return results
end

return tasks
