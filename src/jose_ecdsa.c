/* ES256 signatures are R||S in JOSE (RFC 7518 §3.4) but DER in OpenSSL. */
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>

#include "jose.h"

#define COORD 32 /* bytes in a P-256 scalar */

int ssf_jose_der_to_rs(const unsigned char *der, size_t len, unsigned char rs[SSF_ES256_SIG_BYTES])
{
	const unsigned char *p = der;
	ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)len);
	int ok = sig != NULL;
	if (ok) {
		const BIGNUM *r, *s;
		ECDSA_SIG_get0(sig, &r, &s);
		/* Fixed width: a short R or S is left-padded, as JOSE requires. */
		ok = BN_bn2binpad(r, rs, COORD) == COORD && BN_bn2binpad(s, rs + COORD, COORD) == COORD;
	}
	ECDSA_SIG_free(sig);
	ERR_clear_error();
	return ok;
}

/* One DER INTEGER (X.690 8.3) for a 32-byte unsigned big-endian value:
 * leading zero bytes dropped (one kept for zero), and a zero byte put in
 * front when the top bit is set, so that it reads as positive. */
static size_t der_integer(const unsigned char *v, unsigned char *out)
{
	size_t skip = 0;
	while (skip < COORD - 1 && v[skip] == 0)
		skip++;
	size_t len = COORD - skip, pad = (v[skip] & 0x80) != 0;
	out[0] = 0x02;
	out[1] = (unsigned char)(len + pad);
	out[2] = 0;
	memcpy(out + 2 + pad, v + skip, len);
	return 2 + pad + len;
}

/* Written out here rather than through ECDSA_SIG and i2d (two BIGNUMs,
 * their allocations and the encoder), on every ES256 check: the form is
 * fixed, a SEQUENCE of two short INTEGERs, under 128 bytes long. */
int ssf_jose_rs_to_der(const unsigned char rs[SSF_ES256_SIG_BYTES], unsigned char *der,
		       size_t cap, size_t *len)
{
	unsigned char body[SSF_ES256_DER_MAX];
	size_t n = der_integer(rs, body);
	n += der_integer(rs + COORD, body + n);
	*len = 0;
	if (n + 2 > cap)
		return 0;
	der[0] = 0x30;
	der[1] = (unsigned char)n;
	memcpy(der + 2, body, n);
	*len = n + 2;
	return 1;
}
