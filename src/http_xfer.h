/* One HTTP transfer on a reusable libcurl easy handle: the request options
 * read from a Lua table, the answer collected in C buffers by callbacks that
 * never touch Lua, and the outcome pushed once the transfer is over. Shared
 * by the blocking session (http.c) and the non-blocking multi (http_multi.c),
 * so both set up and interpret transfers the same way. */
#ifndef SSF_HTTP_XFER_H
#define SSF_HTTP_XFER_H

#include <curl/curl.h>
#include <lua.h>

#include "buf.h"

typedef struct ssf_xfer {
	CURL *easy; /* reused: its DNS and TLS caches stay */
	struct curl_slist *headers;
	char *headers_key;  /* the header lines `headers` was built from, NUL-separated */
	size_t headers_key_len;
	char *default_ca;                   /* libcurl's built-in CA bundle, or NULL */
	char *user_agent, *ca_file, *proxy; /* as set on easy; NULL: the default */
	ssf_buf body, head;
	int body_too_big, head_too_big;
	double timeout, connect_timeout;    /* of the request in flight, for messages */
	int state;                          /* for http_multi.c: free, running, done */
	CURLcode result;                    /* for http_multi.c: once done */
	char errbuf[CURL_ERROR_SIZE];
} ssf_xfer;

/* Sets up a zeroed xfer; returns 0 (with nothing left to free) on failure. */
int ssf_xfer_init(ssf_xfer *x);
/* Frees everything; safe on a zeroed or already freed xfer. */
void ssf_xfer_free(ssf_xfer *x);
/* Reads the request table at stack index idx (see http.c) and configures the
 * easy handle for it. Raises on a bad option, leaving x consistent. */
void ssf_xfer_prepare(lua_State *L, int idx, ssf_xfer *x);
/* Pushes status, headers, body or nil, kind, message, reached [, code,
 * final] for a finished transfer; returns the number of values. */
int ssf_xfer_push_result(lua_State *L, ssf_xfer *x, CURLcode rc);
/* Pushes nil, kind, message, reached for a transfer that did not run. */
int ssf_xfer_push_failure(lua_State *L, const char *kind, const char *msg, int reached,
			  const char *code, int final);

#endif
