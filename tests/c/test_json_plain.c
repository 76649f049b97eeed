#include <string.h>

#include "check.h"
#include "json_plain.h"

static int plain(const char *s)
{
	return ssf_json_plain((const unsigned char *)s, strlen(s));
}

int main(void)
{
	CHECK(plain(""));
	CHECK(plain("{\"jti\":\"a\",\"iat\":1796056736,\"aud\":\"https://r.example.com\"}"));
	/* 15 digits stay plain; 16 in a row, anywhere, do not. */
	CHECK(plain("{\"n\":123456789012345}"));
	CHECK(!plain("{\"n\":1234567890123456}"));
	CHECK(!plain("{\"s\":\"1234567890123456\"}"));
	CHECK(plain("{\"a\":12345678,\"b\":12345678}"));
	CHECK(plain("{\"n\":1234567.890123456}"));
	/* Arrays, even inside a string, and NUL. */
	CHECK(!plain("{\"aud\":[\"x\"]}"));
	CHECK(!plain("{\"s\":\"[\"}"));
	CHECK(!ssf_json_plain((const unsigned char *)"{\"s\":\"\0\"}", 8));
	/* UTF-8: two, three and four byte forms at their limits. */
	CHECK(plain("\"\xc2\x80 \xdf\xbf \xe0\xa0\x80 \xed\x9f\xbf \xee\x80\x80 \xef\xbf\xbf\""));
	CHECK(plain("\"\xf0\x90\x80\x80 \xf4\x8f\xbf\xbf \xc3\xa9\""));
	/* Overlong forms, surrogates, past U+10FFFF, stray and cut bytes. */
	CHECK(!plain("\"\xc0\xaf\""));
	CHECK(!plain("\"\xc1\xbf\""));
	CHECK(!plain("\"\xe0\x9f\xbf\""));
	CHECK(!plain("\"\xf0\x8f\xbf\xbf\""));
	CHECK(!plain("\"\xed\xa0\x80\""));
	CHECK(!plain("\"\xed\xbf\xbf\""));
	CHECK(!plain("\"\xf4\x90\x80\x80\""));
	CHECK(!plain("\"\xf5\x80\x80\x80\""));
	CHECK(!plain("\"\xff\""));
	CHECK(!plain("\"\x80\""));
	CHECK(!plain("\"\xc3\""));
	CHECK(!plain("\"\xe2\x82\""));
	CHECK(!plain("\"\xe2\x82\x41\""));
	CHECK(!plain("\"\xf0\x9f\x98\""));
	/* A sequence cut by the end of the text is not read past it. */
	CHECK(!ssf_json_plain((const unsigned char *)"\xf0\x9f\x98\x80", 3));
	CHECK(ssf_json_plain((const unsigned char *)"\xf0\x9f\x98\x80", 4));
	return check_failures;
}
