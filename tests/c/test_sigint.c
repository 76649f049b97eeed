/* sigint.c: SIGINT and SIGTERM cut a wait short and reach the host's
 * handler afterwards; a thread with SIGINT blocked never takes the handlers
 * over nor sees the script's thread's signal. */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "sigint.h"

static volatile sig_atomic_t host_int, host_term;

static void host_handler(int sig)
{
	if (sig == SIGINT)
		host_int++;
	else
		host_term++;
}

static void (*current(int sig))(int)
{
	struct sigaction sa;
	sigaction(sig, NULL, &sa);
	return sa.sa_handler;
}

/* The handler the script's thread's wait installed. */
static void (*wait_handler)(int);

static void *blocked_thread(void *arg)
{
	(void)arg;
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);

	ssf_sigint s;
	ssf_sigint_begin(&s);
	CHECK(current(SIGINT) == wait_handler); /* left as the script's wait set it */
	CHECK(current(SIGTERM) == wait_handler);
	kill(getpid(), SIGTERM); /* delivered to the script's thread */
	for (int i = 0; i < 200 && !host_term; i++) {
		/* let the main thread's handler run; never this thread's */
		struct timespec ts = { 0, 5000000 };
		nanosleep(&ts, NULL);
		if (ssf_sigint_pending())
			break;
	}
	CHECK(!ssf_sigint_pending());
	CHECK(ssf_sigint_end(&s) == 0);
	CHECK(current(SIGINT) == wait_handler); /* not put back by this thread */
	return NULL;
}

int main(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = host_handler;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	/* Each signal only flags the wait, then reaches the host once. */
	int sigs[] = { SIGINT, SIGTERM };
	for (int i = 0; i < 2; i++) {
		ssf_sigint s;
		ssf_sigint_begin(&s);
		CHECK(current(sigs[i]) != host_handler);
		CHECK(!ssf_sigint_pending());
		raise(sigs[i]);
		CHECK(ssf_sigint_pending());
		CHECK(host_int + host_term == i);
		CHECK(ssf_sigint_end(&s) == 1);
		CHECK(current(SIGINT) == host_handler && current(SIGTERM) == host_handler);
		CHECK(host_int == 1 && host_term == i);
	}

	/* A quiet wait returns 0 and changes nothing. */
	ssf_sigint q;
	ssf_sigint_begin(&q);
	CHECK(ssf_sigint_end(&q) == 0);
	CHECK(host_int == 1 && host_term == 1);

	/* An ignored signal stays ignored. */
	signal(SIGINT, SIG_IGN);
	ssf_sigint ig;
	ssf_sigint_begin(&ig);
	CHECK(current(SIGINT) == SIG_IGN);
	raise(SIGINT);
	CHECK(!ssf_sigint_pending());
	CHECK(ssf_sigint_end(&ig) == 0);
	sigaction(SIGINT, &sa, NULL);

	/* A worker thread with every signal blocked waits while the script's
	 * thread waits too: the signal is the script's thread's alone. */
	ssf_sigint main_wait;
	ssf_sigint_begin(&main_wait);
	wait_handler = current(SIGINT);
	pthread_t t;
	CHECK(pthread_create(&t, NULL, blocked_thread, NULL) == 0);
	pthread_join(t, NULL);
	CHECK(ssf_sigint_pending());
	CHECK(ssf_sigint_end(&main_wait) == 1);
	CHECK(host_term == 2);
	return check_failures;
}
