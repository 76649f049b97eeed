/* base64url without padding (RFC 4648 §5, as JOSE uses it, RFC 7515 §2).
 * Pure functions over caller buffers: no allocation, no Lua, no global
 * state, so untrusted input can be unit tested and fuzzed in isolation. */
#ifndef SSF_B64URL_H
#define SSF_B64URL_H

#include <stddef.h>

/* Characters needed to encode n bytes, or 0 when that would overflow. */
size_t ssf_b64url_encoded_len(size_t n);

/* Writes ssf_b64url_encoded_len(n) characters to out (not terminated). */
void ssf_b64url_encode(const unsigned char *in, size_t n, char *out);

/* Bytes that decoding n characters yields, or (size_t)-1 when no valid
 * encoding has that length (n % 4 == 1). */
size_t ssf_b64url_decoded_len(size_t n);

/* Decodes n characters into out, which holds at least
 * ssf_b64url_decoded_len(n) bytes. Accepts only the canonical unpadded
 * encoding: '=', any byte outside [A-Za-z0-9_-], a length with n % 4 == 1
 * and non-zero unused trailing bits are all rejected. Returns 0 and sets
 * *outlen on success, -1 otherwise (out may then hold partial output). */
int ssf_b64url_decode(const char *in, size_t n, unsigned char *out, size_t *outlen);

#endif
