/*
 * The receiver's verification threads: the JWS signature of each queued
 * SET is checked here, on every core, before Lua takes it; no Lua runs on
 * these threads. Lua hands over the public keys it trusts (rx_set_keys,
 * again whenever it refetches the JWKS). A thread picks the oldest request
 * not yet checked, reads alg and kid from its header, and tries the keys
 * that fit; the result is only a proof that one handed key signed the
 * request's bytes under one alg. Lua still parses the SET, picks its key
 * by its own rules, and skips its own signature check only when it picked
 * that very key and alg; everything else (an unknown kid, a forged
 * signature, alg none) is decided in Lua exactly as without the threads.
 *
 * rx_take hands requests to Lua in arrival order: it waits while the
 * oldest is still being checked. A request answered meanwhile (the reaper,
 * close) is simply not found again when its check ends.
 */
#define _POSIX_C_SOURCE 200809L

#include "httpd_internal.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>

#include "b64url.h"
#include "jose.h"
#include "jose_p256.h"
#include "jose_pkey.h"

/* A SET's header is a few dozen bytes; one far larger gets no proof. */
#define HEADER_MAX 1024
/* ES256 keys of one keyset that get a table of their own (jose_p256.c),
 * about 150 KiB each: a JWKS rarely holds more than two signing keys. */
#define MAX_TABLES 4

struct rx_key {
	EVP_PKEY *pkey; /* NULL: the numbers made no acceptable key */
	int rsa;
	char *kid; /* NULL: none */
	size_t kid_len;
	/* ES256: the key's table once a thread has made it (see give_table);
	 * read by every thread, freed with the keyset. */
	_Atomic(ssf_p256_table *) table;
	atomic_int tried; /* a thread has taken on making the table */
};

struct rx_keyset {
	unsigned refs; /* s->keys and each check under way; guarded by s->lock */
	unsigned long gen; /* which rx_set_keys call made it */
	atomic_uint tables; /* tables taken on so far, of MAX_TABLES */
	EVP_MD *md[SSF_JOSE_NALGS];
	size_t n;
	struct rx_key keys[];
};

static void keyset_free(struct rx_keyset *ks)
{
	if (ks == NULL)
		return;
	for (size_t i = 0; i < ks->n; i++) {
		EVP_PKEY_free(ks->keys[i].pkey);
		free(ks->keys[i].kid);
		ssf_p256_table_free(atomic_load(&ks->keys[i].table));
	}
	for (int i = 0; i < SSF_JOSE_NALGS; i++)
		EVP_MD_free(ks->md[i]);
	free(ks);
}

/* With the lock held: drops one reference. */
static void keyset_release(struct rx_keyset *ks)
{
	if (ks != NULL && --ks->refs == 0)
		keyset_free(ks);
}

static struct rx_keyset *keyset_new(const rx_key_spec *specs, size_t n)
{
	struct rx_keyset *ks = calloc(1, sizeof *ks + n * sizeof ks->keys[0]);
	if (ks == NULL)
		return NULL;
	ks->refs = 1;
	ks->n = n;
	atomic_init(&ks->tables, 0);
	int ok = 1;
	for (int i = 0; i < SSF_JOSE_NALGS; i++)
		ok &= (ks->md[i] = EVP_MD_fetch(NULL, SSF_JOSE_ALGS[i].digest, NULL)) != NULL;
	for (size_t i = 0; ok && i < n; i++) {
		const rx_key_spec *sp = &specs[i];
		struct rx_key *k = &ks->keys[i];
		const char *why;
		atomic_init(&k->table, NULL);
		atomic_init(&k->tried, 0);
		k->rsa = sp->rsa;
		k->pkey = ssf_jose_import(sp->rsa, sp->a, sp->alen, sp->b, sp->blen, &why);
		if (sp->kid != NULL) {
			ok = (k->kid = malloc(sp->kid_len + 1)) != NULL;
			if (ok)
				memcpy(k->kid, sp->kid, sp->kid_len);
			k->kid_len = sp->kid_len;
		}
	}
	ERR_clear_error();
	if (!ok) {
		keyset_free(ks);
		return NULL;
	}
	return ks;
}

/* The string value of the member `name` of a JSON object text, found by a
 * plain scan: good enough for a hint that Lua checks. 0 if not found or
 * escaped. */
static int member(const char *j, size_t n, const char *name, const char **v, size_t *vlen)
{
	size_t nl = strlen(name);
	for (size_t i = 0; i + nl + 2 <= n; i++) {
		if (j[i] != '"' || memcmp(j + i + 1, name, nl) != 0 || j[i + nl + 1] != '"')
			continue;
		size_t p = i + nl + 2;
		while (p < n && (j[p] == ' ' || j[p] == '\t' || j[p] == '\r' || j[p] == '\n'))
			p++;
		if (p >= n || j[p++] != ':')
			continue;
		while (p < n && (j[p] == ' ' || j[p] == '\t' || j[p] == '\r' || j[p] == '\n'))
			p++;
		if (p >= n || j[p++] != '"')
			return 0;
		size_t start = p;
		while (p < n && j[p] != '"' && j[p] != '\\')
			p++;
		if (p >= n || j[p] != '"')
			return 0;
		*v = j + start;
		*vlen = p - start;
		return 1;
	}
	return 0;
}

/* A verification thread's own libcrypto contexts (they are not shared
 * between threads): one per key and alg of the keyset `gen`, made at first
 * use, so that a check does not set up the key's operation again (a fifth
 * of an RS256 check did that). Dropped when the keys change. */
typedef struct prepared {
	unsigned long gen; /* 0: none made */
	size_t n;
	EVP_PKEY_CTX **ctx; /* n * SSF_JOSE_NALGS, NULL until made */
	EVP_MD_CTX *md;
	BN_CTX *bn; /* for checks with a key's table */
} prepared;

static void prepared_drop(prepared *p)
{
	for (size_t i = 0; p->ctx != NULL && i < p->n * SSF_JOSE_NALGS; i++)
		EVP_PKEY_CTX_free(p->ctx[i]);
	free(p->ctx);
	p->ctx = NULL;
	p->n = 0;
	p->gen = 0;
}

/* The context for key i of ks under alg a, made if need be; NULL when it
 * cannot be made (then the check is made without one). */
static EVP_PKEY_CTX *prepared_ctx(prepared *p, const struct rx_keyset *ks, size_t i, int a)
{
	if (p->md == NULL)
		return NULL;
	if (p->gen != ks->gen) {
		prepared_drop(p);
		if ((p->ctx = calloc(ks->n * SSF_JOSE_NALGS, sizeof *p->ctx)) == NULL)
			return NULL;
		p->n = ks->n;
		p->gen = ks->gen;
	}
	EVP_PKEY_CTX **slot = &p->ctx[i * SSF_JOSE_NALGS + (size_t)a];
	if (*slot == NULL)
		*slot = ssf_jose_prepare(ks->keys[i].pkey, &SSF_JOSE_ALGS[a], ks->md[a]);
	return *slot;
}

/* After ES256 key k proved a signature without a table: makes its table,
 * once per key and for MAX_TABLES keys at most. Only a key that has signed
 * gets one, so forged SETs cannot make the threads build tables. The
 * thread that gets here first makes it (tens of milliseconds), while the
 * others go on checking without. */
static void give_table(struct rx_keyset *ks, struct rx_key *k)
{
	if (atomic_exchange(&k->tried, 1) != 0 || atomic_fetch_add(&ks->tables, 1) >= MAX_TABLES)
		return;
	atomic_store_explicit(&k->table, ssf_p256_table_new(k->pkey), memory_order_release);
}

/* Checks a compact JWS against the keys. Returns the 1-based index of the
 * key that verifies it and sets *alg, or 0. */
static int check_jws(struct rx_keyset *ks, prepared *p, const char *jws, size_t len, int *alg)
{
	const char *d1 = memchr(jws, '.', len);
	const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - jws)) : NULL;
	if (d2 == NULL || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - jws)) != NULL)
		return 0;
	size_t hlen = (size_t)(d1 - jws), slen64 = len - (size_t)(d2 + 1 - jws), hn, sn;
	size_t hmax = ssf_b64url_decoded_len(hlen), smax = ssf_b64url_decoded_len(slen64);
	char header[HEADER_MAX];
	unsigned char sig[SSF_RSA_MAX_BYTES];
	if (hmax == (size_t)-1 || hmax > sizeof header || smax == (size_t)-1 || smax > sizeof sig ||
	    ssf_b64url_decode(jws, hlen, (unsigned char *)header, &hn) != 0 ||
	    ssf_b64url_decode(d2 + 1, slen64, sig, &sn) != 0)
		return 0;
	const char *a, *kid = NULL;
	size_t alen, kid_len = 0;
	if (!member(header, hn, "alg", &a, &alen) || (*alg = ssf_jose_alg_index(a, alen)) < 0)
		return 0;
	int has_kid = member(header, hn, "kid", &kid, &kid_len);
	const ssf_jose_alg *al = &SSF_JOSE_ALGS[*alg];
	for (size_t i = 0; i < ks->n; i++) {
		struct rx_key *k = &ks->keys[i];
		if (k->pkey == NULL || k->rsa != (al->family != SSF_ECDSA))
			continue;
		if (has_kid && (k->kid == NULL || k->kid_len != kid_len || memcmp(k->kid, kid, kid_len) != 0))
			continue;
		const unsigned char *msg = (const unsigned char *)jws;
		size_t mlen = (size_t)(d2 - jws);
		ssf_p256_table *t = al->family == SSF_ECDSA && p->bn != NULL
					    ? atomic_load_explicit(&k->table, memory_order_acquire)
					    : NULL;
		if (t != NULL) {
			if (ssf_p256_check(t, p->bn, p->md, ks->md[*alg], msg, mlen, sig, sn))
				return (int)i + 1;
			continue;
		}
		EVP_PKEY_CTX *ctx = prepared_ctx(p, ks, i, *alg);
		if (ssf_jose_check(ctx, p->md, k->pkey, al, ks->md[*alg], msg, mlen, sig, sn)) {
			if (al->family == SSF_ECDSA)
				give_table(ks, k);
			return (int)i + 1;
		}
	}
	return 0;
}

/* With the lock held: the waiting request with this id, not yet taken. */
static request *find_queued(rx_server *s, int64_t id)
{
	request *r = s->waiting;
	while (r != NULL && !(r->state == RQ_QUEUED && r->id == id))
		r = r->next;
	return r;
}

/* With the lock held: whether the Lua thread, waiting in rx_take, should
 * wake now. It takes requests in arrival order, so a check that ends
 * behind one still under way frees nothing. Once the oldest is ready, it
 * wakes when a second is ready too, or when no other check is under way:
 * each wake costs it a thread switch and a round of signal handling, and
 * with every core checking (ES256 is bound by libcrypto) waking it for one
 * request at a time spent a fifth of its time on waking. The wait this
 * adds is at most one check. */
static int worth_waking(rx_server *s)
{
	size_t ready = 0;
	for (request *r = rx_first_queued(s); r != NULL; r = r->next) {
		if (r->state != RQ_QUEUED)
			continue;
		if (r->check != CHECK_NONE)
			return 0; /* none ready, or one with a check behind it */
		if (++ready >= 2)
			return 1;
	}
	return ready > 0;
}

static void *verifier_main(void *arg)
{
	rx_server *s = arg;
	prepared p = { .md = EVP_MD_CTX_new(), .bn = BN_CTX_new() };
	rx_name_thread("ssf-verify");
	pthread_mutex_lock(&s->lock);
	while (!s->closing) {
		request *r = s->waiting;
		while (r != NULL && r->check != CHECK_PENDING)
			r = r->next;
		if (r == NULL) {
			pthread_cond_wait(&s->to_verify, &s->lock);
			continue;
		}
		/* The body is copied: the reaper may answer and free the
		 * request while its signature is checked. */
		r->check = CHECK_RUNNING;
		int64_t id = r->id;
		size_t len = r->out.body.len;
		char *copy = malloc(len > 0 ? len : 1);
		if (copy != NULL && len > 0)
			memcpy(copy, r->out.body.data, len);
		struct rx_keyset *ks = s->keys;
		ks->refs++;
		pthread_mutex_unlock(&s->lock);

		int alg = -1, key = copy != NULL ? check_jws(ks, &p, copy, len, &alg) : 0;
		ERR_clear_error();
		free(copy);

		pthread_mutex_lock(&s->lock);
		if ((r = find_queued(s, id)) != NULL) {
			r->check = CHECK_NONE;
			r->out.verified_key = key;
			r->out.verified_alg = key > 0 ? alg : -1;
			r->out.verified_gen = ks->gen;
			if (key > 0)
				s->verified++;
		}
		if (worth_waking(s))
			pthread_cond_broadcast(&s->arrived);
		keyset_release(ks);
	}
	pthread_mutex_unlock(&s->lock);
	prepared_drop(&p);
	EVP_MD_CTX_free(p.md);
	BN_CTX_free(p.bn);
	return NULL;
}

static unsigned verifier_count(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > MAX_VERIFIERS ? MAX_VERIFIERS : (unsigned)n;
}

const char *rx_set_keys(rx_server *s, const rx_key_spec *specs, size_t n, unsigned long *gen)
{
	struct rx_keyset *ks = keyset_new(specs, n);
	if (ks == NULL)
		return "not enough memory";
	const char *err = NULL;
	pthread_mutex_lock(&s->lock);
	if (s->n_verifiers == 0 && !s->closing) {
		/* Every signal blocked, as for the other threads: Ctrl-C must
		 * reach the thread that runs Lua. */
		sigset_t all, old;
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		for (unsigned i = verifier_count(); s->n_verifiers < i;) {
			if (pthread_create(&s->verifiers[s->n_verifiers], NULL, verifier_main, s) != 0)
				break;
			s->n_verifiers++;
		}
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (s->n_verifiers == 0)
			err = "cannot start a thread";
	}
	if (err == NULL) {
		*gen = ks->gen = ++s->keys_gen;
		keyset_release(s->keys);
		s->keys = ks;
		ks = NULL;
	}
	pthread_mutex_unlock(&s->lock);
	keyset_free(ks);
	return err;
}

void rx_stop_verifiers(rx_server *s)
{
	pthread_mutex_lock(&s->lock);
	s->closing = 1;
	pthread_cond_broadcast(&s->to_verify);
	unsigned n = s->n_verifiers;
	s->n_verifiers = 0;
	pthread_mutex_unlock(&s->lock);
	for (unsigned i = 0; i < n; i++)
		pthread_join(s->verifiers[i], NULL);
	pthread_mutex_lock(&s->lock);
	keyset_release(s->keys);
	s->keys = NULL;
	pthread_mutex_unlock(&s->lock);
}
