#include <stdint.h>
#include <string.h>

#include "b64url.h"
#include "check.h"

static int encodes_to(const char *bytes, size_t n, const char *want)
{
	char out[64];
	size_t len = ssf_b64url_encoded_len(n);
	ssf_b64url_encode((const unsigned char *)bytes, n, out);
	return len == strlen(want) && memcmp(out, want, len) == 0;
}

static int decodes_to(const char *s, const char *want, size_t wlen)
{
	unsigned char out[64];
	size_t len = 0;
	if (ssf_b64url_decode(s, strlen(s), out, &len) != 0)
		return 0;
	return len == wlen && len == ssf_b64url_decoded_len(strlen(s)) && memcmp(out, want, len) == 0;
}

static int rejects(const char *s, size_t n)
{
	unsigned char out[64];
	size_t len = 0;
	return ssf_b64url_decode(s, n, out, &len) == -1;
}

/* xorshift32: a fixed, portable sequence for the property checks. */
static uint32_t next(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

int main(void)
{
	/* RFC 4648 §10 vectors, unpadded, and the two url-safe characters. */
	CHECK(encodes_to("", 0, ""));
	CHECK(encodes_to("f", 1, "Zg"));
	CHECK(encodes_to("fo", 2, "Zm8"));
	CHECK(encodes_to("foo", 3, "Zm9v"));
	CHECK(encodes_to("foob", 4, "Zm9vYg"));
	CHECK(encodes_to("fooba", 5, "Zm9vYmE"));
	CHECK(encodes_to("foobar", 6, "Zm9vYmFy"));
	CHECK(encodes_to("\xfb\xff\xbf", 3, "-_-_"));
	CHECK(decodes_to("", "", 0));
	CHECK(decodes_to("Zg", "f", 1));
	CHECK(decodes_to("Zm8", "fo", 2));
	CHECK(decodes_to("Zm9vYmFy", "foobar", 6));
	CHECK(decodes_to("-_-_", "\xfb\xff\xbf", 3));
	CHECK(decodes_to("AA", "\0", 1));

	/* Padding, the standard alphabet's + and /, white space, NUL. */
	CHECK(rejects("Zg==", 4));
	CHECK(rejects("Zm8=", 4));
	CHECK(rejects("+/+/", 4));
	CHECK(rejects("Zm9v\n", 5));
	CHECK(rejects("Zm 9", 4));
	CHECK(rejects("Zm\0v", 4));
	CHECK(rejects("\xc3\xa9xx", 4));
	/* A lone character in the last group cannot encode a byte. */
	CHECK(rejects("Z", 1));
	CHECK(rejects("Zm9vY", 5));
	CHECK(ssf_b64url_decoded_len(5) == (size_t)-1);
	/* Non-zero unused bits: "Zh" and "Zm9" would also mean "f" and "fo". */
	CHECK(rejects("Zh", 2));
	CHECK(rejects("Zm9", 3));
	CHECK(rejects("Zm-", 3));

	CHECK(ssf_b64url_encoded_len(SIZE_MAX) == 0);
	CHECK(ssf_b64url_encoded_len(32) == 43);
	CHECK(ssf_b64url_decoded_len(43) == 32);

	/* Properties over random input: every byte string round-trips, and
	 * every accepted text is canonical (re-encoding gives it back). */
	uint32_t x = 2463534242u;
	for (int round = 0; round < 20000; round++) {
		unsigned char bytes[40], back[40];
		char text[64], again[64];
		size_t n = next(&x) % sizeof bytes, len = 0;
		for (size_t i = 0; i < n; i++)
			bytes[i] = (unsigned char)next(&x);
		ssf_b64url_encode(bytes, n, text);
		size_t tlen = ssf_b64url_encoded_len(n);
		CHECK(ssf_b64url_decode(text, tlen, back, &len) == 0 && len == n &&
		      memcmp(back, bytes, n) == 0);

		/* Arbitrary text, biased toward alphabet bytes. */
		static const char pool[] = "AZaz09-_Qg=+/ \x80";
		size_t m = next(&x) % 53;
		for (size_t i = 0; i < m; i++)
			text[i] = (next(&x) & 7) ? pool[next(&x) % (sizeof pool - 1)] : (char)next(&x);
		if (ssf_b64url_decode(text, m, back, &len) == 0) {
			CHECK(len == ssf_b64url_decoded_len(m));
			CHECK(ssf_b64url_encoded_len(len) == m);
			ssf_b64url_encode(back, len, again);
			CHECK(memcmp(again, text, m) == 0);
		}
	}
	printf("test_b64url: %d failure(s)\n", check_failures);
	return check_failures != 0;
}
