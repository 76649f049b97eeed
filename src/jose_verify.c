/* jose.verify(jwk, alg, signing_input, signature): checks one JWS signature
 * against a public JWK given as a Lua table.
 *
 * Importing a key (and the Montgomery or curve tables OpenSSL builds on its
 * first use) costs more than a signature check, and a receiver checks every
 * SET against the same few keys. So the imported EVP_PKEYs are kept in a
 * small cache keyed by the JWK's decoded public numbers, which are compared
 * byte for byte: a key is only ever reused for exactly the numbers it was
 * built from. The cache and the fetched digests live in a userdata that is
 * the upvalue of jose.verify, so the Lua state owns them and frees them in
 * its __gc; a key that fails to import is never cached. */
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include <lauxlib.h>
#include <lua.h>

#include "compat.h"

#include "b64url.h"
#include "jose.h"
#include "jose_pkey.h"

#define COORD 32 /* bytes in a P-256 coordinate */
#define CACHED_KEYS 8 /* a JWKS or two: more keys are rotated through */
#define SECOND_MAX COORD /* widest JWK second member: EC y; RSA e is at most 8 */


/* One imported key, and the numbers it was imported from. */
struct slot {
	EVP_PKEY *pkey; /* NULL: empty */
	/* A context per alg that checks with pkey, made on its first check:
	 * making one per check (a provider fetch and a verify init) cost 3%
	 * of an ES256 check's instructions and 9% of an RS256 one's. NULL
	 * until made. */
	EVP_PKEY_CTX *ctx[SSF_JOSE_NALGS];
	int rsa;
	size_t alen, blen;
	unsigned char a[SSF_RSA_MAX_BYTES], b[SECOND_MAX];
};

/* The upvalue of jose.verify. */
struct cache {
	EVP_MD *md[SSF_JOSE_NALGS]; /* fetched once: a fetch by name takes a lock */
	EVP_MD_CTX *mdctx; /* reused by every check; NULL until the first */
	struct slot slots[CACHED_KEYS];
	unsigned next;     /* the slot replaced next, round robin */
};

#define CACHE_MT "ssf.jose.verify_cache"

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
static int read_jwk(lua_State *L, const ssf_jose_alg *alg, struct jwk *k)
{
	int rsa = alg->family != SSF_ECDSA;
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

/* Empties a slot; it may already be empty. */
static void slot_clear(struct slot *s)
{
	for (size_t i = 0; i < SSF_JOSE_NALGS; i++) {
		EVP_PKEY_CTX_free(s->ctx[i]);
		s->ctx[i] = NULL;
	}
	EVP_PKEY_free(s->pkey);
	s->pkey = NULL;
}

static int cache_gc(lua_State *L)
{
	struct cache *c = luaL_checkudata(L, 1, CACHE_MT);
	for (size_t i = 0; i < SSF_JOSE_NALGS; i++) {
		EVP_MD_free(c->md[i]);
		c->md[i] = NULL;
	}
	EVP_MD_CTX_free(c->mdctx);
	c->mdctx = NULL;
	for (size_t i = 0; i < CACHED_KEYS; i++)
		slot_clear(&c->slots[i]);
	return 0;
}

/* The cache's slot for k, holding a new import if need be (NULL, *why
 * set, if k cannot be imported). The cache keeps its references: the
 * caller frees nothing. */
static struct slot *cached_slot(struct cache *c, int rsa, const struct jwk *k, const char **why)
{
	for (size_t i = 0; i < CACHED_KEYS; i++) {
		struct slot *s = &c->slots[i];
		if (s->pkey != NULL && s->rsa == rsa && s->alen == k->alen && s->blen == k->blen &&
		    memcmp(s->a, k->a, k->alen) == 0 && memcmp(s->b, k->b, k->blen) == 0)
			return s;
	}
	if (k->blen > SECOND_MAX) { /* read_jwk bounds it; never cache a truncated key */
		*why = "cannot import the JWK";
		return NULL;
	}
	EVP_PKEY *pkey = ssf_jose_import(rsa, k->a, k->alen, k->b, k->blen, why);
	if (pkey == NULL)
		return NULL;
	struct slot *s = &c->slots[c->next];
	c->next = (c->next + 1) % CACHED_KEYS;
	slot_clear(s);
	s->pkey = pkey;
	s->rsa = rsa;
	s->alen = k->alen;
	s->blen = k->blen;
	memcpy(s->a, k->a, k->alen);
	memcpy(s->b, k->b, k->blen);
	return s;
}

void ssf_jose_push_verify(lua_State *L)
{
	struct cache *c = ssf_newuserdata(L, sizeof *c);
	memset(c, 0, sizeof *c);
	if (luaL_newmetatable(L, CACHE_MT)) {
		lua_pushcfunction(L, cache_gc);
		lua_setfield(L, -2, "__gc");
		lua_pushliteral(L, "private");
		lua_setfield(L, -2, "__metatable");
	}
	lua_setmetatable(L, -2);
	lua_pushcclosure(L, ssf_jose_verify, 1);
}

int ssf_jose_verify(lua_State *L)
{
	struct cache *c = lua_touserdata(L, lua_upvalueindex(1));
	luaL_checktype(L, 1, LUA_TTABLE);
	size_t nlen, mlen, slen;
	const char *name = luaL_checklstring(L, 2, &nlen);
	const unsigned char *msg = (const unsigned char *)luaL_checklstring(L, 3, &mlen);
	const unsigned char *sig = (const unsigned char *)luaL_checklstring(L, 4, &slen);
	luaL_checkstack(L, 4, "JWK members");

	int ai = ssf_jose_alg_index(name, nlen);
	const ssf_jose_alg *alg = ai < 0 ? NULL : &SSF_JOSE_ALGS[ai];
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
	if (alg->family == SSF_ECDSA && slen != SSF_ES256_SIG_BYTES) {
		ssf_pushfail(L);
		lua_pushliteral(L, "an ES256 signature must be 64 bytes (R || S)");
		return 2;
	}

	/* No Lua from here until every OpenSSL object is freed. */
	const char *why = NULL;
	if (c->md[ai] == NULL)
		c->md[ai] = EVP_MD_fetch(NULL, alg->digest, NULL);
	if (c->mdctx == NULL)
		c->mdctx = EVP_MD_CTX_new();
	struct slot *s = cached_slot(c, alg->family != SSF_ECDSA, &k, &why);
	int ok = 0;
	if (s != NULL) {
		if (s->ctx[ai] == NULL)
			s->ctx[ai] = ssf_jose_prepare(s->pkey, alg, c->md[ai]);
		ok = ssf_jose_check(s->ctx[ai], c->mdctx, s->pkey, alg, c->md[ai], msg, mlen, sig, slen);
		why = "signature does not verify";
	}
	ERR_clear_error();

	if (ok) {
		lua_pushboolean(L, 1);
		return 1;
	}
	ssf_pushfail(L);
	lua_pushstring(L, why);
	return 2;
}
