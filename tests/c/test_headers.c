#include <string.h>

#include "check.h"
#include "headers.h"

static int field_is(const char *line, const char *name, const char *value)
{
	const char *n, *v;
	size_t nl, vl;
	if (ssf_header_parse(line, strlen(line), &n, &nl, &v, &vl) != SSF_HDR_FIELD)
		return 0;
	return nl == strlen(name) && memcmp(n, name, nl) == 0 && vl == strlen(value) &&
	       memcmp(v, value, vl) == 0;
}

static enum ssf_header_kind kind(const char *line)
{
	const char *n, *v;
	size_t nl, vl;
	return ssf_header_parse(line, strlen(line), &n, &nl, &v, &vl);
}

int main(void)
{
	CHECK(field_is("Content-Type: application/json\r\n", "Content-Type", "application/json"));
	CHECK(field_is("X-Rate-Limit-Reset:1700000000\r\n", "X-Rate-Limit-Reset", "1700000000"));
	CHECK(field_is("X-Empty:   \r\n", "X-Empty", ""));
	CHECK(field_is("X-Pad: \t a b \t\r\n", "X-Pad", "a b"));
	CHECK(field_is("x-no-crlf: v", "x-no-crlf", "v"));
	CHECK(field_is("Odd!#$%&'*+-.^_`|~: ok\n", "Odd!#$%&'*+-.^_`|~", "ok"));
	/* A colon inside the value stays in the value. */
	CHECK(field_is("Location: https://a.example:8443/x\r\n", "Location", "https://a.example:8443/x"));

	CHECK(kind("HTTP/1.1 200 OK\r\n") == SSF_HDR_STATUS);
	CHECK(kind("HTTP/2 429\r\n") == SSF_HDR_STATUS);
	CHECK(kind("\r\n") == SSF_HDR_END);
	CHECK(kind("") == SSF_HDR_END);

	/* Not fields: no name, space before the colon, no colon, folded line,
	 * a name with a NUL or a non-token byte. */
	CHECK(kind(": value\r\n") == SSF_HDR_INVALID);
	CHECK(kind("Name : value\r\n") == SSF_HDR_INVALID);
	CHECK(kind("no colon here\r\n") == SSF_HDR_INVALID);
	CHECK(kind(" continued\r\n") == SSF_HDR_INVALID);
	CHECK(kind("Na(me: v\r\n") == SSF_HDR_INVALID);
	const char nul[] = "Na\0me: v";
	const char *n, *v;
	size_t nl, vl;
	CHECK(ssf_header_parse(nul, sizeof nul - 1, &n, &nl, &v, &vl) == SSF_HDR_INVALID);
	printf("test_headers: %d failure(s)\n", check_failures);
	return check_failures != 0;
}
