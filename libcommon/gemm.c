/* gemm.c: the matrix-product interface over OpenBLAS, its thread count,
 * the core-type re-exec, and a plain reference (see gemm.h). */
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cblas.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "lmf/gemm.h"
#include "lmf/kernels.h"
#include "lmf/prof.h"
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
	double t0;

	check_args(transA, transB, M, N, K, lda, ldb, ldc);
	if (M == 0 || N == 0)
		return;
	t0 = LMF_PROF_BEGIN();
	cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans,
	    transB ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb,
	    beta, C, ldc);
	LMF_PROF_END(LMF_PROF_GEMM, t0, 2.0 * M * N * K);
}

#define THIN_ROWS 128
#define THIN_COLS 64

void
lmf_gemm_thin(int transA, int transB, int M, int N, int K, float alpha,
    const float *A, int lda, const float *B, int ldb, float beta, float *C,
    int ldc)
{
	int rows = M >= N, S = rows ? THIN_ROWS : THIN_COLS;
	int D = rows ? M : N, nb = (D + S - 1) / S, i;

	check_args(transA, transB, M, N, K, lda, ldb, ldc);
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (lmf_gemm_threads() > 1 && \
	!omp_in_parallel())
#endif
	for (i = 0; i < nb; i++) {
		int o = i * S, n = D - o < S ? D - o : S;

		if (rows)
			lmf_gemm(transA, transB, n, N, K, alpha, transA ?
			    A + o : A + (size_t)o * lda, lda, B, ldb, beta,
			    C + (size_t)o * ldc, ldc);
		else
			lmf_gemm(transA, transB, M, n, K, alpha, A, lda,
			    transB ? B + (size_t)o * ldb : B + o, ldb, beta,
			    C + o, ldc);
	}
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

/* ---- bf16 products (gemm.h) ---- */

/* a bf16 matrix (rows, cols) with row stride ld into dense f32 */
static void
widen_mat(float *dst, const uint16_t *src, int rows, int cols, int ld)
{
	int i;

	for (i = 0; i < rows; i++)
		lmf_bf16_widen(dst + (size_t)i * cols, src + (size_t)i * ld,
		    (size_t)cols);
}

/* the bf16 inputs widened (exact) into sgemm: the path without bf16
 * instructions; its scratch grows to the largest operands seen */
static void
gemm_bf16_sgemm(int transA, int transB, int M, int N, int K, float alpha,
    const uint16_t *A, int lda, const uint16_t *B, int ldb, float beta,
    float *C, int ldc)
{
	static float *wa, *wb;
	static size_t na, nb;
	size_t sa = (size_t)M * K, sb = (size_t)K * N;

	if (sa > na) {
		free(wa);
		wa = xmallocarray(sa, sizeof *wa);
		na = sa;
	}
	if (sb > nb) {
		free(wb);
		wb = xmallocarray(sb, sizeof *wb);
		nb = sb;
	}
	/* stored (M, K) or (K, M); (K, N) or (N, K) */
	widen_mat(wa, A, transA ? K : M, transA ? M : K, lda);
	widen_mat(wb, B, transB ? N : K, transB ? K : N, ldb);
	cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans,
	    transB ? CblasTrans : CblasNoTrans, M, N, K, alpha, wa,
	    transA ? M : K, wb, transB ? K : N, beta, C, ldc);
}

/* AVX512-F/BW/VL, and cpuid leaf 7's subleaf 0 EDX (bit 22: AMX-BF16)
 * and subleaf 1 EAX (bit 5: AVX512_BF16) */
static int
cpu_bf16_bits(unsigned *amx, unsigned *avx)
{
	unsigned a, b, c, d;

	*amx = *avx = 0;
	__builtin_cpu_init();
	if (!__builtin_cpu_supports("avx512f") ||
	    !__builtin_cpu_supports("avx512bw") ||
	    !__builtin_cpu_supports("avx512vl"))
		return 0;
	__asm__("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(0));
	*amx = d >> 22 & 1;
	if (a < 1)
		return 1;
	__asm__("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(1));
	*avx = a >> 5 & 1;
	return 1;
}

int
lmf_cpu_avx512bf16(void)
{
	unsigned amx, avx;

	return cpu_bf16_bits(&amx, &avx) && avx;
}

/* does the CPU have bf16 dot products (AVX512-BF16) or AMX-BF16? */
static int
cpu_has_bf16(void)
{
	unsigned amx, avx;

	return cpu_bf16_bits(&amx, &avx) && (amx || avx);
}

#ifdef LMF_DNNL
#include <oneapi/dnnl/dnnl.h>

#define BF16_CACHE 64

/* one product shape's primitive and its memory objects */
struct bf16_prim {
	int ta, tb, M, N, K, lda, ldb, ldc;
	float alpha, beta;
	dnnl_primitive_t p;
	dnnl_memory_t a, b, c;
};

/* the engine, stream and primitives, made on first use */
struct bf16_state {
	dnnl_engine_t eng;
	dnnl_stream_t st;
	struct bf16_prim cache[BF16_CACHE];
	int n, next;
	char impl[96];
};

static struct bf16_state *bf16s;

static void
dnnl_ok(dnnl_status_t s, const char *what)
{
	if (s != dnnl_success)
		die("oneDNN: %s failed (status %d)", what, (int)s);
}

static struct bf16_state *
bf16_state(void)
{
	if (!bf16s) {
		bf16s = xcalloc(1, sizeof *bf16s);
		dnnl_ok(dnnl_engine_create(&bf16s->eng, dnnl_cpu, 0),
		    "engine");
		dnnl_ok(dnnl_stream_create(&bf16s->st, bf16s->eng,
		    dnnl_stream_default_flags), "stream");
	}
	return bf16s;
}

/* a 2-d row-major (or, transposed, column-major) descriptor */
static void
md2(dnnl_memory_desc_t *md, int rows, int cols, int ld, int trans,
    dnnl_data_type_t dt)
{
	dnnl_dims_t dims = { rows, cols }, strides = { ld, 1 };

	if (trans) {
		strides[0] = 1;
		strides[1] = ld;
	}
	dnnl_ok(dnnl_memory_desc_init_by_strides(md, 2, dims, dt, strides),
	    "memory descriptor");
}

static void
prim_free(struct bf16_prim *e)
{
	dnnl_primitive_destroy(e->p);
	dnnl_memory_destroy(e->a);
	dnnl_memory_destroy(e->b);
	dnnl_memory_destroy(e->c);
}

/* make the matmul for e's shape: src (M, K), weights (K, N), dst (M, N) */
static void
prim_make(struct bf16_state *s, struct bf16_prim *e)
{
	dnnl_memory_desc_t a, b, c;
	dnnl_matmul_desc_t mm;
	dnnl_primitive_attr_t attr;
	dnnl_post_ops_t po = NULL;
	dnnl_primitive_desc_t pd;
	const char *impl = NULL;

	md2(&a, e->M, e->K, e->lda, e->ta, dnnl_bf16);
	md2(&b, e->K, e->N, e->ldb, e->tb, dnnl_bf16);
	md2(&c, e->M, e->N, e->ldc, 0, dnnl_f32);
	dnnl_ok(dnnl_matmul_desc_init(&mm, &a, &b, NULL, &c), "matmul");
	dnnl_ok(dnnl_primitive_attr_create(&attr), "attributes");
	if (e->alpha != 1.0f)
		dnnl_ok(dnnl_primitive_attr_set_output_scales(attr, 1, 0,
		    &e->alpha), "output scale");
	if (e->beta != 0.0f) {
		dnnl_ok(dnnl_post_ops_create(&po), "post-ops");
		dnnl_ok(dnnl_post_ops_append_sum(po, e->beta), "sum post-op");
		dnnl_ok(dnnl_primitive_attr_set_post_ops(attr, po), "post-ops");
	}
	dnnl_ok(dnnl_primitive_desc_create(&pd, &mm, attr, s->eng, NULL),
	    "matmul primitive descriptor");
	if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0,
	    &impl) == dnnl_success && impl)
		snprintf(s->impl, sizeof s->impl, "oneDNN %s", impl);
	dnnl_ok(dnnl_primitive_create(&e->p, pd), "matmul primitive");
	dnnl_ok(dnnl_memory_create(&e->a, &a, s->eng, DNNL_MEMORY_NONE),
	    "memory");
	dnnl_ok(dnnl_memory_create(&e->b, &b, s->eng, DNNL_MEMORY_NONE),
	    "memory");
	dnnl_ok(dnnl_memory_create(&e->c, &c, s->eng, DNNL_MEMORY_NONE),
	    "memory");
	dnnl_primitive_desc_destroy(pd);
	dnnl_primitive_attr_destroy(attr);
	if (po)
		dnnl_post_ops_destroy(po);
}

/* the cached primitive for this shape, made (evicting the oldest) when
 * there is none */
static struct bf16_prim *
prim_get(int ta, int tb, int M, int N, int K, float alpha, int lda,
    int ldb, float beta, int ldc)
{
	struct bf16_state *s = bf16_state();
	struct bf16_prim key = { ta, tb, M, N, K, lda, ldb, ldc, alpha, beta,
		NULL, NULL, NULL, NULL }, *e;
	int i;

	for (i = 0; i < s->n; i++) {
		e = &s->cache[i];
		if (e->ta == ta && e->tb == tb && e->M == M && e->N == N &&
		    e->K == K && e->lda == lda && e->ldb == ldb &&
		    e->ldc == ldc && e->alpha == alpha && e->beta == beta)
			return e;
	}
	if (s->n < BF16_CACHE) {
		e = &s->cache[s->n++];
	} else {
		e = &s->cache[s->next];
		s->next = (s->next + 1) % BF16_CACHE;
		prim_free(e);
	}
	*e = key;
	prim_make(s, e);
	return e;
}

static void
gemm_bf16_dnnl(int transA, int transB, int M, int N, int K, float alpha,
    const uint16_t *A, int lda, const uint16_t *B, int ldb, float beta,
    float *C, int ldc)
{
	struct bf16_prim *e = prim_get(transA, transB, M, N, K, alpha, lda,
	    ldb, beta, ldc);
	dnnl_exec_arg_t args[3] = { { DNNL_ARG_SRC, e->a },
		{ DNNL_ARG_WEIGHTS, e->b }, { DNNL_ARG_DST, e->c } };

	dnnl_ok(dnnl_memory_set_data_handle(e->a, (void *)A), "memory");
	dnnl_ok(dnnl_memory_set_data_handle(e->b, (void *)B), "memory");
	dnnl_ok(dnnl_memory_set_data_handle(e->c, C), "memory");
	dnnl_ok(dnnl_primitive_execute(e->p, bf16_state()->st, 3, args),
	    "matmul");
	dnnl_ok(dnnl_stream_wait(bf16_state()->st), "stream wait");
}
#endif

int
lmf_gemm_bf16_native(void)
{
	static int native = -1;
	const char *e;

	if (native >= 0)
		return native;
	e = getenv("LMF_BF16_ISA");
	if (e && *e && strcmp(e, "none") && strcmp(e, "auto"))
		die_usage("LMF_BF16_ISA: '%s' is not none or auto", e);
	native = 0;
#ifdef LMF_DNNL
	native = !(e && !strcmp(e, "none")) && cpu_has_bf16();
#else
	(void)cpu_has_bf16;
#endif
	return native;
}

const char *
lmf_gemm_bf16_impl(void)
{
#ifdef LMF_DNNL
	if (lmf_gemm_bf16_native()) {
		struct bf16_state *s = bf16_state();

		return s->impl[0] ? s->impl : "oneDNN";
	}
#endif
	return "sgemm";
}

void
lmf_gemm_bf16(int transA, int transB, int M, int N, int K, float alpha,
    const uint16_t *A, int lda, const uint16_t *B, int ldb, float beta,
    float *C, int ldc)
{
	double t0;
	int i, j;

	check_args(transA, transB, M, N, K, lda, ldb, ldc);
#ifdef _OPENMP
	if (omp_in_parallel())
		BUG("lmf_gemm_bf16 inside a parallel region");
#endif
	if (M == 0 || N == 0)
		return;
	if (K == 0) {
		/* no products: C = beta C, as sgemm has it */
		for (i = 0; i < M; i++)
			for (j = 0; j < N; j++) {
				float *c = &C[(size_t)i * ldc + j];

				*c = beta == 0 ? 0 : beta * *c;
			}
		return;
	}
	t0 = LMF_PROF_BEGIN();
#ifdef LMF_DNNL
	if (lmf_gemm_bf16_native())
		gemm_bf16_dnnl(transA, transB, M, N, K, alpha, A, lda, B, ldb,
		    beta, C, ldc);
	else
#endif
		gemm_bf16_sgemm(transA, transB, M, N, K, alpha, A, lda, B, ldb,
		    beta, C, ldc);
	LMF_PROF_END(LMF_PROF_GEMM16, t0, 2.0 * M * N * K);
}
