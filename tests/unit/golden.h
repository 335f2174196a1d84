#ifndef LMF_GOLDEN_H
#define LMF_GOLDEN_H
/* golden.h: what the C unit tests share to read tests/golden/ (written by
 * tests/golden/make_*.py from float64 PyTorch) and to compare with it.
 * Include after tap.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lmf/util.h"

/* tests/golden/NAME: under $TOP when set, else beside the test program
 * (ARGV0's directory/../golden), else ../golden; free it */
static inline char *
golden_path(const char *argv0, const char *name)
{
	const char *top = getenv("TOP"), *slash = strrchr(argv0, '/');

	if (top)
		return xasprintf("%s/tests/golden/%s", top, name);
	if (slash)
		return xasprintf("%.*s/../golden/%s", (int)(slash - argv0),
		    argv0, name);
	return xasprintf("../golden/%s", name);
}

/* max|got - want| / max|want| over n values, printed as a TAP comment and
 * checked against tol (a NaN on one side only fails); 1 if within */
static inline int
cmp(const char *what, const float *got, const float *want, size_t n,
    double tol)
{
	double md = 0, mr = 0, rel;
	size_t i;
	int bad = 0;

	for (i = 0; i < n; i++) {
		double d = fabs((double)got[i] - want[i]);

		bad |= isnan(got[i]) != isnan(want[i]);
		md = d > md ? d : md;
		mr = fabs(want[i]) > mr ? fabs(want[i]) : mr;
	}
	rel = md / (mr > 1e-30 ? mr : 1);
	printf("# maxdiff %s %.3g (rel %.3g)\n", what, md, rel);
	ok(!bad && rel <= tol, "%s", what);
	return !bad && rel <= tol;
}

#endif
