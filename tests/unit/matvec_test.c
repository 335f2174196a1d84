/* matvec_test: lmf_matvec_forward (the linear layer for a few rows)
 * against lmf_matvec_forward_ref over shapes with and without a tail of
 * C % 16, with and without a bias, N from 1 to past LMF_MATVEC_MAX_N
 * (where it hands over to sgemm), within 1e-4 of the largest output; and
 * the same bits at 1 and 2 threads. The same for lmf_matvec_bf16_forward
 * (bf16 weights; past LMF_MATVEC_MAX_N rows widened in blocks for sgemm)
 * against its reference over the same bf16 values, and for
 * lmf_matvec_i8_forward (int8 weights, a scale per row) over the same
 * int8 values; lmf_i8_quantize's rows: within half a step of the weights,
 * the largest at +-127, a row of zeros. TAP. */
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

int
main(int argc, char **argv)
{
	static const int shape[][2] = { { 1, 1 }, { 7, 5 }, { 16, 33 },
		{ 33, 17 }, { 288, 768 }, { 768, 288 }, { 100, 1000 } };
	int s, N;

	lmf_init(argc, argv);
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
