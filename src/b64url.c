#include "b64url.h"

#include <stdint.h>

static const char ALPHABET[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t ssf_b64url_encoded_len(size_t n)
{
	if (n > (SIZE_MAX - 2) / 4)
		return 0;
	return (n * 4 + 2) / 3;
}

void ssf_b64url_encode(const unsigned char *in, size_t n, char *out)
{
	size_t i = 0;
	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		*out++ = ALPHABET[v >> 18];
		*out++ = ALPHABET[(v >> 12) & 63];
		*out++ = ALPHABET[(v >> 6) & 63];
		*out++ = ALPHABET[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;
		*out++ = ALPHABET[v >> 18];
		*out++ = ALPHABET[(v >> 12) & 63];
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		*out++ = ALPHABET[v >> 18];
		*out++ = ALPHABET[(v >> 12) & 63];
		*out++ = ALPHABET[(v >> 6) & 63];
	}
}

size_t ssf_b64url_decoded_len(size_t n)
{
	static const size_t tail[4] = { 0, (size_t)-1, 1, 2 };
	if (n % 4 == 1)
		return (size_t)-1;
	return n / 4 * 3 + tail[n % 4];
}

/* The 6-bit value of an alphabet character, or -1. Written as ranges, not
 * a table indexed by the byte, so no input byte reaches an array index. */
static int sextet(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

int ssf_b64url_decode(const char *in, size_t n, unsigned char *out, size_t *outlen)
{
	if (n % 4 == 1)
		return -1;
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		int v = sextet((unsigned char)in[i]);
		if (v < 0)
			return -1;
		acc = (acc << 6 | (uint32_t)v) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	/* The 2 or 4 bits left over from a short final group carry no data; a
	 * canonical encoder leaves them zero. Accepting others would let one
	 * byte string have several encodings. */
	if ((acc & ((1u << bits) - 1)) != 0)
		return -1;
	*outlen = o;
	return 0;
}
