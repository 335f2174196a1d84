/* bench-attn.c: flash attention's forward + backward, fp32 against bf16
 * (lmf_attention_flash_forward16), alternating, on a training shape.
 * Usage: dev/out/bench-attn [threads [B T NH NKV HS [reps]]] (default 1,
 * the small shape 4 512 12 12 64, 5 reps); prints the best seconds of
 * each and GFLOP/s of the products computed (causal blocks of 128). */
#include <stdio.h>
#include <stdlib.h>

#include "lmf/gemm.h"
#include "lmf/gemm16.h"
#include "lmf/kernels.h"
#include "lmf/util.h"

int
main(int argc, char **argv)
{
	int th = argc > 1 ? atoi(argv[1]) : 1;
	int B = argc > 6 ? atoi(argv[2]) : 4, T = argc > 6 ? atoi(argv[3]) : 512;
	int NH = argc > 6 ? atoi(argv[4]) : 12;
	int NKV = argc > 6 ? atoi(argv[5]) : 12, HS = argc > 6 ? atoi(argv[6]) : 64;
	int reps = argc > 7 ? atoi(argv[7]) : 5, r, k, nb = (T + 127) / 128;
	size_t nq = (size_t)B * T * NH * HS, nk = (size_t)B * T * NKV * HS, i;
	float *q, *kk, *v, *dout, *o, *lse, *dq, *dk, *dv, *sc;
	double best[2] = { 1e30, 1e30 }, fl;
	struct lmf_rng rng;

	lmf_gemm_init(th);
	lmf_rng_seed(&rng, 1);
	q = xmallocarray(nq, 4), kk = xmallocarray(nk, 4);
	v = xmallocarray(nk, 4), dout = xmallocarray(nq, 4);
	o = xcalloc(nq, 4), lse = xcalloc((size_t)B * NH * T, 4);
	dq = xcalloc(nq, 4), dk = xcalloc(nk, 4), dv = xcalloc(nk, 4);
	for (i = 0; i < nq; i++)
		q[i] = lmf_rng_normal(&rng), dout[i] = lmf_rng_normal(&rng);
	for (i = 0; i < nk; i++)
		kk[i] = lmf_rng_normal(&rng), v[i] = lmf_rng_normal(&rng);
	sc = xcalloc(lmf_attention_flash_scratch16(T, HS), 4);
	for (r = 0; r < reps; r++)
		for (k = 0; k < 2; k++) {
			double t0 = lmf_now(), t;

			if (k) {
				lmf_attention_flash_forward16(o, lse, sc, q,
				    kk, v, NULL, NULL, 0, B, T, NH, NKV, HS);
				lmf_attention_flash_backward16(dq, dk, dv, sc,
				    dout, o, lse, q, kk, v, NULL, NULL, 0, B,
				    T, NH, NKV, HS);
			} else {
				lmf_attention_flash_forward(o, lse, sc, q, kk,
				    v, NULL, NULL, 0, B, T, NH, NKV, HS);
				lmf_attention_flash_backward(dq, dk, dv, sc,
				    dout, o, lse, q, kk, v, NULL, NULL, 0, B,
				    T, NH, NKV, HS);
			}
			t = lmf_now() - t0;
			if (t < best[k])
				best[k] = t;
		}
	/* 7 products of 2 * 128 * 128 * HS per block pair computed */
	fl = 7.0 * 2 * 128 * 128 * HS * (nb * (nb + 1) / 2.0) * B * NH;
	printf("threads %d B %d T %d NH %d NKV %d HS %d (gemm16: %s)\n", th, B,
	    T, NH, NKV, HS, lmf_gemm16_native() ? "AVX512-BF16" : "portable");
	printf("fp32 %.4f s %.1f GFLOP/s\nbf16 %.4f s %.1f GFLOP/s\n"
	    "bf16 / fp32 speed %.2fx\n", best[0], fl / best[0] / 1e9, best[1],
	    fl / best[1] / 1e9, best[0] / best[1]);
	return 0;
}
