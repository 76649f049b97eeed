/* libFuzzer target: the response header-line parser (src/headers.c). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "headers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A private copy, so any read past the end is caught by ASan. */
	char *line = malloc(size ? size : 1);
	if (line == NULL)
		return 0;
	memcpy(line, data, size);
	const char *name = NULL, *value = NULL;
	size_t nlen = 0, vlen = 0;
	if (ssf_header_parse(line, size, &name, &nlen, &value, &vlen) == SSF_HDR_FIELD) {
		/* The spans must lie inside the line, name before value. */
		if (nlen == 0 || name != line || nlen > size || value < line + nlen ||
		    value + vlen > line + size)
			abort();
	}
	free(line);
	return 0;
}
