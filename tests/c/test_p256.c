/* ES256 checks with a key's table (src/jose_p256.c) give EVP_PKEY_verify's
 * answer (through ssf_jose_check) on valid signatures and on every way of
 * spoiling one: 0, 1, n and n + 1 for r and for s, the high-s twin, a
 * changed message, another key's signature, and an r that puts u1*G +
 * u2*Q at infinity or makes the two parts equal. */
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/rand.h>

#include "check.h"
#include "jose.h"
#include "jose_p256.h"
#include "jose_pkey.h"

#define COORD 32
#define SIGNATURES 24 /* half by each of two keys */

typedef struct key {
	EVP_PKEY *priv, *pub; /* pub: imported from x and y, as the receiver does */
	BIGNUM *d;
	ssf_p256_table *table;
} key;

static BN_CTX *bn;
static EVP_MD_CTX *mdctx;
static EVP_MD *sha256;
static const BIGNUM *n;
static EC_GROUP *curve;

static int make_key(key *k)
{
	unsigned char point[1 + 2 * COORD];
	size_t len = 0;
	const char *why;
	k->priv = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	k->d = NULL;
	if (k->priv == NULL ||
	    EVP_PKEY_get_octet_string_param(k->priv, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point,
					    &len) != 1 ||
	    len != sizeof point || EVP_PKEY_get_bn_param(k->priv, OSSL_PKEY_PARAM_PRIV_KEY, &k->d) != 1)
		return 0;
	k->pub = ssf_jose_import(0, point + 1, COORD, point + 1 + COORD, COORD, &why);
	k->table = k->pub != NULL ? ssf_p256_table_new(k->pub) : NULL;
	return k->table != NULL;
}

static void free_key(key *k)
{
	EVP_PKEY_free(k->priv);
	EVP_PKEY_free(k->pub);
	BN_free(k->d);
	ssf_p256_table_free(k->table);
}

/* R||S of an ES256 signature of msg by k. */
static int sign(const key *k, const unsigned char *msg, size_t len, unsigned char *rs)
{
	unsigned char der[SSF_ES256_DER_MAX + 8];
	size_t dlen = sizeof der;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int ok = c != NULL && EVP_DigestSignInit_ex(c, NULL, "SHA256", NULL, NULL, k->priv, NULL) == 1 &&
		 EVP_DigestSign(c, der, &dlen, msg, len) == 1 && ssf_jose_der_to_rs(der, dlen, rs);
	EVP_MD_CTX_free(c);
	return ok;
}

/* Both checks of sig over msg under k; a failed check when they differ.
 * Returns libcrypto's answer. */
static int both(const key *k, const unsigned char *msg, size_t len, const unsigned char *sig,
		size_t slen)
{
	int want = ssf_jose_check(NULL, NULL, k->pub, &SSF_JOSE_ALGS[4], sha256, msg, len, sig, slen);
	int got = ssf_p256_check(k->table, bn, mdctx, sha256, msg, len, sig, slen);
	CHECK(got == want);
	return want;
}

static void put(const BIGNUM *v, unsigned char *at)
{
	CHECK(BN_bn2binpad(v, at, COORD) == COORD);
}

/* e = SHA-256(msg) as a number mod n. */
static BIGNUM *digest_of(const unsigned char *msg, size_t len)
{
	unsigned char e[COORD];
	unsigned elen = 0;
	BIGNUM *v = BN_new();
	CHECK(EVP_Digest(msg, len, e, &elen, sha256, NULL) == 1 && elen == COORD);
	CHECK(v != NULL && BN_bin2bn(e, COORD, v) != NULL && BN_nnmod(v, v, n, bn) == 1);
	return v;
}

static void spoil(const key *k, const key *other, const unsigned char *msg, size_t len)
{
	unsigned char rs[2 * COORD], bad[2 * COORD], m2[64];
	BIGNUM *r = BN_new(), *s = BN_new(), *v = BN_new();
	CHECK(sign(k, msg, len, rs));
	BN_bin2bn(rs, COORD, r);
	BN_bin2bn(rs + COORD, COORD, s);
	CHECK(both(k, msg, len, rs, sizeof rs) == 1);
	CHECK(both(k, msg, len, rs, sizeof rs - 1) == 0);
	CHECK(both(other, msg, len, rs, sizeof rs) == 0);

	memcpy(m2, msg, len);
	m2[len / 2] ^= 0x10;
	CHECK(both(k, m2, len, rs, sizeof rs) == 0);

	/* s and n - s are both valid: JWS does not ask for a low s. */
	memcpy(bad, rs, sizeof bad);
	BN_sub(v, n, s);
	put(v, bad + COORD);
	CHECK(both(k, msg, len, bad, sizeof bad) == 1);

	/* 1, n and n + 1 in place of r, then of s; then zero. */
	BIGNUM *over = BN_dup(n);
	CHECK(over != NULL && BN_add_word(over, 1) == 1);
	const BIGNUM *edges[] = { BN_value_one(), n, over };
	for (size_t i = 0; i < 3; i++) {
		for (int half = 0; half < 2; half++) {
			memcpy(bad, rs, sizeof bad);
			put(edges[i], bad + half * COORD);
			CHECK(both(k, msg, len, bad, sizeof bad) == 0);
			memset(bad + half * COORD, 0, COORD);
			CHECK(both(k, msg, len, bad, sizeof bad) == 0);
		}
	}
	BN_free(over);
	/* r + 1; r and s swapped; every bit set. */
	memcpy(bad, rs, sizeof bad);
	CHECK(BN_copy(v, r) != NULL && BN_add_word(v, 1) == 1);
	put(v, bad);
	CHECK(both(k, msg, len, bad, sizeof bad) == 0);
	memcpy(bad, rs + COORD, COORD);
	memcpy(bad + COORD, rs, COORD);
	CHECK(both(k, msg, len, bad, sizeof bad) == 0);
	memset(bad, 0xff, sizeof bad);
	CHECK(both(k, msg, len, bad, sizeof bad) == 0);

	/* With d known: r = -e/d puts e*G + r*Q (and so u1*G + u2*Q) at
	 * infinity; r = e/d makes u1*G and u2*Q the same point. */
	BIGNUM *e = digest_of(msg, len), *dinv = BN_new();
	CHECK(BN_mod_inverse(dinv, k->d, n, bn) != NULL);
	for (int neg = 0; neg < 2; neg++) {
		BN_mod_mul(v, e, dinv, n, bn);
		if (neg)
			BN_mod_sub(v, n, v, n, bn);
		memcpy(bad, rs, sizeof bad);
		put(v, bad);
		CHECK(both(k, msg, len, bad, sizeof bad) == 0);
	}
	BN_free(e);
	BN_free(dinv);
	BN_free(r);
	BN_free(s);
	BN_free(v);
}

int main(void)
{
	key keys[2];
	bn = BN_CTX_new();
	mdctx = EVP_MD_CTX_new();
	sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	curve = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
	n = curve != NULL ? EC_GROUP_get0_order(curve) : NULL;
	CHECK(bn != NULL && mdctx != NULL && sha256 != NULL && n != NULL);
	CHECK(make_key(&keys[0]));
	CHECK(make_key(&keys[1]));
	if (check_failures > 0)
		return check_failures;
	/* The table refuses what is not a P-256 key. */
	EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	CHECK(rsa != NULL && ssf_p256_table_new(rsa) == NULL);
	EVP_PKEY_free(rsa);

	for (int i = 0; i < SIGNATURES; i++) {
		unsigned char msg[64];
		size_t len = 1 + (size_t)i % sizeof msg;
		CHECK(RAND_bytes(msg, sizeof msg) == 1);
		spoil(&keys[i % 2], &keys[1 - i % 2], msg, len);
	}
	free_key(&keys[0]);
	free_key(&keys[1]);
	EC_GROUP_free(curve);
	EVP_MD_free(sha256);
	EVP_MD_CTX_free(mdctx);
	BN_CTX_free(bn);
	return check_failures;
}
