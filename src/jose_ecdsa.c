/* ES256 signatures are R||S in JOSE (RFC 7518 §3.4) but DER in OpenSSL. */
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

int ssf_jose_rs_to_der(const unsigned char rs[SSF_ES256_SIG_BYTES], unsigned char *der,
		       size_t cap, size_t *len)
{
	ECDSA_SIG *sig = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(rs, COORD, NULL);
	BIGNUM *s = BN_bin2bn(rs + COORD, COORD, NULL);
	int ok = sig != NULL && r != NULL && s != NULL && ECDSA_SIG_set0(sig, r, s) == 1;
	if (ok) {
		r = s = NULL; /* sig owns them now */
		int need = i2d_ECDSA_SIG(sig, NULL);
		unsigned char *p = der;
		ok = need > 0 && (size_t)need <= cap && i2d_ECDSA_SIG(sig, &p) == need;
		*len = ok ? (size_t)need : 0;
	}
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(sig);
	ERR_clear_error();
	return ok;
}
