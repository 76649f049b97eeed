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
 *   session:perform{method=, url=, headers={"K: v"...}, body=, timeout=,
 *                   connect_timeout=, max_body=, ca_file=, proxy=,
 *                   user_agent=}
 *        -> status, headers (lowercased names), body
 *        |  nil, kind, message, reached [, code, final]
 *           kind: "transport" | "timeout" | "decode" | "interrupted";
 *           reached: false when the request cannot have reached the server;
 *           code: "tls" | "proxy" for those failures, with final true
 *           when another attempt cannot succeed (a certificate that does
 *           not verify, a proxy refusing the tunnel)
 *   session:close()            (also __close and __gc; idempotent)
 *   http.sleep(seconds)        (returns early on a signal, so Ctrl-C works)
 *   http.now()                 -> seconds on a monotonic clock (for timing)
 *
 * libcurl callbacks only fill C buffers and read a C flag; no Lua runs while
 * libcurl is on the stack, so no error can longjmp through it.
 */
#define _POSIX_C_SOURCE 200809L

#include <ctype.h>
#include <stdio.h>
#include <strings.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <lauxlib.h>
#include <lua.h>

#include "buf.h"
#include "headers.h"
#include "sigint.h"

#define SESSION_MT "ssf.http.session"
#define URL_MT "ssf.http.url"
#define MAX_HEADER_BYTES (256 * 1024)
#define MAX_NAME 256

typedef struct session {
	CURLM *multi;
	CURL *easy; /* reused for every request: its DNS and TLS caches stay */
	struct curl_slist *headers;
	char *default_ca;                 /* libcurl's built-in CA bundle, or NULL */
	char *user_agent, *ca_file, *proxy; /* as set on easy; NULL: the default */
	ssf_buf body, head;
	int body_too_big, head_too_big;
	char errbuf[CURL_ERROR_SIZE];
} session;

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	session *s = ud;
	int rc = ssf_buf_append(&s->body, p, size * n);
	if (rc == SSF_BUF_TOO_BIG)
		s->body_too_big = 1;
	return rc == SSF_BUF_OK ? size * n : 0;
}

/* Keeps only the last response's header block: a status line (after a
 * 100 Continue or a proxy's CONNECT answer) starts a new one. */
static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	session *s = ud;
	const char *name, *value;
	size_t nlen, vlen;
	if (ssf_header_parse(p, size * n, &name, &nlen, &value, &vlen) == SSF_HDR_STATUS)
		ssf_buf_clear(&s->head);
	int rc = ssf_buf_append(&s->head, p, size * n);
	if (rc == SSF_BUF_TOO_BIG)
		s->head_too_big = 1;
	return rc == SSF_BUF_OK ? size * n : 0;
}

static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	(void)ud, (void)dt, (void)dn, (void)ut, (void)un;
	return ssf_sigint_pending();
}

static session *check_session(lua_State *L)
{
	session *s = luaL_checkudata(L, 1, SESSION_MT);
	if (s->multi == NULL)
		luaL_error(L, "attempt to use a closed client");
	return s;
}

static void session_free(session *s)
{
	if (s->easy) {
		curl_easy_cleanup(s->easy);
		s->easy = NULL;
	}
	if (s->multi) {
		curl_multi_cleanup(s->multi);
		s->multi = NULL;
	}
	curl_slist_free_all(s->headers);
	s->headers = NULL;
	free(s->default_ca);
	free(s->user_agent);
	free(s->ca_file);
	free(s->proxy);
	s->default_ca = s->user_agent = s->ca_file = s->proxy = NULL;
	ssf_buf_free(&s->body);
	ssf_buf_free(&s->head);
}

static int session_close(lua_State *L)
{
	session_free(luaL_checkudata(L, 1, SESSION_MT));
	return 0;
}

/* Sets a string option only when it differs from what the handle holds: a
 * client's user agent, CA file and proxy are the same for all its requests.
 * *held is a copy of what was set, NULL for the default `def`. */
static int set_string(CURL *e, CURLoption opt, char **held, const char *want, const char *def)
{
	if (*held == want || (*held && want && strcmp(*held, want) == 0))
		return 1;
	char *copy = NULL;
	if (want && (copy = strdup(want)) == NULL)
		return 0;
	if (curl_easy_setopt(e, opt, want ? want : def) != CURLE_OK) {
		free(copy);
		return 0;
	}
	free(*held);
	*held = copy;
	return 1;
}

/* What every request of a session shares, set once: the handle is never
 * reset, so these stay (and so do its DNS and TLS caches). */
static int configure_session(session *s)
{
	CURL *e = s->easy;
	/* libcurl's built-in CA bundle, restored if a request with a ca_file
	 * is followed by one without. */
	char *def = NULL;
	curl_easy_getinfo(e, CURLINFO_CAINFO, &def);
	if (def && (s->default_ca = strdup(def)) == NULL)
		return 0;
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, s->errbuf);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, s);
	curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	/* Redirects are never followed: an API answer that redirects is an
	 * error to report, not a reason to send credentials elsewhere. */
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	/* "" offers every encoding libcurl can decode and has it decode the
	 * answer, also when the script sent its own Accept-Encoding. */
	return curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "") == CURLE_OK;
}

static int l_session(lua_State *L)
{
	session *s = lua_newuserdatauv(L, sizeof *s, 0);
	memset(s, 0, sizeof *s);
	luaL_setmetatable(L, SESSION_MT);
	s->multi = curl_multi_init();
	s->easy = curl_easy_init();
	if (s->multi == NULL || s->easy == NULL || !configure_session(s)) {
		session_free(s);
		return luaL_error(L, "cannot create a libcurl handle");
	}
	return 1;
}

/* Pushes opts[key] and returns it as a string, or def when absent. The value
 * stays on the stack, which keeps the returned pointer valid. */
static const char *opt_string(lua_State *L, const char *key, const char *def)
{
	if (lua_getfield(L, 2, key) == LUA_TNIL)
		return def;
	if (lua_type(L, -1) != LUA_TSTRING)
		luaL_error(L, "bad request option '%s' (string expected, got %s)", key,
			   luaL_typename(L, -1));
	return lua_tostring(L, -1);
}

static double opt_number(lua_State *L, const char *key, double def)
{
	int isnum;
	lua_getfield(L, 2, key);
	double v = lua_isnil(L, -1) ? def : lua_tonumberx(L, -1, &isnum);
	if (!lua_isnil(L, -1) && (!isnum || v < 0))
		luaL_error(L, "bad request option '%s' (non-negative number expected)", key);
	lua_pop(L, 1);
	return v;
}

/* Rebuilds s->headers from opts.headers. The list is owned by the session
 * at every step, so an error raised halfway leaks nothing. */
static void set_headers(lua_State *L, session *s)
{
	curl_slist_free_all(s->headers);
	s->headers = NULL;
	/* An empty "Expect:" stops libcurl from waiting for 100-continue. */
	s->headers = curl_slist_append(NULL, "Expect:");
	if (lua_getfield(L, 2, "headers") == LUA_TTABLE) {
		lua_Integer n = luaL_len(L, -1);
		for (lua_Integer i = 1; i <= n; i++) {
			lua_rawgeti(L, -1, i);
			const char *h = lua_tostring(L, -1);
			if (h == NULL || strpbrk(h, "\r\n") != NULL)
				luaL_error(L, "bad request option 'headers' (entry %d is not a header line)",
					   (int)i);
			struct curl_slist *l = curl_slist_append(s->headers, h);
			if (l == NULL)
				luaL_error(L, "not enough memory");
			s->headers = l;
			lua_pop(L, 1);
		}
	}
	lua_pop(L, 1);
	if (s->headers == NULL)
		luaL_error(L, "not enough memory");
}

/* The next "Name: value" field of a header block at or after *pos. */
static int next_field(const ssf_buf *head, size_t *pos, const char **name, size_t *nlen,
		      const char **value, size_t *vlen)
{
	while (*pos < head->len) {
		const char *line = head->data + *pos;
		const char *nl = memchr(line, '\n', head->len - *pos);
		size_t len = nl ? (size_t)(nl - line) + 1 : head->len - *pos;
		*pos += len;
		if (ssf_header_parse(line, len, name, nlen, value, vlen) == SSF_HDR_FIELD)
			return 1;
	}
	return 0;
}

static void push_headers(lua_State *L, const ssf_buf *head)
{
	lua_newtable(L);
	size_t pos = 0;
	const char *name, *value;
	size_t nlen, vlen;
	while (next_field(head, &pos, &name, &nlen, &value, &vlen)) {
		if (nlen >= MAX_NAME)
			continue;
		char lower[MAX_NAME];
		for (size_t i = 0; i < nlen; i++)
			lower[i] = (char)tolower((unsigned char)name[i]);
		lua_pushlstring(L, lower, nlen);
		/* Repeated fields are joined as RFC 9110 allows. */
		if (lua_getfield(L, -2, lua_tostring(L, -1)) == LUA_TSTRING) {
			lua_pushliteral(L, ", ");
			lua_pushlstring(L, value, vlen);
			lua_concat(L, 3);
		} else {
			lua_pop(L, 1);
			lua_pushlstring(L, value, vlen);
		}
		lua_rawset(L, -3);
	}
}

static int push_failure(lua_State *L, const char *kind, const char *msg, int reached,
			const char *code, int final)
{
	lua_pushnil(L);
	lua_pushstring(L, kind);
	lua_pushstring(L, msg);
	lua_pushboolean(L, reached);
	if (code == NULL)
		return 4;
	lua_pushstring(L, code);
	lua_pushboolean(L, final);
	return 6;
}

/* TLS failures that another attempt cannot fix: the peer's certificate or
 * name, or our own CA file and TLS settings. A handshake cut short
 * (CURLE_SSL_CONNECT_ERROR) is not among them. */
static int tls_final(CURLcode rc)
{
	switch (rc) {
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_ENGINE_INITFAILED:
		return 1;
	default:
		return 0;
	}
}

/* Whether a failed connect was to a proxy rather than to the URL's host.
 * libcurl names the endpoint it could not reach ("Failed to connect to H
 * port P ..."), and which proxy applies (option or environment, NO_PROXY)
 * is its decision, so the endpoint is compared with the URL's. */
static int connect_failed_at_proxy(session *s, const char *url)
{
	char host[256];
	long port;
	if (sscanf(s->errbuf, "Failed to connect to %255s port %ld", host, &port) != 2)
		return 0;
	CURLU *u = curl_url();
	char *uhost = NULL, *uport = NULL;
	int other = 0;
	if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &uhost, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PORT, &uport, CURLU_DEFAULT_PORT) == CURLUE_OK) {
		/* The URL spells an IPv6 host in brackets; the message does not. */
		size_t n = strlen(uhost);
		const char *h = uhost;
		if (n >= 2 && uhost[0] == '[') {
			h = uhost + 1;
			n -= 2;
		}
		other = strlen(host) != n || strncmp(host, h, n) != 0 || atol(uport) != port;
	}
	curl_free(uhost);
	curl_free(uport);
	curl_url_cleanup(u);
	return other;
}

/* Pushes the answer's Content-Encoding (at most 100 bytes), or "none". */
static void push_content_encoding(lua_State *L, const ssf_buf *head)
{
	size_t pos = 0;
	const char *name, *value;
	size_t nlen, vlen;
	while (next_field(head, &pos, &name, &nlen, &value, &vlen)) {
		if (nlen == 16 && strncasecmp(name, "Content-Encoding", 16) == 0) {
			lua_pushlstring(L, value, vlen < 100 ? vlen : 100);
			return;
		}
	}
	lua_pushliteral(L, "none");
}

static int fail_transfer(lua_State *L, session *s, CURLcode rc, const char *url,
			 double timeout, double connect_timeout)
{
	/* Bytes of request sent: zero means the server cannot have seen it,
	 * which also tells a connect timeout from a slow answer (the connect
	 * time is zero on a reused connection, so it cannot). */
	long sent = 0;
	curl_easy_getinfo(s->easy, CURLINFO_REQUEST_SIZE, &sent);
	int reached = sent > 0;
	/* libcurl's error buffer is the specific message; its code's generic
	 * text ("Couldn't resolve host name") would only repeat it. */
	const char *detail = s->errbuf[0] ? s->errbuf : curl_easy_strerror(rc);

	if (s->body_too_big) {
		lua_pushfstring(L, "response body exceeds max_body (%I bytes)",
				(lua_Integer)s->body.max);
		return push_failure(L, "decode", lua_tostring(L, -1), 1, NULL, 0);
	}
	if (s->head_too_big)
		return push_failure(L, "transport", "response headers exceed 256 KiB", 1, NULL, 0);
	if (rc == CURLE_OPERATION_TIMEDOUT) {
		if (!reached)
			lua_pushfstring(L, "connect timeout after %f s: %s", connect_timeout, detail);
		else
			lua_pushfstring(L, "timeout after %f s: %s", timeout, detail);
		return push_failure(L, "timeout", lua_tostring(L, -1), reached, NULL, 0);
	}
	if (rc == CURLE_BAD_CONTENT_ENCODING) {
		lua_pushliteral(L, "cannot decode the response body (Content-Encoding: ");
		push_content_encoding(L, &s->head);
		lua_pushfstring(L, "): %s", detail);
		lua_concat(L, 3);
		return push_failure(L, "decode", lua_tostring(L, -1), 1, NULL, 0);
	}
	/* A proxy's answer to CONNECT other than 2xx: a 4xx (forbidden port,
	 * authentication required) is its policy, a 5xx may pass. */
	long connect_code = 0;
	curl_easy_getinfo(s->easy, CURLINFO_HTTP_CONNECTCODE, &connect_code);
	if (connect_code >= 300) {
		lua_pushfstring(L, "the proxy %s the tunnel: CONNECT answered HTTP %d",
				connect_code < 500 ? "refused" : "could not open", (int)connect_code);
		return push_failure(L, "transport", lua_tostring(L, -1), 0, "proxy",
				    connect_code < 500);
	}
	if (rc == CURLE_COULDNT_RESOLVE_PROXY)
		return push_failure(L, "transport", detail, 0, "proxy", 0);
	if (rc == CURLE_COULDNT_CONNECT && connect_failed_at_proxy(s, url)) {
		lua_pushfstring(L, "cannot connect to the proxy: %s", detail);
		return push_failure(L, "transport", lua_tostring(L, -1), 0, "proxy", 0);
	}
	if (rc == CURLE_SSL_CONNECT_ERROR) {
		/* libcurl's text here is only the TLS library's error string. */
		lua_pushfstring(L, "TLS handshake failed: %s", detail);
		return push_failure(L, "transport", lua_tostring(L, -1), reached, "tls", 0);
	}
	if (tls_final(rc))
		return push_failure(L, "transport", detail, reached, "tls", 1);
	return push_failure(L, "transport", detail, reached, NULL, 0);
}

/* The request's own options. Each one a previous request may have set is
 * set again, so nothing carries over. */
static void configure(session *s, const char *method, const char *url, const char *body,
		      size_t body_len, double timeout, double connect_timeout)
{
	CURL *e = s->easy;
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(timeout * 1000));
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(connect_timeout * 1000));
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, s->headers);
	/* GET clears a previous request's HEAD or POST. */
	curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	int get = strcmp(method, "GET") == 0, head = strcmp(method, "HEAD") == 0;
	int post = strcmp(method, "POST") == 0;
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, get || head ? NULL : method);
	if (head)
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	/* libcurl silently resends a request whose reused connection dies
	 * before any answer. That is unsafe for a POST, which may have been
	 * processed: give it a connection of its own. */
	curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, (long)post);
	if (!get && !head && (body || post)) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? body_len : 0));
		curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, body ? body : "");
	}
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
		if (m->msg == CURLMSG_DONE && m->easy_handle == s->easy)
			result = m->data.result;
	return result;
}

static int session_perform(lua_State *L)
{
	session *s = check_session(L);
	luaL_checktype(L, 2, LUA_TTABLE);
	luaL_checkstack(L, 24, "request options");
	const char *method = opt_string(L, "method", "GET");
	const char *url = opt_string(L, "url", NULL);
	size_t body_len = 0;
	const char *body = opt_string(L, "body", NULL);
	if (body)
		body_len = lua_rawlen(L, -1);
	const char *ca_file = opt_string(L, "ca_file", NULL);
	const char *proxy = opt_string(L, "proxy", NULL);
	const char *user_agent = opt_string(L, "user_agent", NULL);
	double timeout = opt_number(L, "timeout", 30);
	double connect_timeout = opt_number(L, "connect_timeout", 10);
	double max_body = opt_number(L, "max_body", 8.0 * 1024 * 1024);
	if (url == NULL)
		return luaL_error(L, "bad request option 'url' (string expected, got nil)");
	set_headers(L, s);
	if (!set_string(s->easy, CURLOPT_USERAGENT, &s->user_agent, user_agent, NULL) ||
	    !set_string(s->easy, CURLOPT_CAINFO, &s->ca_file, ca_file, s->default_ca) ||
	    !set_string(s->easy, CURLOPT_PROXY, &s->proxy, proxy, NULL))
		return luaL_error(L, "not enough memory");

	/* From here to the end of the transfer nothing may raise. */
	ssf_buf_clear(&s->body);
	ssf_buf_clear(&s->head);
	s->body.max = (size_t)max_body;
	s->head.max = MAX_HEADER_BYTES;
	s->body_too_big = s->head_too_big = 0;
	s->errbuf[0] = '\0';
	configure(s, method, url, body, body_len, timeout, connect_timeout);
	if (curl_multi_add_handle(s->multi, s->easy) != CURLM_OK)
		return push_failure(L, "transport", "cannot start the transfer", 0, NULL, 0);

	/* Ctrl-C must abort a transfer blocked in libcurl, where a Lua hook
	 * cannot run (see sigint.h). */
	ssf_sigint sig;
	ssf_sigint_begin(&sig);
	CURLcode rc = run_transfer(s);
	curl_multi_remove_handle(s->multi, s->easy);
	if (ssf_sigint_end(&sig))
		return push_failure(L, "interrupted", "interrupted", 1, NULL, 0);
	if (rc != CURLE_OK)
		return fail_transfer(L, s, rc, url, timeout, connect_timeout);
	long status = 0;
	curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
	lua_pushinteger(L, status);
	push_headers(L, &s->head);
	lua_pushlstring(L, s->body.data ? s->body.data : "", s->body.len);
	return 3;
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
	url_box *b = lua_newuserdatauv(L, sizeof *b, 0);
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

	luaL_newmetatable(L, URL_MT);
	lua_pushcfunction(L, url_gc);
	lua_setfield(L, -2, "__gc");
	lua_pop(L, 1);

	luaL_newlib(L, funcs);
	return 1;
}
