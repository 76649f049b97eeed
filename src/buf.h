/* A growable byte buffer with a hard size cap, filled from libcurl callbacks
 * (which must not touch Lua) and handed to Lua once a transfer is over. */
#ifndef SSF_BUF_H
#define SSF_BUF_H

#include <stddef.h>

typedef struct ssf_buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max; /* appending past this many bytes fails; 0 means no cap */
} ssf_buf;

enum { SSF_BUF_OK = 0, SSF_BUF_TOO_BIG = -1, SSF_BUF_NOMEM = -2 };

/* Appends n bytes; on failure the buffer is left as it was. */
int ssf_buf_append(ssf_buf *b, const char *p, size_t n);
/* Forgets the contents but keeps the memory for the next transfer. */
void ssf_buf_clear(ssf_buf *b);
/* Frees the memory; safe to call twice. */
void ssf_buf_free(ssf_buf *b);

#endif
