/* ES256 checks under one P-256 public key with a table precomputed for
 * that key (jose_p256.c): for the receiver's verification threads, which
 * check thousands of SETs signed by the same key. No Lua. */
#ifndef SSF_JOSE_P256_H
#define SSF_JOSE_P256_H

#include <stddef.h>

#include <openssl/bn.h>
#include <openssl/evp.h>

typedef struct ssf_p256_table ssf_p256_table;

/* The table for pkey, a P-256 key from ssf_jose_import: about 150 KiB,
 * tens of milliseconds to make. NULL when it cannot be made (no memory,
 * or a libcrypto without the precomputation); ssf_jose_check then serves.
 * Once made it is only read, so threads may share it. */
ssf_p256_table *ssf_p256_table_new(EVP_PKEY *pkey);
void ssf_p256_table_free(ssf_p256_table *t);

/* 1 when sig (R||S, 64 bytes) is an ES256 signature of msg under the
 * table's key, else 0: the same answer as ssf_jose_check for every input.
 * bn and mdctx are the calling thread's own; md is SHA-256. */
int ssf_p256_check(const ssf_p256_table *t, BN_CTX *bn, EVP_MD_CTX *mdctx, const EVP_MD *md,
		   const unsigned char *msg, size_t mlen, const unsigned char *sig, size_t slen);

#endif
