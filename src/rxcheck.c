#include "rxcheck.h"

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
