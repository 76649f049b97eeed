#define _POSIX_C_SOURCE 200809L

#include "sigint.h"

#include <string.h>

/* One per module that links this file; a module waits in at most one
 * place at a time, since Lua runs on one thread. */
static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

void ssf_sigint_begin(ssf_sigint *s)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_sigint;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, NULL, &s->old);
	s->owned = s->old.sa_handler != SIG_IGN;
	interrupted = 0;
	if (s->owned)
		sigaction(SIGINT, &sa, NULL);
}

int ssf_sigint_pending(void)
{
	return interrupted != 0;
}

int ssf_sigint_end(ssf_sigint *s)
{
	if (s->owned)
		sigaction(SIGINT, &s->old, NULL);
	if (!interrupted)
		return 0;
	interrupted = 0;
	raise(SIGINT);
	return 1;
}
