/* The checks ssf.httpd (httpd_server.c) makes on a request's headers before
 * any Lua sees it. Pure functions, no allocation, so they are unit-tested
 * and fuzzed on their own. */
#ifndef SSF_RXCHECK_H
#define SSF_RXCHECK_H

#include <stddef.h>

/* True when given (glen bytes) equals want (wlen bytes). The time taken
 * depends only on wlen, never on the contents of either or on glen, so a
 * client timing its attempts learns nothing about the expected value. */
int ssf_secret_equal(const char *given, size_t glen, const char *want, size_t wlen);

/* True when a Content-Type value names the media type `type` (compared
 * without regard to ASCII case), alone or followed by parameters:
 * "application/secevent+jwt; charset=utf-8". NULL (no header) is false. */
int ssf_media_type_is(const char *value, const char *type);

/* The framing of a request, judged from its header fields one at a time
 * (as the server parsed them, with their lengths, so that a NUL inside a
 * value is seen) and then its version. Whatever two parsers could read
 * differently is refused: a NUL anywhere in a field, Content-Length given
 * twice with different values, Content-Length with Transfer-Encoding, a
 * Transfer-Encoding other than chunked (501), Host missing from an
 * HTTP/1.1 request or given twice (RFC 9112 sections 3.2 and 6.3), and
 * Authorization or Content-Type given twice (which one would count?). */
typedef struct ssf_framing {
	unsigned status; /* 0 while acceptable, else 400 or 501 */
	const char *why; /* a static reason when status is set */
	int hosts, lengths, transfer_encoding, authorizations, content_types;
	const char *length; /* the first Content-Length value */
	size_t length_len;
} ssf_framing;

void ssf_framing_field(ssf_framing *f, const char *name, size_t name_len, const char *value,
		       size_t value_len);
/* The verdict: 0 to go on, else the status to refuse with (f->why says
 * why). version is "HTTP/1.1", "HTTP/1.0"... */
unsigned ssf_framing_end(ssf_framing *f, const char *version);

/* True when a request target holds a NUL, raw or percent-encoded. */
int ssf_target_has_nul(const char *target, size_t len);

#endif
