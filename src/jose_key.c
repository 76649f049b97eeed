/* Private keys for signing: loaded from PEM or generated, held only in C.
 * Lua sees an opaque userdata that can sign, show its public half and,
 * when asked explicitly, write itself out as PEM. */
#include <stdio.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <lauxlib.h>
#include <lua.h>

#include "compat.h"

#include "jose.h"

#define KEY_MT "ssf.jose.key"
#define MAX_PEM (1024 * 1024)
#define P256 "prime256v1" /* OpenSSL's name for NIST P-256 */

enum alg { RS256, ES256 };
static const char *const ALG_NAMES[] = { "RS256", "ES256", NULL };

typedef struct key {
	EVP_PKEY *pkey; /* NULL once closed */
	enum alg alg;
} key;

static key *check_key(lua_State *L)
{
	key *k = luaL_checkudata(L, 1, KEY_MT);
	if (k->pkey == NULL)
		luaL_error(L, "attempt to use a closed key");
	return k;
}

/* A closed-looking userdata first, so a failure later leaves nothing to
 * free but an empty object. */
static key *new_key(lua_State *L)
{
	key *k = ssf_newuserdata(L, sizeof *k);
	k->pkey = NULL;
	k->alg = RS256;
	luaL_setmetatable(L, KEY_MT);
	return k;
}

static int key_close(lua_State *L)
{
	key *k = luaL_checkudata(L, 1, KEY_MT);
	EVP_PKEY_free(k->pkey);
	k->pkey = NULL;
	return 0;
}

/* The passphrase as OpenSSL asks for it: copied as given, never prompted
 * for. `asked` tells an encrypted key from a malformed one afterwards. */
struct passphrase {
	const char *text; /* NULL: none was given */
	size_t len;
	int asked;
};

static int on_passphrase(char *buf, int size, int rwflag, void *ud)
{
	struct passphrase *p = ud;
	(void)rwflag;
	p->asked = 1;
	if (p->text == NULL || size < 0 || p->len > (size_t)size)
		return -1;
	memcpy(buf, p->text, p->len);
	return (int)p->len;
}

/* Which signing alg fits pkey, or a reason (written to msg) why none does. */
static int classify(EVP_PKEY *pkey, enum alg *alg, char *msg, size_t cap)
{
	if (EVP_PKEY_is_a(pkey, "RSA")) {
		int bits = EVP_PKEY_get_bits(pkey);
		if (bits < SSF_RSA_MIN_BITS || bits > SSF_RSA_MAX_BITS) {
			snprintf(msg, cap, "the RSA key has %d bits; from %d to %d are supported",
				 bits, SSF_RSA_MIN_BITS, SSF_RSA_MAX_BITS);
			return 0;
		}
		*alg = RS256;
		return 1;
	}
	if (EVP_PKEY_is_a(pkey, "EC")) {
		char group[64];
		size_t len = 0;
		if (EVP_PKEY_get_group_name(pkey, group, sizeof group, &len) != 1 ||
		    strcmp(group, P256) != 0) {
			snprintf(msg, cap, "the EC key is not on curve P-256 (ES256 needs P-256)");
			return 0;
		}
		*alg = ES256;
		return 1;
	}
	snprintf(msg, cap, "unsupported key type %s: use an RSA (2048 bits or more) or EC P-256 key",
		 EVP_PKEY_get0_type_name(pkey) ? EVP_PKEY_get0_type_name(pkey) : "(unknown)");
	return 0;
}

int ssf_jose_load_key(lua_State *L)
{
	size_t len;
	const char *pem = luaL_checklstring(L, 1, &len);
	struct passphrase pass = { NULL, 0, 0 };
	pass.text = luaL_optlstring(L, 2, NULL, &pass.len);
	if (len > MAX_PEM) {
		ssf_pushfail(L);
		lua_pushliteral(L, "the PEM text is larger than 1 MiB");
		return 2;
	}
	key *k = new_key(L);

	char msg[160] = "";
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	EVP_PKEY *pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, on_passphrase, &pass) : NULL;
	BIO_free(bio);
	if (pkey == NULL) {
		/* OpenSSL's own reason is not passed on: it is rarely clearer
		 * than these, and a message must never risk carrying key text. */
		if (pass.asked && pass.text == NULL)
			snprintf(msg, sizeof msg, "the private key is encrypted and no passphrase was given");
		else if (pass.asked)
			snprintf(msg, sizeof msg, "cannot decrypt the private key (wrong passphrase?)");
		else
			snprintf(msg, sizeof msg, "no private key found: expected a PEM PKCS#8, PKCS#1 RSA "
				 "or SEC1 EC private key");
	} else if (classify(pkey, &k->alg, msg, sizeof msg)) {
		k->pkey = pkey;
	} else {
		EVP_PKEY_free(pkey);
	}
	ERR_clear_error();
	if (k->pkey == NULL) {
		ssf_pushfail(L);
		lua_pushstring(L, msg);
		return 2;
	}
	return 1;
}

int ssf_jose_generate_key(lua_State *L)
{
	enum alg alg = (enum alg)luaL_checkoption(L, 1, NULL, ALG_NAMES);
	key *k = new_key(L);
	k->alg = alg;
	k->pkey = alg == ES256 ? EVP_PKEY_Q_keygen(NULL, NULL, "EC", P256)
			       : EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)SSF_RSA_MIN_BITS);
	ERR_clear_error();
	if (k->pkey == NULL)
		return luaL_error(L, "cannot generate an %s key", ALG_NAMES[alg]);
	return 1;
}

static int key_alg(lua_State *L)
{
	lua_pushstring(L, ALG_NAMES[check_key(L)->alg]);
	return 1;
}

/* RS256 is RSASSA-PKCS1-v1_5 (OpenSSL's default padding for RSA keys);
 * ES256 comes out of OpenSSL as DER and is turned into R||S. */
static int key_sign(lua_State *L)
{
	key *k = check_key(L);
	size_t n;
	const char *data = luaL_checklstring(L, 2, &n);
	unsigned char sig[SSF_RSA_MAX_BYTES], rs[SSF_ES256_SIG_BYTES];
	size_t siglen = sizeof sig;

	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = ctx != NULL &&
		 EVP_DigestSignInit_ex(ctx, NULL, "SHA256", NULL, NULL, k->pkey, NULL) == 1 &&
		 EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)data, n) == 1;
	EVP_MD_CTX_free(ctx);
	ERR_clear_error();
	if (ok && k->alg == ES256) {
		ok = ssf_jose_der_to_rs(sig, siglen, rs);
		siglen = sizeof rs;
	}
	if (!ok)
		return luaL_error(L, "signing with the %s key failed", ALG_NAMES[k->alg]);
	lua_pushlstring(L, (const char *)(k->alg == ES256 ? rs : sig), siglen);
	return 1;
}

/* Copies a big-number parameter of pkey into out, big-endian: exactly
 * `width` bytes when width > 0, else its minimal length. Returns the length
 * written, or 0. */
static size_t bn_param(const EVP_PKEY *pkey, const char *name, unsigned char *out, size_t cap,
		       int width)
{
	BIGNUM *bn = NULL;
	size_t len = 0;
	if (EVP_PKEY_get_bn_param(pkey, name, &bn) == 1) {
		int bytes = width > 0 ? width : BN_num_bytes(bn);
		if (bytes > 0 && (size_t)bytes <= cap && BN_bn2binpad(bn, out, bytes) == bytes)
			len = (size_t)bytes;
	}
	BN_free(bn);
	ERR_clear_error();
	return len;
}

/* The public members of each kind of key: the JWK names and the OpenSSL
 * parameters they come from (RFC 7518 §6.2.1 and §6.3.1). EC coordinates
 * have a fixed width; RSA numbers are written in their minimal length. */
static const struct jwk_members {
	const char *kty, *crv;
	const char *a, *a_param, *b, *b_param;
	int width;
} MEMBERS[] = {
	[RS256] = { "RSA", NULL, "n", OSSL_PKEY_PARAM_RSA_N, "e", OSSL_PKEY_PARAM_RSA_E, 0 },
	[ES256] = { "EC", "P-256", "x", OSSL_PKEY_PARAM_EC_PUB_X, "y", OSSL_PKEY_PARAM_EC_PUB_Y, 32 },
};

/* Only the public members, so the table can be published as a JWK. */
static int key_public_jwk(lua_State *L)
{
	key *k = check_key(L);
	const struct jwk_members *m = &MEMBERS[k->alg];
	unsigned char a[SSF_RSA_MAX_BYTES], b[SSF_RSA_MAX_BYTES];
	size_t alen = bn_param(k->pkey, m->a_param, a, sizeof a, m->width);
	size_t blen = bn_param(k->pkey, m->b_param, b, sizeof b, m->width);
	if (alen == 0 || blen == 0)
		return luaL_error(L, "cannot read the public half of the %s key", ALG_NAMES[k->alg]);
	lua_createtable(L, 0, 4);
	lua_pushstring(L, m->kty);
	lua_setfield(L, -2, "kty");
	if (m->crv) {
		lua_pushstring(L, m->crv);
		lua_setfield(L, -2, "crv");
	}
	ssf_jose_push_b64url(L, a, alen);
	lua_setfield(L, -2, m->a);
	ssf_jose_push_b64url(L, b, blen);
	lua_setfield(L, -2, m->b);
	return 1;
}

/* Holds a memory BIO while its text is copied into Lua, so a memory
 * error there cannot leak it: the box's __gc frees what is left. */
#define BIO_BOX_MT "ssf.jose.bio_box"

static int bio_box_gc(lua_State *L)
{
	BIO **box = luaL_checkudata(L, 1, BIO_BOX_MT);
	BIO_free(*box);
	*box = NULL;
	return 0;
}

/* The private key as unencrypted PKCS#8 PEM, for handing a generated key
 * to another program. The BIO is "secure memory": its buffer is cleansed
 * when freed. */
static int key_private_pem(lua_State *L)
{
	key *k = check_key(L);
	BIO **box = ssf_newuserdata(L, sizeof *box);
	*box = NULL;
	luaL_setmetatable(L, BIO_BOX_MT);
	*box = BIO_new(BIO_s_secmem());
	int ok = *box != NULL &&
		 PEM_write_bio_PKCS8PrivateKey(*box, k->pkey, NULL, NULL, 0, NULL, NULL) == 1;
	ERR_clear_error();
	char *text = NULL;
	long len = ok ? BIO_get_mem_data(*box, &text) : 0;
	if (!ok || len <= 0) {
		BIO_free(*box);
		*box = NULL;
		return luaL_error(L, "cannot write the %s key as PEM", ALG_NAMES[k->alg]);
	}
	lua_pushlstring(L, text, (size_t)len);
	BIO_free(*box);
	*box = NULL;
	return 1;
}

void ssf_jose_key_open(lua_State *L)
{
	static const luaL_Reg methods[] = {
		{ "alg", key_alg },
		{ "sign", key_sign },
		{ "public_jwk", key_public_jwk },
		{ "private_pem", key_private_pem },
		{ "close", key_close },
		{ NULL, NULL },
	};
	luaL_newmetatable(L, KEY_MT);
	luaL_newlib(L, methods);
	lua_setfield(L, -2, "__index");
	lua_pushcfunction(L, key_close);
	lua_setfield(L, -2, "__gc");
	lua_pushcfunction(L, key_close);
	lua_setfield(L, -2, "__close");
	lua_pop(L, 1);
	luaL_newmetatable(L, BIO_BOX_MT);
	lua_pushcfunction(L, bio_box_gc);
	lua_setfield(L, -2, "__gc");
	lua_pop(L, 1);
}
