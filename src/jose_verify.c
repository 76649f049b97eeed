/* jose.verify(jwk, alg, signing_input, signature): checks one JWS signature
 * against a public JWK given as a Lua table. The key is imported afresh on
 * every call and freed before returning; nothing is cached in C. */
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include <lauxlib.h>
#include <lua.h>

#include "compat.h"

#include "b64url.h"
#include "jose.h"

#define COORD 32 /* bytes in a P-256 coordinate */

enum family { PKCS1, PSS, ECDSA };

static const struct alg {
	const char *name;
	const char *digest;
	enum family family;
} ALGS[] = {
	{ "RS256", "SHA256", PKCS1 },
	{ "RS384", "SHA384", PKCS1 },
	{ "RS512", "SHA512", PKCS1 },
	{ "PS256", "SHA256", PSS },
	{ "ES256", "SHA256", ECDSA },
};

/* The public numbers of a JWK, decoded from base64url into fixed buffers. */
struct jwk {
	unsigned char a[SSF_RSA_MAX_BYTES]; /* RSA n, or EC x */
	unsigned char b[SSF_RSA_MAX_BYTES]; /* RSA e, or EC y */
	size_t alen, blen;
};

/* Pushes jwk[name] and returns it if it is a string (it stays on the stack,
 * which keeps the pointer valid), else NULL. */
static const char *jwk_string(lua_State *L, const char *name, size_t *len)
{
	lua_getfield(L, 1, name);
	return lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, len) : NULL;
}

/* Whether jwk[name] is exactly the string want (embedded NULs included). */
static int jwk_is(lua_State *L, const char *name, const char *want)
{
	size_t len;
	const char *s = jwk_string(L, name, &len);
	int same = s != NULL && len == strlen(want) && memcmp(s, want, len) == 0;
	lua_pop(L, 1);
	return same;
}

/* Decodes the member `name` of the JWK into out; NULL on success, else why
 * not. `exact`, when non-zero, is the only length accepted. */
static const char *jwk_bytes(lua_State *L, const char *name, unsigned char *out, size_t cap,
			     size_t exact, size_t *outlen)
{
	size_t n;
	const char *s = jwk_string(L, name, &n), *why = NULL;
	size_t want = s ? ssf_b64url_decoded_len(n) : 0;
	if (s == NULL)
		why = "is missing or not a string";
	else if (want != (size_t)-1 && want > cap)
		why = "is too long";
	else if (want == (size_t)-1 || ssf_b64url_decode(s, n, out, outlen) != 0)
		why = "is not valid base64url";
	else if (*outlen == 0 || (exact != 0 && *outlen != exact))
		why = "has the wrong length";
	lua_pop(L, 1);
	return why;
}

/* Reads and decodes the JWK at index 1 for alg. On failure pushes the
 * reason and returns 0. Runs before any OpenSSL object exists, so a Lua
 * error here (memory, a raising __index) loses nothing. */
static int read_jwk(lua_State *L, const struct alg *alg, struct jwk *k)
{
	int rsa = alg->family != ECDSA;
	if (!jwk_is(L, "kty", rsa ? "RSA" : "EC")) {
		lua_pushfstring(L, "%s needs a JWK with kty \"%s\"", alg->name, rsa ? "RSA" : "EC");
		return 0;
	}
	if (!rsa && !jwk_is(L, "crv", "P-256")) {
		lua_pushliteral(L, "ES256 needs a JWK with crv \"P-256\"");
		return 0;
	}
	const char *first = rsa ? "n" : "x", *second = rsa ? "e" : "y", *why;
	if ((why = jwk_bytes(L, first, k->a, sizeof k->a, rsa ? 0 : COORD, &k->alen)) != NULL) {
		lua_pushfstring(L, "the JWK member %s %s", first, why);
		return 0;
	}
	/* An RSA exponent wider than 8 bytes is not a real key. */
	if ((why = jwk_bytes(L, second, k->b, rsa ? 8 : sizeof k->b, rsa ? 0 : COORD, &k->blen)) != NULL) {
		lua_pushfstring(L, "the JWK member %s %s", second, why);
		return 0;
	}
	return 1;
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
static EVP_PKEY *import_rsa(const struct jwk *k, const char **why)
{
	EVP_PKEY *pkey = NULL;
	OSSL_PARAM *params = NULL;
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	BIGNUM *n = BN_bin2bn(k->a, (int)k->alen, NULL);
	BIGNUM *e = BN_bin2bn(k->b, (int)k->blen, NULL);
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

static EVP_PKEY *import_p256(const struct jwk *k, const char **why)
{
	static char group[] = "prime256v1"; /* OpenSSL's name for P-256 */
	unsigned char point[1 + 2 * COORD];
	point[0] = 0x04; /* uncompressed: 04 || x || y (SEC 1 §2.3.3) */
	memcpy(point + 1, k->a, COORD);
	memcpy(point + 1 + COORD, k->b, COORD);
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

/* 1: the signature verifies; 0: it does not (or cannot be checked). */
static int check_signature(EVP_PKEY *pkey, const struct alg *alg, const unsigned char *msg,
			   size_t mlen, const unsigned char *sig, size_t slen)
{
	EVP_PKEY_CTX *pctx = NULL;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = ctx != NULL &&
		 EVP_DigestVerifyInit_ex(ctx, &pctx, alg->digest, NULL, NULL, pkey, NULL) == 1;
	/* RFC 7518 §3.5: PSS with MGF1 over the same hash and a salt as long
	 * as the hash; any other salt length is refused. */
	if (ok && alg->family == PSS)
		ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
		     EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, alg->digest, NULL) == 1 &&
		     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1;
	ok = ok && EVP_DigestVerify(ctx, sig, slen, msg, mlen) == 1;
	EVP_MD_CTX_free(ctx);
	return ok;
}

int ssf_jose_verify(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	size_t nlen, mlen, slen;
	const char *name = luaL_checklstring(L, 2, &nlen);
	const unsigned char *msg = (const unsigned char *)luaL_checklstring(L, 3, &mlen);
	const unsigned char *sig = (const unsigned char *)luaL_checklstring(L, 4, &slen);
	luaL_checkstack(L, 4, "JWK members");

	const struct alg *alg = NULL;
	for (size_t i = 0; i < sizeof ALGS / sizeof ALGS[0]; i++)
		if (nlen == strlen(ALGS[i].name) && memcmp(name, ALGS[i].name, nlen) == 0)
			alg = &ALGS[i];
	if (alg == NULL) {
		ssf_pushfail(L);
		lua_pushliteral(L, "unsupported alg: only RS256, RS384, RS512, PS256 and ES256 are accepted");
		return 2;
	}
	/* Large, but on the stack: no allocation to lose on a Lua error. */
	struct jwk k;
	if (!read_jwk(L, alg, &k)) {
		ssf_pushfail(L);
		lua_insert(L, -2);
		return 2;
	}
	unsigned char der[SSF_ES256_DER_MAX];
	if (alg->family == ECDSA) {
		if (slen != SSF_ES256_SIG_BYTES) {
			ssf_pushfail(L);
			lua_pushliteral(L, "an ES256 signature must be 64 bytes (R || S)");
			return 2;
		}
		if (!ssf_jose_rs_to_der(sig, der, sizeof der, &slen)) {
			ssf_pushfail(L);
			lua_pushliteral(L, "signature does not verify");
			return 2;
		}
		sig = der;
	}

	/* No Lua from here until every OpenSSL object is freed. */
	const char *why = NULL;
	EVP_PKEY *pkey = alg->family == ECDSA ? import_p256(&k, &why) : import_rsa(&k, &why);
	int ok = pkey != NULL && check_signature(pkey, alg, msg, mlen, sig, slen);
	if (pkey != NULL)
		why = "signature does not verify";
	EVP_PKEY_free(pkey);
	ERR_clear_error();

	if (ok) {
		lua_pushboolean(L, 1);
		return 1;
	}
	ssf_pushfail(L);
	lua_pushstring(L, why);
	return 2;
}
