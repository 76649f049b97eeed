-- The contract check: every client operation, over real HTTP, against Prism
-- mocking Okta's official OpenAPI extract (tests/openapi/
-- okta-ssf-openapi.yaml, kept in the tree so the project is complete on
-- its own). Prism validates each request
-- against the official schema; a request that violates it is answered with
-- a 400 (when the operation declares one) or with an `sl-violations`
-- response header. Each test fails on either, and prints the violations.
local ssf = require "ssf"
local env = require "env"
local fake = require "fake"
local http = require "ssf.http" -- only for a bounded sleep while polling Prism's log

local E = ssf.events
local PUSH = ssf.PUSH

local PRISM = env.root .. "/tests/fake/node_modules/.bin/prism"
local SPEC = env.root .. "/tests/openapi/okta-ssf-openapi.yaml"

-- The stream id in the spec's examples (every stream Prism returns has it).
local EXAMPLE_ID = "esc1k235GIIztAuGK0g5"

local function cfg(extra)
  local c = {
    delivery = { method = PUSH, endpoint_url = "https://receiver.example.com/events" },
    events_requested = { E.SESSION_REVOKED, E.CREDENTIAL_CHANGE },
    format = "iss_sub",
  }
  for k, v in pairs(extra or {}) do c[k] = v end
  return c
end

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

local function slurp_from(path, offset)
  local f = io.open(path, "rb")
  if not f then return "" end
  f:seek("set", offset or 0)
  local s = f:read("a")
  f:close()
  return s
end

local function file_size(path)
  local f = io.open(path, "rb")
  if not f then return 0 end
  local n = f:seek("end")
  f:close()
  return n
end

-- True while pid is a live process (a zombie counts as gone: it no longer
-- holds the port, and reaping it is its parent's business).
local function alive(pid)
  local f = io.open("/proc/" .. pid .. "/stat", "r")
  if f then
    local stat = f:read("a") or ""
    f:close()
    return stat:match("^%d+ %b() (%a)") ~= "Z"
  end
  return os.execute("kill -0 " .. pid .. " 2>/dev/null") == true
end

--- Splits Prism's `sl-violations` header into request-side and response-side
--- entries. The header is a JSON array of
---   {"location":["request"|"response", "body"|"query"|..., field...],
---    "severity":"Error"|"Warning", "code":"...", "message":"..."}
--- Only request-side entries say something about the client: response-side
--- ones are Prism checking its own answer, built from the spec's examples,
--- against the spec's schemas -- and Okta's examples do not always match
--- their own schemas (the metadata example has "https://{yourOktaDomain}/..."
--- in `format: uri` fields, CONTRACT.md §9). An entry whose location is
--- not clearly "response" is counted as request-side, so that a change in
--- the header's format makes the check stricter, never vacuous.
local function violations(meta)
  local raw = meta and meta.headers and meta.headers["sl-violations"]
  if raw == nil then return {}, {} end
  local list = ssf.json.decode(raw)
  if type(list) ~= "table" then
    return { { location = { "?" }, message = "unparsable sl-violations header: " .. raw } }, {}
  end
  local req, resp = {}, {}
  for _, v in ipairs(list) do
    local loc = type(v) == "table" and type(v.location) == "table" and v.location or {}
    if loc[1] == "response" then resp[#resp + 1] = v else req[#req + 1] = v end
  end
  return req, resp
end

local function describe_violations(list)
  local lines = {}
  for _, v in ipairs(list) do
    local loc = type(v.location) == "table" and table.concat(v.location, ".") or "?"
    lines[#lines + 1] = ("  %s: %s [%s %s]"):format(loc, tostring(v.message),
      tostring(v.severity), tostring(v.code))
  end
  return table.concat(lines, "\n")
end

describe("the client against Prism mocking Okta's official SSF spec", function()
  local url, pid, log, okta

  -- Prism's own account of the requests since `from` (a log offset). Its
  -- violation lines are written after the answer, so wait a little (bounded).
  local function prism_log(from, want)
    local text = ""
    for _ = 1, 40 do -- at most 2 s
      text = slurp_from(log, from)
      if text:find(want or "Violation:", 1, true) then break end
      http.sleep(0.05)
    end
    return text
  end

  --- Runs one client call and fails the test if the call failed or Prism
  --- flagged the request; returns the call's results.
  local function clean(what, f, ...)
    local from = file_size(log)
    local v, meta, info = f(...)
    if v == nil then
      assert.is_not_nil(v, ("%s failed: %s (kind %s, status %s)\nPrism's log for it:\n%s")
        :format(what, tostring(meta), tostring(info and info.kind), tostring(info and info.status),
          prism_log(from)))
    end
    local req = violations(meta)
    if #req > 0 then
      assert.are.equal(0, #req, ("%s: Prism says the request violates Okta's schema:\n%s")
        :format(what, describe_violations(req)))
    end
    return v, meta
  end

  setup(function()
    assert(exists(PRISM), "Prism is not installed: run `npm ci` in tests/fake (" .. PRISM .. ")")
    assert(exists(SPEC), "the official spec extract is missing: " .. SPEC)
    -- Port 0: the kernel picks a free port and Prism prints the one it got
    -- ("Prism is listening on http://127.0.0.1:PORT"), so there is no race
    -- with other listeners. `exec` makes $! the node process itself.
    url, pid, log = fake.spawn(("exec %s mock -h 127.0.0.1 -p 0 %s")
      :format(env.q(PRISM), env.q(SPEC)), "Prism is listening on (http://127%.0%.0%.1:%d+)", 30)
    -- retries = 0: a failure shows at once; timeout: Prism never answers
    -- some malformed requests (CONTRACT.md §9), so bound every call.
    okta = assert(ssf.client { org = url, auth = { type = "bearer", token = "t" },
      retries = 0, timeout = 10, connect_timeout = 5 })
  end)

  teardown(function()
    if okta then okta:close() end
    if pid then
      os.execute("kill " .. pid .. " 2>/dev/null")
      for _ = 1, 100 do -- at most 5 s
        if not alive(pid) then break end
        http.sleep(0.05)
      end
      if alive(pid) then
        os.execute("kill -9 " .. pid .. " 2>/dev/null")
        for _ = 1, 20 do -- at most 1 s
          if not alive(pid) then break end
          http.sleep(0.05)
        end
      end
      assert(not alive(pid), "Prism (pid " .. pid .. ") is still running")
    end
    if log then os.remove(log) end
  end)

  it("metadata(): reads the example and flags nothing on the request side", function()
    local m, meta = clean("metadata()", okta.metadata, okta)
    assert.are.equal(200, meta.status)
    assert.are.equal("https://{yourOktaDomain}", m.issuer)
    assert.are.equal("1_0-ID3", m.spec_version)
    assert.are.equal("ALL", m.default_subjects)
    assert.are.same({ ssf.RISC_PUSH, ssf.PUSH }, m.delivery_methods_supported)
    assert.are.equal("urn:ietf:rfc:6749", m.authorization_schemes[1].spec_urn)
    -- The canary: Prism does flag its own example's `{yourOktaDomain}`
    -- URIs, on the response side. Seeing them proves the header is read and
    -- parsed, so the absence of request-side entries elsewhere means something.
    local req, resp = violations(meta)
    assert.are.equal(0, #req)
    local fields = {}
    for _, v in ipairs(resp) do
      assert.are.equal("response", v.location[1])
      fields[#fields + 1] = v.location[#v.location]
    end
    table.sort(fields)
    assert.are.same({ "configuration_endpoint", "jwks_uri", "verification_endpoint" }, fields,
      "response-side violations:\n" .. describe_violations(resp))
  end)

  it("streams(): the list example comes back as an array", function()
    local list, meta = clean("streams()", okta.streams, okta)
    assert.are.equal(200, meta.status)
    assert.are.equal(1, #list)
    assert.are.equal("[", ssf.json.encode(list):sub(1, 1))
    local s = list[1]
    assert.are.equal(EXAMPLE_ID, s.stream_id)
    assert.are.equal("https://example.com", s.aud)
    assert.are.equal(PUSH, s.delivery.method)
    assert.are.equal("iss_sub", s.format)
    assert.are.equal(0, s.min_verification_interval)
    assert.are.same({ E.SESSION_REVOKED, E.CREDENTIAL_CHANGE }, s.events_delivered)
  end)

  it("stream(id): finds the stream, whether Prism answers with the list or the object", function()
    -- Prism answers GET ?stream_id= with the first example, the list; the
    -- client must still hand back the one stream asked for.
    local s, meta = clean("stream(id)", okta.stream, okta, EXAMPLE_ID)
    assert.are.equal(200, meta.status)
    assert.are.equal(EXAMPLE_ID, s.stream_id)
    assert.are.equal("https://example.com", s.delivery.endpoint_url)
    assert.are.equal("{", ssf.json.encode(s):sub(1, 1))
  end)

  it("create_stream(cfg): 201 with a stream built from the schema", function()
    local s, meta = clean("create_stream(cfg)", okta.create_stream, okta, cfg())
    assert.are.equal(201, meta.status)
    -- Prism does not echo the request: it builds the answer from the
    -- schema's per-field examples (delivery.method is the first enum value).
    assert.are.equal(EXAMPLE_ID, s.stream_id)
    assert.is_truthy(s.delivery.method == ssf.PUSH or s.delivery.method == ssf.RISC_PUSH)
    assert.are.equal("string", type(s.delivery.endpoint_url))
    assert.are.equal("[", ssf.json.encode(s.events_requested):sub(1, 1))
    -- An empty event list must still go out as [] ({} is not an array).
    clean("create_stream(events_requested = {})", okta.create_stream, okta, cfg { events_requested = {} })
    -- without the optional format too
    local bare = cfg()
    bare.format = nil
    clean("create_stream(cfg without format)", okta.create_stream, okta, bare)
  end)

  it("update_stream(cfg): a fresh config, and a GET result edited and sent back as it is", function()
    local s, meta = clean("update_stream(cfg)", okta.update_stream, okta, cfg { stream_id = EXAMPLE_ID })
    assert.are.equal(200, meta.status)
    assert.are.equal("table", type(s.delivery))

    local got = clean("stream(id)", okta.stream, okta, EXAMPLE_ID)
    got.delivery.endpoint_url = "https://receiver.example.com/edited"
    clean("update_stream(GET result)", okta.update_stream, okta, got)

    -- Nullable fields as null, empty arrays as [], aud as an array: each
    -- must reach the wire in a shape the schema allows.
    got.delivery.authorization_header = ssf.null
    got.min_verification_interval = ssf.null
    got.events_delivered = {}
    got.aud = { "https://example.com" }
    clean("update_stream(nulls, [], aud list)", okta.update_stream, okta, got)

    got.delivery.authorization_header = "Bearer receiver-secret"
    clean("update_stream(authorization_header)", okta.update_stream, okta, got)
  end)

  it("replace_stream(cfg): with and without stream_id, and a GET result", function()
    local s, meta = clean("replace_stream(cfg + id)", okta.replace_stream, okta, cfg { stream_id = EXAMPLE_ID })
    assert.are.equal(200, meta.status)
    assert.are.equal("table", type(s.delivery))
    clean("replace_stream(cfg)", okta.replace_stream, okta, cfg())
    local got = clean("stream(id)", okta.stream, okta, EXAMPLE_ID)
    clean("replace_stream(GET result)", okta.replace_stream, okta, got)
    -- and what PUT itself answered (here with an authorization_header)
    clean("replace_stream(PUT result)", okta.replace_stream, okta, s)
  end)

  it("delete_stream(): with and without a stream id", function()
    local ok, meta = clean("delete_stream(id)", okta.delete_stream, okta, EXAMPLE_ID)
    assert.is_true(ok)
    assert.are.equal(204, meta.status)
    local ok2, meta2 = clean("delete_stream()", okta.delete_stream, okta)
    assert.is_true(ok2)
    assert.are.equal(204, meta2.status)
  end)

  it("stream_status(id): the status example", function()
    local st, meta = clean("stream_status(id)", okta.stream_status, okta, EXAMPLE_ID)
    assert.are.equal(200, meta.status)
    assert.are.equal(EXAMPLE_ID, st.stream_id)
    assert.are.equal("enabled", st.status)
  end)

  it("verify_stream(id [, state]): 204 both ways", function()
    local ok, meta = clean("verify_stream(id, state)", okta.verify_stream, okta, EXAMPLE_ID,
      "VGhpcyBpcyBhbiBleGFtcGxlIHN0YXRlIHZhbHVlLgo=")
    assert.is_true(ok)
    assert.are.equal(204, meta.status)
    local ok2, meta2 = clean("verify_stream(id)", okta.verify_stream, okta, EXAMPLE_ID)
    assert.is_true(ok2)
    assert.are.equal(204, meta2.status)
  end)

  it("request{}: the escape hatch sends a valid request too", function()
    local st, meta = clean("request{GET status}", okta.request, okta, {
      method = "GET", path = "/api/v1/ssf/stream/status", query = { stream_id = EXAMPLE_ID } })
    assert.are.equal(200, meta.status)
    assert.are.equal("enabled", st.status)
    local s, cmeta = clean("request{POST stream}", okta.request, okta, {
      method = "POST", path = "/api/v1/ssf/stream", json = cfg() })
    assert.are.equal(201, cmeta.status)
    assert.are.equal("string", type(s.stream_id))
    -- request{} does not know the schema: an empty list needs ssf.array
    -- (a bare {} goes out as an object, which Prism rejects).
    clean("request{POST stream, ssf.array{}}", okta.request, okta, {
      method = "POST", path = "/api/v1/ssf/stream", json = cfg { events_requested = ssf.array {} } })
  end)

  it("the check can fail: Prism rejects a body that violates the schema", function()
    local from = file_size(log)
    local v, msg, info = okta:request { method = "POST", path = "/api/v1/ssf/stream",
      json = { events_requested = { "x" } } }
    assert.is_nil(v, "Prism accepted a body without delivery and with a non-URI event")
    assert.are.equal("http", info.kind)
    assert.are.equal(400, info.status, msg)
    assert.are.equal("E0000001", info.code)
    -- The failure triple carries no response headers, so read Prism's own
    -- report of the violations from its log.
    local text = prism_log(from, "Violation: request.body.events_requested.0")
    assert.matches("Violation: request%.body Request body must have required property 'delivery'", text)
    assert.matches("Violation: request%.body%.events_requested%.0 [^\n]*format \"uri\"", text)
  end)
end)
