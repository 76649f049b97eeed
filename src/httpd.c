/*
 * ssf.httpd: the HTTP side of the SET receiver (RFC 8935 push delivery),
 * built on libmicrohttpd. Everything a request can be refused for without
 * looking at the SET is decided here, on libmicrohttpd's thread; a request
 * that passes is parked (its connection suspended) until Lua takes it with
 * poll and answers it with respond.
 *
 *   httpd.listen{host=, port=, path=, authorization=, max_body=,
 *                max_pending=, answer_timeout=}
 *        -> server | nil, message         (a failed bind is returned;
 *                                          bad options raise)
 *   server:port()          -> the bound port (the real one for port 0)
 *   server:poll(seconds)   -> {id=, body=, content_type=, remote=}
 *                           | nil                  (nothing came in time)
 *                           | nil, "interrupted"   (Ctrl-C)
 *   server:respond(id, status [, json_body]) -> true | false (unknown id)
 *   server:stats()         -> {[400]=n, [401]=n, [404]=n, [405]=n,
 *                              [413]=n, [503]=n, waiting=n}: refusals
 *                              made in C, and how many requests wait for
 *                              Lua (for diagnostics)
 *   server:close()         (also __close and __gc; idempotent)
 *   httpd.clock()          -> seconds on a monotonic clock
 *
 * Threads: libmicrohttpd's polling thread and our own reaper thread (which
 * answers 503 to requests Lua leaves unanswered for answer_timeout seconds)
 * never run Lua. They share only the C data under server.lock, and no
 * libmicrohttpd function is called with that lock held, so its locks and
 * ours can never be taken in opposite orders.
 *
 * A parked request belongs to whoever moves it out of the waiting list
 * (respond, the reaper or close, each under the lock): that one stores the
 * answer and resumes the connection, and libmicrohttpd then calls the
 * access handler again, which sends the stored answer.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <lauxlib.h>
#include <lua.h>

#include "compat.h"
#include <microhttpd.h>

#include "buf.h"
#include "rxcheck.h"
#include "sigint.h"

#define SERVER_MT "ssf.httpd.server"
#define SET_MEDIA_TYPE "application/secevent+jwt"
/* poll wakes at least this often to notice Ctrl-C. */
#define SLICE 0.1
/* How long close waits for answers already given to reach their clients. */
#define CLOSE_GRACE 1.0
/* Idle connections and stalled uploads are dropped after this long. */
#define IDLE_TIMEOUT 30
#define MAX_CONNECTIONS 256
#define RETRY_AFTER "5"
#define MAX_BODY_LIMIT (16 * 1024 * 1024)
#define MAX_PENDING_LIMIT 65536
/* Room for "[address]:port". */
#define REMOTE_LEN (INET6_ADDRSTRLEN + 8)

static const char BODY_400[] = "{\"err\":\"invalid_request\","
			       "\"description\":\"Content-Type must be " SET_MEDIA_TYPE "\"}";
static const char BODY_401[] = "{\"err\":\"authentication_failed\","
			       "\"description\":\"missing or wrong Authorization header\"}";
static const char BODY_404[] = "{\"err\":\"invalid_request\","
			       "\"description\":\"no SET receiver at this path\"}";
static const char BODY_405[] = "{\"err\":\"invalid_request\","
			       "\"description\":\"SETs are delivered with POST\"}";
static const char BODY_413[] = "{\"err\":\"invalid_request\","
			       "\"description\":\"the SET is larger than this receiver accepts\"}";
static const char BODY_503_FULL[] = "{\"description\":\"too many SETs waiting, try again later\"}";
static const char BODY_503_LATE[] = "{\"description\":\"the receiver did not answer in time\"}";
static const char BODY_503_CLOSING[] = "{\"description\":\"the receiver is shutting down\"}";

/* The statuses C answers with, in the order stats() reports them. */
static const unsigned STAT_CODES[] = { 400, 401, 404, 405, 413, 503 };
#define N_STATS (sizeof STAT_CODES / sizeof STAT_CODES[0])

enum rq_state {
	RQ_READING,  /* headers passed, body arriving (libmicrohttpd's thread only) */
	RQ_QUEUED,   /* body complete, connection suspended, waiting for poll */
	RQ_TAKEN,    /* handed to Lua by poll, waiting for respond */
	RQ_ANSWERED, /* answer stored, connection resumed */
};

typedef struct request {
	struct request *next; /* in server.waiting while QUEUED or TAKEN */
	struct MHD_Connection *conn;
	enum rq_state state;
	lua_Integer id;
	double deadline;
	ssf_buf body;
	char *content_type;
	char remote[REMOTE_LEN];
	unsigned status;
	const char *answer; /* JSON, or NULL for no body */
	size_t answer_len;
	char *owned_answer; /* set when answer is a copy of Lua's string */
} request;

typedef struct server {
	/* Settings: written before the threads start, read-only after. */
	char *path, *authorization, *www_authenticate;
	size_t authorization_len, max_body, max_pending;
	double answer_timeout;
	struct sockaddr_storage addr;
	int port;

	struct MHD_Daemon *daemon;
	pthread_t reaper;
	int have_sync, have_reaper;

	/* Everything below is guarded by lock. */
	pthread_mutex_t lock;
	pthread_cond_t arrived; /* a request was queued: poll waits for it */
	pthread_cond_t changed; /* a deadline or closing for the reaper; live
				   reaching 0 for close */
	int closing;
	request *waiting, *waiting_tail; /* QUEUED and TAKEN, oldest first */
	size_t n_waiting;
	size_t live; /* requests libmicrohttpd has not yet completed */
	lua_Integer next_id;
	unsigned long stats[N_STATS];
	char log[256]; /* libmicrohttpd's last message: says why a start failed */

	/* The request poll is handing to Lua. Owned here, not by the request,
	 * so that the reaper may answer and free the request meanwhile, and
	 * so that a memory error while pushing the strings leaks nothing. */
	ssf_buf staged_body;
	char *staged_type;
} server;

typedef struct box {
	server *s; /* NULL once closed */
} box;

static double monotonic(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Waits on cond until the monotonic time `until` (the conds use that clock). */
static void wait_until(pthread_cond_t *cond, pthread_mutex_t *lock, double until)
{
	struct timespec ts;
	ts.tv_sec = (time_t)until;
	ts.tv_nsec = (long)((until - (double)ts.tv_sec) * 1e9);
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(cond, lock, &ts);
}

/* With the lock held. */
static void count_answer(server *s, unsigned status)
{
	for (size_t i = 0; i < N_STATS; i++)
		if (STAT_CODES[i] == status)
			s->stats[i]++;
}

static void count(server *s, unsigned status)
{
	pthread_mutex_lock(&s->lock);
	count_answer(s, status);
	pthread_mutex_unlock(&s->lock);
}

static void free_request(request *r)
{
	ssf_buf_free(&r->body);
	free(r->content_type);
	free(r->owned_answer);
	free(r);
}

/* ------------------------------------------------------------------ the waiting list */

static void unlink_waiting(server *s, request *r)
{
	request **p = &s->waiting, *prev = NULL;
	while (*p != r) {
		prev = *p;
		p = &(*p)->next;
	}
	*p = r->next;
	if (s->waiting_tail == r)
		s->waiting_tail = prev;
	r->next = NULL;
	s->n_waiting--;
}

/* Takes r out of the waiting list with its answer stored. With the lock
 * held; the caller must then resume r->conn, without the lock. */
static struct MHD_Connection *settle(server *s, request *r, unsigned status, const char *answer,
				     size_t len, char *owned)
{
	unlink_waiting(s, r);
	r->state = RQ_ANSWERED;
	r->status = status;
	r->answer = answer;
	r->answer_len = len;
	r->owned_answer = owned;
	return r->conn;
}

/* Answers 503 to up to `cap` waiting requests whose deadline is before
 * `now` and stores their connections in conns. With the lock held. Returns
 * how many; *next gets the earliest deadline left (0 if none). */
static size_t expire(server *s, double now, const char *body, struct MHD_Connection **conns,
		     size_t cap, double *next)
{
	size_t n = 0;
	*next = 0;
	request *r = s->waiting;
	while (r != NULL) {
		request *following = r->next;
		if (r->deadline > now) {
			if (*next == 0 || r->deadline < *next)
				*next = r->deadline;
		} else if (n < cap) {
			count_answer(s, 503);
			conns[n++] = settle(s, r, 503, body, strlen(body), NULL);
		}
		r = following;
	}
	return n;
}

static void resume_all(struct MHD_Connection **conns, size_t n)
{
	for (size_t i = 0; i < n; i++)
		MHD_resume_connection(conns[i]);
}

#define BATCH 16

/* The reaper thread: answers 503 to requests Lua has not answered by their
 * deadline, so a transmitter never waits on a script that stopped polling. */
static void *reaper_main(void *arg)
{
	server *s = arg;
	struct MHD_Connection *conns[BATCH];
	pthread_mutex_lock(&s->lock);
	while (!s->closing) {
		double next;
		size_t n = expire(s, monotonic(), BODY_503_LATE, conns, BATCH, &next);
		if (n > 0) {
			pthread_mutex_unlock(&s->lock);
			resume_all(conns, n);
			pthread_mutex_lock(&s->lock);
		} else if (next == 0) {
			pthread_cond_wait(&s->changed, &s->lock);
		} else {
			wait_until(&s->changed, &s->lock, next);
		}
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* ------------------------------------------------------------------ libmicrohttpd's thread */

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *body,
			     size_t len, const char *header, const char *value)
{
	struct MHD_Response *res = MHD_create_response_from_buffer(
		len, (void *)(body ? body : ""), MHD_RESPMEM_MUST_COPY);
	if (res == NULL)
		return MHD_NO;
	if (len > 0)
		MHD_add_response_header(res, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	if (header != NULL)
		MHD_add_response_header(res, header, value);
	enum MHD_Result rc = MHD_queue_response(conn, status, res);
	MHD_destroy_response(res);
	return rc;
}

/* An answer decided here, from a static body. */
static enum MHD_Result refuse(server *s, struct MHD_Connection *conn, unsigned status,
			      const char *body, const char *header, const char *value)
{
	count(s, status);
	return reply(conn, status, body, strlen(body), header, value);
}

static const char *header(struct MHD_Connection *conn, const char *name)
{
	return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
}

static void format_remote(struct MHD_Connection *conn, char *out)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	char host[INET6_ADDRSTRLEN], port[8];
	out[0] = '\0';
	if (ci == NULL || ci->client_addr == NULL)
		return;
	const struct sockaddr *sa = ci->client_addr;
	socklen_t len = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						  : sizeof(struct sockaddr_in);
	if (getnameinfo(sa, len, host, sizeof host, port, sizeof port,
			NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		return;
	snprintf(out, REMOTE_LEN, sa->sa_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
}

/* The first call for a request: everything decided from the headers. */
static enum MHD_Result on_headers(server *s, struct MHD_Connection *conn, const char *url,
				  const char *method, void **con_cls)
{
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
	const char *type = header(conn, MHD_HTTP_HEADER_CONTENT_TYPE);
	if (!ssf_media_type_is(type, SET_MEDIA_TYPE))
		return refuse(s, conn, 400, BODY_400, NULL, NULL);
	/* A declared length over the limit is refused before a byte of the
	 * body is read (libmicrohttpd itself rejects a malformed one). */
	const char *length = header(conn, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (length != NULL && strtoull(length, NULL, 10) > s->max_body)
		return refuse(s, conn, 413, BODY_413, NULL, NULL);

	request *r = calloc(1, sizeof *r);
	if (r == NULL || (r->content_type = strdup(type)) == NULL) {
		free(r);
		return MHD_NO;
	}
	r->conn = conn;
	r->body.max = s->max_body;
	pthread_mutex_lock(&s->lock);
	s->live++;
	pthread_mutex_unlock(&s->lock);
	*con_cls = r;
	return MHD_YES;
}

/* Body bytes, kept up to max_body. A body that goes past it had no
 * Content-Length (else on_headers refused it): libmicrohttpd cannot answer
 * in the middle of an upload, and reading on could last forever, so the
 * connection is dropped (counted as a 413). */
static enum MHD_Result on_body(server *s, request *r, const char *data, size_t len)
{
	int rc = ssf_buf_append(&r->body, data, len);
	if (rc == SSF_BUF_OK)
		return MHD_YES;
	count(s, rc == SSF_BUF_TOO_BIG ? 413 : 503);
	return MHD_NO;
}

/* The body is complete: park the request for Lua. */
static enum MHD_Result on_complete(server *s, request *r)
{
	format_remote(r->conn, r->remote);
	/* Suspended before anyone else can see it, so whoever answers it
	 * resumes a connection that is already suspended. */
	MHD_suspend_connection(r->conn);
	int refused = 0;
	pthread_mutex_lock(&s->lock);
	if (s->closing || s->n_waiting >= s->max_pending) {
		count_answer(s, 503);
		r->state = RQ_ANSWERED;
		r->status = 503;
		r->answer = s->closing ? BODY_503_CLOSING : BODY_503_FULL;
		r->answer_len = strlen(r->answer);
		refused = 1;
	} else {
		r->state = RQ_QUEUED;
		r->id = ++s->next_id;
		r->deadline = monotonic() + s->answer_timeout;
		if (s->waiting_tail)
			s->waiting_tail->next = r;
		else
			s->waiting = r;
		s->waiting_tail = r;
		s->n_waiting++;
		pthread_cond_signal(&s->arrived);
		pthread_cond_signal(&s->changed);
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
	(void)version;
	server *s = cls;
	request *r = *con_cls;
	if (r == NULL)
		return on_headers(s, conn, url, method, con_cls);
	if (*upload_data_size > 0) {
		size_t len = *upload_data_size;
		*upload_data_size = 0;
		return on_body(s, r, upload_data, len);
	}
	if (r->state == RQ_ANSWERED) {
		const char *retry = r->status == 503 ? RETRY_AFTER : NULL;
		return reply(conn, r->status, r->answer, r->answer_len,
			     retry ? MHD_HTTP_HEADER_RETRY_AFTER : NULL, retry);
	}
	return on_complete(s, r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	(void)conn, (void)toe;
	server *s = cls;
	request *r = *con_cls;
	if (r == NULL)
		return;
	*con_cls = NULL;
	/* Never still waiting: a suspended connection is only completed by
	 * MHD_stop_daemon, and close resumes every one before that. */
	pthread_mutex_lock(&s->lock);
	if (--s->live == 0 && s->closing)
		pthread_cond_broadcast(&s->changed);
	pthread_mutex_unlock(&s->lock);
	free_request(r);
}

__attribute__((format(printf, 2, 0))) static void on_log(void *cls, const char *fmt, va_list ap)
{
	server *s = cls;
	pthread_mutex_lock(&s->lock);
	vsnprintf(s->log, sizeof s->log, fmt, ap);
	s->log[strcspn(s->log, "\n")] = '\0';
	pthread_mutex_unlock(&s->lock);
}

/* ------------------------------------------------------------------ Lua */

static server *check_server(lua_State *L)
{
	box *b = luaL_checkudata(L, 1, SERVER_MT);
	if (b->s == NULL)
		luaL_error(L, "attempt to use a closed receiver");
	return b->s;
}

/* Stops the threads, answering 503 to whatever is still waiting, and frees
 * everything. Handles a server that failed halfway through listen. */
static void server_free(server *s)
{
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
		double next, until = monotonic() + CLOSE_GRACE;
		size_t n;
		pthread_mutex_lock(&s->lock);
		s->closing = 1;
		/* An infinite "now" makes every deadline due. */
		while ((n = expire(s, HUGE_VAL, BODY_503_CLOSING, conns, BATCH, &next)) > 0) {
			pthread_mutex_unlock(&s->lock);
			resume_all(conns, n);
			pthread_mutex_lock(&s->lock);
		}
		/* Give the answers a moment to reach their clients; a client
		 * that is slow to read them is cut off. */
		while (s->live > 0 && monotonic() < until)
			wait_until(&s->changed, &s->lock, until);
		pthread_mutex_unlock(&s->lock);
		MHD_stop_daemon(s->daemon);
		s->daemon = NULL;
	}
	if (s->have_sync) {
		pthread_mutex_destroy(&s->lock);
		pthread_cond_destroy(&s->arrived);
		pthread_cond_destroy(&s->changed);
		s->have_sync = 0;
	}
	ssf_buf_free(&s->staged_body);
	free(s->staged_type);
	free(s->path);
	free(s->authorization);
	free(s->www_authenticate);
	free(s);
}

static int server_close(lua_State *L)
{
	box *b = luaL_checkudata(L, 1, SERVER_MT);
	if (b->s != NULL) {
		server_free(b->s);
		b->s = NULL;
	}
	return 0;
}

static int server_port(lua_State *L)
{
	lua_pushinteger(L, check_server(L)->port);
	return 1;
}

static void drop_staged(server *s)
{
	ssf_buf_free(&s->staged_body);
	free(s->staged_type);
	s->staged_type = NULL;
}

/* With the lock held: the oldest request not yet handed out. */
static request *first_queued(server *s)
{
	request *r = s->waiting;
	while (r != NULL && r->state != RQ_QUEUED)
		r = r->next;
	return r;
}

static int server_poll(lua_State *L)
{
	server *s = check_server(L);
	double timeout = luaL_checknumber(L, 2);
	luaL_argcheck(L, timeout >= 0 && timeout <= 1e9, 2, "timeout out of range");
	drop_staged(s); /* left by a poll whose push failed */

	double deadline = monotonic() + timeout;
	char remote[REMOTE_LEN];
	lua_Integer id = 0;
	ssf_sigint sig;
	ssf_sigint_begin(&sig);
	pthread_mutex_lock(&s->lock);
	for (;;) {
		request *r = first_queued(s);
		if (r != NULL) {
			r->state = RQ_TAKEN;
			id = r->id;
			s->staged_body = r->body;
			memset(&r->body, 0, sizeof r->body);
			s->staged_type = r->content_type;
			r->content_type = NULL;
			memcpy(remote, r->remote, sizeof remote);
			break;
		}
		double now = monotonic();
		if (now >= deadline || ssf_sigint_pending())
			break;
		wait_until(&s->arrived, &s->lock, now + SLICE < deadline ? now + SLICE : deadline);
	}
	pthread_mutex_unlock(&s->lock);
	/* A request taken just as Ctrl-C came is still returned: the host
	 * stops the script at its next instruction anyway, and close (or
	 * the reaper) answers the request. */
	if (ssf_sigint_end(&sig) && id == 0) {
		lua_pushnil(L);
		lua_pushliteral(L, "interrupted");
		return 2;
	}
	if (id == 0) {
		lua_pushnil(L);
		return 1;
	}
	lua_createtable(L, 0, 4);
	lua_pushinteger(L, id);
	lua_setfield(L, -2, "id");
	lua_pushlstring(L, s->staged_body.data ? s->staged_body.data : "", s->staged_body.len);
	lua_setfield(L, -2, "body");
	lua_pushstring(L, s->staged_type);
	lua_setfield(L, -2, "content_type");
	lua_pushstring(L, remote);
	lua_setfield(L, -2, "remote");
	drop_staged(s);
	return 1;
}

/* With the lock held: a request poll handed out, by id. */
static request *find_taken(server *s, lua_Integer id)
{
	request *r = s->waiting;
	while (r != NULL && !(r->state == RQ_TAKEN && r->id == id))
		r = r->next;
	return r;
}

static int server_respond(lua_State *L)
{
	server *s = check_server(L);
	lua_Integer id = ssf_checkinteger(L, 2);
	lua_Integer status = ssf_checkinteger(L, 3);
	luaL_argcheck(L, status >= 200 && status <= 599, 3, "HTTP status out of range");
	size_t len;
	const char *body = luaL_optlstring(L, 4, "", &len);
	/* Copied before the lock: a failed allocation raises owning nothing. */
	char *copy = NULL;
	if (len > 0) {
		copy = malloc(len);
		if (copy == NULL)
			return luaL_error(L, "not enough memory");
		memcpy(copy, body, len);
	}
	struct MHD_Connection *conn = NULL;
	pthread_mutex_lock(&s->lock);
	request *r = find_taken(s, id);
	if (r != NULL)
		conn = settle(s, r, (unsigned)status, copy, len, copy);
	pthread_mutex_unlock(&s->lock);
	if (conn == NULL) {
		free(copy); /* answered already: too late, or by close */
		lua_pushboolean(L, 0);
		return 1;
	}
	MHD_resume_connection(conn);
	lua_pushboolean(L, 1);
	return 1;
}

static int server_stats(lua_State *L)
{
	server *s = check_server(L);
	unsigned long copy[N_STATS];
	pthread_mutex_lock(&s->lock);
	memcpy(copy, s->stats, sizeof copy);
	size_t waiting = s->n_waiting;
	pthread_mutex_unlock(&s->lock);
	lua_createtable(L, 0, (int)N_STATS + 1);
	for (size_t i = 0; i < N_STATS; i++) {
		lua_pushinteger(L, (lua_Integer)copy[i]);
		lua_rawseti(L, -2, STAT_CODES[i]);
	}
	lua_pushinteger(L, (lua_Integer)waiting);
	lua_setfield(L, -2, "waiting");
	return 1;
}

/* ------------------------------------------------------------------ listen */

static const char *const OPTIONS[] = {
	"host", "port", "path", "authorization", "max_body", "max_pending", "answer_timeout", NULL,
};

static void check_option_names(lua_State *L)
{
	lua_pushnil(L);
	while (lua_next(L, 1) != 0) {
		lua_pop(L, 1);
		const char *key = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
		int known = 0;
		for (int i = 0; key && OPTIONS[i]; i++)
			known |= strcmp(key, OPTIONS[i]) == 0;
		if (!known)
			luaL_error(L, "bad argument #1 to 'listen' (unknown option '%s')",
				   key ? key : luaL_typename(L, -1));
	}
}

/* Pushes opts[key]; returns it as a string, or def when absent. */
static const char *opt_string(lua_State *L, const char *key, const char *def)
{
	if (ssf_getfield(L, 1, key) == LUA_TNIL)
		return def;
	if (lua_type(L, -1) != LUA_TSTRING)
		luaL_error(L, "bad argument #1 to 'listen' (option '%s' must be a string, got %s)",
			   key, luaL_typename(L, -1));
	return lua_tostring(L, -1);
}

/* opts[key] as a number within [min, max], or def when absent; `what`
 * says what is expected, for the error. */
static double opt_number(lua_State *L, const char *key, double def, double min, double max,
			 int integer, const char *what)
{
	int t = ssf_getfield(L, 1, key);
	double v = def;
	if (t != LUA_TNIL) {
		int ok = t == LUA_TNUMBER && (!integer || ssf_isinteger(L, -1));
		v = lua_tonumber(L, -1);
		if (!ok || !(v >= min && v <= max))
			luaL_error(L, "bad argument #1 to 'listen' (option '%s' must be %s)", key, what);
	}
	lua_pop(L, 1);
	return v;
}

static int has_line_break(const char *s)
{
	return strpbrk(s, "\r\n") != NULL;
}

/* Starts the reaper thread and then the daemon, with every signal blocked
 * so that the threads inherit a full mask: Ctrl-C must reach the thread
 * that runs Lua. Returns NULL or what went wrong. */
static const char *start(server *s, int v6, int any)
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	const char *err = NULL;
	if (pthread_create(&s->reaper, NULL, reaper_main, s) != 0) {
		err = "cannot start a thread";
	} else {
		s->have_reaper = 1;
		unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME |
				 MHD_USE_ERROR_LOG;
		if (v6)
			flags |= any ? MHD_USE_DUAL_STACK : MHD_USE_IPv6;
		s->daemon = MHD_start_daemon(
			flags, (uint16_t)s->port, NULL, NULL, on_request, s,
			MHD_OPTION_EXTERNAL_LOGGER, on_log, s,
			MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&s->addr,
			MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
			MHD_OPTION_CONNECTION_LIMIT, (unsigned)MAX_CONNECTIONS,
			MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)IDLE_TIMEOUT,
			MHD_OPTION_END);
		if (s->daemon == NULL)
			err = s->log[0] ? s->log : strerror(errno);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return err;
}

static int l_listen(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	check_option_names(L);
	const char *host = opt_string(L, "host", "127.0.0.1");
	const char *path = opt_string(L, "path", "/ssf/events");
	const char *auth = opt_string(L, "authorization", NULL);
	int port = (int)opt_number(L, "port", 0, 0, 65535, 1, "an integer from 0 to 65535");
	double max_body = opt_number(L, "max_body", 65536, 1, MAX_BODY_LIMIT, 1,
				     "an integer from 1 to 16 MiB");
	double max_pending = opt_number(L, "max_pending", 64, 1, MAX_PENDING_LIMIT, 1,
					"an integer from 1 to 65536");
	double answer_timeout = opt_number(L, "answer_timeout", 30, 0.001, 86400, 0,
					   "a number of seconds from 0.001 to 86400");
	if (path[0] != '/' || has_line_break(path))
		luaL_error(L, "bad argument #1 to 'listen' (option 'path' must start with '/')");
	if (auth && (auth[0] == '\0' || has_line_break(auth)))
		luaL_error(L, "bad argument #1 to 'listen' (option 'authorization' must be a "
			      "non-empty header value)");

	struct sockaddr_storage addr;
	memset(&addr, 0, sizeof addr);
	struct sockaddr_in *a4 = (struct sockaddr_in *)&addr;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&addr;
	int v6 = 0;
	if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
	} else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		v6 = 1;
	} else {
		lua_pushnil(L);
		lua_pushfstring(L, "cannot listen on '%s': not an IPv4 or IPv6 address", host);
		return 2;
	}
	int any = v6 && memcmp(&a6->sin6_addr, &in6addr_any, sizeof in6addr_any) == 0;

	/* From here the server is owned by the userdata, whose __gc frees
	 * whatever was set up if anything below fails or raises. */
	box *b = ssf_newuserdata(L, sizeof *b);
	b->s = NULL;
	luaL_setmetatable(L, SERVER_MT);
	server *s = calloc(1, sizeof *s);
	if (s == NULL)
		return luaL_error(L, "not enough memory");
	b->s = s;
	s->addr = addr;
	s->port = port;
	s->max_body = (size_t)max_body;
	s->max_pending = (size_t)max_pending;
	s->answer_timeout = answer_timeout;
	s->path = strdup(path);
	if (auth) {
		s->authorization = strdup(auth);
		s->authorization_len = strlen(auth);
		/* The challenge names the scheme the expected value uses. */
		size_t scheme = strcspn(auth, " ");
		s->www_authenticate = malloc(scheme + sizeof " realm=\"ssf\"");
		if (s->www_authenticate)
			snprintf(s->www_authenticate, scheme + sizeof " realm=\"ssf\"",
				 "%.*s realm=\"ssf\"", (int)scheme, auth);
	}
	if (s->path == NULL || (auth && (s->authorization == NULL || s->www_authenticate == NULL)))
		return luaL_error(L, "not enough memory");

	pthread_condattr_t ca;
	if (pthread_condattr_init(&ca) != 0)
		return luaL_error(L, "not enough memory");
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	int rc = pthread_mutex_init(&s->lock, NULL);
	if (rc == 0 && (rc = pthread_cond_init(&s->arrived, &ca)) != 0)
		pthread_mutex_destroy(&s->lock);
	if (rc == 0 && (rc = pthread_cond_init(&s->changed, &ca)) != 0) {
		pthread_cond_destroy(&s->arrived);
		pthread_mutex_destroy(&s->lock);
	}
	pthread_condattr_destroy(&ca);
	if (rc != 0)
		return luaL_error(L, "cannot create a mutex: %s", strerror(rc));
	s->have_sync = 1;

	const char *err = start(s, v6, any);
	if (err != NULL) {
		lua_pushnil(L);
		lua_pushfstring(L, v6 ? "cannot listen on [%s]:%d: %s" : "cannot listen on %s:%d: %s",
				host, port, err);
		server_free(s);
		b->s = NULL;
		return 2;
	}
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
	if (di != NULL && di->port != 0)
		s->port = di->port;
	return 1;
}

static int l_clock(lua_State *L)
{
	lua_pushnumber(L, monotonic());
	return 1;
}

/* The module's only exported symbol (the build hides the rest). */
__attribute__((visibility("default"))) int luaopen_ssf_httpd(lua_State *L);

int luaopen_ssf_httpd(lua_State *L)
{
	static const luaL_Reg methods[] = {
		{ "port", server_port },       { "poll", server_poll },
		{ "respond", server_respond }, { "stats", server_stats },
		{ "close", server_close },     { NULL, NULL },
	};
	static const luaL_Reg funcs[] = {
		{ "listen", l_listen },
		{ "clock", l_clock },
		{ NULL, NULL },
	};
	luaL_newmetatable(L, SERVER_MT);
	luaL_newlib(L, methods);
	lua_setfield(L, -2, "__index");
	lua_pushcfunction(L, server_close);
	lua_setfield(L, -2, "__gc");
	lua_pushcfunction(L, server_close);
	lua_setfield(L, -2, "__close");
	lua_pop(L, 1);
	luaL_newlib(L, funcs);
	return 1;
}
