/* libFuzzer target: the receiver's header checks (src/rxcheck.c). The
 * input is split at its first NUL into a Content-Type value and a second
 * string; the secret compare must agree with memcmp. Then the same input,
 * split into lines, is a version and "name:value" header fields (NULs
 * included) for the framing checks, whose verdict must agree with a plain
 * restatement of the rules. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rxcheck.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int lower_eq(const char *p, size_t n, const char *want)
{
	return n == strlen(want) && strncasecmp(p, want, n) == 0 && !memchr(p, '\0', n);
}

static void trim(const char **p, size_t *n)
{
	while (*n && (**p == ' ' || **p == '\t')) {
		(*p)++;
		(*n)--;
	}
	while (*n && ((*p)[*n - 1] == ' ' || (*p)[*n - 1] == '\t'))
		(*n)--;
}

static void check_framing(const char *data, size_t size)
{
	const char *end = data + size;
	const char *nl = memchr(data, '\n', size);
	if (nl == NULL)
		return;
	char version[16];
	size_t vlen = (size_t)(nl - data) < sizeof version - 1 ? (size_t)(nl - data) : 15;
	memcpy(version, data, vlen);
	version[vlen] = '\0';
	ssf_framing f;
	memset(&f, 0, sizeof f);
	int nul = 0, hosts = 0, lengths = 0, te = 0, te_bad = 0, cl_differ = 0, auths = 0, types = 0;
	const char *cl = NULL;
	size_t cl_len = 0;
	for (const char *line = nl + 1; line < end;) {
		const char *stop = memchr(line, '\n', (size_t)(end - line));
		if (stop == NULL)
			stop = end;
		const char *colon = memchr(line, ':', (size_t)(stop - line));
		if (colon != NULL) {
			const char *name = line, *value = colon + 1;
			size_t nlen = (size_t)(colon - line), len = (size_t)(stop - value);
			ssf_framing_field(&f, name, nlen, value, len);
			if (memchr(name, '\0', nlen) || memchr(value, '\0', len)) {
				nul = 1;
			} else {
				trim(&value, &len);
				if (lower_eq(name, nlen, "host")) {
					hosts++;
				} else if (lower_eq(name, nlen, "content-length")) {
					if (lengths++ == 0) {
						cl = value;
						cl_len = len;
					} else if (len != cl_len || memcmp(value, cl, len) != 0) {
						cl_differ = 1;
					}
				} else if (lower_eq(name, nlen, "authorization")) {
					auths++;
				} else if (lower_eq(name, nlen, "content-type")) {
					types++;
				} else if (lower_eq(name, nlen, "transfer-encoding")) {
					te++;
					te_bad |= !lower_eq(value, len, "chunked");
				}
			}
		}
		line = stop + 1;
	}
	unsigned verdict = ssf_framing_end(&f, version);
	int ok = !nul && !cl_differ && !(lengths && te) && !te_bad && te <= 1 && hosts <= 1 &&
		 auths <= 1 && types <= 1 &&
		 (hosts == 1 || strcmp(version, "HTTP/1.0") == 0);
	if ((verdict == 0) != ok || (verdict != 0 && verdict != 400 && verdict != 501) ||
	    (verdict != 0 && f.why == NULL))
		abort();
	/* A NUL found anywhere in a target, raw or as %00. */
	int has = memchr(data, '\0', size) != NULL;
	for (size_t i = 0; i + 2 < size; i++)
		has |= data[i] == '%' && data[i + 1] == '0' && data[i + 2] == '0';
	if (ssf_target_has_nul(data, size) != has)
		abort();
}

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
	check_framing((const char *)data, size);
	return 0;
}
