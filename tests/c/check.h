/* A minimal assertion helper for the C unit tests: each failed check is
 * printed with its line, and main returns the number of failures. */
#ifndef SSF_CHECK_H
#define SSF_CHECK_H

#include <stdio.h>

static int check_failures;

#define CHECK(cond)                                                         \
	do {                                                                \
		if (!(cond)) {                                              \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
				__LINE__, #cond);                           \
			check_failures++;                                   \
		}                                                           \
	} while (0)

#endif
