/*
 * ES256 checks with a table precomputed for the signer's key.
 *
 * An ECDSA check computes u1*G + u2*Q, where G is the curve's base point
 * and Q the public key. libcrypto keeps a table of multiples of G, so
 * u1*G is cheap; u2*Q is computed from scratch, and is most of a check.
 * A receiver checks thousands of SETs under one Q, so this file gives Q a
 * table of its own: a copy of the P-256 group whose base point is Q, with
 * libcrypto's precomputation (EC_GROUP_precompute_mult) for it. A check
 * then takes two table lookups instead of one lookup and one full
 * multiplication, about half the time of EVP_PKEY_verify.
 *
 * The arithmetic is libcrypto's; only the ECDSA check itself (SEC 1
 * §4.1.4) is written out here, with libcrypto's own bounds: r and s in
 * [1, n-1], the digest taken whole (SHA-256 is as wide as n), the sum
 * not at infinity, and x(R) mod n equal to r. tests/c/test_p256.c and
 * the fuzz_p256 target hold it to EVP_PKEY_verify's answers.
 *
 * EC_GROUP_precompute_mult is deprecated since OpenSSL 3.0, with no
 * replacement; where libcrypto is built without it, no table is made and
 * every check goes through EVP_PKEY_verify as before.
 */
#define OPENSSL_SUPPRESS_DEPRECATED

#include "jose_p256.h"

#include <stdlib.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>

#define COORD 32 /* bytes in a P-256 scalar */

struct ssf_p256_table {
	EC_GROUP *curve; /* P-256 as named: base point G, its table built in */
	EC_GROUP *keyed; /* the same curve with base point Q, and Q's table */
};

void ssf_p256_table_free(ssf_p256_table *t)
{
	if (t == NULL)
		return;
	EC_GROUP_free(t->curve);
	EC_GROUP_free(t->keyed);
	free(t);
}

#ifndef OPENSSL_NO_DEPRECATED_3_0
/* Whether 1 times the keyed group's base point, through its new table, is
 * q: a libcrypto that built the table for G alone would not give it. */
static int takes_table(const EC_GROUP *keyed, const EC_POINT *q, BN_CTX *bn)
{
	EC_POINT *p = EC_POINT_new(keyed);
	int ok = p != NULL && EC_GROUP_have_precompute_mult(keyed) == 1 &&
		 EC_POINT_mul(keyed, p, BN_value_one(), NULL, NULL, bn) == 1 &&
		 EC_POINT_cmp(keyed, p, q, bn) == 0;
	EC_POINT_free(p);
	return ok;
}
#endif

ssf_p256_table *ssf_p256_table_new(EVP_PKEY *pkey)
{
#ifdef OPENSSL_NO_DEPRECATED_3_0
	(void)pkey;
	return NULL;
#else
	unsigned char point[1 + 2 * COORD];
	size_t len = 0;
	ssf_p256_table *t = calloc(1, sizeof *t);
	BN_CTX *bn = BN_CTX_new();
	EC_POINT *q = NULL;
	int ok = t != NULL && bn != NULL && EVP_PKEY_is_a(pkey, "EC") &&
		 EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point,
						 &len) == 1 &&
		 (t->curve = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1)) != NULL &&
		 (t->keyed = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1)) != NULL &&
		 (q = EC_POINT_new(t->keyed)) != NULL &&
		 EC_POINT_oct2point(t->keyed, q, point, len, bn) == 1 &&
		 !EC_POINT_is_at_infinity(t->keyed, q) &&
		 /* P-256's cofactor is 1: any point but infinity has order n. */
		 EC_GROUP_set_generator(t->keyed, q, EC_GROUP_get0_order(t->curve), BN_value_one()) ==
			 1 &&
		 EC_GROUP_precompute_mult(t->keyed, bn) == 1 && takes_table(t->keyed, q, bn);
	EC_POINT_free(q);
	BN_CTX_free(bn);
	if (!ok) {
		ssf_p256_table_free(t);
		return NULL;
	}
	return t;
#endif
}

/* SEC 1 §4.1.4 steps 4-8 on r, s and the digest e. */
static int check_rs(const ssf_p256_table *t, BN_CTX *bn, const unsigned char *e,
		    const unsigned char *sig)
{
	int ok = 0;
	const BIGNUM *n = EC_GROUP_get0_order(t->curve);
	EC_POINT *sum = EC_POINT_new(t->curve), *part = EC_POINT_new(t->keyed);
	BN_CTX_start(bn);
	BIGNUM *r = BN_CTX_get(bn), *s = BN_CTX_get(bn), *m = BN_CTX_get(bn);
	BIGNUM *w = BN_CTX_get(bn), *u1 = BN_CTX_get(bn), *u2 = BN_CTX_get(bn);
	BIGNUM *x = BN_CTX_get(bn);
	if (sum == NULL || part == NULL || x == NULL || BN_bin2bn(sig, COORD, r) == NULL ||
	    BN_bin2bn(sig + COORD, COORD, s) == NULL || BN_bin2bn(e, COORD, m) == NULL)
		goto done;
	if (BN_is_zero(r) || BN_is_zero(s) || BN_cmp(r, n) >= 0 || BN_cmp(s, n) >= 0)
		goto done;
	/* w = s^-1, u1 = e*w, u2 = r*w, all mod n; then u1*G + u2*Q, each
	 * from its own table. Both groups are the one curve, so the points
	 * add in either. */
	if (BN_mod_inverse(w, s, n, bn) == NULL || BN_mod_mul(u1, m, w, n, bn) != 1 ||
	    BN_mod_mul(u2, r, w, n, bn) != 1 ||
	    EC_POINT_mul(t->curve, sum, u1, NULL, NULL, bn) != 1 ||
	    EC_POINT_mul(t->keyed, part, u2, NULL, NULL, bn) != 1 ||
	    EC_POINT_add(t->curve, sum, sum, part, bn) != 1 || EC_POINT_is_at_infinity(t->curve, sum) ||
	    EC_POINT_get_affine_coordinates(t->curve, sum, x, NULL, bn) != 1 ||
	    BN_nnmod(x, x, n, bn) != 1)
		goto done;
	ok = BN_cmp(x, r) == 0;
done:
	BN_CTX_end(bn);
	EC_POINT_free(sum);
	EC_POINT_free(part);
	return ok;
}

int ssf_p256_check(const ssf_p256_table *t, BN_CTX *bn, EVP_MD_CTX *mdctx, const EVP_MD *md,
		   const unsigned char *msg, size_t mlen, const unsigned char *sig, size_t slen)
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned dlen = 0;
	return slen == 2 * COORD && EVP_DigestInit_ex(mdctx, md, NULL) == 1 &&
	       EVP_DigestUpdate(mdctx, msg, mlen) == 1 &&
	       EVP_DigestFinal_ex(mdctx, digest, &dlen) == 1 && dlen == COORD &&
	       check_rs(t, bn, digest, sig);
}
