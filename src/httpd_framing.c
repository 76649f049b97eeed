/*
 * What any HTTP server under ssf.httpd refuses before looking at a request:
 * framing that two parsers could read differently (the rules are in
 * rxcheck.c), including NULs that libmicrohttpd's API does not show.
 */
#define _POSIX_C_SOURCE 200809L

#include "httpd_internal.h"

#include <string.h>

#include "rxcheck.h"

/* A NUL inside the request line or a header line is invisible through
 * libmicrohttpd's API: it parses lines as C strings, so "Bearer s3cret\0x"
 * reads as "Bearer s3cret". What gives the NUL away is where the strings
 * lie. libmicrohttpd 0.9 keeps the request line and the header lines in
 * place in its read buffer, one after the other, with each CR LF
 * overwritten by two NULs, and hands out pointers into it; so each line's
 * text must end exactly two bytes before the next line begins. Anything
 * else (hidden bytes after a NUL, or a bare LF, which RFC 9112 allows a
 * server to refuse) makes the request refused. A libmicrohttpd that copied
 * the strings would have every request refused here: loudly, in the specs. */
typedef struct layout {
	ssf_framing f;
	const char *line_end; /* where the next header line must begin */
	const char *last_value;
	size_t last_len;
} layout;

static enum MHD_Result framing_field(void *cls, enum MHD_ValueKind kind, const char *key,
				     size_t key_size, const char *value, size_t value_size)
{
	(void)kind;
	layout *l = cls;
	ssf_framing_field(&l->f, key, key_size, value, value_size);
	if (l->line_end != NULL && key != l->line_end)
		l->f.status = l->f.status ? l->f.status : 400;
	l->line_end = value + value_size + 2;
	l->last_value = value;
	l->last_len = value_size;
	return MHD_YES;
}

/* See layout above. The request line begins at method and the target
 * follows it after one space; the header section ends after the last
 * header line's CR LF and the empty line's. */
static int hides_bytes(const request *r, struct MHD_Connection *conn, const char *method,
		       const char *version, const layout *l)
{
	if (r->uri_at == NULL || method + strlen(method) + 1 != r->uri_at ||
	    r->uri_at + strlen(r->uri) + 1 != version)
		return 1;
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
	const char *end = l->last_value ? l->last_value + l->last_len + 4
					: version + strlen(version) + 4;
	return ci == NULL || (size_t)(end - method) != ci->header_size;
}

unsigned rx_check_framing(const request *r, struct MHD_Connection *conn, const char *method,
			  const char *version, const char **why)
{
	layout l;
	memset(&l, 0, sizeof l);
	if (version[0] == '\0') {
		l.f.status = 400;
		l.f.why = "the request line has no HTTP version";
	} else {
		/* The first header line begins after the version's CR LF. */
		l.line_end = version + strlen(version) + 2;
		MHD_get_connection_values_n(conn, MHD_HEADER_KIND, framing_field, &l);
	}
	ssf_framing f = l.f;
	if (f.status == 0 && hides_bytes(r, conn, method, version, &l))
		f.status = 400;
	if (f.status != 0 && f.why == NULL)
		f.why = "a NUL byte or a bare LF in the request line or headers";
	if (f.status == 0 && r->uri && ssf_target_has_nul(r->uri, strlen(r->uri))) {
		f.status = 400;
		f.why = "the request target holds a NUL byte";
	}
	unsigned status = ssf_framing_end(&f, version);
	*why = f.why;
	return status;
}
