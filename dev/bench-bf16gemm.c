/* bench-bf16gemm: lmf_gemm (fp32, OpenBLAS) against lmf_gemm_bf16 (oneDNN
 * on bf16 instructions, or widened into sgemm with LMF_BF16_ISA=none) on
 * the tiny bench shape's training products (B 8 x T 256 rows, dim 288,
 * hidden 768, vocab 32000), or with argv[2] "small" the small shape's
 * (B 4 x T 512, dim 768, hidden 2048): GFLOP/s of each, 2 threads (argv[1]
 * to change), best of 5 after a warm-up call. Build: make
 * dev/out/bench-bf16gemm (linked as the tools are). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lmf/gemm.h"
#include "lmf/util.h"

static double
now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

/* the best seconds of 5 calls of one product, fp32 or bf16 */
static double
best(int bf, const int *s, float *A, float *B, float *C, uint16_t *a,
    uint16_t *b)
{
	int ta = s[0], tb = s[1], M = s[2], N = s[3], K = s[4], i;
	int lda = ta ? M : K, ldb = tb ? K : N;
	double t, bt = 1e30;

	for (i = 0; i < 6; i++) {
		t = now();
		if (bf)
			lmf_gemm_bf16(ta, tb, M, N, K, 1, a, lda, b, ldb, 1, C,
			    N);
		else
			lmf_gemm(ta, tb, M, N, K, 1, A, lda, B, ldb, 1, C, N);
		t = now() - t;
		if (i > 0 && t < bt)
			bt = t;
	}
	return bt;
}

int
main(int argc, char **argv)
{
	/* transA, transB, M, N, K: forward x W^T, backward dy W, dy^T x */
	static const int tiny[][5] = {
		{ 0, 1, 2048, 864, 288 }, { 0, 1, 2048, 1536, 288 },
		{ 0, 1, 2048, 288, 768 }, { 0, 1, 256, 32000, 288 },
		{ 0, 0, 2048, 288, 864 }, { 1, 0, 864, 288, 2048 },
		{ 0, 0, 2048, 768, 288 }, { 1, 0, 288, 768, 2048 },
		{ 0, 0, 256, 288, 32000 }, { 1, 0, 32000, 288, 256 },
	};
	static const int small[][5] = {
		{ 0, 1, 2048, 2304, 768 }, { 0, 1, 2048, 4096, 768 },
		{ 0, 1, 2048, 768, 2048 }, { 0, 1, 256, 32000, 768 },
		{ 0, 0, 2048, 768, 2304 }, { 1, 0, 2304, 768, 2048 },
		{ 0, 0, 2048, 2048, 768 }, { 1, 0, 768, 2048, 2048 },
		{ 0, 0, 256, 768, 32000 }, { 1, 0, 32000, 768, 256 },
	};
	int big = argc > 2 && strcmp(argv[2], "small") == 0;
	const int (*sh)[5] = big ? small : tiny;
	int nsh = big ? (int)(sizeof small / sizeof small[0]) :
	    (int)(sizeof tiny / sizeof tiny[0]);
	size_t n = (size_t)32000 * 2304, i;
	float *A = xmallocarray(n, 4), *B = xmallocarray(n, 4);
	float *C = xcalloc(n, 4);
	uint16_t *a = xmallocarray(n, 2), *b = xmallocarray(n, 2);
	int k;

	lmf_init(argc, argv);
	lmf_gemm_init(argc > 1 ? (int)strtol(argv[1], NULL, 10) : 2);
	for (i = 0; i < n; i++) {
		A[i] = B[i] = (float)(i % 17) * 0.01f;
		a[i] = b[i] = lmf_f32_to_bf16(A[i]);
	}
	for (k = 0; k < nsh; k++) {
		const int *s = sh[k];
		double f = 2.0 * s[2] * s[3] * s[4] / 1e9;
		double t32 = best(0, s, A, B, C, a, b);
		double t16 = best(1, s, A, B, C, a, b);

		printf("%c%c M %5d N %5d K %5d: fp32 %6.1f GFLOP/s, bf16 %6.1f "
		    "GFLOP/s (%.2fx)\n", s[0] ? 'T' : 'N', s[1] ? 'T' : 'N',
		    s[2], s[3], s[4], f / t32, f / t16, t32 / t16);
	}
	printf("bf16 products: %s, %d threads\n", lmf_gemm_bf16_impl(),
	    lmf_gemm_threads());
	return 0;
}
