/*
 * ssf.jose: the libcrypto side of ssf. It signs and verifies bytes and
 * converts keys; what a token means (JSON, claims, which key to trust) is
 * decided in Lua (lua/ssf/set.lua).
 *
 *   jose.b64url_encode(bytes)          -> string, unpadded
 *   jose.b64url_decode(s)              -> bytes | nil, "invalid base64url"
 *   jose.b64url_json(s)                -> bytes, plain | nil, "invalid base64url"
 *                                         (plain: see json_plain.h)
 *   jose.sha256(bytes)                 -> 32 raw bytes
 *   jose.random(n)                     -> n bytes from RAND_bytes (1..1024)
 *   jose.load_key(pem [, passphrase])  -> key | nil, message   (jose_key.c)
 *   jose.generate_key("ES256"|"RS256") -> key                  (jose_key.c)
 *     key:alg() key:sign(data) key:public_jwk() key:private_pem() key:close()
 *   jose.verify(jwk, alg, signing_input, signature)
 *                                      -> true | nil, message  (jose_verify.c)
 *   jose.openssl_version()             -> e.g. "OpenSSL 3.0.x ..."
 *
 * Two rules hold in every file of the module:
 *  - OpenSSL objects are created only after every Lua value needed has been
 *    read, and freed before anything is pushed, so a Lua error can never
 *    longjmp past them. No Lua runs inside an OpenSSL callback.
 *  - libcrypto's per-thread error queue is emptied before returning. libcurl
 *    shares it (same libcrypto, same thread), and SSL_get_error reads it:
 *    a stale entry left here could fail an unrelated TLS transfer.
 */
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <lauxlib.h>
#include <lua.h>

#include "compat.h"

#include "b64url.h"
#include "jose.h"
#include "json_plain.h"

#define MAX_RANDOM 1024

void ssf_jose_push_b64url(lua_State *L, const unsigned char *bytes, size_t n)
{
	size_t len = ssf_b64url_encoded_len(n);
	if (len == 0 && n > 0)
		luaL_error(L, "string too large to encode");
	ssf_Buffer b;
	ssf_b64url_encode(bytes, n, ssf_buffinitsize(L, &b, len));
	ssf_pushresultsize(&b, len);
}

static int l_b64url_encode(lua_State *L)
{
	size_t n;
	const char *s = luaL_checklstring(L, 1, &n);
	ssf_jose_push_b64url(L, (const unsigned char *)s, n);
	return 1;
}

/* Decodes the string argument into b. Returns the bytes, or NULL with nil
 * and the message pushed when it is not base64url. */
static unsigned char *decode_arg(lua_State *L, ssf_Buffer *b, size_t *len)
{
	size_t n;
	const char *s = luaL_checklstring(L, 1, &n);
	size_t max = ssf_b64url_decoded_len(n);
	unsigned char *out = max == (size_t)-1 ? NULL : (unsigned char *)ssf_buffinitsize(L, b, max);
	if (out == NULL || ssf_b64url_decode(s, n, out, len) != 0) {
		ssf_pushfail(L);
		lua_pushliteral(L, "invalid base64url");
		return NULL;
	}
	return out;
}

static int l_b64url_decode(lua_State *L)
{
	size_t len = 0;
	ssf_Buffer b;
	if (decode_arg(L, &b, &len) == NULL)
		return 2;
	ssf_pushresultsize(&b, len);
	return 1;
}

/* A JWS part that holds JSON: its bytes, and whether ssf.json may hand
 * them to cjson as they are (json_plain.h), found here in one pass of C
 * instead of three scans and a walk in Lua. */
static int l_b64url_json(lua_State *L)
{
	size_t len = 0;
	ssf_Buffer b;
	const unsigned char *out = decode_arg(L, &b, &len);
	if (out == NULL)
		return 2;
	int plain = ssf_json_plain(out, len);
	ssf_pushresultsize(&b, len);
	lua_pushboolean(L, plain);
	return 2;
}

static int l_sha256(lua_State *L)
{
	size_t n;
	const char *s = luaL_checklstring(L, 1, &n);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	int ok = EVP_Digest(s, n, md, &mdlen, EVP_sha256(), NULL) == 1;
	ERR_clear_error();
	if (!ok)
		return luaL_error(L, "SHA-256 failed");
	lua_pushlstring(L, (const char *)md, mdlen);
	return 1;
}

static int l_random(lua_State *L)
{
	lua_Integer n = ssf_checkinteger(L, 1);
	luaL_argcheck(L, n >= 1 && n <= MAX_RANDOM, 1, "must be from 1 to 1024");
	ssf_Buffer b;
	unsigned char *p = (unsigned char *)ssf_buffinitsize(L, &b, (size_t)n);
	int ok = RAND_bytes(p, (int)n) == 1;
	ERR_clear_error();
	/* Never hand out a buffer the generator did not fill. */
	if (!ok)
		return luaL_error(L, "the random generator failed");
	ssf_pushresultsize(&b, (size_t)n);
	return 1;
}

static int l_openssl_version(lua_State *L)
{
	lua_pushstring(L, OpenSSL_version(OPENSSL_VERSION));
	return 1;
}

/* The module's only exported symbol (the build hides the rest). */
__attribute__((visibility("default"))) int luaopen_ssf_jose(lua_State *L);

int luaopen_ssf_jose(lua_State *L)
{
	static const luaL_Reg funcs[] = {
		{ "b64url_encode", l_b64url_encode },
		{ "b64url_decode", l_b64url_decode },
		{ "b64url_json", l_b64url_json },
		{ "sha256", l_sha256 },
		{ "random", l_random },
		{ "load_key", ssf_jose_load_key },
		{ "generate_key", ssf_jose_generate_key },
		{ "openssl_version", l_openssl_version },
		{ NULL, NULL },
	};
	ssf_jose_key_open(L);
	luaL_newlib(L, funcs);
	ssf_jose_push_verify(L);
	lua_setfield(L, -2, "verify");
	return 1;
}
