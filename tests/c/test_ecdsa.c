/* ES256 signatures between JOSE's R||S and DER (src/jose_ecdsa.c): the
 * hand-written encoder gives byte for byte what OpenSSL's i2d_ECDSA_SIG
 * gives, and decoding gives R||S back. */
#include <stdint.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ecdsa.h>

#include "check.h"
#include "jose.h"

static uint32_t next(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

/* OpenSSL's encoding of rs, or 0 bytes when it fails. */
static size_t openssl_der(const unsigned char *rs, unsigned char *out)
{
	ECDSA_SIG *sig = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(rs, 32, NULL), *s = BN_bin2bn(rs + 32, 32, NULL);
	if (sig == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(sig, r, s) != 1) {
		BN_free(r);
		BN_free(s);
		ECDSA_SIG_free(sig);
		return 0;
	}
	unsigned char *p = out;
	int n = i2d_ECDSA_SIG(sig, &p);
	ECDSA_SIG_free(sig);
	return n > 0 ? (size_t)n : 0;
}

static int same_as_openssl(const unsigned char *rs)
{
	unsigned char mine[SSF_ES256_DER_MAX], theirs[128], back[SSF_ES256_SIG_BYTES];
	size_t len = 0, want = openssl_der(rs, theirs);
	return ssf_jose_rs_to_der(rs, mine, sizeof mine, &len) && want > 0 && len == want &&
	       memcmp(mine, theirs, len) == 0 && ssf_jose_der_to_rs(mine, len, back) &&
	       memcmp(back, rs, sizeof back) == 0;
}

int main(void)
{
	unsigned char rs[SSF_ES256_SIG_BYTES];
	/* Top bits set (a zero byte goes in front), leading zero bytes
	 * (dropped), a value of one byte. */
	memset(rs, 0xff, sizeof rs);
	CHECK(same_as_openssl(rs));
	memset(rs, 0, sizeof rs);
	rs[31] = 1;
	rs[63] = 0x80;
	CHECK(same_as_openssl(rs));
	memset(rs, 0x7f, sizeof rs);
	rs[0] = rs[1] = 0;
	rs[32] = 0;
	rs[33] = 0x80;
	CHECK(same_as_openssl(rs));
	/* Too small a buffer is refused, not overrun. */
	unsigned char small[8];
	size_t len = 1;
	CHECK(!ssf_jose_rs_to_der(rs, small, sizeof small, &len) && len == 0);

	uint32_t x = 2463534242u;
	for (int round = 0; round < 5000; round++) {
		for (size_t i = 0; i < sizeof rs; i++)
			rs[i] = (unsigned char)next(&x);
		/* Runs of leading zeros of every length. */
		size_t zeros = next(&x) % 34;
		memset(rs + (round % 2 ? 32 : 0), 0, zeros < 32 ? zeros : 31);
		CHECK(same_as_openssl(rs));
	}
	return check_failures;
}
