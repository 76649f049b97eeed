-- Whatever a peer sends, app:handle answers: never an error, always a
-- status with Okta's headers and a JSON body or none. Requests are crafted
-- from every route crossed with hostile methods, credentials, queries,
-- bodies and token-endpoint forms (a bounded set, no randomness).
local ssf = require "ssf"
local compat = require "ssf.compat"
local jose = require "ssf.jose"
local json = require "ssf.json"
local emuapp = require "emuapp"
local text = require "ssf.text"

local PATHS = {
  "/.well-known/ssf-configuration", "/oauth2/v1/keys", "/oauth2/v1/token", "/api/v1/ssf/stream",
  "/api/v1/ssf/stream/status", "/api/v1/ssf/stream/verification", "", "/", "//", "/api/v1/ssf/stream/",
  "/api/v1/ssf/stream\0", ("/a"):rep(2000),
}
local METHODS = { "GET", "POST", "PATCH", "DELETE", "BREW", "" }
local AUTHS = { false, "Bearer rw", "Bearer none", "DPoP rw", "bearer rw extra", ("x"):rep(9000) }
local QUERIES = { false, "", "stream_id", "stream_id=", "stream_id=%ZZ", "=&&=", "stream_id=%00", "stream_id=a&stream_id=b",
                  "stream_id=" .. ("%"):rep(300) }

local function b64(s) return jose.b64url_encode(s) end

-- JSON bodies with the wrong type in each place the rules read.
local function hostile_bodies()
  local deep = ("["):rep(200) .. ("]"):rep(200)
  local out = { "", "{}", "[]", "null", "1e400", "\"x\"", "{\"a\":", deep, "\255\254", "{\"delivery\":\"\0\"}" }
  local values = { ssf.null, true, 0, -1, 1.5, "", "x", ssf.array(), ssf.array { ssf.array() }, { a = { b = {} } } }
  local fields = { "delivery", "events_requested", "format", "stream_id", "state", "iss", "aud",
                   "events_supported", "events_delivered", "min_verification_interval" }
  for _, f in ipairs(fields) do
    for _, v in ipairs(values) do
      local b = emuapp.stream_body { [f] = v }
      out[#out + 1] = json.encode(b)
    end
  end
  for _, f in ipairs { "method", "endpoint_url", "authorization_header" } do
    for _, v in ipairs(values) do
      local b = emuapp.stream_body()
      b.delivery[f] = v
      out[#out + 1] = json.encode(b)
    end
  end
  local items = emuapp.stream_body()
  items.events_requested = ssf.array { ssf.null, 1, {}, ssf.array(), ("u"):rep(300) }
  out[#out + 1] = json.encode(items)
  return out
end

-- Client assertions and DPoP proofs that are JWTs of a sort.
local function hostile_jwts()
  local parts = { b64("{}"), b64("[]"), b64("null"), b64('{"alg":"RS256","kid":{}}'), b64('{"alg":["RS256"]}'),
                  b64('{"alg":"ES256","typ":"dpop+jwt","jwk":{"kty":"EC","d":"x"}}'),
                  b64('{"alg":"RS256","typ":"dpop+jwt","jwk":"k"}'), "!!", "" }
  local claims = { b64("{}"), b64('{"sub":5}'), b64('{"sub":"0oaEmuClient1","aud":{},"exp":"soon","iat":[],"jti":7}'),
                   b64('{"sub":"0oaEmuClient1","iss":"0oaEmuClient1","aud":[1,{}],"exp":1e308,"iat":-1e308}'), b64("x") }
  local out = { "a.b.c", "...", "a.b", ("a"):rep(10000) }
  for _, h in ipairs(parts) do
    for _, c in ipairs(claims) do out[#out + 1] = h .. "." .. c .. "." .. b64("sig") end
  end
  return out
end

-- handle(app, req) under pcall, and its answer checked.
local function check_answer(app, req, what)
  local ok, status, headers, body = pcall(app.handle, app, req)
  assert(ok, "handle raised on " .. what .. ": " .. tostring(status))
  assert(compat.is_integer(status) and status >= 200 and status <= 599, what)
  assert(type(headers) == "table" and headers["X-Okta-Request-Id"], what)
  assert(headers["X-Rate-Limit-Limit"] and headers["X-Rate-Limit-Reset"], what)
  assert(type(body) == "string", what)
  if body ~= "" then
    assert(type(json.decode(body)) == "table", what)
    assert(headers["Content-Type"] == "application/json", what)
  end
  for k, v in pairs(headers) do
    assert(type(k) == "string" and type(v) == "string" and not (k .. v):find("[\r\n%z]"), what)
  end
end

describe("app:handle", function()
  it("answers every crafted request without raising", function()
    local app = emuapp.new { rate_limit = 1000000 }
    assert(app:seed_stream("0oaA", { delivery = { method = ssf.PUSH, endpoint_url = emuapp.RX } }))
    local bodies = hostile_bodies()
    local n = 0
    local function try(req, what)
      n = n + 1
      check_answer(app, req, what)
    end
    for _, path in ipairs(PATHS) do
      for _, method in ipairs(METHODS) do
        for _, auth in ipairs(AUTHS) do
          for _, query in ipairs(QUERIES) do
            try({ method = method, path = path, query = query or nil,
                  headers = { authorization = auth or nil, ["content-type"] = "application/json" }, body = "{}" },
                ("%s %s %s"):format(method, path:sub(1, 40), tostring(query)))
          end
        end
      end
    end
    for _, path in ipairs { "/api/v1/ssf/stream", "/api/v1/ssf/stream/verification" } do
      for _, method in ipairs { "POST", "PUT", "PATCH" } do
        for i, body in ipairs(bodies) do
          try({ method = method, path = path, headers = { authorization = "Bearer rw",
                ["content-type"] = "application/json" }, body = body }, ("%s %s body %d"):format(method, path, i))
        end
      end
    end
    -- A request table that lacks what httpd always sets.
    try({ method = "GET", path = "/api/v1/ssf/stream" }, "no headers")
    assert.is_true(n > 3000)
  end)

  it("answers every crafted token request and DPoP proof without raising", function()
    local app = emuapp.new { rate_limit = 1000000 }
    local jwts = hostile_jwts()
    for i, jwt in ipairs(jwts) do
      for _, dpop in ipairs { false, jwt } do
        local body = table.concat({
          "grant_type=client_credentials", "scope=ssf.read", "client_id=" .. text.escape("0oaEmuClient1"),
          "client_assertion_type=" .. text.escape("urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
          "client_assertion=" .. text.escape(jwt) }, "&")
        local what = ("token request %d%s"):format(i, dpop and " with DPoP" or "")
        check_answer(app, { method = "POST", path = "/oauth2/v1/token",
          headers = { ["content-type"] = "application/x-www-form-urlencoded", dpop = dpop or nil }, body = body }, what)
        check_answer(app, { method = "GET", path = "/api/v1/ssf/stream",
          headers = { authorization = "DPoP " .. jwt:sub(1, 100), dpop = jwt } }, "resource " .. what)
      end
    end
    for _, form in ipairs { "", "&&&", "=", "grant_type", "%ZZ=%YY", ("a=b&"):rep(2000), "grant_type=client_credentials&scope=" } do
      check_answer(app, { method = "POST", path = "/oauth2/v1/token",
        headers = { ["content-type"] = "application/x-www-form-urlencoded" }, body = form }, "form " .. form:sub(1, 20))
    end
  end)
end)
