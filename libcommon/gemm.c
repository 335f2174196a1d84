/* gemm.c: the matrix-product interface over OpenBLAS, its thread count,
 * the core-type re-exec, and a plain reference (see gemm.h). */
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cblas.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "lmf/gemm.h"
#include "lmf/util.h"
#include "lmf/banned.h"

/* not in every cblas.h */
char *openblas_get_corename(void);
void openblas_set_num_threads(int num_threads);

#define REEXEC_ENV "LMF_GEMM_REEXEC"
#define MAX_CMDLINE (1 << 20)

static int nthreads = 1;

static int
ncpu(void)
{
	cpu_set_t set;
	long n;

	if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
		return CPU_COUNT(&set);
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}

const char *
lmf_gemm_best_coretype(void)
{
	__builtin_cpu_init();
	/* OpenBLAS's SkylakeX kernels use these five AVX-512 subsets; gcc's
	 * checks include whether the OS saves the zmm state */
	if (__builtin_cpu_supports("avx512f") &&
	    __builtin_cpu_supports("avx512cd") &&
	    __builtin_cpu_supports("avx512bw") &&
	    __builtin_cpu_supports("avx512dq") &&
	    __builtin_cpu_supports("avx512vl"))
		return "SkylakeX";
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
		return "Haswell";
	return NULL;
}

static int
in_list(const char *name, const char *const *list)
{
	for (; *list; list++)
		if (strcasecmp(name, *list) == 0)
			return 1;
	return 0;
}

int
lmf_gemm_coretype_ok(const char *corename, const char *best)
{
	static const char *const avx512[] = { "SkylakeX", "Cooperlake",
		"SapphireRapids", NULL };
	static const char *const avx2[] = { "Haswell", "Zen", "SkylakeX",
		"Cooperlake", "SapphireRapids", NULL };

	if (!best)
		return 1;
	if (!corename)
		return 0;
	if (strcasecmp(best, "SkylakeX") == 0)
		return in_list(corename, avx512);
	return in_list(corename, avx2);
}

const char *
lmf_gemm_corename(void)
{
	const char *s = openblas_get_corename();

	return s ? s : "unknown";
}

/* our own argv, from /proc/self/cmdline (NUL-separated); NULL on failure */
static char **
read_argv(void)
{
	FILE *f = fopen("/proc/self/cmdline", "rb");
	char *buf, **argv;
	size_t len, i, n = 0, k = 0;

	if (!f)
		return NULL;
	buf = xmalloc(MAX_CMDLINE + 1);
	len = fread(buf, 1, MAX_CMDLINE, f);
	fclose(f);
	if (len == 0 || len == MAX_CMDLINE) {
		free(buf);
		return NULL;
	}
	if (buf[len - 1] != 0)
		buf[len++] = 0;
	for (i = 0; i < len; i++)
		n += buf[i] == 0;
	argv = xmallocarray(n + 1, sizeof *argv);
	for (i = 0; i < len; i += strlen(buf + i) + 1)
		argv[k++] = buf + i;
	argv[k] = NULL;
	return argv;
}

/* re-execute ourselves with the core type the CPU deserves; returns only
 * when that is not needed or not possible */
static void
maybe_reexec(void)
{
	const char *best = lmf_gemm_best_coretype();
	const char *have = lmf_gemm_corename();
	char **argv;

	if (getenv("OPENBLAS_CORETYPE") || getenv(REEXEC_ENV))
		return;
	if (lmf_gemm_coretype_ok(have, best))
		return;
	argv = read_argv();
	if (!argv)
		return;
	if (lmf_verbose >= 2)
		warn("openblas core type '%s' on a CPU for '%s': re-executing",
		    have, best);
	if (setenv("OPENBLAS_CORETYPE", best, 1) == 0 &&
	    setenv(REEXEC_ENV, "1", 1) == 0) {
		fflush(NULL);
		execv("/proc/self/exe", argv);
	}
	/* exec failed: go on with the slow kernel, leave no trace */
	unsetenv("OPENBLAS_CORETYPE");
	unsetenv(REEXEC_ENV);
	free(argv[0]);
	free(argv);
}

int
lmf_gemm_init(int threads)
{
	maybe_reexec();
	/* children (a tokenizer, a second tool) pick their own core type */
	unsetenv(REEXEC_ENV);
	nthreads = threads > 0 ? threads : ncpu();
	openblas_set_num_threads(nthreads);
#ifdef _OPENMP
	omp_set_num_threads(nthreads);
#endif
	return nthreads;
}

int
lmf_gemm_threads(void)
{
	return nthreads;
}

/* a shape the caller got wrong is a bug, not bad input */
static void
check_args(int transA, int transB, int M, int N, int K, int lda, int ldb,
    int ldc)
{
	int acols = transA ? M : K, bcols = transB ? K : N;

	if (M < 0 || N < 0 || K < 0)
		BUG("gemm: negative size %d x %d x %d", M, N, K);
	if (lda < (acols > 1 ? acols : 1) || ldb < (bcols > 1 ? bcols : 1) ||
	    ldc < (N > 1 ? N : 1))
		BUG("gemm: leading dimension too small (%d %d %d for %d %d %d)",
		    lda, ldb, ldc, M, N, K);
}

void
lmf_gemm(int transA, int transB, int M, int N, int K, float alpha,
    const float *A, int lda, const float *B, int ldb, float beta, float *C,
    int ldc)
{
	check_args(transA, transB, M, N, K, lda, ldb, ldc);
	if (M == 0 || N == 0)
		return;
	cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans,
	    transB ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb,
	    beta, C, ldc);
}

void
lmf_gemm_ref(int transA, int transB, int M, int N, int K, float alpha,
    const float *A, int lda, const float *B, int ldb, float beta, float *C,
    int ldc)
{
	int i, j, k;

	check_args(transA, transB, M, N, K, lda, ldb, ldc);
	for (i = 0; i < M; i++) {
		for (j = 0; j < N; j++) {
			double sum = 0;
			float *c = &C[(size_t)i * ldc + j];

			for (k = 0; k < K; k++) {
				float a = transA ? A[(size_t)k * lda + i] :
				    A[(size_t)i * lda + k];
				float b = transB ? B[(size_t)j * ldb + k] :
				    B[(size_t)k * ldb + j];

				sum += (double)a * b;
			}
			*c = (float)(alpha * sum + (beta == 0 ? 0 : beta * *c));
		}
	}
}
