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

/* One more than the 6-bit value of each byte, 0 for a byte outside the
 * alphabet: an unsigned 0 - 1 is then above 63, so one comparison of a
 * group's OR finds any bad byte. Indexed by an unsigned char, never out of
 * bounds. */
static const unsigned char SEXTET[256] = {
	 0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
	 0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
	 0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0, 63,  0,  0,
	53, 54, 55, 56, 57, 58, 59, 60, 61, 62,  0,  0,  0,  0,  0,  0,
	 0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14, 15,
	16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26,  0,  0,  0,  0, 64,
	 0, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41,
	42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52,  0,  0,  0,  0,  0,
	 0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
	 0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
	 0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
	 0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
	 0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
	 0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
	 0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
	 0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
};

int ssf_b64url_decode(const char *in, size_t n, unsigned char *out, size_t *outlen)
{
	if (n % 4 == 1)
		return -1;
	const unsigned char *p = (const unsigned char *)in;
	size_t o = 0, i = 0;
	/* Whole groups of four characters, three bytes each. */
	for (; i + 4 <= n; i += 4) {
		unsigned a = SEXTET[p[i]] - 1u, b = SEXTET[p[i + 1]] - 1u;
		unsigned c = SEXTET[p[i + 2]] - 1u, d = SEXTET[p[i + 3]] - 1u;
		if ((a | b | c | d) > 63)
			return -1;
		uint32_t v = a << 18 | b << 12 | c << 6 | d;
		out[o++] = (unsigned char)(v >> 16);
		out[o++] = (unsigned char)(v >> 8);
		out[o++] = (unsigned char)v;
	}
	/* A final group of two or three characters: one or two bytes. */
	uint32_t acc = 0;
	int bits = 0;
	for (; i < n; i++) {
		unsigned v = SEXTET[p[i]] - 1u;
		if (v > 63)
			return -1;
		acc = acc << 6 | v;
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
