/*
 * The waiting list of the server under ssf.httpd: requests parked for Lua,
 * the reaper thread that answers 503 to those Lua leaves unanswered (and
 * cuts connections whose headers are late, see httpd_guard.c), and the Lua
 * thread's side (rx_take, rx_answer, rx_get_stats). A parked request
 * belongs to whoever moves it out of the list (rx_answer, the reaper or
 * rx_stop, each under the lock): that one stores the answer and resumes
 * the connection, and libmicrohttpd then calls the access handler again,
 * which sends the stored answer.
 */
#define _POSIX_C_SOURCE 200809L

#include "httpd_internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sigint.h"

/* rx_take wakes at least this often to notice Ctrl-C. */
#define SLICE 0.1

/* The statuses C answers with, in the order rx_stats reports them. */
static const unsigned STAT_CODES[RX_N_STATS] = RX_STAT_CODES;

static const char BODY_503_LATE[] = "{\"description\":\"the receiver did not answer in time\"}";

double rx_clock(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void rx_wait_until(pthread_cond_t *cond, pthread_mutex_t *lock, double until)
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

void rx_new_deadline(rx_server *s, double deadline)
{
	if (s->reaper_until == 0 || deadline < s->reaper_until)
		pthread_cond_signal(&s->changed);
}

void rx_count_answer(rx_server *s, unsigned status)
{
	for (size_t i = 0; i < RX_N_STATS; i++)
		if (STAT_CODES[i] == status)
			s->stats[i]++;
}

void rx_taken_free(rx_taken *t)
{
	ssf_buf_free(&t->body);
	free(t->content_type);
	free(t->method);
	free(t->path);
	free(t->query);
	free(t->headers);
	memset(t, 0, sizeof *t);
}

static void unlink_waiting(rx_server *s, request *r)
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
static struct MHD_Connection *settle(rx_server *s, request *r, unsigned status, char *answer,
				     size_t len, int is_static, char *headers, size_t n_headers)
{
	unlink_waiting(s, r);
	r->state = RQ_ANSWERED;
	r->status = status;
	r->answer = answer;
	r->answer_len = len;
	r->answer_static = is_static;
	r->answer_headers = headers;
	r->answer_n_headers = n_headers;
	return r->conn;
}

size_t rx_expire(rx_server *s, double now, const char *body, struct MHD_Connection **conns,
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
			rx_count_answer(s, 503);
			conns[n++] = settle(s, r, 503, (char *)body, strlen(body), 1, NULL, 0);
		}
		r = following;
	}
	return n;
}

void rx_resume_all(struct MHD_Connection **conns, size_t n)
{
	for (size_t i = 0; i < n; i++)
		MHD_resume_connection(conns[i]);
}

/* The reaper thread: answers 503 to requests Lua has not answered by their
 * deadline, so a client never waits on a script that stopped polling, and
 * cuts connections whose headers do not come in time, so that slow
 * clients cannot hold every connection. */
void *rx_reaper_main(void *arg)
{
	rx_server *s = arg;
	struct MHD_Connection *conns[BATCH];
	rx_name_thread("ssf-reaper");
	pthread_mutex_lock(&s->lock);
	while (!s->closing) {
		double next, now = rx_clock();
		size_t n = rx_expire(s, now, BODY_503_LATE, conns, BATCH, &next);
		double late = rx_cut_late(s, now);
		if (late != 0 && (next == 0 || late < next))
			next = late;
		if (n > 0) {
			pthread_mutex_unlock(&s->lock);
			rx_resume_all(conns, n);
			pthread_mutex_lock(&s->lock);
			continue;
		}
		s->reaper_until = next;
		if (next == 0)
			pthread_cond_wait(&s->changed, &s->lock);
		else
			rx_wait_until(&s->changed, &s->lock, next);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

request *rx_first_queued(rx_server *s)
{
	request *r = s->waiting;
	while (r != NULL && r->state != RQ_QUEUED)
		r = r->next;
	return r;
}

/* With the lock held: moves up to cap - *n requests, oldest first, out to
 * the caller. In arrival order: the oldest waits for its check, and so do
 * those behind it. */
static void take_ready(rx_server *s, rx_taken *out, size_t cap, size_t *n)
{
	for (request *r = rx_first_queued(s); r != NULL && *n < cap; r = r->next) {
		if (r->state != RQ_QUEUED)
			continue;
		if (r->check != CHECK_NONE)
			break;
		/* The request's data moves to the caller, so that the reaper
		 * may answer and free the request meanwhile. */
		r->state = RQ_TAKEN;
		s->buffered -= r->reserved;
		r->reserved = 0;
		out[*n] = r->out;
		out[*n].id = r->id;
		memset(&r->out, 0, sizeof r->out);
		(*n)++;
	}
}

int rx_take(rx_server *s, double timeout, rx_taken *out, size_t cap, size_t *n)
{
	double deadline = rx_clock() + timeout;
	*n = 0;
	/* Requests that wait already are taken without a look at signals:
	 * taking the handlers over and back costs six system calls, more
	 * than the rest of a take, and only a wait needs them. */
	pthread_mutex_lock(&s->lock);
	take_ready(s, out, cap, n);
	pthread_mutex_unlock(&s->lock);
	if (*n > 0)
		return RX_GOT;
	if (timeout <= 0)
		return RX_TIMEOUT;
	ssf_sigint sig;
	ssf_sigint_begin(&sig);
	pthread_mutex_lock(&s->lock);
	for (;;) {
		take_ready(s, out, cap, n);
		if (*n > 0)
			break;
		double now = rx_clock();
		if (now >= deadline || ssf_sigint_pending())
			break;
		rx_wait_until(&s->arrived, &s->lock, now + SLICE < deadline ? now + SLICE : deadline);
	}
	pthread_mutex_unlock(&s->lock);
	/* Requests taken just as Ctrl-C came are still returned: the host
	 * stops the script at its next instruction anyway, and close (or the
	 * reaper) answers them. */
	if (ssf_sigint_end(&sig) && *n == 0)
		return RX_INTERRUPTED;
	return *n > 0 ? RX_GOT : RX_TIMEOUT;
}

/* With the lock held: a request rx_take handed out, by id. */
static request *find_taken(rx_server *s, int64_t id)
{
	request *r = s->waiting;
	while (r != NULL && !(r->state == RQ_TAKEN && r->id == id))
		r = r->next;
	return r;
}

int rx_answer(rx_server *s, int64_t id, unsigned status, char *body, size_t len, char *headers,
	      size_t n_headers)
{
	struct MHD_Connection *conn = NULL;
	pthread_mutex_lock(&s->lock);
	request *r = find_taken(s, id);
	if (r != NULL)
		conn = settle(s, r, status, body, len, 0, headers, n_headers);
	pthread_mutex_unlock(&s->lock);
	if (conn == NULL) {
		free(body);
		free(headers);
		return 0;
	}
	MHD_resume_connection(conn);
	return 1;
}

void rx_get_stats(rx_server *s, rx_stats *out)
{
	pthread_mutex_lock(&s->lock);
	memcpy(out->by_status, s->stats, sizeof out->by_status);
	out->waiting = s->n_waiting;
	out->connections = s->n_conns;
	out->buffered = s->buffered;
	out->refused = s->refused;
	out->dropped = s->dropped;
	out->verified = s->verified;
	pthread_mutex_unlock(&s->lock);
}
