/* libFuzzer target: the receiver's header checks (src/rxcheck.c). The
 * input is split at its first NUL into a Content-Type value and a second
 * string; the secret compare must agree with memcmp. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rxcheck.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size + 1);
	if (copy == NULL)
		abort();
	memcpy(copy, data, size);
	copy[size] = '\0';
	size_t first = strlen(copy);
	const char *second = first < size ? copy + first + 1 : "";
	size_t second_len = first < size ? size - first - 1 : 0;

	int is = ssf_media_type_is(copy, "application/secevent+jwt");
	/* A match is the type (after optional blanks), then the end or a ';'
	 * after optional blanks. */
	const char *t = copy + strspn(copy, " \t");
	if (is && (strncasecmp(t, "application/secevent+jwt", 24) != 0 ||
		   (t[24 + strspn(t + 24, " \t")] != '\0' && t[24 + strspn(t + 24, " \t")] != ';')))
		abort();
	int eq = ssf_secret_equal(copy, first, second, second_len);
	if (eq != (first == second_len && memcmp(copy, second, first) == 0))
		abort();
	free(copy);
	return 0;
}
