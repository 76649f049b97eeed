#define _POSIX_C_SOURCE 200809L

#include "sigint.h"

#include <pthread.h>
#include <string.h>

/* One per module that links this file; a module waits in at most one
 * place at a time on the script's thread, since Lua runs on one thread.
 * The signal number that came, or 0. */
static volatile sig_atomic_t interrupted;
/* Whether this thread holds the handlers, so another thread's wait never
 * reads a flag that belongs to the script's thread. */
static _Thread_local int owner;

static void on_signal(int sig)
{
	interrupted = sig;
}

static int take(int sig, struct sigaction *old)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(sig, NULL, old);
	if (old->sa_handler == SIG_IGN)
		return 0;
	sigaction(sig, &sa, NULL);
	return 1;
}

void ssf_sigint_begin(ssf_sigint *s)
{
	sigset_t blocked;
	memset(s, 0, sizeof *s);
	if (pthread_sigmask(SIG_BLOCK, NULL, &blocked) != 0 || sigismember(&blocked, SIGINT))
		return;
	s->owner = owner = 1;
	interrupted = 0;
	s->owned_int = take(SIGINT, &s->old_int);
	s->owned_term = take(SIGTERM, &s->old_term);
}

int ssf_sigint_pending(void)
{
	return owner && interrupted != 0;
}

int ssf_sigint_end(ssf_sigint *s)
{
	if (!s->owner)
		return 0;
	if (s->owned_int)
		sigaction(SIGINT, &s->old_int, NULL);
	if (s->owned_term)
		sigaction(SIGTERM, &s->old_term, NULL);
	owner = 0;
	int sig = interrupted;
	if (!sig)
		return 0;
	interrupted = 0;
	raise(sig);
	return 1;
}
