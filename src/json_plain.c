#include "json_plain.h"

/* 2^53, past which a double no longer holds every integer, has 16 digits. */
#define LONG_DIGITS 16

/* Bytes in the UTF-8 sequence that starts with lead byte c (RFC 3629
 * table), 0 for a byte that cannot start one. */
static int sequence_length(unsigned c)
{
	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		return 2;
	if (c >= 0xE0 && c <= 0xEF)
		return 3;
	if (c >= 0xF0 && c <= 0xF4)
		return 4;
	return 0;
}

/* What the scan does with each ASCII byte: go on, count a digit, or stop
 * (NUL and '['). Bytes from 0x80 are UTF-8 and decoded. */
enum { GO, DIGIT, STOP };
static const unsigned char ASCII[128] = {
	[0] = STOP, ['['] = STOP,
	['0'] = DIGIT, ['1'] = DIGIT, ['2'] = DIGIT, ['3'] = DIGIT, ['4'] = DIGIT,
	['5'] = DIGIT, ['6'] = DIGIT, ['7'] = DIGIT, ['8'] = DIGIT, ['9'] = DIGIT,
};

int ssf_json_plain(const unsigned char *s, size_t n)
{
	size_t digits = 0;
	for (size_t i = 0; i < n;) {
		unsigned c = s[i];
		if (c < 0x80) {
			unsigned kind = ASCII[c];
			if (kind == GO) {
				digits = 0;
			} else if (kind == STOP || ++digits >= LONG_DIGITS) {
				return 0;
			}
			i++;
			continue;
		}
		digits = 0;
		int len = sequence_length(c);
		if (len == 0 || (size_t)len > n - i)
			return 0;
		/* The second byte's range rules out overlong forms, surrogates
		 * and code points past U+10FFFF (RFC 3629 section 4). */
		unsigned lo = 0x80, hi = 0xBF, c1 = s[i + 1];
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
		else if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
		if (c1 < lo || c1 > hi)
			return 0;
		for (int k = 2; k < len; k++)
			if ((s[i + (size_t)k] & 0xC0) != 0x80)
				return 0;
		i += (size_t)len;
	}
	return 1;
}
