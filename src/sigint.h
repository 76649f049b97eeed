/* Ctrl-C (SIGINT) and SIGTERM during a wait that blocks in C, where the
 * host's Lua hook cannot run. For the length of the wait either signal only
 * sets a flag that the wait checks at least every 100 ms; afterwards the
 * host's handlers are put back and the signal raised again, so the host
 * (ssflua or lua5.4) still sees it: ssflua stops the script with an error a
 * script can catch (to roll back), lua5.4 dies of SIGTERM as it would have.
 *
 * A thread that has SIGINT blocked (a server's worker thread) never takes
 * the process-wide handlers over and never sees the flag: its waits must
 * not race the script's thread for the signal. */
#ifndef SSF_SIGINT_H
#define SSF_SIGINT_H

#include <signal.h>

typedef struct ssf_sigint {
	struct sigaction old_int, old_term;
	int owner;		/* 0 in a thread that has SIGINT blocked */
	int owned_int, owned_term; /* 0 when the signal is ignored: left alone */
} ssf_sigint;

/* Takes SIGINT and SIGTERM over (unless ignored, or unless this thread has
 * SIGINT blocked) and clears the flag. */
void ssf_sigint_begin(ssf_sigint *s);
/* True once SIGINT or SIGTERM came since ssf_sigint_begin in this thread. */
int ssf_sigint_pending(void);
/* Puts the host's handlers back. Returns 1 when a signal came, after
 * raising it again for the host; 0 otherwise. */
int ssf_sigint_end(ssf_sigint *s);

#endif
