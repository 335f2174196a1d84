/* bench-gemm: OpenBLAS sgemm GFLOP/s through lmf_gemm on the matrix
 * shapes of training (forward, backward dinp, backward dweight) for the
 * tiny and small models of issue 3, on 1 and 2 threads. It does not call
 * lmf_gemm_init, so the core type is whatever OpenBLAS picked or
 * OPENBLAS_CORETYPE says: dev/bench-gemm.sh runs it both ways. */
#include <stdlib.h>

#include <cblas.h>

#include "lmf/gemm.h"
#include "lmf/util.h"
#include "lmf/banned.h"

void openblas_set_num_threads(int num_threads);

struct shape {
	const char *what;
	int ta, tb, M, N, K;
};

static const struct shape shapes[] = {
	/* small: B*T = 4*512, C 768, FF 2048 */
	{ "small qkv fwd  x W^T", 0, 1, 2048, 2304, 768 },
	{ "small o fwd    x W^T", 0, 1, 2048, 768, 768 },
	{ "small mlp up   x W^T", 0, 1, 2048, 2048, 768 },
	{ "small mlp down x W^T", 0, 1, 2048, 768, 2048 },
	{ "small qkv dinp dy W", 0, 0, 2048, 768, 2304 },
	{ "small qkv dW   dy^T x", 1, 0, 2304, 768, 2048 },
	{ "small lm_head  x W^T", 0, 1, 2048, 32000, 768 },
	/* tiny: B*T = 8*256, C 288, FF 768 */
	{ "tiny qkv fwd   x W^T", 0, 1, 2048, 864, 288 },
	{ "tiny mlp up    x W^T", 0, 1, 2048, 768, 288 },
	{ "tiny qkv dW    dy^T x", 1, 0, 864, 288, 2048 },
	/* attention per (batch, head): T 512, HS 64 */
	{ "attn S=QK^T    T=512", 0, 1, 512, 512, 64 },
};

static double
bench(const struct shape *s)
{
	size_t na = (size_t)s->M * s->K, nb = (size_t)s->K * s->N;
	float *A = xmallocarray(na, sizeof *A), *B = xmallocarray(nb, sizeof *B);
	float *C = xcalloc((size_t)s->M * s->N, sizeof *C);
	int lda = s->ta ? s->M : s->K, ldb = s->tb ? s->K : s->N, reps = 0;
	double t0, t, flops = 2.0 * s->M * s->N * s->K;
	size_t i;

	for (i = 0; i < na; i++)
		A[i] = (float)(i % 7) * 0.1f;
	for (i = 0; i < nb; i++)
		B[i] = (float)(i % 5) * 0.1f;
	lmf_gemm(s->ta, s->tb, s->M, s->N, s->K, 1, A, lda, B, ldb, 0, C,
	    s->N);
	t0 = lmf_now();
	do {
		lmf_gemm(s->ta, s->tb, s->M, s->N, s->K, 1, A, lda, B, ldb, 0,
		    C, s->N);
		reps++;
		t = lmf_now() - t0;
	} while (t < 0.4);
	free(A);
	free(B);
	free(C);
	return flops * reps / t / 1e9;
}

int
main(int argc, char **argv)
{
	size_t i;
	int th;

	lmf_init(argc, argv);
	if (argc > 1) {
		/* -b: the core type lmf_gemm_init would re-execute with */
		const char *best = lmf_gemm_best_coretype();

		printf("%s\n", best ? best : "none");
		return 0;
	}
	printf("# openblas core %s (OPENBLAS_CORETYPE=%s), best for this cpu "
	    "%s\n", lmf_gemm_corename(), getenv("OPENBLAS_CORETYPE") ?
	    getenv("OPENBLAS_CORETYPE") : "unset", lmf_gemm_best_coretype() ?
	    lmf_gemm_best_coretype() : "none");
	printf("%-22s %5s %5s %5s %9s %9s\n", "shape", "M", "N", "K",
	    "1 thread", "2 threads");
	for (i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
		double g[2];

		for (th = 1; th <= 2; th++) {
			openblas_set_num_threads(th);
			g[th - 1] = bench(&shapes[i]);
		}
		printf("%-22s %5d %5d %5d %9.1f %9.1f\n", shapes[i].what,
		    shapes[i].M, shapes[i].N, shapes[i].K, g[0], g[1]);
		fflush(stdout);
	}
	return 0;
}
