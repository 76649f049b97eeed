/* Public keys from JWK numbers and JWS signature checks, in libcrypto
 * alone (see jose_pkey.h). */
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include "jose.h"
#include "jose_pkey.h"

#define COORD 32 /* bytes in a P-256 coordinate */
#define RSA_E_MAX 8 /* an RSA exponent wider than 8 bytes is not a real key */

const ssf_jose_alg SSF_JOSE_ALGS[SSF_JOSE_NALGS] = {
	{ "RS256", "SHA256", SSF_PKCS1 },
	{ "RS384", "SHA384", SSF_PKCS1 },
	{ "RS512", "SHA512", SSF_PKCS1 },
	{ "PS256", "SHA256", SSF_PSS },
	{ "ES256", "SHA256", SSF_ECDSA },
};

int ssf_jose_alg_index(const char *name, size_t len)
{
	for (int i = 0; i < SSF_JOSE_NALGS; i++)
		if (len == strlen(SSF_JOSE_ALGS[i].name) && memcmp(name, SSF_JOSE_ALGS[i].name, len) == 0)
			return i;
	return -1;
}

static EVP_PKEY *from_params(const char *type, const OSSL_PARAM *params)
{
	EVP_PKEY *pkey = NULL;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, (OSSL_PARAM *)params) != 1)
		pkey = NULL;
	EVP_PKEY_CTX_free(ctx);
	return pkey;
}

/* The import functions set *why when they return NULL. */
static EVP_PKEY *import_rsa(const unsigned char *a, size_t alen, const unsigned char *b,
			    size_t blen, const char **why)
{
	EVP_PKEY *pkey = NULL;
	OSSL_PARAM *params = NULL;
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	BIGNUM *n = BN_bin2bn(a, (int)alen, NULL);
	BIGNUM *e = BN_bin2bn(b, (int)blen, NULL);
	*why = "cannot import the RSA JWK";
	if (bld == NULL || n == NULL || e == NULL)
		goto done;
	if (BN_num_bits(n) < SSF_RSA_MIN_BITS) {
		*why = "the RSA key is shorter than 2048 bits";
		goto done;
	}
	if (!BN_is_odd(e) || BN_is_one(e)) {
		*why = "the RSA exponent e is not an odd number above 1";
		goto done;
	}
	if (OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) == 1 &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) == 1 &&
	    (params = OSSL_PARAM_BLD_to_param(bld)) != NULL)
		pkey = from_params("RSA", params);
done:
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	return pkey;
}

static EVP_PKEY *import_p256(const unsigned char *a, const unsigned char *b, const char **why)
{
	static char group[] = "prime256v1"; /* OpenSSL's name for P-256 */
	unsigned char point[1 + 2 * COORD];
	point[0] = 0x04; /* uncompressed: 04 || x || y (SEC 1 §2.3.3) */
	memcpy(point + 1, a, COORD);
	memcpy(point + 1 + COORD, b, COORD);
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0),
		OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point),
		OSSL_PARAM_construct_end(),
	};
	/* The import checks that the point lies on the curve. */
	EVP_PKEY *pkey = from_params("EC", params);
	*why = "the EC JWK is not a point on P-256";
	return pkey;
}

EVP_PKEY *ssf_jose_import(int rsa, const unsigned char *a, size_t alen, const unsigned char *b,
			  size_t blen, const char **why)
{
	if (rsa && (alen == 0 || alen > SSF_RSA_MAX_BYTES || blen == 0 || blen > RSA_E_MAX)) {
		*why = "cannot import the RSA JWK";
		return NULL;
	}
	if (!rsa && (alen != COORD || blen != COORD)) {
		*why = "the EC JWK is not a point on P-256";
		return NULL;
	}
	return rsa ? import_rsa(a, alen, b, blen, why) : import_p256(a, b, why);
}

EVP_PKEY_CTX *ssf_jose_prepare(EVP_PKEY *pkey, const ssf_jose_alg *alg, const EVP_MD *md)
{
	EVP_PKEY_CTX *ctx = md != NULL ? EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL) : NULL;
	int ok = ctx != NULL && EVP_PKEY_verify_init(ctx) == 1;
	if (ok && alg->family != SSF_ECDSA)
		ok = EVP_PKEY_CTX_set_rsa_padding(ctx, alg->family == SSF_PSS ? RSA_PKCS1_PSS_PADDING
									   : RSA_PKCS1_PADDING) == 1;
	ok = ok && EVP_PKEY_CTX_set_signature_md(ctx, md) == 1;
	/* RFC 7518 §3.5: PSS with MGF1 over the same hash and a salt as long
	 * as the hash; any other salt length is refused. */
	if (ok && alg->family == SSF_PSS)
		ok = EVP_PKEY_CTX_set_rsa_mgf1_md_name(ctx, alg->digest, NULL) == 1 &&
		     EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_DIGEST) == 1;
	if (!ok) {
		EVP_PKEY_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/* The check itself, with contexts made for pkey and alg. */
static int check_with(EVP_PKEY_CTX *ctx, EVP_MD_CTX *mdctx, const ssf_jose_alg *alg,
		      const EVP_MD *md, const unsigned char *msg, size_t mlen,
		      const unsigned char *sig, size_t slen)
{
	unsigned char der[SSF_ES256_DER_MAX], digest[EVP_MAX_MD_SIZE];
	unsigned dlen = 0;
	if (alg->family == SSF_ECDSA) {
		if (slen != SSF_ES256_SIG_BYTES || !ssf_jose_rs_to_der(sig, der, sizeof der, &slen))
			return 0;
		sig = der;
	}
	return EVP_DigestInit_ex(mdctx, md, NULL) == 1 && EVP_DigestUpdate(mdctx, msg, mlen) == 1 &&
	       EVP_DigestFinal_ex(mdctx, digest, &dlen) == 1 &&
	       EVP_PKEY_verify(ctx, sig, slen, digest, dlen) == 1;
}

int ssf_jose_check(EVP_PKEY_CTX *ctx, EVP_MD_CTX *mdctx, EVP_PKEY *pkey, const ssf_jose_alg *alg,
		   const EVP_MD *md, const unsigned char *msg, size_t mlen,
		   const unsigned char *sig, size_t slen)
{
	if (ctx != NULL && mdctx != NULL)
		return check_with(ctx, mdctx, alg, md, msg, mlen, sig, slen);
	EVP_PKEY_CTX *own = ssf_jose_prepare(pkey, alg, md);
	EVP_MD_CTX *own_md = own != NULL ? EVP_MD_CTX_new() : NULL;
	int ok = own_md != NULL && check_with(own, own_md, alg, md, msg, mlen, sig, slen);
	EVP_MD_CTX_free(own_md);
	EVP_PKEY_CTX_free(own);
	return ok;
}
