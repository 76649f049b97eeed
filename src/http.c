/*
 * ssf.http: the libcurl side of ssf, kept thin. Lua decides what to send and
 * what an answer means; this module moves bytes.
 *
 *   http.versions()            -> "libcurl x.y.z", "<TLS library/version>"
 *   http.parse_url(s)          -> {scheme=, host=, port=, path=, query=,
 *                                  fragment=, userinfo=bool} | nil, message
 *   http.session()             -> session (one curl multi handle: its
 *                                 connection cache is what keeps
 *                                 connections alive across calls)
 *   session:perform(request)   -> the outcome of one transfer, blocking;
 *                                 the request table and the outcome are
 *                                 described in http_xfer.c
 *   session:close()            (also __close and __gc; idempotent)
 *   http.multi{max_host_connections=}
 *                              -> multi: many transfers in flight without
 *                                 blocking (see http_multi.c)
 *   http.sleep(seconds)        (returns early on a signal, so Ctrl-C works)
 *   http.now()                 -> seconds on a monotonic clock (for timing)
 *
 * libcurl callbacks only fill C buffers and read a C flag; no Lua runs while
 * libcurl is on the stack, so no error can longjmp through it.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <lauxlib.h>
#include <lua.h>

#include "compat.h"

#include "http_multi.h"
#include "http_xfer.h"
#include "sigint.h"

#define SESSION_MT "ssf.http.session"
#define URL_MT "ssf.http.url"

typedef struct session {
	CURLM *multi;
	ssf_xfer x;
} session;

static session *check_session(lua_State *L)
{
	session *s = luaL_checkudata(L, 1, SESSION_MT);
	if (s->multi == NULL)
		luaL_error(L, "attempt to use a closed client");
	return s;
}

static void session_free(session *s)
{
	ssf_xfer_free(&s->x);
	if (s->multi) {
		curl_multi_cleanup(s->multi);
		s->multi = NULL;
	}
}

static int session_close(lua_State *L)
{
	session_free(luaL_checkudata(L, 1, SESSION_MT));
	return 0;
}

static int l_session(lua_State *L)
{
	session *s = ssf_newuserdata(L, sizeof *s);
	memset(s, 0, sizeof *s);
	luaL_setmetatable(L, SESSION_MT);
	s->multi = curl_multi_init();
	if (s->multi == NULL || !ssf_xfer_init(&s->x)) {
		session_free(s);
		return luaL_error(L, "cannot create a libcurl handle");
	}
	return 1;
}

/* Drives the multi handle until our one transfer is done or Ctrl-C. */
static CURLcode run_transfer(session *s)
{
	CURLcode result = CURLE_OK;
	int running = 1;
	while (running && !ssf_sigint_pending()) {
		if (curl_multi_perform(s->multi, &running) != CURLM_OK)
			return CURLE_FAILED_INIT;
		/* Wake at least every 100 ms so Ctrl-C is noticed promptly. */
		if (running && curl_multi_poll(s->multi, NULL, 0, 100, NULL) != CURLM_OK)
			return CURLE_FAILED_INIT;
	}
	CURLMsg *m;
	int left;
	while ((m = curl_multi_info_read(s->multi, &left)) != NULL)
		if (m->msg == CURLMSG_DONE && m->easy_handle == s->x.easy)
			result = m->data.result;
	return result;
}

static int session_perform(lua_State *L)
{
	session *s = check_session(L);
	ssf_xfer_prepare(L, 2, &s->x);
	/* From here to the end of the transfer nothing may raise. */
	if (curl_multi_add_handle(s->multi, s->x.easy) != CURLM_OK)
		return ssf_xfer_push_failure(L, "transport", "cannot start the transfer", 0, NULL, 0);
	ssf_sigint sig;
	ssf_sigint_begin(&sig);
	CURLcode rc = run_transfer(s);
	curl_multi_remove_handle(s->multi, s->x.easy);
	if (ssf_sigint_end(&sig))
		return ssf_xfer_push_failure(L, "interrupted", "interrupted", 1, NULL, 0);
	return ssf_xfer_push_result(L, &s->x, rc);
}

typedef struct url_box {
	CURLU *u;
	char *part; /* a part being copied into Lua, freed by __gc on error */
} url_box;

static int url_gc(lua_State *L)
{
	url_box *b = luaL_checkudata(L, 1, URL_MT);
	curl_free(b->part);
	b->part = NULL;
	curl_url_cleanup(b->u);
	b->u = NULL;
	return 0;
}

static void set_part(lua_State *L, url_box *b, CURLUPart which, const char *key)
{
	if (curl_url_get(b->u, which, &b->part, 0) == CURLUE_OK && b->part != NULL) {
		lua_pushstring(L, b->part);
		lua_setfield(L, -2, key);
	}
	curl_free(b->part);
	b->part = NULL;
}

/* URL parsing is libcurl's, so the host checked is the host libcurl uses. */
static int l_parse_url(lua_State *L)
{
	const char *s = luaL_checkstring(L, 1);
	url_box *b = ssf_newuserdata(L, sizeof *b);
	b->u = NULL;
	b->part = NULL;
	luaL_setmetatable(L, URL_MT);
	b->u = curl_url();
	if (b->u == NULL)
		return luaL_error(L, "not enough memory");
	CURLUcode rc = curl_url_set(b->u, CURLUPART_URL, s, 0);
	if (rc != CURLUE_OK) {
		lua_pushnil(L);
		lua_pushstring(L, curl_url_strerror(rc));
		return 2;
	}
	lua_newtable(L);
	set_part(L, b, CURLUPART_SCHEME, "scheme");
	set_part(L, b, CURLUPART_HOST, "host");
	set_part(L, b, CURLUPART_PORT, "port");
	set_part(L, b, CURLUPART_PATH, "path");
	set_part(L, b, CURLUPART_QUERY, "query");
	set_part(L, b, CURLUPART_FRAGMENT, "fragment");
	char *user = NULL;
	int userinfo = curl_url_get(b->u, CURLUPART_USER, &user, 0) == CURLUE_OK;
	curl_free(user);
	lua_pushboolean(L, userinfo);
	lua_setfield(L, -2, "userinfo");
	return 1;
}

static int l_sleep(lua_State *L)
{
	double secs = luaL_checknumber(L, 1);
	luaL_argcheck(L, secs >= 0 && secs < 1e9, 1, "seconds out of range");
	struct timespec ts = { (time_t)secs, (long)((secs - (double)(time_t)secs) * 1e9) };
	/* A signal (EINTR) ends the sleep early: the host's SIGINT hook then
	 * stops the script instead of waiting out a long back-off. */
	nanosleep(&ts, NULL);
	return 0;
}

static int l_now(lua_State *L)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
	return 1;
}

static int l_versions(lua_State *L)
{
	const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
	lua_pushfstring(L, "libcurl %s", v->version);
	lua_pushstring(L, v->ssl_version ? v->ssl_version : "no TLS library");
	return 2;
}

/* The module's only exported symbol (the build hides the rest). */
__attribute__((visibility("default"))) int luaopen_ssf_http(lua_State *L);

int luaopen_ssf_http(lua_State *L)
{
	static const luaL_Reg session_methods[] = {
		{ "perform", session_perform },
		{ "close", session_close },
		{ NULL, NULL },
	};
	static const luaL_Reg funcs[] = {
		{ "session", l_session },
		{ "parse_url", l_parse_url },
		{ "versions", l_versions },
		{ "sleep", l_sleep },
		{ "now", l_now },
		{ "multi", ssf_http_multi_new },
		{ NULL, NULL },
	};
	/* Thread-safe since libcurl 7.84; repeated calls are reference counted. */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return luaL_error(L, "libcurl failed to initialise");

	luaL_newmetatable(L, SESSION_MT);
	luaL_newlib(L, session_methods);
	lua_setfield(L, -2, "__index");
	lua_pushcfunction(L, session_close);
	lua_setfield(L, -2, "__gc");
	lua_pushcfunction(L, session_close);
	lua_setfield(L, -2, "__close");
	lua_pop(L, 1);

	ssf_http_multi_register(L);

	luaL_newmetatable(L, URL_MT);
	lua_pushcfunction(L, url_gc);
	lua_setfield(L, -2, "__gc");
	lua_pop(L, 1);

	luaL_newlib(L, funcs);
	return 1;
}
