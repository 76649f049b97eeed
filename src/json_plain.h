/* A byte scan that tells when JSON text needs none of the repairs
 * lua/ssf/json.lua makes around cjson. Pure: no allocation, no Lua. */
#ifndef SSF_JSON_PLAIN_H
#define SSF_JSON_PLAIN_H

#include <stddef.h>

/* 1 when the n bytes are valid UTF-8 (RFC 3629: no overlong form, no
 * surrogate, nothing past U+10FFFF), hold no NUL, no '[' (so no array for
 * ssf.json to mark) and no run of 16 or more digits (so no integer cjson
 * would round); else 0. The scan does not track strings: a '[' or a long
 * number inside one only sends the text the careful way. */
int ssf_json_plain(const unsigned char *s, size_t n);

#endif
