/* libFuzzer target: base64url (src/b64url.c). Whatever decodes re-encodes
 * to the same text (only canonical input is accepted), and any bytes
 * encode and decode back to themselves. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "b64url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Decoding never yields more bytes than it reads. */
	unsigned char *bytes = malloc(size + 1);
	char *text = malloc(ssf_b64url_encoded_len(size) + 1);
	if (bytes == NULL || text == NULL)
		abort();
	size_t n = 0;
	if (ssf_b64url_decode((const char *)data, size, bytes, &n) == 0) {
		if (n != ssf_b64url_decoded_len(size) || ssf_b64url_encoded_len(n) != size)
			abort();
		ssf_b64url_encode(bytes, n, text);
		if (memcmp(text, data, size) != 0)
			abort();
	}
	ssf_b64url_encode(data, size, text);
	size_t m = 0;
	if (ssf_b64url_decode(text, ssf_b64url_encoded_len(size), bytes, &m) != 0 || m != size ||
	    memcmp(bytes, data, size) != 0)
		abort();
	free(bytes);
	free(text);
	return 0;
}
