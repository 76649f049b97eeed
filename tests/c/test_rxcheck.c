#include <stdarg.h>
#include <string.h>

#include "check.h"
#include "rxcheck.h"

static int eq(const char *given, const char *want)
{
	return ssf_secret_equal(given, strlen(given), want, strlen(want));
}

/* The verdict on n name/value pairs given after n. */
static unsigned framing(const char *version, int n, ...)
{
	ssf_framing f;
	memset(&f, 0, sizeof f);
	va_list ap;
	va_start(ap, n);
	for (int i = 0; i < n; i++) {
		const char *name = va_arg(ap, const char *);
		const char *value = va_arg(ap, const char *);
		ssf_framing_field(&f, name, strlen(name), value, strlen(value));
	}
	va_end(ap);
	return ssf_framing_end(&f, version);
}

int main(void)
{
	CHECK(eq("Bearer s3cret", "Bearer s3cret"));
	CHECK(!eq("Bearer s3creT", "Bearer s3cret"));
	CHECK(!eq("Xearer s3cret", "Bearer s3cret"));
	/* Prefixes and extensions of the expected value, both ways. */
	CHECK(!eq("Bearer s3cre", "Bearer s3cret"));
	CHECK(!eq("Bearer s3cretX", "Bearer s3cret"));
	CHECK(!eq("", "Bearer s3cret"));
	/* A shorter value padded with NULs must not match through the 0
	 * the loop compares against past its end. */
	CHECK(!ssf_secret_equal("ab", 2, "ab\0", 3));
	CHECK(ssf_secret_equal("ab\0", 3, "ab\0", 3));
	/* Only the lengths given count, not the NUL terminators. */
	CHECK(ssf_secret_equal("abcdef", 3, "abcxyz", 3));
	CHECK(ssf_secret_equal(NULL, 0, "", 0));

	const char *set = "application/secevent+jwt";
	CHECK(ssf_media_type_is("application/secevent+jwt", set));
	CHECK(ssf_media_type_is("Application/SecEvent+JWT", set));
	CHECK(ssf_media_type_is("  application/secevent+jwt \t", set));
	CHECK(ssf_media_type_is("application/secevent+jwt; charset=utf-8", set));
	CHECK(ssf_media_type_is("application/secevent+jwt ;charset=utf-8", set));
	CHECK(!ssf_media_type_is(NULL, set));
	CHECK(!ssf_media_type_is("", set));
	CHECK(!ssf_media_type_is("application/json", set));
	CHECK(!ssf_media_type_is("application/secevent+jwtx", set));
	CHECK(!ssf_media_type_is("application/secevent", set));
	CHECK(!ssf_media_type_is("application/secevent+jwt, text/plain", set));
	CHECK(!ssf_media_type_is("xapplication/secevent+jwt", set));

	/* Framing: fields as "name", "value" pairs, then the version. */
	CHECK(framing("HTTP/1.1", 2, "Host", "a", "Content-Length", "3") == 0);
	CHECK(framing("HTTP/1.0", 1, "Content-Length", "3") == 0);
	CHECK(framing("HTTP/1.1", 1, "Content-Length", "3") == 400); /* no Host */
	CHECK(framing("HTTP/1.1", 2, "host", "a", "HOST", "b") == 400);
	CHECK(framing("HTTP/1.1", 3, "Host", "a", "Content-Length", "3", "content-length",
		      "4") == 400);
	CHECK(framing("HTTP/1.1", 3, "Host", "a", "Content-Length", "3", "Content-Length",
		      " 3") == 0); /* the same value again */
	CHECK(framing("HTTP/1.1", 3, "Host", "a", "Content-Length", "3", "Transfer-Encoding",
		      "chunked") == 400);
	CHECK(framing("HTTP/1.1", 2, "Host", "a", "Transfer-Encoding", " Chunked ") == 0);
	CHECK(framing("HTTP/1.1", 2, "Host", "a", "Transfer-Encoding", "gzip") == 501);
	CHECK(framing("HTTP/1.1", 3, "Host", "a", "Authorization", "x", "authorization", "x") == 400);
	CHECK(framing("HTTP/1.1", 3, "Host", "a", "Content-Type", "x", "CONTENT-TYPE", "y") == 400);
	CHECK(framing("HTTP/1.1", 2, "Host", "a", "Transfer-Encoding", "gzip, chunked") == 501);
	CHECK(framing("HTTP/1.1", 3, "Host", "a", "Transfer-Encoding", "chunked",
		      "Transfer-Encoding", "chunked") == 501);
	{
		ssf_framing f;
		memset(&f, 0, sizeof f);
		ssf_framing_field(&f, "Host", 4, "a", 1);
		ssf_framing_field(&f, "Authorization", 13, "Bearer x\0junk", 13);
		CHECK(ssf_framing_end(&f, "HTTP/1.1") == 400);
		CHECK(f.why != NULL && strstr(f.why, "NUL") != NULL);
	}
	CHECK(ssf_target_has_nul("/a%00b", 6));
	CHECK(ssf_target_has_nul("/a\0b", 4));
	CHECK(!ssf_target_has_nul("/a%0", 4));
	CHECK(!ssf_target_has_nul("/a%20b", 6));

	printf("test_rxcheck: %d failure(s)\n", check_failures);
	return check_failures != 0;
}
