/* libFuzzer target: ES256 checks with a key's table (src/jose_p256.c)
 * answer as EVP_PKEY_verify does (through ssf_jose_check), for any
 * message and signature. The input's first byte picks the signature: the
 * next 64 bytes as they are, or XORed into a valid signature of a fixed
 * message (or into its high-s twin), so that valid and nearly valid ones
 * are reached too. The key and that signature are fixed numbers, so a
 * saved input always replays the same way. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>

#include "jose.h"
#include "jose_p256.h"
#include "jose_pkey.h"

#define COORD 32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const unsigned char MSG[] = "eyJhbGciOiJFUzI1NiJ9.eyJqdGkiOiJmdXp6In0";
static EVP_PKEY *pub;
static ssf_p256_table *table;
static EVP_MD *sha256;
static EVP_MD_CTX *mdctx;
static BN_CTX *bn;
static unsigned char valid[2][2 * COORD]; /* (r, s) and (r, n - s) over MSG */

/* The key d*G, and a signature of MSG with the nonce k, from SEC 1
 * §4.1.3: r = x(kG) mod n, s = (e + r*d) / k mod n. */
static void setup(void)
{
	EC_GROUP *g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
	const BIGNUM *n = EC_GROUP_get0_order(g);
	EC_POINT *q = EC_POINT_new(g), *kg = EC_POINT_new(g);
	BIGNUM *d = BN_new(), *k = BN_new(), *r = BN_new(), *s = BN_new(), *e = BN_new();
	unsigned char point[1 + 2 * COORD], digest[COORD];
	unsigned dlen = 0;
	const char *why;
	bn = BN_CTX_new();
	sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	mdctx = EVP_MD_CTX_new();
	if (g == NULL || q == NULL || kg == NULL || s == NULL || e == NULL || bn == NULL ||
	    sha256 == NULL || mdctx == NULL || BN_dec2bn(&d, "8675309867530986753098675309") == 0 ||
	    BN_dec2bn(&k, "1234567891011121314151617181920") == 0 ||
	    EC_POINT_mul(g, q, d, NULL, NULL, bn) != 1 ||
	    EC_POINT_point2oct(g, q, POINT_CONVERSION_UNCOMPRESSED, point, sizeof point, bn) !=
		    sizeof point ||
	    EC_POINT_mul(g, kg, k, NULL, NULL, bn) != 1 ||
	    EC_POINT_get_affine_coordinates(g, kg, r, NULL, bn) != 1 || BN_nnmod(r, r, n, bn) != 1 ||
	    EVP_Digest(MSG, sizeof MSG - 1, digest, &dlen, sha256, NULL) != 1 ||
	    BN_bin2bn(digest, COORD, e) == NULL || BN_mod_mul(s, r, d, n, bn) != 1 ||
	    BN_mod_add(s, s, e, n, bn) != 1 || BN_mod_inverse(k, k, n, bn) == NULL ||
	    BN_mod_mul(s, s, k, n, bn) != 1 || BN_bn2binpad(r, valid[0], COORD) != COORD ||
	    BN_bn2binpad(s, valid[0] + COORD, COORD) != COORD || BN_sub(s, n, s) != 1 ||
	    BN_bn2binpad(r, valid[1], COORD) != COORD ||
	    BN_bn2binpad(s, valid[1] + COORD, COORD) != COORD)
		abort();
	pub = ssf_jose_import(0, point + 1, COORD, point + 1 + COORD, COORD, &why);
	if (pub == NULL || (table = ssf_p256_table_new(pub)) == NULL)
		abort();
	/* Both halves are valid, or the target would test nothing. */
	for (int i = 0; i < 2; i++)
		if (ssf_p256_check(table, bn, mdctx, sha256, MSG, sizeof MSG - 1, valid[i],
				   2 * COORD) != 1)
			abort();
	EC_POINT_free(q);
	EC_POINT_free(kg);
	EC_GROUP_free(g);
	BN_free(d);
	BN_free(k);
	BN_free(r);
	BN_free(s);
	BN_free(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (table == NULL)
		setup();
	if (size < 1 + 2 * COORD)
		return 0;
	unsigned char sig[2 * COORD];
	const unsigned char *msg = data + 1 + 2 * COORD;
	size_t mlen = size - 1 - 2 * COORD;
	memcpy(sig, data + 1, sizeof sig);
	if (data[0] % 3 != 0) {
		/* XORed into a valid signature of MSG, checked over MSG. */
		for (size_t i = 0; i < sizeof sig; i++)
			sig[i] ^= valid[data[0] % 3 - 1][i];
		msg = MSG;
		mlen = sizeof MSG - 1;
	}
	int want = ssf_jose_check(NULL, NULL, pub, &SSF_JOSE_ALGS[4], sha256, msg, mlen, sig, sizeof sig);
	if (ssf_p256_check(table, bn, mdctx, sha256, msg, mlen, sig, sizeof sig) != want)
		abort();
	return 0;
}
