#include <string.h>

#include "check.h"
#include "rxcheck.h"

static int eq(const char *given, const char *want)
{
	return ssf_secret_equal(given, strlen(given), want, strlen(want));
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

	printf("test_rxcheck: %d failure(s)\n", check_failures);
	return check_failures != 0;
}
