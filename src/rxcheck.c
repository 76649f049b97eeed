#include "rxcheck.h"

#include <string.h>

int ssf_secret_equal(const char *given, size_t glen, const char *want, size_t wlen)
{
	/* volatile: the compiler must not turn the loop into an early exit
	 * once a difference is found. */
	volatile unsigned char diff = 0;
	for (size_t i = 0; i < wlen; i++) {
		/* Past the end of a shorter value, compare against 0: the loop
		 * still visits every expected byte. The branch depends only on
		 * glen, which the client chose and so already knows. */
		unsigned char g = i < glen ? (unsigned char)given[i] : 0;
		diff |= (unsigned char)(g ^ (unsigned char)want[i]);
	}
	return diff == 0 && glen == wlen;
}

static int is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static char ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

int ssf_media_type_is(const char *value, const char *type)
{
	if (value == NULL)
		return 0;
	while (is_blank(*value))
		value++;
	for (; *type; type++, value++)
		if (ascii_lower(*value) != ascii_lower(*type))
			return 0;
	while (is_blank(*value))
		value++;
	return *value == '\0' || *value == ';';
}

static int name_is(const char *name, size_t len, const char *want)
{
	size_t i = 0;
	for (; i < len && want[i]; i++)
		if (ascii_lower(name[i]) != want[i])
			return 0;
	return i == len && want[i] == '\0';
}

static void refuse(ssf_framing *f, unsigned status, const char *why)
{
	if (f->status == 0) {
		f->status = status;
		f->why = why;
	}
}

/* value (len bytes) without leading and trailing blanks. */
static const char *trim(const char *value, size_t *len)
{
	while (*len > 0 && is_blank(*value)) {
		value++;
		(*len)--;
	}
	while (*len > 0 && is_blank(value[*len - 1]))
		(*len)--;
	return value;
}

void ssf_framing_field(ssf_framing *f, const char *name, size_t name_len, const char *value,
		       size_t value_len)
{
	if (value == NULL)
		value_len = 0;
	if (memchr(name, '\0', name_len) || (value_len && memchr(value, '\0', value_len))) {
		refuse(f, 400, "a header holds a NUL byte");
		return;
	}
	value = trim(value ? value : "", &value_len);
	if (name_is(name, name_len, "host")) {
		f->hosts++;
	} else if (name_is(name, name_len, "content-length")) {
		if (f->lengths++ == 0) {
			f->length = value;
			f->length_len = value_len;
		} else if (value_len != f->length_len || memcmp(value, f->length, value_len) != 0) {
			refuse(f, 400, "Content-Length is given twice with different values");
		}
	} else if (name_is(name, name_len, "authorization")) {
		if (f->authorizations++)
			refuse(f, 400, "Authorization is given twice");
	} else if (name_is(name, name_len, "content-type")) {
		if (f->content_types++)
			refuse(f, 400, "Content-Type is given twice");
	} else if (name_is(name, name_len, "transfer-encoding")) {
		f->transfer_encoding++;
		if (!name_is(value, value_len, "chunked"))
			refuse(f, 501, "the only Transfer-Encoding accepted is chunked");
	}
}

unsigned ssf_framing_end(ssf_framing *f, const char *version)
{
	if (f->lengths && f->transfer_encoding)
		refuse(f, 400, "Content-Length and Transfer-Encoding are both given");
	if (f->transfer_encoding > 1)
		refuse(f, 501, "the only Transfer-Encoding accepted is chunked");
	if (f->hosts > 1)
		refuse(f, 400, "Host is given twice");
	if (f->hosts == 0 && version && strcmp(version, "HTTP/1.0") != 0)
		refuse(f, 400, "an HTTP/1.1 request must have a Host header");
	return f->status;
}

int ssf_target_has_nul(const char *target, size_t len)
{
	if (memchr(target, '\0', len))
		return 1;
	for (size_t i = 0; i + 2 < len; i++)
		if (target[i] == '%' && target[i + 1] == '0' && target[i + 2] == '0')
			return 1;
	return 0;
}
