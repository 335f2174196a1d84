#ifndef LMF_TAP_H
#define LMF_TAP_H
/* tap.h: TAP output shared by the C unit tests: ok() for each check
 * (printf-style description), tap_done() at the end of main. */
#include <stdarg.h>
#include <stdio.h>

#include "lmf/util.h"

static int ntest, nfail;

static void LMF_PRINTF(2, 3)
ok(int cond, const char *fmt, ...)
{
	va_list ap;

	ntest++;
	nfail += !cond;
	printf("%sok %d - ", cond ? "" : "not ", ntest);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* the plan line; the exit status of the test program */
static inline int
tap_done(void)
{
	printf("1..%d\n", ntest);
	return nfail != 0;
}

#endif
