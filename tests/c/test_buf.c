#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "check.h"

int main(void)
{
	ssf_buf b = { 0 };
	CHECK(ssf_buf_append(&b, "abc", 3) == SSF_BUF_OK);
	CHECK(b.len == 3 && memcmp(b.data, "abc", 3) == 0);

	/* Growth past the first allocation keeps the contents. */
	char big[5000];
	memset(big, 'x', sizeof big);
	CHECK(ssf_buf_append(&b, big, sizeof big) == SSF_BUF_OK);
	CHECK(b.len == 5003 && b.cap >= 5003 && b.data[5002] == 'x' && b.data[0] == 'a');

	/* The cap is exact: filling to it works, one byte more fails and
	 * leaves the buffer unchanged. */
	ssf_buf_clear(&b);
	b.max = 10;
	CHECK(ssf_buf_append(&b, "0123456789", 10) == SSF_BUF_OK);
	CHECK(ssf_buf_append(&b, "x", 1) == SSF_BUF_TOO_BIG);
	CHECK(b.len == 10);
	/* A length that would overflow size_t arithmetic is refused, not wrapped. */
	CHECK(ssf_buf_append(&b, "x", SIZE_MAX) == SSF_BUF_TOO_BIG);

	/* An empty append on an empty buffer is fine. */
	ssf_buf e = { 0 };
	CHECK(ssf_buf_append(&e, "", 0) == SSF_BUF_OK && e.len == 0);

	ssf_buf_free(&b);
	ssf_buf_free(&b); /* idempotent */
	CHECK(b.data == NULL && b.len == 0 && b.cap == 0);
	ssf_buf_free(&e);
	printf("test_buf: %d failure(s)\n", check_failures);
	return check_failures != 0;
}
