/* Shared between the files of the ssf.jose module (jose.c, jose_key.c,
 * jose_verify.c, jose_pkey.c, jose_ecdsa.c; the last two are also built
 * into ssf.httpd for its verification threads); not a public interface. */
#ifndef SSF_JOSE_H
#define SSF_JOSE_H

#include <stddef.h>

#include <lua.h>

/* RSA keys above this size are refused, which bounds every buffer that
 * holds a modulus or an RSA signature. OpenSSL's own limit is the same. */
#define SSF_RSA_MAX_BITS 16384
#define SSF_RSA_MAX_BYTES (SSF_RSA_MAX_BITS / 8)
#define SSF_RSA_MIN_BITS 2048

/* An ES256 signature in JOSE form: R and S, 32 bytes each. */
#define SSF_ES256_SIG_BYTES 64
/* The DER form of a P-256 ECDSA signature is at most this long. */
#define SSF_ES256_DER_MAX 72

/* Pushes base64url(bytes). May raise (memory), so call it only while no
 * unowned C memory is held. */
void ssf_jose_push_b64url(lua_State *L, const unsigned char *bytes, size_t n);

/* DER <-> R||S for ES256. Both return 1 on success, 0 otherwise, and leave
 * libcrypto's error queue empty. */
int ssf_jose_der_to_rs(const unsigned char *der, size_t len, unsigned char rs[SSF_ES256_SIG_BYTES]);
int ssf_jose_rs_to_der(const unsigned char rs[SSF_ES256_SIG_BYTES], unsigned char *der,
		       size_t cap, size_t *len);

/* Registers the key metatable (jose_key.c). */
void ssf_jose_key_open(lua_State *L);

int ssf_jose_load_key(lua_State *L);
int ssf_jose_generate_key(lua_State *L);
int ssf_jose_verify(lua_State *L);
/* Pushes jose.verify: ssf_jose_verify closed over its key cache. */
void ssf_jose_push_verify(lua_State *L);

#endif
