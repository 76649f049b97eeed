/* Public keys and signature checks in plain libcrypto, with no Lua: shared
 * by jose.verify (jose_verify.c) and the receiver's verification threads
 * (httpd_verify.c). Every function leaves objects it did not return freed;
 * callers empty libcrypto's error queue. */
#ifndef SSF_JOSE_PKEY_H
#define SSF_JOSE_PKEY_H

#include <stddef.h>

#include <openssl/evp.h>

enum ssf_jose_family { SSF_PKCS1, SSF_PSS, SSF_ECDSA };

typedef struct ssf_jose_alg {
	const char *name;
	const char *digest;
	enum ssf_jose_family family;
} ssf_jose_alg;

/* The JWS algs accepted: RS256, RS384, RS512, PS256, ES256. */
#define SSF_JOSE_NALGS 5
extern const ssf_jose_alg SSF_JOSE_ALGS[SSF_JOSE_NALGS];

/* The index in SSF_JOSE_ALGS of the alg named by exactly len bytes, or -1. */
int ssf_jose_alg_index(const char *name, size_t len);

/* A public key from a JWK's decoded numbers: RSA n and e (rsa != 0), or a
 * P-256 point x and y. NULL, with *why set to a static reason, when the
 * numbers do not make an acceptable key. */
EVP_PKEY *ssf_jose_import(int rsa, const unsigned char *a, size_t alen, const unsigned char *b,
			  size_t blen, const char **why);

/* A context that checks alg's signatures under pkey, made once for many
 * checks with one key (NULL on failure; free it with EVP_PKEY_CTX_free).
 * No context may be used by two threads at once. */
EVP_PKEY_CTX *ssf_jose_prepare(EVP_PKEY *pkey, const ssf_jose_alg *alg, const EVP_MD *md);
/* 1 when sig (in JWS form: R||S for ES256) is alg's signature of msg under
 * pkey, with md the digest alg names; 0 otherwise. ctx (from
 * ssf_jose_prepare for pkey and alg) and mdctx (any digest context) are
 * used when both are given, else both are made for this check alone. */
int ssf_jose_check(EVP_PKEY_CTX *ctx, EVP_MD_CTX *mdctx, EVP_PKEY *pkey, const ssf_jose_alg *alg,
		   const EVP_MD *md, const unsigned char *msg, size_t mlen,
		   const unsigned char *sig, size_t slen);

#endif
