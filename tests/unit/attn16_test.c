/* attn16_test: flash attention under bf16 (lmf_attention_flash_forward16
 * and _backward16). With one key block (T <= 128) a double emulation of
 * the rounding points kernels.h names matches out, dq, dk, dv within
 * fp32 rounding (2e-4 of the largest value), and the fp32 kernels miss
 * it by far more (the check can fail); with several blocks, padding,
 * segments and a window both stay within bf16 rounding of the fp32
 * kernels; the AVX512-BF16 kernel and the sgemm way agree within fp32
 * sums, and 1 and 3 threads give the same bits. TAP. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmf/gemm.h"
#include "lmf/gemm16.h"
#include "lmf/kernels.h"
#include "lmf/util.h"
#include "lmf/banned.h"
#include "tap.h"

static struct lmf_rng rng;

static float *
rnd(size_t n, float sd)
{
	float *x = xmallocarray(n, sizeof *x);
	size_t i;

	for (i = 0; i < n; i++)
		x[i] = sd * lmf_rng_normal(&rng);
	return x;
}

static float *
zeros(size_t n)
{
	return xcalloc(n ? n : 1, sizeof(float));
}

/* f32 x rounded to bf16 (nearest even), as a double */
static double
r16(double x)
{
	uint16_t h = lmf_f32_to_bf16((float)x);
	uint32_t u = (uint32_t)h << 16;
	float f;

	memcpy(&f, &u, sizeof f);
	return f;
}

/* max |a - b| / max |b| */
static double
relerr(const float *a, const double *b, size_t n)
{
	double d = 0, m = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		d = fmax(d, fabs(a[i] - b[i]));
		m = fmax(m, fabs(b[i]));
	}
	return d / (m > 0 ? m : 1);
}

static double
relerrf(const float *a, const float *b, size_t n)
{
	double d = 0, m = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		d = fmax(d, fabs((double)a[i] - b[i]));
		m = fmax(m, fabs(b[i]));
	}
	return d / (m > 0 ? m : 1);
}

static int
visible(const int32_t *mask, int b, int T, int t, int s)
{
	if (s > t)
		return 0;
	if (mask && (!mask[b * T + s] || mask[b * T + s] != mask[b * T + t]))
		return 0;
	return 1;
}

/* the bf16 rounding points in double, T within one key block; mask is
 * both padding and segments (as llama.c passes attention_mask twice) */
static void
emulate(double *o, double *dq, double *dk, double *dv, const float *q,
    const float *k, const float *v, const float *dout, const int32_t *mask,
    int B, int T, int NH, int NKV, int HS)
{
	double sc = 1.0 / sqrt((double)HS);
	double *s = xmallocarray((size_t)T, sizeof *s);
	double *p = xmallocarray((size_t)T, sizeof *p);
	int b, h, t, j, d;

	for (b = 0; b < B; b++)
		for (h = 0; h < NH; h++) {
			int kh = h / (NH / NKV);

			for (t = 0; t < T; t++) {
				const float *qt = q + ((size_t)(b * T + t) *
				    NH + h) * HS;
				const float *go = dout + ((size_t)(b * T + t) *
				    NH + h) * HS;
				double *ot = o + ((size_t)(b * T + t) * NH +
				    h) * HS;
				double *dqt = dq + ((size_t)(b * T + t) * NH +
				    h) * HS;
				double mx = -INFINITY, l = 0, D = 0, lse;
				float mxf = -INFINITY;

				for (j = 0; j < T; j++) {
					const float *kj = k + ((size_t)(b * T +
					    j) * NKV + kh) * HS;
					double a = 0;

					for (d = 0; d < HS; d++)
						a += r16(qt[d]) * r16(kj[d]);
					s[j] = visible(mask, b, T, t, j) ?
					    (float)(a * (float)sc) : -INFINITY;
					mxf = fmaxf(mxf, (float)s[j]);
				}
				mx = mxf;
				if (mx == -INFINITY)
					continue;
				for (d = 0; d < HS; d++)
					ot[d] = 0;
				for (j = 0; j < T; j++) {
					const float *vj = v + ((size_t)(b * T +
					    j) * NKV + kh) * HS;

					p[j] = exp(s[j] - mx);
					l += p[j];
					for (d = 0; d < HS; d++)
						ot[d] += r16(p[j]) * r16(vj[d]);
				}
				for (d = 0; d < HS; d++) {
					ot[d] /= l;
					D += go[d] * ot[d];
				}
				lse = mx + log(l);
				for (j = 0; j < T; j++) {
					size_t ko = ((size_t)(b * T + j) * NKV +
					    kh) * HS;
					double P = exp(s[j] - lse), dp = 0, ds;

					for (d = 0; d < HS; d++)
						dp += r16(go[d]) * r16(v[ko + d]);
					ds = P * (dp - D) * sc;
					for (d = 0; d < HS; d++) {
						dqt[d] += r16(ds) * r16(k[ko + d]);
						dk[ko + d] += r16(ds) * r16(qt[d]);
						dv[ko + d] += r16(P) * r16(go[d]);
					}
				}
			}
		}
	free(s);
	free(p);
}

struct run {
	float *o, *lse, *dq, *dk, *dv;
};

static struct run
run16(int bf16, const float *q, const float *k, const float *v,
    const float *dout, const int32_t *mask, int W, int B, int T, int NH,
    int NKV, int HS)
{
	size_t nq = (size_t)B * T * NH * HS, nk = (size_t)B * T * NKV * HS;
	struct run r = { zeros(nq), zeros((size_t)B * NH * T), zeros(nq),
		zeros(nk), zeros(nk) };
	float *sc = zeros(bf16 ? lmf_attention_flash_scratch16(T, HS) :
	    lmf_attention_flash_scratch());

	if (bf16) {
		lmf_attention_flash_forward16(r.o, r.lse, sc, q, k, v, mask,
		    mask, W, B, T, NH, NKV, HS);
		lmf_attention_flash_backward16(r.dq, r.dk, r.dv, sc, dout, r.o,
		    r.lse, q, k, v, mask, mask, W, B, T, NH, NKV, HS);
	} else {
		lmf_attention_flash_forward(r.o, r.lse, sc, q, k, v, mask,
		    mask, W, B, T, NH, NKV, HS);
		lmf_attention_flash_backward(r.dq, r.dk, r.dv, sc, dout, r.o,
		    r.lse, q, k, v, mask, mask, W, B, T, NH, NKV, HS);
	}
	free(sc);
	return r;
}

static void
run_free(struct run *r)
{
	free(r->o);
	free(r->lse);
	free(r->dq);
	free(r->dk);
	free(r->dv);
}

static int
same(const struct run *a, const struct run *b, size_t nq, size_t nk,
    size_t nl)
{
	return !memcmp(a->o, b->o, nq * 4) && !memcmp(a->lse, b->lse, nl * 4) &&
	    !memcmp(a->dq, b->dq, nq * 4) && !memcmp(a->dk, b->dk, nk * 4) &&
	    !memcmp(a->dv, b->dv, nk * 4);
}

/* one block: against the emulation, and fp32 far from it */
static void
one_block(const char *what, int B, int T, int NH, int NKV, int HS,
    const int32_t *mask)
{
	size_t nq = (size_t)B * T * NH * HS, nk = (size_t)B * T * NKV * HS;
	float *q = rnd(nq, 1.5f), *k = rnd(nk, 1.5f), *v = rnd(nk, 1);
	float *dout = rnd(nq, 1);
	double *o = xcalloc(nq, sizeof *o), *dq = xcalloc(nq, sizeof *dq);
	double *dk = xcalloc(nk, sizeof *dk), *dv = xcalloc(nk, sizeof *dv);
	struct run r = run16(1, q, k, v, dout, mask, 0, B, T, NH, NKV, HS);
	struct run f = run16(0, q, k, v, dout, mask, 0, B, T, NH, NKV, HS);
	double e[4], ef[4];
	int i, good = 1, far = 1;

	emulate(o, dq, dk, dv, q, k, v, dout, mask, B, T, NH, NKV, HS);
	e[0] = relerr(r.o, o, nq), ef[0] = relerr(f.o, o, nq);
	e[1] = relerr(r.dq, dq, nq), ef[1] = relerr(f.dq, dq, nq);
	e[2] = relerr(r.dk, dk, nk), ef[2] = relerr(f.dk, dk, nk);
	e[3] = relerr(r.dv, dv, nk), ef[3] = relerr(f.dv, dv, nk);
	for (i = 0; i < 4; i++) {
		good &= e[i] < 2e-4;
		far &= ef[i] > 5 * 2e-4;
	}
	ok(good, "%s: bf16 out, dq, dk, dv vs the double emulation (%.1e "
	    "%.1e %.1e %.1e)", what, e[0], e[1], e[2], e[3]);
	ok(far, "%s: the fp32 kernels miss the emulation (%.1e %.1e %.1e "
	    "%.1e)", what, ef[0], ef[1], ef[2], ef[3]);
	run_free(&r);
	run_free(&f);
	free(q);
	free(k);
	free(v);
	free(dout);
	free(o);
	free(dq);
	free(dk);
	free(dv);
}

/* several blocks: near fp32, the kernel = the portable loop, threads */
static void
blocks(const char *what, int B, int T, int NH, int NKV, int HS,
    const int32_t *mask, int W)
{
	size_t nq = (size_t)B * T * NH * HS, nk = (size_t)B * T * NKV * HS;
	size_t nl = (size_t)B * NH * T;
	float *q = rnd(nq, 1.5f), *k = rnd(nk, 1.5f), *v = rnd(nk, 1);
	float *dout = rnd(nq, 1);
	struct run r, f, p, t1;

	lmf_gemm16_select(1);
	r = run16(1, q, k, v, dout, mask, W, B, T, NH, NKV, HS);
	f = run16(0, q, k, v, dout, mask, W, B, T, NH, NKV, HS);
	ok(relerrf(r.o, f.o, nq) < 2e-2 && relerrf(r.dq, f.dq, nq) < 3e-2 &&
	    relerrf(r.dk, f.dk, nk) < 3e-2 && relerrf(r.dv, f.dv, nk) < 2e-2,
	    "%s: bf16 within bf16 rounding of fp32 (%.1e %.1e %.1e %.1e)",
	    what, relerrf(r.o, f.o, nq), relerrf(r.dq, f.dq, nq),
	    relerrf(r.dk, f.dk, nk), relerrf(r.dv, f.dv, nk));
	if (lmf_gemm16_native_cpu()) {
		lmf_gemm16_select(0);
		p = run16(1, q, k, v, dout, mask, W, B, T, NH, NKV, HS);
		lmf_gemm16_select(1);
		ok(relerrf(p.o, r.o, nq) < 1e-3 && relerrf(p.dq, r.dq, nq) <
		    1e-3 && relerrf(p.dk, r.dk, nk) < 1e-3 && relerrf(p.dv,
		    r.dv, nk) < 1e-3, "%s: the sgemm way within fp32 sums of "
		    "the AVX512-BF16 kernel (%.1e %.1e %.1e %.1e)", what,
		    relerrf(p.o, r.o, nq), relerrf(p.dq, r.dq, nq),
		    relerrf(p.dk, r.dk, nk), relerrf(p.dv, r.dv, nk));
		run_free(&p);
	}
	lmf_gemm_init(1);
	t1 = run16(1, q, k, v, dout, mask, W, B, T, NH, NKV, HS);
	lmf_gemm_init(3);
	ok(same(&r, &t1, nq, nk, nl), "%s: 1 and 3 threads bit for bit",
	    what);
	run_free(&r);
	run_free(&f);
	run_free(&t1);
	free(q);
	free(k);
	free(v);
	free(dout);
}

int
main(void)
{
	int32_t *m = xmallocarray(2 * 300, sizeof *m);
	int t;

	lmf_rng_seed(&rng, 16);
	lmf_gemm_init(3);
	for (t = 0; t < 300; t++) {
		m[t] = t < 250 ? 1 + t / 97 : 0;  /* segments, then padding */
		m[300 + t] = t < 20 ? 0 : 1;      /* left padding */
	}
	one_block("B=2 T=37 GQA 4/2 HS=16", 2, 37, 4, 2, 16, NULL);
	one_block("B=1 T=128 MHA HS=64", 1, 128, 2, 2, 64, NULL);
	one_block("B=1 T=101 MQA HS=9 odd", 1, 101, 3, 1, 9, NULL);
	{
		int32_t m2[2 * 60];

		for (t = 0; t < 60; t++) {
			m2[t] = t < 25 ? 1 : t < 50 ? 2 : 0;
			m2[60 + t] = t < 7 ? 0 : 3;
		}
		one_block("B=2 T=60 segments and padding", 2, 60, 4, 2, 16, m2);
	}
	blocks("T=300 padded+segments GQA", 2, 300, 4, 2, 16, m, 0);
	blocks("T=300 no mask HS=64", 1, 300, 2, 1, 64, NULL, 0);
	blocks("T=257 odd, HS=7", 1, 257, 2, 2, 7, NULL, 0);
	blocks("T=300 window 50", 2, 300, 4, 2, 16, m, 50);
	free(m);
	return tap_done();
}
