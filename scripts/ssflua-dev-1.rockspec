-- Builds the ssf module with luarocks, for whichever Lua luarocks targets
-- (5.4, or 5.1 for LuaJIT 2.1): `luarocks make scripts/ssflua-dev-1.rockspec`
-- from the source tree. The ssflua host itself is built with CMake.
-- Needs the C libraries' development files (Debian: libcurl4-openssl-dev
-- libssl-dev libmicrohttpd-dev) and lua-cjson (Debian's lua-cjson, or the
-- lua-cjson rock).
rockspec_format = "3.0"
package = "ssflua"
version = "dev-1"
source = { url = "git+https://github.com/ssflua/ssflua.git" }
description = {
  summary = "Okta Shared Signals Framework streams, SET receiving and JOSE from Lua",
  detailed = [[
    A client for Okta's SSF stream API (libcurl, or nginx's own requests inside
    nginx), an RFC 8935 SET receiver (libmicrohttpd, or nginx), and JOSE
    signing and verification (OpenSSL). Lua 5.4 and LuaJIT 2.1.
  ]],
  license = "MIT",
}
dependencies = { "lua >= 5.1", "lua-cjson" }
build = {
  type = "builtin",
  modules = {
    ["ssf.http"] = {
      sources = { "src/http.c", "src/http_xfer.c", "src/http_multi.c", "src/buf.c", "src/headers.c", "src/sigint.c" },
      libraries = { "curl" },
      incdirs = { "src" },
    },
    ["ssf.jose"] = {
      sources = { "src/jose.c", "src/jose_key.c", "src/jose_verify.c", "src/jose_pkey.c", "src/jose_ecdsa.c", "src/b64url.c", "src/json_plain.c" },
      libraries = { "crypto" },
      incdirs = { "src" },
    },
    ["ssf.httpd"] = {
      sources = { "src/httpd.c", "src/httpd_server.c", "src/httpd_queue.c", "src/httpd_guard.c", "src/httpd_framing.c", "src/httpd_verify.c", "src/jose_pkey.c", "src/jose_ecdsa.c", "src/b64url.c", "src/buf.c", "src/rxcheck.c", "src/sigint.c" },
      libraries = { "microhttpd", "crypto", "pthread" },
      incdirs = { "src" },
    },
    ["ssf.thread"] = {
      sources = { "src/lthread.c", "src/sigint.c" },
      libraries = { "pthread" },
      incdirs = { "src" },
    },
    ["ssf.auth"] = "lua/ssf/auth.lua",
    ["ssf.backup"] = "lua/ssf/backup.lua",
    ["ssf.cli"] = "lua/ssf/cli.lua",
    ["ssf.client"] = "lua/ssf/client.lua",
    ["ssf.compat"] = "lua/ssf/compat.lua",
    ["ssf.config"] = "lua/ssf/config.lua",
    ["ssf.confirm"] = "lua/ssf/confirm.lua",
    ["ssf.desired"] = "lua/ssf/desired.lua",
    ["ssf.emulator.form"] = "lua/ssf/emulator/form.lua",
    ["ssf.emulator.ids"] = "lua/ssf/emulator/ids.lua",
    ["ssf.emulator"] = "lua/ssf/emulator/init.lua",
    ["ssf.emulator.okta_errors"] = "lua/ssf/emulator/okta_errors.lua",
    ["ssf.emulator.pusher"] = "lua/ssf/emulator/pusher.lua",
    ["ssf.emulator.routes"] = "lua/ssf/emulator/routes.lua",
    ["ssf.emulator.server"] = "lua/ssf/emulator/server.lua",
    ["ssf.emulator.sets"] = "lua/ssf/emulator/sets.lua",
    ["ssf.emulator.store"] = "lua/ssf/emulator/store.lua",
    ["ssf.emulator.tokens"] = "lua/ssf/emulator/tokens.lua",
    ["ssf.errors"] = "lua/ssf/errors.lua",
    ["ssf.events"] = "lua/ssf/events.lua",
    ["ssf"] = "lua/ssf/init.lua",
    ["ssf.json"] = "lua/ssf/json.lua",
    ["ssf.jws"] = "lua/ssf/jws.lua",
    ["ssf.nginx"] = "lua/ssf/nginx.lua",
    ["ssf.orgs"] = "lua/ssf/orgs.lua",
    ["ssf.plan"] = "lua/ssf/plan.lua",
    ["ssf.receiver"] = "lua/ssf/receiver.lua",
    ["ssf.secretfile"] = "lua/ssf/secretfile.lua",
    ["ssf.set"] = "lua/ssf/set.lua",
    ["ssf.streams"] = "lua/ssf/streams.lua",
    ["ssf.tasks"] = "lua/ssf/tasks.lua",
    ["ssf.text"] = "lua/ssf/text.lua",
    ["ssf.transport.curl"] = "lua/ssf/transport/curl.lua",
    ["ssf.transport"] = "lua/ssf/transport/init.lua",
    ["ssf.transport.nginx"] = "lua/ssf/transport/nginx.lua",
    ["ssf.version"] = "lua/ssf/version.lua",
  },
  copy_directories = { "doc" },
}
