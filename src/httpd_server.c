/*
 * The server under ssf.httpd (see httpd_server.h). Everything a request can
 * be refused for without Lua is decided here, on libmicrohttpd's thread; a
 * request that passes is parked (its connection suspended) until the Lua
 * thread takes it with rx_take and answers it with rx_answer.
 * The waiting list and the reaper are in httpd_queue.c, the connection
 * limits and header deadline in httpd_guard.c, the framing checks in
 * httpd_framing.c.
 *
 * Threads: libmicrohttpd's polling thread and our own reaper thread (which
 * answers 503 to requests left unanswered for answer_timeout seconds) never
 * run Lua. They share only the C data under server.lock, and no
 * libmicrohttpd function is called with that lock held, so its locks and
 * ours can never be taken in opposite orders.
 */
#define _POSIX_C_SOURCE 200809L

#include "httpd_internal.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <netinet/in.h>

#include "rxcheck.h"

#define SET_MEDIA_TYPE "application/secevent+jwt"
/* How long rx_stop waits for answers already given to reach their clients. */
#define CLOSE_GRACE 1.0
#define RETRY_AFTER "5"
/* libmicrohttpd's own connection limit sits above ours, so that ours (which
 * counts what it refuses) is the one that acts. */
#define MHD_LIMIT_MARGIN 16
/* Each connection's libmicrohttpd memory pool: the request line and
 * headers must fit (the body streams through it), so longer ones get 431,
 * as with nginx's 8k header buffers. libmicrohttpd zeroes the pool between
 * the requests of a kept-alive connection: its default of 32 KiB cost two
 * large memsets per SET, and at 16 KiB they were still most of its
 * thread's instructions (and flushed its cache); headers of a push are a
 * few hundred bytes. */
#define CONNECTION_MEMORY (8 * 1024)

static const char BODY_400[] = "{\"err\":\"invalid_request\","
			       "\"description\":\"Content-Type must be " SET_MEDIA_TYPE "\"}";
static const char BODY_401[] = "{\"err\":\"authentication_failed\","
			       "\"description\":\"missing or wrong Authorization header\"}";
static const char BODY_404[] = "{\"err\":\"invalid_request\","
			       "\"description\":\"no SET receiver at this path\"}";
static const char BODY_405[] = "{\"err\":\"invalid_request\","
			       "\"description\":\"SETs are delivered with POST\"}";
static const char BODY_413[] = "{\"err\":\"invalid_request\","
			       "\"description\":\"the request body is larger than this server "
			       "accepts\"}";
static const char BODY_503_BUFFERED[] = "{\"description\":\"too many request bodies held, try "
					"again later\"}";
static const char BODY_503_FULL[] = "{\"description\":\"too many requests waiting, try again "
				    "later\"}";
static const char BODY_503_CLOSING[] = "{\"description\":\"the receiver is shutting down\"}";


static void count(rx_server *s, unsigned status)
{
	pthread_mutex_lock(&s->lock);
	rx_count_answer(s, status);
	pthread_mutex_unlock(&s->lock);
}

static void free_request(request *r)
{
	rx_taken_free(&r->out);
	free(r->uri);
	if (!r->answer_static)
		free(r->answer);
	free(r->answer_headers);
	free(r);
}

/* ------------------------------------------------------------------ libmicrohttpd's thread */

/* Whether the packed headers name `name` (ASCII case aside). */
static int has_header(const char *packed, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++) {
		if (strcasecmp(packed, name) == 0)
			return 1;
		packed += strlen(packed) + 1;
		packed += strlen(packed) + 1;
	}
	return 0;
}

/* Sends an answer; close_after says the connection ends with it (for
 * refusals, which may leave a body unread). */
static enum MHD_Result reply(rx_server *s, struct MHD_Connection *conn, unsigned status,
			     const char *body, size_t len, const char *packed, size_t n_headers,
			     const char *header, const char *value, int close_after)
{
	/* The answer to nearly every push (202, nothing else): one response
	 * made at start and queued again and again, instead of an allocation,
	 * a mutex and their teardown per answer. */
	if (len == 0 && n_headers == 0 && header == NULL && !close_after && status != 503)
		return MHD_queue_response(conn, status, s->empty);
	struct MHD_Response *res = MHD_create_response_from_buffer(
		len, (void *)(body ? body : ""), MHD_RESPMEM_MUST_COPY);
	if (res == NULL)
		return MHD_NO;
	const char *h = packed;
	for (size_t i = 0; i < n_headers; i++) {
		const char *v = h + strlen(h) + 1;
		MHD_add_response_header(res, h, v);
		h = v + strlen(v) + 1;
	}
	if (len > 0 && !has_header(packed, n_headers, MHD_HTTP_HEADER_CONTENT_TYPE))
		MHD_add_response_header(res, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	if (status == 503 && !has_header(packed, n_headers, MHD_HTTP_HEADER_RETRY_AFTER))
		MHD_add_response_header(res, MHD_HTTP_HEADER_RETRY_AFTER, RETRY_AFTER);
	if (header != NULL)
		MHD_add_response_header(res, header, value);
	if (close_after)
		MHD_add_response_header(res, MHD_HTTP_HEADER_CONNECTION, "close");
	enum MHD_Result rc = MHD_queue_response(conn, status, res);
	MHD_destroy_response(res);
	return rc;
}

/* An answer decided here, from a static body. */
static enum MHD_Result refuse(rx_server *s, struct MHD_Connection *conn, unsigned status,
			      const char *body, const char *header, const char *value)
{
	count(s, status);
	return reply(s, conn, status, body, strlen(body), NULL, 0, header, value, 1);
}

static const char *header(struct MHD_Connection *conn, const char *name)
{
	return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
}

/* The client's "address:port", formatted once per connection (see
 * rx_on_connection), for each of its requests. */
static void format_remote(struct MHD_Connection *conn, char *out)
{
	const conn_rec *c = rx_conn_of(conn);
	if (c != NULL) {
		memcpy(out, c->remote, RX_REMOTE_LEN);
		return;
	}
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	rx_format_address(ci ? ci->client_addr : NULL, out);
}

/* Gathers the request headers as packed lower-cased pairs. */
typedef struct packer {
	ssf_buf buf;
	size_t n;
	int failed;
} packer;

static enum MHD_Result pack_header(void *cls, enum MHD_ValueKind kind, const char *key,
				   size_t key_size, const char *value, size_t value_size)
{
	(void)kind;
	packer *p = cls;
	size_t at = p->buf.len;
	if (ssf_buf_append(&p->buf, key, key_size) != SSF_BUF_OK ||
	    ssf_buf_append(&p->buf, "", 1) != SSF_BUF_OK ||
	    ssf_buf_append(&p->buf, value ? value : "", value ? value_size : 0) != SSF_BUF_OK ||
	    ssf_buf_append(&p->buf, "", 1) != SSF_BUF_OK) {
		p->failed = 1;
		return MHD_NO;
	}
	for (size_t i = 0; i < key_size; i++) {
		char c = p->buf.data[at + i];
		if (c >= 'A' && c <= 'Z')
			p->buf.data[at + i] = (char)(c - 'A' + 'a');
	}
	p->n++;
	return MHD_YES;
}

/* serve: keeps what rx_take hands out of the request line and headers. */
static int keep_request(request *r, const char *url, const char *method)
{
	packer p = { .buf = { 0 } };
	MHD_get_connection_values_n(r->conn, MHD_HEADER_KIND, pack_header, &p);
	r->out.headers = p.buf.data;
	r->out.n_headers = p.n;
	if (p.failed)
		return 0;
	const char *q = r->uri ? strchr(r->uri, '?') : NULL;
	r->out.method = strdup(method);
	r->out.path = strdup(url);
	if (q != NULL)
		r->out.query = strdup(q + 1);
	return r->out.method && r->out.path && (q == NULL || r->out.query);
}

/* listen: what only a SET receiver refuses. 0 when the request passes. */
static enum MHD_Result check_set_request(rx_server *s, struct MHD_Connection *conn,
					 const char *url, const char *method, int *refused)
{
	*refused = 1;
	if (strcmp(url, s->path) != 0)
		return refuse(s, conn, 404, BODY_404, NULL, NULL);
	if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
		return refuse(s, conn, 405, BODY_405, MHD_HTTP_HEADER_ALLOW, "POST");
	if (s->authorization != NULL) {
		const char *given = header(conn, MHD_HTTP_HEADER_AUTHORIZATION);
		if (!ssf_secret_equal(given, given ? strlen(given) : 0, s->authorization,
				      s->authorization_len))
			return refuse(s, conn, 401, BODY_401, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
				      s->www_authenticate);
	}
	if (!ssf_media_type_is(header(conn, MHD_HTTP_HEADER_CONTENT_TYPE), SET_MEDIA_TYPE))
		return refuse(s, conn, 400, BODY_400, NULL, NULL);
	*refused = 0;
	return MHD_YES;
}

/* The first call for a request: everything decided from the headers. */
static enum MHD_Result on_headers(rx_server *s, request *r, struct MHD_Connection *conn,
				  const char *url, const char *method, const char *version)
{
	conn_rec *c = rx_conn_of(conn);
	if (c != NULL) {
		pthread_mutex_lock(&s->lock);
		c->header_deadline = 0;
		pthread_mutex_unlock(&s->lock);
	}
	const char *why;
	unsigned status = rx_check_framing(r, conn, method, version, &why);
	if (status != 0) {
		char body[200];
		snprintf(body, sizeof body, "{\"err\":\"invalid_request\",\"description\":\"%s\"}",
			 why);
		return refuse(s, conn, status, body, NULL, NULL);
	}
	if (!s->generic) {
		int refused;
		enum MHD_Result rc = check_set_request(s, conn, url, method, &refused);
		if (refused)
			return rc;
	}
	/* A declared length over the limit is refused before a byte of the
	 * body is read (libmicrohttpd itself rejects a malformed one). */
	const char *length = header(conn, MHD_HTTP_HEADER_CONTENT_LENGTH);
	unsigned long long declared = length ? strtoull(length, NULL, 10) : 0;
	if (declared > s->max_body)
		return refuse(s, conn, 413, BODY_413, NULL, NULL);

	r->conn = conn;
	r->out.body.max = s->max_body;
	if (s->generic) {
		if (!keep_request(r, url, method))
			return MHD_NO;
	} else {
		r->out.content_type = strdup(header(conn, MHD_HTTP_HEADER_CONTENT_TYPE));
		if (r->out.content_type == NULL)
			return MHD_NO;
	}
	/* The declared body is reserved against max_buffered now, so that
	 * many large uploads at once are refused before they are read. */
	pthread_mutex_lock(&s->lock);
	int full = s->buffered + declared > s->max_buffered;
	if (!full) {
		s->buffered += (size_t)declared;
		r->reserved = (size_t)declared;
		r->state = RQ_READING;
		s->live++;
	}
	pthread_mutex_unlock(&s->lock);
	if (full)
		return refuse(s, conn, 503, BODY_503_BUFFERED, NULL, NULL);
	return MHD_YES;
}

/* Body bytes, kept up to max_body. A body that goes past it had no
 * Content-Length (else on_headers refused it): libmicrohttpd cannot answer
 * in the middle of an upload, and reading on could last forever, so the
 * connection is dropped (counted as a 413). */
static enum MHD_Result on_body(rx_server *s, request *r, const char *data, size_t len)
{
	size_t need = r->out.body.len + len;
	if (need > r->reserved) {
		/* A chunked body, of unknown length: reserved as it comes. */
		pthread_mutex_lock(&s->lock);
		int full = s->buffered + (need - r->reserved) > s->max_buffered;
		if (full) {
			rx_count_answer(s, 503);
			s->dropped++;
		} else {
			s->buffered += need - r->reserved;
			r->reserved = need;
		}
		pthread_mutex_unlock(&s->lock);
		if (full)
			return MHD_NO;
	}
	int rc = ssf_buf_append(&r->out.body, data, len);
	if (rc == SSF_BUF_OK)
		return MHD_YES;
	pthread_mutex_lock(&s->lock);
	rx_count_answer(s, rc == SSF_BUF_TOO_BIG ? 413 : 503);
	s->dropped++;
	pthread_mutex_unlock(&s->lock);
	return MHD_NO;
}

/* The body is complete: park the request for Lua. */
static enum MHD_Result on_complete(rx_server *s, request *r)
{
	format_remote(r->conn, r->out.remote);
	/* Suspended before anyone else can see it, so whoever answers it
	 * resumes a connection that is already suspended. */
	MHD_suspend_connection(r->conn);
	int refused = 0;
	pthread_mutex_lock(&s->lock);
	if (s->closing || s->n_waiting >= s->max_pending) {
		rx_count_answer(s, 503);
		r->state = RQ_ANSWERED;
		r->status = 503;
		r->answer = (char *)(s->closing ? BODY_503_CLOSING : BODY_503_FULL);
		r->answer_len = strlen(r->answer);
		r->answer_static = 1;
		refused = 1;
	} else {
		r->state = RQ_QUEUED;
		r->id = ++s->next_id;
		r->deadline = rx_clock() + s->answer_timeout;
		if (s->waiting_tail)
			s->waiting_tail->next = r;
		else
			s->waiting = r;
		s->waiting_tail = r;
		s->n_waiting++;
		/* Lua hears of a request that needs a check once the check
		 * is done (httpd_verify.c), not now. */
		if (s->keys != NULL) {
			r->check = CHECK_PENDING;
			pthread_cond_signal(&s->to_verify);
		} else {
			pthread_cond_signal(&s->arrived);
		}
		rx_new_deadline(s, r->deadline);
	}
	pthread_mutex_unlock(&s->lock);
	if (refused)
		MHD_resume_connection(r->conn);
	return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	rx_server *s = cls;
	request *r = *con_cls;
	if (r == NULL) /* on_uri could not allocate */
		return MHD_NO;
	if (r->state == RQ_NEW)
		return on_headers(s, r, conn, url, method, version);
	if (*upload_data_size > 0) {
		size_t len = *upload_data_size;
		*upload_data_size = 0;
		return on_body(s, r, upload_data, len);
	}
	if (r->state == RQ_ANSWERED)
		return reply(s, conn, r->status, r->answer, r->answer_len, r->answer_headers,
			     r->answer_n_headers, NULL, NULL, r->answer_static);
	return on_complete(s, r);
}

/* Called once per request with its raw target, before the headers: the
 * request's record starts here (freed by on_completed). */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	(void)cls, (void)conn;
	request *r = calloc(1, sizeof *r);
	/* uri is NULL for a request line without a target. */
	if (r != NULL)
		r->uri_at = uri;
	if (r != NULL && (r->uri = strdup(uri ? uri : "")) == NULL) {
		free(r);
		r = NULL;
	}
	return r;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	rx_server *s = cls;
	request *r = *con_cls;
	*con_cls = NULL;
	conn_rec *c = rx_conn_of(conn);
	pthread_mutex_lock(&s->lock);
	/* Never still waiting: a suspended connection is only completed by
	 * MHD_stop_daemon, and rx_stop resumes every one before that. */
	if (r != NULL && r->state != RQ_NEW && --s->live == 0 && s->closing)
		pthread_cond_broadcast(&s->changed);
	if (r != NULL)
		s->buffered -= r->reserved;
	if (toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED)
		s->dropped++;
	/* The next request on a kept-alive connection has its own deadline. */
	if (c != NULL && toe == MHD_REQUEST_TERMINATED_COMPLETED_OK) {
		c->header_deadline = rx_clock() + s->header_timeout;
		rx_new_deadline(s, c->header_deadline);
	}
	pthread_mutex_unlock(&s->lock);
	if (r != NULL)
		free_request(r);
}

__attribute__((format(printf, 2, 0))) static void on_log(void *cls, const char *fmt, va_list ap)
{
	rx_server *s = cls;
	pthread_mutex_lock(&s->lock);
	vsnprintf(s->log, sizeof s->log, fmt, ap);
	s->log[strcspn(s->log, "\n")] = '\0';
	pthread_mutex_unlock(&s->lock);
}

int rx_port(const rx_server *s)
{
	return s->port;
}

/* ------------------------------------------------------------------ start and stop */

void rx_stop(rx_server *s)
{
	if (s->have_sync)
		rx_stop_verifiers(s);
	if (s->have_reaper) {
		pthread_mutex_lock(&s->lock);
		s->closing = 1;
		pthread_cond_broadcast(&s->changed);
		pthread_mutex_unlock(&s->lock);
		pthread_join(s->reaper, NULL);
		s->have_reaper = 0;
	}
	if (s->daemon) {
		struct MHD_Connection *conns[BATCH];
		double next, until = rx_clock() + CLOSE_GRACE;
		size_t n;
		pthread_mutex_lock(&s->lock);
		s->closing = 1;
		/* An infinite "now" makes every deadline due. */
		while ((n = rx_expire(s, HUGE_VAL, BODY_503_CLOSING, conns, BATCH, &next)) > 0) {
			pthread_mutex_unlock(&s->lock);
			rx_resume_all(conns, n);
			pthread_mutex_lock(&s->lock);
		}
		/* Give the answers a moment to reach their clients; a client
		 * that is slow to read them is cut off. */
		while (s->live > 0 && rx_clock() < until)
			rx_wait_until(&s->changed, &s->lock, until);
		pthread_mutex_unlock(&s->lock);
		MHD_stop_daemon(s->daemon);
		s->daemon = NULL;
	}
	if (s->empty != NULL)
		MHD_destroy_response(s->empty);
	if (s->have_sync) {
		pthread_mutex_destroy(&s->lock);
		pthread_cond_destroy(&s->arrived);
		pthread_cond_destroy(&s->changed);
		pthread_cond_destroy(&s->to_verify);
		s->have_sync = 0;
	}
	free(s->path);
	free(s->authorization);
	free(s->www_authenticate);
	free(s);
}

static int init_sync(rx_server *s)
{
	pthread_condattr_t ca;
	if (pthread_condattr_init(&ca) != 0)
		return ENOMEM;
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	int rc = pthread_mutex_init(&s->lock, NULL);
	if (rc == 0 && (rc = pthread_cond_init(&s->arrived, &ca)) != 0)
		pthread_mutex_destroy(&s->lock);
	if (rc == 0 && (rc = pthread_cond_init(&s->changed, &ca)) != 0) {
		pthread_cond_destroy(&s->arrived);
		pthread_mutex_destroy(&s->lock);
	}
	if (rc == 0 && (rc = pthread_cond_init(&s->to_verify, &ca)) != 0) {
		pthread_cond_destroy(&s->changed);
		pthread_cond_destroy(&s->arrived);
		pthread_mutex_destroy(&s->lock);
	}
	pthread_condattr_destroy(&ca);
	s->have_sync = rc == 0;
	return rc;
}

/* Starts the reaper thread and then the daemon, with every signal blocked
 * so that the threads inherit a full mask: Ctrl-C must reach the thread
 * that runs Lua. Returns NULL or what went wrong. */
static const char *start_threads(rx_server *s, const rx_options *o)
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	const char *err = NULL;
	if (pthread_create(&s->reaper, NULL, rx_reaper_main, s) != 0) {
		err = "cannot start a thread";
	} else {
		s->have_reaper = 1;
		/* poll, not epoll: in epoll mode libmicrohttpd 0.9.75 misses a
		 * close that comes with a partial request before its first
		 * read, and such a connection then holds its slot until the
		 * idle timeout. */
		unsigned flags = MHD_USE_POLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME |
				 MHD_USE_ERROR_LOG;
		if (o->v6)
			flags |= o->any ? MHD_USE_DUAL_STACK : MHD_USE_IPv6;
		s->daemon = MHD_start_daemon(
			flags, (uint16_t)s->port, rx_on_accept, s, on_request, s,
			MHD_OPTION_EXTERNAL_LOGGER, on_log, s,
			MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&o->addr,
			MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
			MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
			MHD_OPTION_NOTIFY_CONNECTION, rx_on_connection, s,
			MHD_OPTION_CONNECTION_LIMIT, o->max_connections + MHD_LIMIT_MARGIN,
			MHD_OPTION_CONNECTION_TIMEOUT, o->idle_timeout,
			MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY,
			MHD_OPTION_END);
		if (s->daemon == NULL)
			err = s->log[0] ? s->log : strerror(errno);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return err;
}

/* The challenge names the scheme the expected value uses. */
static char *challenge(const char *auth)
{
	size_t scheme = strcspn(auth, " ");
	size_t len = scheme + sizeof " realm=\"ssf\"";
	char *c = malloc(len);
	if (c != NULL)
		snprintf(c, len, "%.*s realm=\"ssf\"", (int)scheme, auth);
	return c;
}

rx_server *rx_start(const rx_options *o, char *err, size_t errlen)
{
	rx_server *s = calloc(1, sizeof *s);
	if (s == NULL) {
		snprintf(err, errlen, "not enough memory");
		return NULL;
	}
	s->generic = o->generic;
	s->port = ntohs(o->v6 ? ((const struct sockaddr_in6 *)&o->addr)->sin6_port
			      : ((const struct sockaddr_in *)&o->addr)->sin_port);
	s->max_body = o->max_body;
	s->max_pending = o->max_pending;
	s->max_buffered = o->max_buffered;
	s->max_connections = o->max_connections;
	s->per_ip_limit = o->per_ip_limit;
	s->answer_timeout = o->answer_timeout;
	s->header_timeout = o->header_timeout;
	if (!o->generic) {
		s->path = strdup(o->path);
		if (o->authorization) {
			s->authorization = strdup(o->authorization);
			s->authorization_len = strlen(o->authorization);
			s->www_authenticate = challenge(o->authorization);
		}
		if (s->path == NULL ||
		    (o->authorization && (s->authorization == NULL || s->www_authenticate == NULL))) {
			snprintf(err, errlen, "not enough memory");
			rx_stop(s);
			return NULL;
		}
	}
	int rc = init_sync(s);
	if (rc != 0) {
		snprintf(err, errlen, "cannot create a mutex: %s", strerror(rc));
		rx_stop(s);
		return NULL;
	}
	s->empty = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	if (s->empty == NULL) {
		snprintf(err, errlen, "not enough memory");
		rx_stop(s);
		return NULL;
	}
	const char *why = start_threads(s, o);
	if (why != NULL) {
		snprintf(err, errlen, "%s", why);
		rx_stop(s);
		return NULL;
	}
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
	if (di != NULL && di->port != 0)
		s->port = di->port;
	return s;
}
