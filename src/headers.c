#include "headers.h"

#include <string.h>

/* RFC 9110 token characters: what a field name may contain. */
static int is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int is_blank(char c)
{
	return c == ' ' || c == '\t';
}

enum ssf_header_kind ssf_header_parse(const char *line, size_t len,
				      const char **name, size_t *nlen,
				      const char **value, size_t *vlen)
{
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	if (len == 0)
		return SSF_HDR_END;
	if (len >= 5 && memcmp(line, "HTTP/", 5) == 0)
		return SSF_HDR_STATUS;

	size_t i = 0;
	while (i < len && is_tchar((unsigned char)line[i]))
		i++;
	if (i == 0 || i >= len || line[i] != ':')
		return SSF_HDR_INVALID;
	*name = line;
	*nlen = i;

	size_t start = i + 1, end = len;
	while (start < end && is_blank(line[start]))
		start++;
	while (end > start && is_blank(line[end - 1]))
		end--;
	*value = line + start;
	*vlen = end - start;
	return SSF_HDR_FIELD;
}
