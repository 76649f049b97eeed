/*
 * ssf.httpd: the Lua face of the HTTP server in httpd_server.c.
 *
 *   httpd.listen{host=, port=, path=, authorization=, <limits>}
 *        -> server | nil, message   (the SET receiver: one path, POST,
 *                                    the SET media type; a failed bind is
 *                                    returned, bad options raise)
 *   httpd.serve{host=, port=, <limits>}
 *        -> server | nil, message   (any method and path)
 *        <limits>: max_body=, max_pending=, max_buffered=, answer_timeout=,
 *                  header_timeout=, idle_timeout=, max_connections=,
 *                  per_ip_limit= (see LIMITS below)
 *   server:port()          -> the bound port (the real one for port 0)
 *   server:keys(list)      -> generation | nil, message   (listen only: the keys
 *                             the verification threads check each queued
 *                             body's JWS signature with, replacing any
 *                             given before; list items are {rsa=bool,
 *                             a=, b= (n and e, or P-256 x and y, decoded),
 *                             kid= (optional)})
 *   server:poll(seconds)   -> listen: {id=, body=, content_type=, remote=,
 *                                      key=, alg=, keyset= (when a
 *                                      verification thread proved that
 *                                      list[key] of the keys call that
 *                                      returned keyset signed the body
 *                                      under alg)}
 *                             serve: {id=, method=, path=, query=, headers=,
 *                                     body=, remote=}
 *                           | nil                  (nothing came in time)
 *                           | nil, "interrupted"   (Ctrl-C)
 *   server:poll(seconds, max) -> a list of 1 to max (at most 64) of the
 *                             above: the first request and those ready
 *                             behind it, in arrival order | nil | nil,
 *                             "interrupted"
 *   server:respond(id, status [, body [, headers]]) -> true | false
 *                             (unknown or expired id)
 *   server:stats()         -> {[400]=n, [401]=n, [404]=n, [405]=n,
 *                              [413]=n, [501]=n, [503]=n, waiting=n,
 *                              connections=n, buffered=n, refused=n,
 *                              dropped=n, verified=n}: answers made in C, requests
 *                              waiting for Lua, connections open, body
 *                              bytes held, connections refused (limits)
 *                              and cut (late headers, idle, body limits)
 *   server:close()         (also __close and __gc; idempotent)
 *   httpd.clock()          -> seconds on a monotonic clock
 */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "compat.h"

#include "httpd_server.h"
#include "jose_pkey.h"

#define SERVER_MT "ssf.httpd.server"
#define MAX_BODY_LIMIT (16 * 1024 * 1024)
#define MAX_PENDING_LIMIT 65536
#define MAX_BUFFERED_LIMIT (1024 * 1024 * 1024)

/* Most requests one poll hands over. */
#define POLL_MAX 64

typedef struct box {
	rx_server *s; /* NULL once closed */
	int generic;
	/* The requests poll is handing to Lua. Owned here, not by the server,
	 * so that a memory error while pushing their strings leaks nothing. */
	rx_taken staged[POLL_MAX];
	size_t n_staged;
} box;

static void free_staged(box *b)
{
	for (size_t i = 0; i < b->n_staged; i++)
		rx_taken_free(&b->staged[i]);
	b->n_staged = 0;
}

static box *check_box(lua_State *L)
{
	box *b = luaL_checkudata(L, 1, SERVER_MT);
	if (b->s == NULL)
		luaL_error(L, "attempt to use a closed receiver");
	return b;
}

static int server_close(lua_State *L)
{
	box *b = luaL_checkudata(L, 1, SERVER_MT);
	free_staged(b);
	if (b->s != NULL) {
		rx_stop(b->s);
		b->s = NULL;
	}
	return 0;
}

static int server_port(lua_State *L)
{
	lua_pushinteger(L, rx_port(check_box(L)->s));
	return 1;
}

static void push_headers(lua_State *L, const rx_taken *t)
{
	lua_createtable(L, 0, (int)t->n_headers);
	const char *h = t->headers;
	for (size_t i = 0; i < t->n_headers; i++) {
		const char *v = h + strlen(h) + 1;
		/* A repeated header reads as one, its values joined by ", "
		 * (RFC 9110 section 5.3). */
		if (ssf_getfield(L, -1, h) == LUA_TSTRING) {
			lua_pushliteral(L, ", ");
			lua_pushstring(L, v);
			lua_concat(L, 3);
		} else {
			lua_pop(L, 1);
			lua_pushstring(L, v);
		}
		lua_setfield(L, -2, h);
		h = v + strlen(v) + 1;
	}
}

/* Pushes a taken request as the table poll returns. */
static void push_request(lua_State *L, const box *b, const rx_taken *t)
{
	lua_createtable(L, 0, 7);
	lua_pushinteger(L, (lua_Integer)t->id);
	lua_setfield(L, -2, "id");
	lua_pushlstring(L, t->body.data ? t->body.data : "", t->body.len);
	lua_setfield(L, -2, "body");
	lua_pushstring(L, t->remote);
	lua_setfield(L, -2, "remote");
	if (b->generic) {
		lua_pushstring(L, t->method);
		lua_setfield(L, -2, "method");
		lua_pushstring(L, t->path);
		lua_setfield(L, -2, "path");
		if (t->query) {
			lua_pushstring(L, t->query);
			lua_setfield(L, -2, "query");
		}
		push_headers(L, t);
		lua_setfield(L, -2, "headers");
	} else {
		lua_pushstring(L, t->content_type);
		lua_setfield(L, -2, "content_type");
		if (t->verified_key > 0) {
			lua_pushinteger(L, t->verified_key);
			lua_setfield(L, -2, "key");
			lua_pushstring(L, SSF_JOSE_ALGS[t->verified_alg].name);
			lua_setfield(L, -2, "alg");
			lua_pushinteger(L, (lua_Integer)t->verified_gen);
			lua_setfield(L, -2, "keyset");
		}
	}
}

static int server_poll(lua_State *L)
{
	box *b = check_box(L);
	double timeout = luaL_checknumber(L, 2);
	luaL_argcheck(L, timeout >= 0 && timeout <= 1e9, 2, "timeout out of range");
	int many = !lua_isnoneornil(L, 3);
	lua_Integer cap = many ? ssf_checkinteger(L, 3) : 1;
	luaL_argcheck(L, cap >= 1 && cap <= POLL_MAX, 3, "at most 64 requests");
	free_staged(b); /* left by a poll whose push failed */

	int got = rx_take(b->s, timeout, b->staged, (size_t)cap, &b->n_staged);
	if (got == RX_INTERRUPTED) {
		lua_pushnil(L);
		lua_pushliteral(L, "interrupted");
		return 2;
	}
	if (got == RX_TIMEOUT) {
		lua_pushnil(L);
		return 1;
	}
	if (!many) {
		push_request(L, b, &b->staged[0]);
	} else {
		lua_createtable(L, (int)b->n_staged, 0);
		for (size_t i = 0; i < b->n_staged; i++) {
			push_request(L, b, &b->staged[i]);
			lua_rawseti(L, -2, (lua_Integer)i + 1);
		}
	}
	free_staged(b);
	return 1;
}

/* list[i][name] as a string (NULL if absent and optional), raising
 * otherwise. Raw reads: the list itself then keeps the string alive. */
static const char *spec_string(lua_State *L, lua_Integer i, const char *name, int optional,
			       size_t *len)
{
	lua_pushstring(L, name);
	lua_rawget(L, -2);
	const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, len) : NULL;
	if (s == NULL && !(optional && lua_isnil(L, -1)))
		luaL_error(L, "bad argument #1 to 'keys' (key %d: %s must be a string)", (int)i, name);
	lua_pop(L, 1);
	return s;
}

static int server_keys(lua_State *L)
{
	box *b = check_box(L);
	luaL_checktype(L, 2, LUA_TTABLE);
	if (b->generic)
		return luaL_error(L, "keys: only a listen server checks signatures");
	lua_Integer n = (lua_Integer)ssf_rawlen(L, 2);
	luaL_argcheck(L, n >= 0 && n <= 1024, 2, "at most 1024 keys");
	/* Lua-owned, so that an error while reading the list loses nothing. */
	rx_key_spec *specs = ssf_newuserdata(L, (size_t)(n > 0 ? n : 1) * sizeof *specs);
	for (lua_Integer i = 1; i <= n; i++) {
		rx_key_spec *sp = &specs[i - 1];
		if (ssf_rawgeti(L, 2, i) != LUA_TTABLE)
			return luaL_error(L, "bad argument #1 to 'keys' (key %d: table expected)", (int)i);
		lua_pushliteral(L, "rsa");
		lua_rawget(L, -2);
		sp->rsa = lua_toboolean(L, -1);
		lua_pop(L, 1);
		sp->a = (const unsigned char *)spec_string(L, i, "a", 0, &sp->alen);
		sp->b = (const unsigned char *)spec_string(L, i, "b", 0, &sp->blen);
		sp->kid = spec_string(L, i, "kid", 1, &sp->kid_len);
		lua_pop(L, 1);
	}
	unsigned long gen = 0;
	const char *err = rx_set_keys(b->s, specs, (size_t)n, &gen);
	if (err != NULL) {
		lua_pushnil(L);
		lua_pushstring(L, err);
		return 2;
	}
	lua_pushinteger(L, (lua_Integer)gen);
	return 1;
}

static int is_token_char(unsigned char c)
{
	return c > 32 && c < 127 && !strchr("()<>@,;:\\\"/[]?={}", c);
}

/* Checks the header pair on top of the stack (name, value): the name an
 * HTTP token, the value free of CR, LF and NUL. Returns the bytes it takes
 * packed as "name\0value\0"; raises naming the argument. */
static size_t check_header(lua_State *L)
{
	size_t nlen, vlen;
	if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
		luaL_error(L, "bad argument #5 to 'respond' (headers must map strings to strings)");
	const char *name = lua_tolstring(L, -2, &nlen);
	const char *value = lua_tolstring(L, -1, &vlen);
	int ok = nlen > 0;
	for (size_t i = 0; i < nlen; i++)
		ok &= is_token_char((unsigned char)name[i]);
	if (!ok)
		luaL_error(L, "bad argument #5 to 'respond' (header name is not an HTTP token)");
	if (strlen(value) != vlen || strpbrk(value, "\r\n"))
		luaL_error(L, "bad argument #5 to 'respond' (header '%s' holds CR, LF or NUL)",
			   name);
	return nlen + vlen + 2;
}

static int server_respond(lua_State *L)
{
	box *b = check_box(L);
	lua_Integer id = ssf_checkinteger(L, 2);
	lua_Integer status = ssf_checkinteger(L, 3);
	luaL_argcheck(L, status >= 200 && status <= 599, 3, "HTTP status out of range");
	size_t len;
	const char *body = luaL_optlstring(L, 4, "", &len);
	if (!lua_isnoneornil(L, 5))
		luaL_checktype(L, 5, LUA_TTABLE);
	/* Checked and copied before anything is handed over: a raise owns
	 * nothing. */
	size_t n_headers = 0, packed_len = 0;
	if (lua_istable(L, 5)) {
		lua_pushnil(L);
		while (lua_next(L, 5) != 0) {
			packed_len += check_header(L);
			n_headers++;
			lua_pop(L, 1);
		}
	}
	char *copy = NULL, *packed = NULL;
	if (len > 0 && (copy = malloc(len)) == NULL)
		return luaL_error(L, "not enough memory");
	if (len > 0)
		memcpy(copy, body, len);
	if (n_headers > 0) {
		packed = malloc(packed_len);
		if (packed == NULL) {
			free(copy);
			return luaL_error(L, "not enough memory");
		}
		char *p = packed;
		lua_pushnil(L);
		while (lua_next(L, 5) != 0) {
			size_t nlen, vlen;
			const char *name = lua_tolstring(L, -2, &nlen);
			const char *value = lua_tolstring(L, -1, &vlen);
			memcpy(p, name, nlen + 1);
			p += nlen + 1;
			memcpy(p, value, vlen + 1);
			p += vlen + 1;
			lua_pop(L, 1);
		}
	}
	lua_pushboolean(L, rx_answer(b->s, (int64_t)id, (unsigned)status, copy, len, packed,
				     n_headers));
	return 1;
}

static int server_stats(lua_State *L)
{
	box *b = check_box(L);
	static const unsigned codes[RX_N_STATS] = RX_STAT_CODES;
	rx_stats st;
	rx_get_stats(b->s, &st);
	lua_createtable(L, 0, RX_N_STATS + 6);
	for (size_t i = 0; i < RX_N_STATS; i++) {
		lua_pushinteger(L, (lua_Integer)st.by_status[i]);
		lua_rawseti(L, -2, codes[i]);
	}
	lua_pushinteger(L, (lua_Integer)st.waiting);
	lua_setfield(L, -2, "waiting");
	lua_pushinteger(L, (lua_Integer)st.connections);
	lua_setfield(L, -2, "connections");
	lua_pushinteger(L, (lua_Integer)st.buffered);
	lua_setfield(L, -2, "buffered");
	lua_pushinteger(L, (lua_Integer)st.refused);
	lua_setfield(L, -2, "refused");
	lua_pushinteger(L, (lua_Integer)st.dropped);
	lua_setfield(L, -2, "dropped");
	lua_pushinteger(L, (lua_Integer)st.verified);
	lua_setfield(L, -2, "verified");
	return 1;
}

/* ------------------------------------------------------------------ options */

/* The limits both listen and serve take. */
#define LIMITS                                                                                \
	"max_body", "max_pending", "max_buffered", "answer_timeout", "header_timeout",       \
		"idle_timeout", "max_connections", "per_ip_limit"
static const char *const LISTEN_OPTIONS[] = { "host", "port", "path", "authorization", LIMITS,
					      NULL };
static const char *const SERVE_OPTIONS[] = { "host", "port", LIMITS, NULL };

static void check_option_names(lua_State *L, const char *fname, const char *const *names)
{
	lua_pushnil(L);
	while (lua_next(L, 1) != 0) {
		lua_pop(L, 1);
		const char *key = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
		int known = 0;
		for (int i = 0; key && names[i]; i++)
			known |= strcmp(key, names[i]) == 0;
		if (!known)
			luaL_error(L, "bad argument #1 to '%s' (unknown option '%s')", fname,
				   key ? key : luaL_typename(L, -1));
	}
}

/* Pushes opts[key]; returns it as a string, or def when absent. */
static const char *opt_string(lua_State *L, const char *fname, const char *key, const char *def)
{
	if (ssf_getfield(L, 1, key) == LUA_TNIL)
		return def;
	if (lua_type(L, -1) != LUA_TSTRING)
		luaL_error(L, "bad argument #1 to '%s' (option '%s' must be a string, got %s)",
			   fname, key, luaL_typename(L, -1));
	return lua_tostring(L, -1);
}

/* opts[key] as a number within [min, max], or def when absent; `what`
 * says what is expected, for the error. */
static double opt_number(lua_State *L, const char *fname, const char *key, double def,
			 double min, double max, int integer, const char *what)
{
	int t = ssf_getfield(L, 1, key);
	double v = def;
	if (t != LUA_TNIL) {
		int ok = t == LUA_TNUMBER && (!integer || ssf_isinteger(L, -1));
		v = lua_tonumber(L, -1);
		if (!ok || !(v >= min && v <= max))
			luaL_error(L, "bad argument #1 to '%s' (option '%s' must be %s)", fname,
				   key, what);
	}
	lua_pop(L, 1);
	return v;
}

static int has_line_break(const char *s)
{
	return strpbrk(s, "\r\n") != NULL;
}

/* listen and serve: reads the options into o and starts the server. */
static int start(lua_State *L, int generic)
{
	const char *fname = generic ? "serve" : "listen";
	luaL_checktype(L, 1, LUA_TTABLE);
	check_option_names(L, fname, generic ? SERVE_OPTIONS : LISTEN_OPTIONS);
	rx_options o;
	memset(&o, 0, sizeof o);
	o.generic = generic;
	const char *host = opt_string(L, fname, "host", "127.0.0.1");
	int port = (int)opt_number(L, fname, "port", 0, 0, 65535, 1, "an integer from 0 to 65535");
	o.max_body = (size_t)opt_number(L, fname, "max_body", 65536, 1, MAX_BODY_LIMIT, 1,
					"an integer from 1 to 16 MiB");
	o.max_pending = (size_t)opt_number(L, fname, "max_pending", 64, 1, MAX_PENDING_LIMIT, 1,
					   "an integer from 1 to 65536");
	o.max_buffered = (size_t)opt_number(L, fname, "max_buffered", 64 * 1024 * 1024, 1,
					    MAX_BUFFERED_LIMIT, 1, "an integer from 1 to 1 GiB");
	if (o.max_buffered < o.max_body)
		luaL_error(L, "bad argument #1 to '%s' (option 'max_buffered' must be at least "
			      "max_body)", fname);
	o.answer_timeout = opt_number(L, fname, "answer_timeout", 30, 0.001, 86400, 0,
				      "a number of seconds from 0.001 to 86400");
	/* Short, as headers are a few hundred bytes sent at once: only a
	 * client that means to hold the connection takes longer. */
	o.header_timeout = opt_number(L, fname, "header_timeout", 10, 0.001, 3600, 0,
				      "a number of seconds from 0.001 to 3600");
	o.idle_timeout = (unsigned)opt_number(L, fname, "idle_timeout", 30, 1, 3600, 1,
					      "an integer number of seconds from 1 to 3600");
	o.max_connections = (unsigned)opt_number(L, fname, "max_connections", 256, 1, 16384, 1,
						 "an integer from 1 to 16384");
	o.per_ip_limit = (unsigned)opt_number(L, fname, "per_ip_limit", 64, 1, 16384, 1,
					      "an integer from 1 to 16384");
	if (!generic) {
		o.path = opt_string(L, fname, "path", "/ssf/events");
		o.authorization = opt_string(L, fname, "authorization", NULL);
		if (o.path[0] != '/' || has_line_break(o.path))
			luaL_error(L, "bad argument #1 to 'listen' (option 'path' must start with "
				      "'/')");
		if (o.authorization && (o.authorization[0] == '\0' ||
					has_line_break(o.authorization)))
			luaL_error(L, "bad argument #1 to 'listen' (option 'authorization' must "
				      "be a non-empty header value)");
	}

	struct sockaddr_in *a4 = (struct sockaddr_in *)&o.addr;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&o.addr;
	if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
	} else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		o.v6 = 1;
		o.any = memcmp(&a6->sin6_addr, &in6addr_any, sizeof in6addr_any) == 0;
	} else {
		lua_pushnil(L);
		lua_pushfstring(L, "cannot listen on '%s': not an IPv4 or IPv6 address", host);
		return 2;
	}

	/* From here the server is owned by the userdata, whose __gc frees it. */
	box *b = ssf_newuserdata(L, sizeof *b);
	memset(b, 0, sizeof *b);
	b->generic = generic;
	luaL_setmetatable(L, SERVER_MT);
	char err[300];
	b->s = rx_start(&o, err, sizeof err);
	if (b->s == NULL) {
		lua_pushnil(L);
		lua_pushfstring(L, o.v6 ? "cannot listen on [%s]:%d: %s" : "cannot listen on %s:%d: %s",
				host, port, err);
		return 2;
	}
	return 1;
}

static int l_listen(lua_State *L)
{
	return start(L, 0);
}

static int l_serve(lua_State *L)
{
	return start(L, 1);
}

static int l_clock(lua_State *L)
{
	lua_pushnumber(L, rx_clock());
	return 1;
}

/* The module's only exported symbol (the build hides the rest). */
__attribute__((visibility("default"))) int luaopen_ssf_httpd(lua_State *L);

int luaopen_ssf_httpd(lua_State *L)
{
	static const luaL_Reg methods[] = {
		{ "port", server_port },       { "poll", server_poll },
		{ "respond", server_respond }, { "stats", server_stats },
		{ "close", server_close },     { "keys", server_keys },
		{ NULL, NULL },
	};
	static const luaL_Reg funcs[] = {
		{ "listen", l_listen },
		{ "serve", l_serve },
		{ "clock", l_clock },
		{ NULL, NULL },
	};
	luaL_newmetatable(L, SERVER_MT);
	luaL_newlib(L, methods);
	lua_setfield(L, -2, "__index");
	lua_pushcfunction(L, server_close);
	lua_setfield(L, -2, "__gc");
	lua_pushcfunction(L, server_close);
	lua_setfield(L, -2, "__close");
	lua_pop(L, 1);
	luaL_newlib(L, funcs);
	return 1;
}
