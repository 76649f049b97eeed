#include "buf.h"

#include <stdlib.h>
#include <string.h>

int ssf_buf_append(ssf_buf *b, const char *p, size_t n)
{
	if (b->max != 0 && (n > b->max || b->len > b->max - n))
		return SSF_BUF_TOO_BIG;
	if (n > b->cap - b->len) {
		size_t want = b->len + n, cap = b->cap ? b->cap : 1024;
		while (cap < want)
			cap = cap > ((size_t)-1) / 2 ? want : cap * 2;
		char *d = realloc(b->data, cap);
		if (d == NULL)
			return SSF_BUF_NOMEM;
		b->data = d;
		b->cap = cap;
	}
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return SSF_BUF_OK;
}

void ssf_buf_clear(ssf_buf *b)
{
	b->len = 0;
}

void ssf_buf_free(ssf_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}
