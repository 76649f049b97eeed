/* What the files of the server under ssf.httpd share (httpd_server.c: the
 * libmicrohttpd callbacks, start and stop; httpd_queue.c: the waiting list,
 * the reaper and the Lua thread's side; httpd_guard.c: connection limits
 * and the header deadline; httpd_framing.c: ambiguous framing;
 * httpd_verify.c: the signature-checking threads). No Lua. */
#ifndef SSF_HTTPD_INTERNAL_H
#define SSF_HTTPD_INTERNAL_H

#include <pthread.h>
#include <stdint.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <microhttpd.h>

#include "httpd_server.h"

/* How many connections the reaper and rx_stop resume at a time. */
#define BATCH 16
/* Signature-checking threads at most (httpd_verify.c). */
#define MAX_VERIFIERS 4

enum rq_state {
	RQ_NEW,      /* request line read, headers not yet checked */
	RQ_READING,  /* headers passed, body arriving (libmicrohttpd's thread only) */
	RQ_QUEUED,   /* body complete, connection suspended, waiting for rx_take */
	RQ_TAKEN,    /* handed out by rx_take, waiting for rx_answer */
	RQ_ANSWERED, /* answer stored, connection resumed */
};

/* A queued request's signature check (httpd_verify.c). */
enum rq_check {
	CHECK_NONE,    /* none to make, or made: rx_take may hand it out */
	CHECK_PENDING, /* waiting for a verification thread */
	CHECK_RUNNING, /* a verification thread is on it */
};

typedef struct request {
	struct request *next; /* in server.waiting while QUEUED or TAKEN */
	struct MHD_Connection *conn;
	enum rq_state state;
	enum rq_check check;
	int64_t id;
	double deadline;
	char *uri; /* the raw request target */
	const char *uri_at; /* where libmicrohttpd held it (see hides_bytes) */
	size_t reserved; /* bytes counted in server.buffered for this body */
	rx_taken out; /* what rx_take hands over (id and remote set there) */
	unsigned status;
	char *answer; /* NULL for no body */
	size_t answer_len;
	int answer_static;   /* answer points to a static body */
	char *answer_headers; /* packed "name\0value\0..." */
	size_t answer_n_headers;
} request;

/* An open connection, from libmicrohttpd's "started" to its "closed"
 * notification: for the connection limits and the header deadline. */
typedef struct conn_rec {
	struct conn_rec *prev, *next;
	struct sockaddr_storage addr; /* the client's address, port zeroed */
	char remote[RX_REMOTE_LEN]; /* the client's "address:port" */
	int fd;
	double header_deadline; /* 0 while no request's headers are awaited */
} conn_rec;

struct rx_server {
	/* Settings: written before the threads start, read-only after. */
	int generic;
	char *path, *authorization, *www_authenticate;
	size_t authorization_len, max_body, max_pending, max_buffered;
	unsigned max_connections, per_ip_limit;
	double answer_timeout, header_timeout;
	int port;

	struct MHD_Daemon *daemon;
	struct MHD_Response *empty; /* no body, no header: queued for many */
	pthread_t reaper;
	int have_sync, have_reaper;

	/* Everything below is guarded by lock. */
	pthread_mutex_t lock;
	pthread_cond_t arrived; /* a request was queued: rx_take waits for it */
	pthread_cond_t changed; /* a deadline or closing for the reaper; live
				   reaching 0 for rx_stop */
	int closing;
	/* When the reaper wakes next: 0 while it waits for a signal alone. */
	double reaper_until;
	request *waiting, *waiting_tail; /* QUEUED and TAKEN, oldest first */
	size_t n_waiting;
	size_t live; /* requests libmicrohttpd has not yet completed */
	int64_t next_id;
	unsigned long stats[RX_N_STATS];
	conn_rec *conns; /* every open connection */
	size_t n_conns;
	size_t buffered; /* bytes reserved by request bodies held in C */
	unsigned long refused, dropped;
	char log[256]; /* libmicrohttpd's last message: says why a start failed */
	/* The verification threads (httpd_verify.c), started by the first
	 * rx_set_keys; the keys they check with (NULL: no checks). */
	pthread_t verifiers[MAX_VERIFIERS];
	unsigned n_verifiers;
	pthread_cond_t to_verify; /* a request waits for its check */
	struct rx_keyset *keys;
	unsigned long keys_gen; /* rx_set_keys calls so far */
	unsigned long verified; /* requests whose signature a thread proved */
};

/* Waits on cond until the monotonic time `until` (the conds use that clock). */
void rx_wait_until(pthread_cond_t *cond, pthread_mutex_t *lock, double until);
/* With the lock held: wakes the reaper for a new deadline, unless it is
 * due to wake before it anyway (it reads every deadline when it wakes).
 * One signal per request would cost a thread switch each. */
void rx_new_deadline(rx_server *s, double deadline);
/* Counts an answer made in C, with the lock held. */
void rx_count_answer(rx_server *s, unsigned status);
/* Answers 503 with body to up to cap waiting requests whose deadline is
 * before now, storing their connections in conns, with the lock held.
 * Returns how many; *next gets the earliest deadline left (0 if none). */
size_t rx_expire(rx_server *s, double now, const char *body, struct MHD_Connection **conns,
		 size_t cap, double *next);
void rx_resume_all(struct MHD_Connection **conns, size_t n);
/* With the lock held: the oldest request not yet handed out, or NULL. */
request *rx_first_queued(rx_server *s);
void *rx_reaper_main(void *arg);

/* Names the calling thread (15 characters at most), so that top -H and
 * ps -L tell the checks' CPU time from the rest; the receiver bench reads
 * it that way. */
static inline void rx_name_thread(const char *name)
{
#ifdef __linux__
	prctl(PR_SET_NAME, name, 0, 0, 0);
#else
	(void)name;
#endif
}

/* httpd_guard.c */
conn_rec *rx_conn_of(struct MHD_Connection *conn);
/* "address:port" ("[v6]:port") of sa into out (RX_REMOTE_LEN bytes);
 * empty when sa is NULL or cannot be formatted. */
void rx_format_address(const struct sockaddr *sa, char *out);
double rx_cut_late(rx_server *s, double now);
enum MHD_Result rx_on_accept(void *cls, const struct sockaddr *addr, socklen_t len);
void rx_on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
		      enum MHD_ConnectionNotificationCode code);

/* httpd_verify.c: stops and joins the verification threads and frees the
 * keys; sets closing. */
void rx_stop_verifiers(rx_server *s);

/* httpd_framing.c: 0 when the request's framing is unambiguous, else the
 * status to refuse it with and, in *why, a static reason. */
unsigned rx_check_framing(const request *r, struct MHD_Connection *conn, const char *method,
			  const char *version, const char **why);

#endif
