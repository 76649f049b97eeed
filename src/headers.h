/* Splitting of raw HTTP response header lines as libcurl delivers them
 * (one line per callback, CRLF included). No allocation, no Lua. */
#ifndef SSF_HEADERS_H
#define SSF_HEADERS_H

#include <stddef.h>

enum ssf_header_kind {
	SSF_HDR_FIELD,   /* "Name: value": name and value are set */
	SSF_HDR_STATUS,  /* "HTTP/1.1 200 OK": a new response starts */
	SSF_HDR_END,     /* the blank line after the header block */
	SSF_HDR_INVALID  /* anything else: skipped */
};

/* Classifies one line. For a field, name and nlen give the field name (not
 * lowercased), value and vlen the value without surrounding blanks. */
enum ssf_header_kind ssf_header_parse(const char *line, size_t len,
				      const char **name, size_t *nlen,
				      const char **value, size_t *vlen);

#endif
