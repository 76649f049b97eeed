/* The HTTP server under ssf.httpd, on libmicrohttpd, with no Lua in it:
 * requests that pass the checks are parked (their connections suspended)
 * in a waiting list until the thread that runs Lua takes them with
 * rx_take and answers them with rx_answer. A reaper thread answers 503 to
 * what is not answered in time, and drops connections whose headers do not
 * arrive in time.
 *
 * Two modes: the SET receiver (listen: one path, POST, an optional
 * Authorization value, the SET media type) and the generic server (serve:
 * every request that passes the HTTP checks, any method and path). */
#ifndef SSF_HTTPD_SERVER_H
#define SSF_HTTPD_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include <arpa/inet.h>
#include <sys/socket.h>

#include "buf.h"

/* Room for "[address]:port". */
#define RX_REMOTE_LEN (INET6_ADDRSTRLEN + 8)

typedef struct rx_server rx_server;

typedef struct rx_options {
	int generic;               /* serve rather than listen */
	const char *path;          /* listen: the one path served */
	const char *authorization; /* listen: the expected header value, or NULL */
	size_t max_body, max_pending;
	size_t max_buffered;      /* request bodies held in C, all together */
	unsigned max_connections; /* open at once */
	unsigned per_ip_limit;    /* open at once from one client address */
	double answer_timeout;
	double header_timeout; /* from connect (or the previous answer) to the
				  end of the headers: a deadline, not idleness */
	unsigned idle_timeout; /* seconds a connection may send nothing */
	struct sockaddr_storage addr;
	int v6, any; /* addr is IPv6; addr is :: (then dual stack) */
} rx_options;

/* A request handed to the caller by rx_take; free it with rx_taken_free. */
typedef struct rx_taken {
	int64_t id;
	ssf_buf body;
	char remote[RX_REMOTE_LEN];
	/* listen: the Content-Type; serve: NULL */
	char *content_type;
	/* serve only: the method, the decoded path, the raw query (NULL when
	 * the target has no '?'), and the headers as n_headers pairs packed
	 * "name\0value\0..." with lower-cased names, in arrival order. */
	char *method, *path, *query;
	char *headers;
	size_t n_headers;
	/* listen, once rx_set_keys gave keys: the 1-based index of the key
	 * whose signature of the body a verification thread proved, under
	 * the alg SSF_JOSE_ALGS[verified_alg] (jose_pkey.h), among the keys
	 * of the rx_set_keys call that returned verified_gen; 0 for none. */
	int verified_key, verified_alg;
	unsigned long verified_gen;
} rx_taken;

void rx_taken_free(rx_taken *t);

/* Starts the server; NULL and a message in err on failure. */
rx_server *rx_start(const rx_options *o, char *err, size_t errlen);
int rx_port(const rx_server *s);

enum { RX_GOT, RX_TIMEOUT, RX_INTERRUPTED };
/* Waits up to timeout seconds for a request, interruptible by Ctrl-C, and
 * takes it with up to cap - 1 more that are ready behind it, in arrival
 * order: one lock and one wake-up for a burst. RX_GOT fills out[0..*n)
 * (which the caller then owns). */
int rx_take(rx_server *s, double timeout, rx_taken *out, size_t cap, size_t *n);

/* Answers a taken request. Takes ownership of body (len bytes, may be NULL)
 * and of headers (n pairs packed "name\0value\0...", may be NULL) in every
 * case. Returns 0 when id is not waiting for an answer (answered already:
 * too late, or by close). */
int rx_answer(rx_server *s, int64_t id, unsigned status, char *body, size_t len, char *headers,
	      size_t n_headers);

/* A public key for the verification threads: RSA n and e (rsa != 0) or a
 * P-256 point x and y, decoded, and the kid (NULL for none). */
typedef struct rx_key_spec {
	const char *kid;
	size_t kid_len;
	int rsa;
	const unsigned char *a, *b;
	size_t alen, blen;
} rx_key_spec;

/* Replaces the keys the verification threads check queued requests with,
 * starting the threads the first time. Keys that cannot be imported keep
 * their index and prove nothing. NULL and the keys' generation in *gen
 * (see rx_taken.verified_gen), or what went wrong. */
const char *rx_set_keys(rx_server *s, const rx_key_spec *specs, size_t n, unsigned long *gen);

/* The statuses C answers with itself, in the order rx_stats reports them. */
#define RX_STAT_CODES { 400, 401, 404, 405, 413, 501, 503 }
#define RX_N_STATS 7

typedef struct rx_stats {
	unsigned long by_status[RX_N_STATS];
	size_t waiting;
	size_t connections;     /* open now */
	size_t buffered;        /* bytes reserved by request bodies held in C */
	unsigned long refused;  /* connections refused (max_connections, per_ip_limit) */
	unsigned long dropped;  /* connections cut: headers late, idle, a body over
				   its limit */
	unsigned long verified; /* signatures proved by the verification threads */
} rx_stats;

void rx_get_stats(rx_server *s, rx_stats *out);

/* Stops the threads, answering 503 to whatever waits, and frees all. */
void rx_stop(rx_server *s);

double rx_clock(void);

#endif
