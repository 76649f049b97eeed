/*
 * http.multi{max_host_connections=}: transfers in flight together on one
 * curl multi handle, which shares its connection cache between them. The
 * caller (lua/ssf/tasks.lua) starts transfers and collects completions; C
 * never waits for one transfer and never calls back into Lua, so only Lua
 * code yields.
 *
 *   m:start(request)  -> id (a small integer, reused once its result is taken)
 *                        | nil, kind, message, reached
 *   m:run(timeout)    -> {id...} of the transfers finished, waiting at most
 *                        timeout seconds for the first one (an empty list
 *                        when none finished) | nil, "interrupted" (Ctrl-C)
 *   m:result(id)      -> the outcome of a finished transfer, as
 *                        session:perform's (http_xfer.c); the id is free again
 *   m:cancel(id)      stops a transfer; the id is free again
 *   m:limit(n)        at most n connections to one host (0: no limit)
 *   m:count()         -> transfers started and not yet taken
 *   m:close()         (also __close and __gc; idempotent)
 *
 * Easy handles are pooled: a finished one is reused by the next start, so
 * its DNS and TLS caches and header list stay warm.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <lauxlib.h>

#include "compat.h"
#include "http_multi.h"
#include "http_xfer.h"
#include "sigint.h"

#define MULTI_MT "ssf.http.multi"

/* FINISHED: done, id not yet reported by run; DONE: reported. */
enum { FREE, RUNNING, FINISHED, DONE };

typedef struct multi {
	CURLM *multi;
	ssf_xfer **slots; /* xfers by id - 1; each allocated once, then pooled */
	int nslots;
	int used; /* slots RUNNING or DONE */
} multi;

static multi *check_multi(lua_State *L)
{
	multi *m = luaL_checkudata(L, 1, MULTI_MT);
	if (m->multi == NULL)
		luaL_error(L, "attempt to use a closed multi");
	return m;
}

static void multi_free(multi *m)
{
	for (int i = 0; i < m->nslots; i++) {
		ssf_xfer *x = m->slots[i];
		if (x->state != FREE)
			curl_multi_remove_handle(m->multi, x->easy);
		ssf_xfer_free(x);
		free(x);
	}
	free(m->slots);
	m->slots = NULL;
	m->nslots = m->used = 0;
	if (m->multi) {
		curl_multi_cleanup(m->multi);
		m->multi = NULL;
	}
}

static int multi_close(lua_State *L)
{
	multi_free(luaL_checkudata(L, 1, MULTI_MT));
	return 0;
}

static void set_limit(lua_State *L, multi *m, lua_Integer n)
{
	luaL_argcheck(L, n >= 0 && n <= 100000, 2, "connection limit out of range");
	curl_multi_setopt(m->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)n);
}

int ssf_http_multi_new(lua_State *L)
{
	lua_Integer limit = 0;
	if (!lua_isnoneornil(L, 1)) {
		luaL_checktype(L, 1, LUA_TTABLE);
		lua_getfield(L, 1, "max_host_connections");
		limit = ssf_optinteger(L, -1, 0);
		lua_pop(L, 1);
	}
	multi *m = ssf_newuserdata(L, sizeof *m);
	memset(m, 0, sizeof *m);
	luaL_setmetatable(L, MULTI_MT);
	if ((m->multi = curl_multi_init()) == NULL)
		return luaL_error(L, "cannot create a libcurl handle");
	set_limit(L, m, limit);
	return 1;
}

/* A free slot's index, growing the pool when every slot is taken. */
static int free_slot(lua_State *L, multi *m)
{
	if (m->used < m->nslots)
		for (int i = 0; i < m->nslots; i++)
			if (m->slots[i]->state == FREE)
				return i;
	ssf_xfer **grown = realloc(m->slots, sizeof *grown * (size_t)(m->nslots + 1));
	if (grown == NULL)
		luaL_error(L, "not enough memory");
	m->slots = grown;
	ssf_xfer *x = calloc(1, sizeof *x);
	if (x == NULL || !ssf_xfer_init(x)) {
		free(x);
		luaL_error(L, "cannot create a libcurl handle");
	}
	m->slots[m->nslots] = x;
	return m->nslots++;
}

static int multi_start(lua_State *L)
{
	multi *m = check_multi(L);
	int i = free_slot(L, m);
	ssf_xfer *x = m->slots[i];
	/* The slot stays FREE until the transfer is added, so a bad option
	 * raised here leaves nothing behind. */
	ssf_xfer_prepare(L, 2, x);
	if (curl_multi_add_handle(m->multi, x->easy) != CURLM_OK)
		return ssf_xfer_push_failure(L, "transport", "cannot start the transfer", 0, NULL, 0);
	x->state = RUNNING;
	m->used++;
	lua_pushinteger(L, i + 1);
	return 1;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Marks the transfers libcurl reports finished; returns how many. */
static int collect(multi *m)
{
	int n = 0;
	CURLMsg *msg;
	int left;
	while ((msg = curl_multi_info_read(m->multi, &left)) != NULL) {
		ssf_xfer *x = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
		if (msg->msg != CURLMSG_DONE || x == NULL || x->state != RUNNING)
			continue;
		x->state = FINISHED;
		x->result = msg->data.result;
		n++;
	}
	return n;
}

static int multi_run(lua_State *L)
{
	multi *m = check_multi(L);
	double timeout = luaL_checknumber(L, 2);
	luaL_argcheck(L, timeout >= 0 && timeout < 1e9, 2, "seconds out of range");
	double deadline = now() + timeout;
	int running, failed = 0;
	ssf_sigint sig;
	ssf_sigint_begin(&sig);
	/* Nothing raises between begin and end. */
	for (;;) {
		if (curl_multi_perform(m->multi, &running) != CURLM_OK) {
			failed = 1;
			break;
		}
		if (collect(m) > 0 || ssf_sigint_pending())
			break;
		double left = deadline - now();
		if (left <= 0)
			break;
		/* Wake at least every 100 ms so Ctrl-C is noticed promptly. */
		int ms = left < 0.1 ? (int)(left * 1000) + 1 : 100;
		if (curl_multi_poll(m->multi, NULL, 0, ms, NULL) != CURLM_OK) {
			failed = 1;
			break;
		}
	}
	if (ssf_sigint_end(&sig)) {
		lua_pushnil(L);
		lua_pushliteral(L, "interrupted");
		return 2;
	}
	if (failed)
		return luaL_error(L, "libcurl's multi interface failed");
	lua_newtable(L);
	int n = 0;
	for (int i = 0; i < m->nslots; i++)
		if (m->slots[i]->state == FINISHED) {
			m->slots[i]->state = DONE;
			lua_pushinteger(L, i + 1);
			lua_rawseti(L, -2, ++n);
		}
	return 1;
}

static ssf_xfer *check_id(lua_State *L, multi *m, int want)
{
	lua_Integer id = ssf_checkinteger(L, 2);
	luaL_argcheck(L, id >= 1 && id <= m->nslots, 2, "unknown transfer id");
	ssf_xfer *x = m->slots[id - 1];
	int ok = want == RUNNING ? x->state != FREE : x->state == FINISHED || x->state == DONE;
	luaL_argcheck(L, ok, 2, want == DONE ? "transfer not finished" : "unknown transfer id");
	return x;
}

static void release(multi *m, ssf_xfer *x)
{
	curl_multi_remove_handle(m->multi, x->easy);
	x->state = FREE;
	m->used--;
}

static int multi_result(lua_State *L)
{
	multi *m = check_multi(L);
	ssf_xfer *x = check_id(L, m, DONE);
	release(m, x);
	return ssf_xfer_push_result(L, x, x->result);
}

static int multi_cancel(lua_State *L)
{
	multi *m = check_multi(L);
	release(m, check_id(L, m, RUNNING));
	return 0;
}

static int multi_limit(lua_State *L)
{
	multi *m = check_multi(L);
	set_limit(L, m, ssf_checkinteger(L, 2));
	return 0;
}

static int multi_count(lua_State *L)
{
	lua_pushinteger(L, check_multi(L)->used);
	return 1;
}

void ssf_http_multi_register(lua_State *L)
{
	static const luaL_Reg methods[] = {
		{ "start", multi_start },
		{ "run", multi_run },
		{ "result", multi_result },
		{ "cancel", multi_cancel },
		{ "limit", multi_limit },
		{ "count", multi_count },
		{ "close", multi_close },
		{ NULL, NULL },
	};
	luaL_newmetatable(L, MULTI_MT);
	luaL_newlib(L, methods);
	lua_setfield(L, -2, "__index");
	lua_pushcfunction(L, multi_close);
	lua_setfield(L, -2, "__gc");
	lua_pushcfunction(L, multi_close);
	lua_setfield(L, -2, "__close");
	lua_pop(L, 1);
}
