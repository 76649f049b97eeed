/* Ctrl-C during a wait that blocks in C, where the host's Lua hook cannot
 * run. For the length of the wait SIGINT only sets a flag that the wait
 * checks at least every 100 ms; afterwards the host's handler is put back
 * and the signal raised again, so the host (ssflua or lua5.4) still sees it
 * and stops the script. */
#ifndef SSF_SIGINT_H
#define SSF_SIGINT_H

#include <signal.h>

typedef struct ssf_sigint {
	struct sigaction old;
	int owned; /* 0 when SIGINT is ignored: then it is left alone */
} ssf_sigint;

/* Takes SIGINT over (unless it is ignored) and clears the flag. */
void ssf_sigint_begin(ssf_sigint *s);
/* True once Ctrl-C came since ssf_sigint_begin. */
int ssf_sigint_pending(void);
/* Puts the host's handler back. Returns 1 when Ctrl-C came, after raising
 * SIGINT again for the host; 0 otherwise. */
int ssf_sigint_end(ssf_sigint *s);

#endif
