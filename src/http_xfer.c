/*
 * One transfer's setup and outcome (see http_xfer.h). The request table:
 *   {method=, url=, headers={"K: v"...}, body=, timeout=, connect_timeout=,
 *    max_body=, ca_file=, proxy=, user_agent=}
 * Outcome: status, headers (lowercased names), body
 *       |  nil, kind, message, reached [, code, final]
 *   kind: "transport" | "timeout" | "decode" | "interrupted";
 *   reached: false when the request cannot have reached the server;
 *   code: "tls" | "proxy" for those failures, with final true when another
 *   attempt cannot succeed (a certificate that does not verify, a proxy
 *   refusing the tunnel)
 */
#define _POSIX_C_SOURCE 200809L

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <lauxlib.h>

#include "compat.h"
#include "headers.h"
#include "http_xfer.h"
#include "sigint.h"

#define MAX_HEADER_BYTES (256 * 1024)
#define MAX_NAME 256

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	ssf_xfer *x = ud;
	int rc = ssf_buf_append(&x->body, p, size * n);
	if (rc == SSF_BUF_TOO_BIG)
		x->body_too_big = 1;
	return rc == SSF_BUF_OK ? size * n : 0;
}

/* Keeps only the last response's header block: a status line (after a
 * 100 Continue or a proxy's CONNECT answer) starts a new one. */
static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	ssf_xfer *x = ud;
	const char *name, *value;
	size_t nlen, vlen;
	/* Only a line starting "HTTP/" can be a status line: the others are
	 * not parsed twice (push_headers parses them once the answer is in). */
	if (size * n >= 5 && memcmp(p, "HTTP/", 5) == 0 &&
	    ssf_header_parse(p, size * n, &name, &nlen, &value, &vlen) == SSF_HDR_STATUS)
		ssf_buf_clear(&x->head);
	int rc = ssf_buf_append(&x->head, p, size * n);
	if (rc == SSF_BUF_TOO_BIG)
		x->head_too_big = 1;
	return rc == SSF_BUF_OK ? size * n : 0;
}

/* Ctrl-C aborts a transfer blocked in libcurl, where a Lua hook cannot run
 * (see sigint.h). */
static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	(void)ud, (void)dt, (void)dn, (void)ut, (void)un;
	return ssf_sigint_pending();
}

void ssf_xfer_free(ssf_xfer *x)
{
	if (x->easy) {
		curl_easy_cleanup(x->easy);
		x->easy = NULL;
	}
	curl_slist_free_all(x->headers);
	x->headers = NULL;
	free(x->headers_key);
	x->headers_key = NULL;
	x->headers_key_len = 0;
	free(x->default_ca);
	free(x->user_agent);
	free(x->ca_file);
	free(x->proxy);
	x->default_ca = x->user_agent = x->ca_file = x->proxy = NULL;
	ssf_buf_free(&x->body);
	ssf_buf_free(&x->head);
}

/* What every request on the handle shares, set once: the handle is never
 * reset, so these stay (and so do its DNS and TLS caches). */
int ssf_xfer_init(ssf_xfer *x)
{
	CURL *e = x->easy = curl_easy_init();
	if (e == NULL)
		return 0;
	/* libcurl's built-in CA bundle, restored if a request with a ca_file
	 * is followed by one without. */
	char *def = NULL;
	curl_easy_getinfo(e, CURLINFO_CAINFO, &def);
	if (def && (x->default_ca = strdup(def)) == NULL) {
		ssf_xfer_free(x);
		return 0;
	}
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_PRIVATE, x);
	/* Redirects are never followed: an API answer that redirects is an
	 * error to report, not a reason to send credentials elsewhere. */
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	/* "" offers every encoding libcurl can decode and has it decode the
	 * answer, also when the script sent its own Accept-Encoding. */
	if (curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "") != CURLE_OK) {
		ssf_xfer_free(x);
		return 0;
	}
	return 1;
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

/* Pushes opts[key] and returns it as a string, or def when absent. The value
 * stays on the stack, which keeps the returned pointer valid. */
static const char *opt_string(lua_State *L, int idx, const char *key, const char *def)
{
	if (ssf_getfield(L, idx, key) == LUA_TNIL)
		return def;
	if (lua_type(L, -1) != LUA_TSTRING)
		luaL_error(L, "bad request option '%s' (string expected, got %s)", key,
			   luaL_typename(L, -1));
	return lua_tostring(L, -1);
}

static double opt_number(lua_State *L, int idx, const char *key, double def)
{
	int isnum;
	lua_getfield(L, idx, key);
	double v = lua_isnil(L, -1) ? def : lua_tonumberx(L, -1, &isnum);
	if (!lua_isnil(L, -1) && (!isnum || v < 0))
		luaL_error(L, "bad request option '%s' (non-negative number expected)", key);
	lua_pop(L, 1);
	return v;
}

/* Entry i of opts.headers (the table on top of the stack), checked. */
static const char *header_line(lua_State *L, lua_Integer i, size_t *len)
{
	/* Strings only: a converted number would not stay referenced. */
	const char *h = ssf_rawgeti(L, -1, i) == LUA_TSTRING ? lua_tolstring(L, -1, len) : NULL;
	if (h == NULL || strpbrk(h, "\r\n") != NULL || strlen(h) != *len)
		luaL_error(L, "bad request option 'headers' (entry %d is not a header line)", (int)i);
	lua_pop(L, 1); /* still referenced by the table, so h stays valid */
	return h;
}

/* Whether opts.headers (on top of the stack, n entries) are the lines the
 * current list was built from: successive requests of a client mostly send
 * the same ones, and then the list is kept. */
static int same_headers(lua_State *L, ssf_xfer *x, lua_Integer n)
{
	if (x->headers_key == NULL)
		return 0;
	size_t pos = 0;
	for (lua_Integer i = 1; i <= n; i++) {
		size_t len;
		const char *h = header_line(L, i, &len);
		if (pos + len + 1 > x->headers_key_len || memcmp(x->headers_key + pos, h, len) != 0 ||
		    x->headers_key[pos + len] != '\0')
			return 0;
		pos += len + 1;
	}
	return pos == x->headers_key_len;
}

/* Rebuilds x->headers from opts.headers. The list and its key are owned by
 * the xfer at every step, so an error raised halfway leaks nothing. */
static void set_headers(lua_State *L, int idx, ssf_xfer *x)
{
	lua_Integer n = 0;
	if (ssf_getfield(L, idx, "headers") == LUA_TTABLE)
		n = ssf_len(L, -1);
	if (same_headers(L, x, n)) {
		lua_pop(L, 1);
		return;
	}
	curl_slist_free_all(x->headers);
	x->headers = NULL;
	free(x->headers_key);
	x->headers_key = NULL;
	x->headers_key_len = 0;
	/* An empty "Expect:" stops libcurl from waiting for 100-continue. */
	if ((x->headers = curl_slist_append(NULL, "Expect:")) == NULL)
		luaL_error(L, "not enough memory");
	size_t total = 0;
	for (lua_Integer i = 1; i <= n; i++) {
		size_t len;
		const char *h = header_line(L, i, &len);
		struct curl_slist *l = curl_slist_append(x->headers, h);
		if (l == NULL)
			luaL_error(L, "not enough memory");
		x->headers = l;
		total += len + 1;
	}
	char *key = malloc(total ? total : 1);
	if (key == NULL)
		luaL_error(L, "not enough memory");
	size_t pos = 0;
	for (lua_Integer i = 1; i <= n; i++) {
		size_t len;
		const char *h = header_line(L, i, &len);
		memcpy(key + pos, h, len + 1);
		pos += len + 1;
	}
	x->headers_key = key;
	x->headers_key_len = total;
	lua_pop(L, 1);
}

void ssf_xfer_prepare(lua_State *L, int idx, ssf_xfer *x)
{
	luaL_checktype(L, idx, LUA_TTABLE);
	luaL_checkstack(L, 24, "request options");
	int top = lua_gettop(L);
	const char *method = opt_string(L, idx, "method", "GET");
	const char *url = opt_string(L, idx, "url", NULL);
	size_t body_len = 0;
	const char *body = opt_string(L, idx, "body", NULL);
	if (body)
		body_len = ssf_rawlen(L, -1);
	const char *ca_file = opt_string(L, idx, "ca_file", NULL);
	const char *proxy = opt_string(L, idx, "proxy", NULL);
	const char *user_agent = opt_string(L, idx, "user_agent", NULL);
	double timeout = opt_number(L, idx, "timeout", 30);
	double connect_timeout = opt_number(L, idx, "connect_timeout", 10);
	double max_body = opt_number(L, idx, "max_body", 8.0 * 1024 * 1024);
	if (url == NULL)
		luaL_error(L, "bad request option 'url' (string expected, got nil)");
	set_headers(L, idx, x);
	CURL *e = x->easy;
	if (!set_string(e, CURLOPT_USERAGENT, &x->user_agent, user_agent, NULL) ||
	    !set_string(e, CURLOPT_CAINFO, &x->ca_file, ca_file, x->default_ca) ||
	    !set_string(e, CURLOPT_PROXY, &x->proxy, proxy, NULL))
		luaL_error(L, "not enough memory");

	/* From here nothing raises. Each option a previous request may have
	 * set is set again, so nothing carries over. */
	ssf_buf_clear(&x->body);
	ssf_buf_clear(&x->head);
	x->body.max = (size_t)max_body;
	x->head.max = MAX_HEADER_BYTES;
	x->body_too_big = x->head_too_big = 0;
	x->errbuf[0] = '\0';
	x->timeout = timeout;
	x->connect_timeout = connect_timeout;
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(timeout * 1000));
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(connect_timeout * 1000));
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
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
	lua_settop(L, top);
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
	lua_createtable(L, 0, 12);
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
		lua_pushvalue(L, -1);
		if (ssf_rawget(L, -3) == LUA_TSTRING) {
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

int ssf_xfer_push_failure(lua_State *L, const char *kind, const char *msg, int reached,
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
static int connect_failed_at_proxy(ssf_xfer *x)
{
	char host[256];
	long port;
	char *url = NULL;
	if (sscanf(x->errbuf, "Failed to connect to %255s port %ld", host, &port) != 2 ||
	    curl_easy_getinfo(x->easy, CURLINFO_EFFECTIVE_URL, &url) != CURLE_OK || url == NULL)
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

static int fail_transfer(lua_State *L, ssf_xfer *x, CURLcode rc)
{
	/* Bytes of request sent: zero means the server cannot have seen it,
	 * which also tells a connect timeout from a slow answer (the connect
	 * time is zero on a reused connection, so it cannot). */
	long sent = 0;
	curl_easy_getinfo(x->easy, CURLINFO_REQUEST_SIZE, &sent);
	int reached = sent > 0;
	/* libcurl's error buffer is the specific message; its code's generic
	 * text ("Couldn't resolve host name") would only repeat it. */
	const char *detail = x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc);

	if (x->body_too_big) {
		/* Not lua_pushfstring's %I, which LuaJIT lacks. */
		char msg[80];
		snprintf(msg, sizeof msg, "response body exceeds max_body (%zu bytes)", (size_t)x->body.max);
		return ssf_xfer_push_failure(L, "decode", msg, 1, NULL, 0);
	}
	if (x->head_too_big)
		return ssf_xfer_push_failure(L, "transport", "response headers exceed 256 KiB", 1, NULL, 0);
	if (rc == CURLE_OPERATION_TIMEDOUT) {
		if (!reached)
			lua_pushfstring(L, "connect timeout after %f s: %s", x->connect_timeout, detail);
		else
			lua_pushfstring(L, "timeout after %f s: %s", x->timeout, detail);
		return ssf_xfer_push_failure(L, "timeout", lua_tostring(L, -1), reached, NULL, 0);
	}
	if (rc == CURLE_BAD_CONTENT_ENCODING) {
		lua_pushliteral(L, "cannot decode the response body (Content-Encoding: ");
		push_content_encoding(L, &x->head);
		lua_pushfstring(L, "): %s", detail);
		lua_concat(L, 3);
		return ssf_xfer_push_failure(L, "decode", lua_tostring(L, -1), 1, NULL, 0);
	}
	/* A proxy's answer to CONNECT other than 2xx: a 4xx (forbidden port,
	 * authentication required) is its policy, a 5xx may pass. */
	long connect_code = 0;
	curl_easy_getinfo(x->easy, CURLINFO_HTTP_CONNECTCODE, &connect_code);
	if (connect_code >= 300) {
		lua_pushfstring(L, "the proxy %s the tunnel: CONNECT answered HTTP %d",
				connect_code < 500 ? "refused" : "could not open", (int)connect_code);
		return ssf_xfer_push_failure(L, "transport", lua_tostring(L, -1), 0, "proxy",
					     connect_code < 500);
	}
	if (rc == CURLE_COULDNT_RESOLVE_PROXY)
		return ssf_xfer_push_failure(L, "transport", detail, 0, "proxy", 0);
	if (rc == CURLE_COULDNT_CONNECT && connect_failed_at_proxy(x)) {
		lua_pushfstring(L, "cannot connect to the proxy: %s", detail);
		return ssf_xfer_push_failure(L, "transport", lua_tostring(L, -1), 0, "proxy", 0);
	}
	if (rc == CURLE_SSL_CONNECT_ERROR) {
		/* libcurl's text here is only the TLS library's error string. */
		lua_pushfstring(L, "TLS handshake failed: %s", detail);
		return ssf_xfer_push_failure(L, "transport", lua_tostring(L, -1), reached, "tls", 0);
	}
	if (tls_final(rc))
		return ssf_xfer_push_failure(L, "transport", detail, reached, "tls", 1);
	return ssf_xfer_push_failure(L, "transport", detail, reached, NULL, 0);
}

int ssf_xfer_push_result(lua_State *L, ssf_xfer *x, CURLcode rc)
{
	luaL_checkstack(L, 8, "transfer result");
	if (rc != CURLE_OK)
		return fail_transfer(L, x, rc);
	long status = 0;
	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
	lua_pushinteger(L, status);
	push_headers(L, &x->head);
	lua_pushlstring(L, x->body.data ? x->body.data : "", x->body.len);
	return 3;
}
