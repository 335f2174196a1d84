/* fuzz_die.h: for harnesses that include a tool's source to reach its
 * static readers (lmf-config, lmf-load): the tool's die, die_usage and
 * die_errno become fuzz_die, which checks the message and jumps back to
 * the harness (FUZZ_TRY) instead of exiting. Include it before the tool.
 * Whatever the tool held when it died is not freed: those tools are one-
 * shot processes, and their harnesses run with -detect_leaks=0. */
#ifndef LMF_FUZZ_DIE_H
#define LMF_FUZZ_DIE_H
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>

#define die(...) fuzz_die(__VA_ARGS__)
#define die_usage(...) fuzz_die(__VA_ARGS__)
#define die_errno(...) fuzz_die(__VA_ARGS__)
#include "lmf/util.h"
#include "fuzz.h"

static jmp_buf fuzz_jb;
static volatile int fuzz_ok;

/* run stmt; fuzz_ok is 1 if it returned, 0 if the tool died in it */
#define FUZZ_TRY(stmt) do { \
	fuzz_ok = 0; \
	if (!setjmp(fuzz_jb)) { \
		stmt; \
		fuzz_ok = 1; \
	} \
} while (0)

void
fuzz_die(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	lmf_vseterr(buf, sizeof buf, fmt, ap);
	va_end(ap);
	fuzz_check_msg("fuzz_die", buf);
	longjmp(fuzz_jb, 1);
}
#endif
