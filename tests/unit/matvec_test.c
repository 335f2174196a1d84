/* matvec_test: lmf_matvec_forward (the linear layer for a few rows)
 * against lmf_matvec_forward_ref over shapes with and without a tail of
 * C % 16, with and without a bias, N from 1 to past LMF_MATVEC_MAX_N
 * (where it hands over to sgemm), within 1e-4 of the largest output; and
 * the same bits at 1 and 2 threads. The same for lmf_matvec_bf16_forward
 * (bf16 weights; past LMF_MATVEC_MAX_N rows widened in blocks for sgemm)
 * against its reference over the same bf16 values, and for
 * lmf_matvec_i8_forward (int8 weights, a scale per row) over the same
 * int8 values; lmf_i8_quantize's rows: within half a step of the weights,
 * the largest at +-127, a row of zeros. And the AVX-512 kernels
 * (lmf_matvec_select's LMF_MATVEC_BEST) against the 8-lane ones
 * (LMF_MATVEC_AVX2) bit for bit, for f32, bf16 and int8 weights, N 1 to
 * LMF_MATVEC_MAX_N, C and OC not multiples of 16, at 1 thread and at 3
 * (feature slices from 16 or 32 to an odd end). TAP. */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "lmf/gemm.h"
#include "lmf/kernels.h"
#include "lmf/util.h"
#include "lmf/banned.h"
#include "tap.h"

#define TOL 1e-4

static struct lmf_rng rng;

static float *
rnd(size_t n)
{
	float *p = xmallocarray(n ? n : 1, sizeof *p);
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = lmf_rng_normal(&rng);
	return p;
}

static void
one(int N, int C, int OC, int withbias)
{
	float *x = rnd((size_t)N * C), *w = rnd((size_t)OC * C);
	float *b = withbias ? rnd((size_t)OC) : NULL;
	size_t n = (size_t)N * OC, i;
	float *got = xmallocarray(n, sizeof *got);
	float *got1 = xmallocarray(n, sizeof *got1);
	float *want = xmallocarray(n, sizeof *want);
	double mx = 0, d = 0;

	lmf_gemm_init(2);
	lmf_matvec_forward(got, x, w, b, N, C, OC);
	lmf_gemm_init(1);
	lmf_matvec_forward(got1, x, w, b, N, C, OC);
	lmf_matvec_forward_ref(want, x, w, b, N, C, OC);
	for (i = 0; i < n; i++) {
		if (fabs(want[i]) > mx)
			mx = fabs(want[i]);
		if (fabs(got[i] - want[i]) > d)
			d = fabs(got[i] - want[i]);
	}
	ok(d <= TOL * (mx > 1 ? mx : 1), "N %d C %d OC %d bias %d: "
	    "max diff %.3g of %.3g", N, C, OC, withbias, d, mx);
	if (N <= LMF_MATVEC_MAX_N)
		ok(!memcmp(got, got1, n * sizeof *got),
		    "N %d C %d OC %d: same bits at 1 and 2 threads", N, C,
		    OC);
	free(x);
	free(w);
	free(b);
	free(got);
	free(got1);
	free(want);
}

/* lmf_bf16_narrow on the edge cases: NaNs, infinities, signed zeros,
 * ties (to even), the largest float (to infinity) */
static void
special_bf16(void)
{
	static const uint32_t bits[] = { 0x7fc00000, 0xffc00001, 0x7f800001,
		0x7f800000, 0xff800000, 0, 0x80000000, 0x3f808000,
		0x3f818000, 0x3f808001, 0x7f7fffff, 0x00000001, 0xbf7fffff };
	enum { NB = sizeof bits / sizeof *bits };
	float f[NB];
	uint16_t h[NB];
	int i, same = 1;

	memcpy(f, bits, sizeof f);
	lmf_bf16_narrow(h, f, NB);
	for (i = 0; i < NB; i++)
		same &= h[i] == lmf_f32_to_bf16(f[i]);
	ok(same, "bf16 narrow of NaN, inf, zeros, ties as util's");
}

/* the bf16 product against its reference on the rounded weights */
static void
one_bf16(int N, int C, int OC, int withbias)
{
	float *x = rnd((size_t)N * C), *w = rnd((size_t)OC * C);
	float *b = withbias ? rnd((size_t)OC) : NULL, *back;
	uint16_t *h = xmallocarray((size_t)OC * C + 1, sizeof *h);
	size_t n = (size_t)N * OC, i, nw = (size_t)OC * C;
	float *got = xmallocarray(n, sizeof *got);
	float *got1 = xmallocarray(n, sizeof *got1);
	float *want = xmallocarray(n, sizeof *want);
	float *scr = xmallocarray((size_t)LMF_MATVEC_BF16_ROWS * C,
	    sizeof *scr);
	double mx = 0, d = 0;
	int same = 1;

	lmf_bf16_narrow(h, w, nw);
	back = xmallocarray(nw + 1, sizeof *back);
	lmf_bf16_widen(back, h, nw);
	for (i = 0; i < nw; i++)
		same &= back[i] == lmf_bf16_to_f32(h[i]) &&
		    h[i] == lmf_f32_to_bf16(w[i]);
	lmf_gemm_init(2);
	lmf_matvec_bf16_forward(got, x, h, b, N, C, OC, scr);
	lmf_gemm_init(1);
	lmf_matvec_bf16_forward(got1, x, h, b, N, C, OC, scr);
	lmf_matvec_bf16_forward_ref(want, x, h, b, N, C, OC);
	for (i = 0; i < n; i++) {
		if (fabs(want[i]) > mx)
			mx = fabs(want[i]);
		if (fabs(got[i] - want[i]) > d)
			d = fabs(got[i] - want[i]);
	}
	ok(same, "C %d OC %d: bf16 narrow and widen as util's", C, OC);
	ok(d <= TOL * (mx > 1 ? mx : 1), "bf16 N %d C %d OC %d bias %d: "
	    "max diff %.3g of %.3g", N, C, OC, withbias, d, mx);
	if (N <= LMF_MATVEC_MAX_N)
		ok(!memcmp(got, got1, n * sizeof *got),
		    "bf16 N %d C %d OC %d: same bits at 1 and 2 threads", N,
		    C, OC);
	free(x);
	free(w);
	free(b);
	free(h);
	free(back);
	free(got);
	free(got1);
	free(want);
	free(scr);
}

/* the int8 product against its reference on the same int8 values, and
 * what lmf_i8_quantize gives */
static void
one_i8(int N, int C, int OC, int withbias)
{
	float *x = rnd((size_t)N * C), *w = rnd((size_t)OC * C);
	float *b = withbias ? rnd((size_t)OC) : NULL;
	int8_t *q = xmallocarray((size_t)OC * C + 1, 1);
	float *sc = xmallocarray((size_t)OC + 1, sizeof *sc);
	size_t n = (size_t)N * OC, i, nw = (size_t)OC * C;
	float *got = xmallocarray(n, sizeof *got);
	float *got1 = xmallocarray(n, sizeof *got1);
	float *want = xmallocarray(n, sizeof *want);
	float *back = xmallocarray(nw + 1, sizeof *back);
	float *scr = xmallocarray((size_t)LMF_MATVEC_BF16_ROWS * C,
	    sizeof *scr);
	double mx = 0, d = 0;
	int near = 1, top = 1, o;

	memset(w, 0, (size_t)C * sizeof *w);   /* row 0: zeros */
	lmf_i8_quantize(q, sc, w, OC, C);
	lmf_i8_widen(back, q, sc, OC, C);
	for (o = 0; o < OC; o++) {
		int hi = 0;

		for (i = 0; i < (size_t)C; i++) {
			size_t k = (size_t)o * C + i;

			near &= fabsf(back[k] - w[k]) <= sc[o] * 0.5f * 1.001f;
			hi |= q[k] == 127 || q[k] == -127;
		}
		top &= o == 0 ? sc[o] == 0 && !hi : hi;
	}
	lmf_gemm_init(2);
	lmf_matvec_i8_forward(got, x, q, sc, b, N, C, OC, scr);
	lmf_gemm_init(1);
	lmf_matvec_i8_forward(got1, x, q, sc, b, N, C, OC, scr);
	lmf_matvec_i8_forward_ref(want, x, q, sc, b, N, C, OC);
	for (i = 0; i < n; i++) {
		if (fabs(want[i]) > mx)
			mx = fabs(want[i]);
		if (fabs(got[i] - want[i]) > d)
			d = fabs(got[i] - want[i]);
	}
	ok(near && top, "C %d OC %d: int8 rows within half a step, the "
	    "largest at 127, zeros at scale 0", C, OC);
	ok(d <= TOL * (mx > 1 ? mx : 1), "int8 N %d C %d OC %d bias %d: "
	    "max diff %.3g of %.3g", N, C, OC, withbias, d, mx);
	if (N <= LMF_MATVEC_MAX_N)
		ok(!memcmp(got, got1, n * sizeof *got),
		    "int8 N %d C %d OC %d: same bits at 1 and 2 threads", N,
		    C, OC);
	free(x);
	free(w);
	free(b);
	free(q);
	free(sc);
	free(got);
	free(got1);
	free(want);
	free(back);
	free(scr);
}

/* one product of kind k (0 f32, 1 bf16, 2 int8) on the kernels chosen */
static void
product(int k, int kernels, float *out, const float *x, const float *w,
    const uint16_t *h, const int8_t *q, const float *sc, const float *b,
    int N, int C, int OC)
{
	lmf_matvec_select(kernels);
	if (k == 0)
		lmf_matvec_forward(out, x, w, b, N, C, OC);
	else if (k == 1)
		lmf_matvec_bf16_forward(out, x, h, b, N, C, OC, NULL);
	else
		lmf_matvec_i8_forward(out, x, q, sc, b, N, C, OC, NULL);
	lmf_matvec_select(LMF_MATVEC_BEST);
}

/* the AVX-512 kernels against the 8-lane ones: the same bits for every
 * N, with and without a bias, at 1 and 3 threads */
static void
same_bits(int C, int OC)
{
	static const char *kind[] = { "f32", "bf16", "int8" };
	float *x = rnd((size_t)LMF_MATVEC_MAX_N * C), *w = rnd((size_t)OC * C);
	float *b = rnd((size_t)OC), *sc = xmallocarray(OC, sizeof *sc);
	uint16_t *h = xmallocarray((size_t)OC * C, sizeof *h);
	int8_t *q = xmallocarray((size_t)OC * C, 1);
	size_t n = (size_t)LMF_MATVEC_MAX_N * OC;
	float *old = xmallocarray(n, sizeof *old);
	float *got = xmallocarray(n, sizeof *got);
	int k, N, t, same, runs;

	lmf_bf16_narrow(h, w, (size_t)OC * C);
	lmf_i8_quantize(q, sc, w, OC, C);
	for (k = 0; k < 3; k++) {
		same = 1;
		runs = 0;
		for (N = 1; N <= LMF_MATVEC_MAX_N; N++) {
			for (t = 1; t <= 3; t += 2) {
				const float *bb = (N + t) % 4 ? b : NULL;

				lmf_gemm_init(1);
				product(k, LMF_MATVEC_AVX2, old, x, w, h, q,
				    sc, bb, N, C, OC);
				lmf_gemm_init(t);
				product(k, LMF_MATVEC_BEST, got, x, w, h, q,
				    sc, bb, N, C, OC);
				same &= !memcmp(old, got, (size_t)N * OC *
				    sizeof *got);
				runs++;
			}
		}
		ok(same, "%s C %d OC %d: AVX-512 kernels as the 8-lane ones "
		    "bit for bit (%d runs)", kind[k], C, OC, runs);
	}
	free(x);
	free(w);
	free(b);
	free(sc);
	free(h);
	free(q);
	free(old);
	free(got);
}

int
main(int argc, char **argv)
{
	static const int shape[][2] = { { 1, 1 }, { 7, 5 }, { 16, 33 },
		{ 33, 17 }, { 288, 768 }, { 768, 288 }, { 100, 1000 } };
	/* (C, OC): C % 16 of 0, 1, 15 and more; OC odd; the larger ones
	 * split over 3 threads, in slices from 16 or 32 to an odd end */
	static const int mixed[][2] = { { 1, 1 }, { 15, 3 }, { 16, 5 },
		{ 17, 7 }, { 47, 33 }, { 100, 70 }, { 257, 301 },
		{ 768, 131 }, { 1001, 67 } };
	int s, N;

	lmf_init(argc, argv);
	/* first, so that the matvec pool is made with 3 threads */
	lmf_gemm_init(3);
	lmf_rng_seed(&rng, 7);
	for (s = 0; s < (int)(sizeof mixed / sizeof *mixed); s++)
		same_bits(mixed[s][0], mixed[s][1]);
	lmf_rng_seed(&rng, 42);
	for (s = 0; s < (int)(sizeof shape / sizeof *shape); s++)
		for (N = 1; N <= LMF_MATVEC_MAX_N + 2; N += 3)
			one(N, shape[s][0], shape[s][1], N % 2);
	for (s = 0; s < (int)(sizeof shape / sizeof *shape); s++)
		for (N = 1; N <= LMF_MATVEC_MAX_N + 2; N += 3)
			one_bf16(N, shape[s][0], shape[s][1], N % 2);
	one_bf16(70, 100, 150, 1);
	special_bf16();
	for (s = 0; s < (int)(sizeof shape / sizeof *shape); s++)
		for (N = 1; N <= LMF_MATVEC_MAX_N + 2; N += 3)
			one_i8(N, shape[s][0], shape[s][1], N % 2);
	one_i8(70, 100, 150, 1);
	return tap_done();
}
