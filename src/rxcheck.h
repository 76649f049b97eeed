/* The checks the SET receiver (httpd.c) makes on a request's headers before
 * any Lua sees it. Pure functions, no allocation, so they are unit-tested on
 * their own. */
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

#endif
