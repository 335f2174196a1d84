/* prof.c: time by kind of work (prof.h). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "lmf/prof.h"
#include "lmf/util.h"
#include "lmf/banned.h"

int lmf_prof_on;

static const char *const names[LMF_PROF_N] = {
	"products (sgemm)", "products (bf16)", "LoRA", "attention", "rmsnorm",
	"rope", "swiglu", "cross-entropy", "zero, add, copy", "embedding",
	"bf16 conversion", "optimizer", "checkpoints"
};
static double secs[LMF_PROF_N], flops[LMF_PROF_N], t_reset;
static long calls[LMF_PROF_N];
static int depth;
static pthread_t owner;

/* a call of the trainer's thread, outside parallel regions */
static int
timed(void)
{
#ifdef _OPENMP
	if (omp_in_parallel())
		return 0;
#endif
	return pthread_equal(pthread_self(), owner);
}

double
lmf_prof_begin_(void)
{
	if (!timed() || depth++)
		return 0;
	return lmf_now();
}

void
lmf_prof_end_(int slot, double t0, double fl)
{
	if (!timed() || --depth)
		return;
	secs[slot] += lmf_now() - t0;
	flops[slot] += fl;
	calls[slot]++;
}

/* LMF_PROFILE: 1 on; unset, empty or 0 off; another value a usage error */
static int
prof_env(void)
{
	const char *e = getenv("LMF_PROFILE");

	if (e && *e && strcmp(e, "0") && strcmp(e, "1"))
		die_usage("LMF_PROFILE: '%s' is not 0 or 1", e);
	return e && !strcmp(e, "1");
}

void
lmf_prof_check(void)
{
	(void)prof_env();
}

void
lmf_prof_reset(void)
{
	lmf_prof_on = prof_env();
	memset(secs, 0, sizeof secs);
	memset(flops, 0, sizeof flops);
	memset(calls, 0, sizeof calls);
	depth = 0;
	owner = pthread_self();
	t_reset = lmf_now();
}

void
lmf_prof_report(long steps, int threads)
{
	double wall = lmf_now() - t_reset, sum = 0;
	int i;

	if (!lmf_prof_on || steps <= 0)
		return;
	fprintf(stderr, "profile: %ld steps after the first, %d threads, "
	    "%.3f s a step\n", steps, threads, wall / steps);
	for (i = 0; i < LMF_PROF_N; i++) {
		sum += secs[i];
		if (!calls[i])
			continue;
		fprintf(stderr, "profile: %-18s %9.4f s/step %5.1f%%",
		    names[i], secs[i] / steps, wall > 0 ? 100 * secs[i] / wall :
		    0);
		if (flops[i] > 0 && secs[i] > 0)
			fprintf(stderr, " %7.1f GFLOP/s", flops[i] / secs[i] /
			    1e9);
		fprintf(stderr, " (%.4g calls a step)\n", (double)calls[i] /
		    steps);
	}
	fprintf(stderr, "profile: %-18s %9.4f s/step %5.1f%%\n", "other",
	    (wall - sum) / steps, wall > 0 ? 100 * (wall - sum) / wall : 0);
}
