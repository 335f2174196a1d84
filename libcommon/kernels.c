/* kernels.c: forward and backward kernels of the LLaMA block over flat
 * float arrays, each with its reference where the fast one differs (the
 * sizes B T N C V NH NKV HS FF are fixed in kernels.h). */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

#include "lmf/gemm.h"
#include "lmf/gemm16.h"
#include "lmf/kernels.h"
#include "lmf/prof.h"
#include "lmf/util.h"
#include "lmf/banned.h"

/* Loops over independent rows run on OpenMP threads when lmf is built
 * with -fopenmp (the Makefile does so with the OpenMP build of OpenBLAS, so
 * that the kernels and sgemm share one thread team), and only when they
 * hold at least OMP_MIN_WORK elements: on small loops waking the team costs
 * more than it saves. Attention runs its (row, head) pairs on the threads,
 * each with single-threaded products (gemm.h: lmf_gemm inside a parallel
 * region). Schedules are static and sums across rows never depend on the
 * thread count, so results are deterministic. OMP_SIMD marks the inner
 * loops we want vectorised (GCC at -O2 vectorises only the cheapest
 * loops); LMF_VEC builds a helper for AVX2 too, picked at load time.
 * Without OpenMP these are plain loops. */
#define OMP_MIN_WORK 65536
#ifdef _OPENMP
#define OMP_PRAGMA(x) _Pragma(#x)
#define OMP_FOR(work) OMP_PRAGMA(omp parallel for schedule(static) \
	if ((long)(work) >= OMP_MIN_WORK))
#define OMP_FOR_SIMD(work) OMP_PRAGMA(omp parallel for simd \
	schedule(static) if ((long)(work) >= OMP_MIN_WORK))
#define OMP_SIMD OMP_PRAGMA(omp simd)
#define OMP_SIMD_SUM(x) OMP_PRAGMA(omp simd reduction(+:x))
#define OMP_SIMD_MAX(x) OMP_PRAGMA(omp simd reduction(max:x))
#else
#define OMP_FOR(work)
#define OMP_FOR_SIMD(work)
#define OMP_SIMD
#define OMP_SIMD_SUM(x)
#define OMP_SIMD_MAX(x)
#endif
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define LMF_VEC __attribute__((target_clones("avx2", "default")))
#else
#define LMF_VEC
#endif

/* ------------------------------------------------------------------ */
/* exp for the vector loops */

/* e^x in float, within 2 ulp of expf, written so that a loop over it
 * vectorises (libm's expf is a call per element). We split x = k ln2 + r
 * with k = round(x / ln2) and ln2 in two parts (Cody-Waite), so that
 * |r| <= ln2 / 2, take e^r from Cephes' degree-7 polynomial and build 2^k
 * in the exponent bits. Below -87.33 (where expf turns subnormal) we return
 * 0 and above 88.37 (near the top of float) +inf; NaN stays NaN. */
static inline float
vexpf(float x)
{
	const float lo = -87.33f, hi = 88.37f;
	float xc = x < lo ? lo : x, kf, r, p, two_k;
	union { float f; int32_t i; } u;

	xc = xc > hi ? hi : xc;
	/* round to nearest by adding and subtracting 1.5 * 2^23 */
	kf = xc * 1.44269504088896341f + 12582912.0f;
	kf -= 12582912.0f;
	r = xc - kf * 0.693359375f;
	r = r - kf * -2.12194440e-4f;
	p = 1.9875691500e-4f;
	p = p * r + 1.3981999507e-3f;
	p = p * r + 8.3334519073e-3f;
	p = p * r + 4.1665795894e-2f;
	p = p * r + 1.6666665459e-1f;
	p = p * r + 5.0000001201e-1f;
	p = p * r * r + r + 1.0f;
	/* kf is in [-126, 128] here; a NaN (whose conversion to int is
	 * undefined) takes 0, and p is NaN already */
	u.i = (int32_t)((uint32_t)((int32_t)(kf == kf ? kf : 0.0f) + 127)
	    << 23);
	two_k = u.f;
	p *= two_k;
	p = x < lo ? 0.0f : p;
	return x > hi ? INFINITY : p;
}

/* the largest of x[0..n), NaN ignored; -inf when n == 0 */
static float LMF_VEC
vmax(const float *x, long n)
{
	float mx = -INFINITY;
	long i;

	OMP_SIMD_MAX(mx)
	for (i = 0; i < n; i++)
		mx = x[i] > mx ? x[i] : mx;
	return mx;
}

/* d[i] = exp(x[i] - mx) (d may equal x); @return their sum */
static double LMF_VEC
vexp_store(float *d, const float *x, float mx, long n)
{
	double sum = 0;
	long i;

	OMP_SIMD_SUM(sum)
	for (i = 0; i < n; i++) {
		float e = vexpf(x[i] - mx);

		d[i] = e;
		sum += e;
	}
	return sum;
}

/* d[i] = exp(x[i] - mx) (d may equal x), no sum */
static void LMF_VEC
vexp_only(float *d, const float *x, float mx, long n)
{
	long i;

	OMP_SIMD
	for (i = 0; i < n; i++)
		d[i] = vexpf(x[i] - mx);
}

/* @return the sum of exp(x[i] - mx) */
static double LMF_VEC
vexp_sum(const float *x, float mx, long n)
{
	double sum = 0;
	long i;

	OMP_SIMD_SUM(sum)
	for (i = 0; i < n; i++)
		sum += vexpf(x[i] - mx);
	return sum;
}

/* d[i] *= f */
static void LMF_VEC
vscale(float *d, float f, long n)
{
	long i;

	OMP_SIMD
	for (i = 0; i < n; i++)
		d[i] *= f;
}

/* rows of a cross-row sum are cut into this many fixed chunks, summed
 * chunk by chunk and then in order */
#define NCHUNK 64

/* query rows per block in attention: we compute only the keys up to the
 * block's last row, which skips about half of the causal products */
#define ATT_BLOCK 128

/* ------------------------------------------------------------------ */
/* memory */

/* the elements a thread zeroes or adds at once (a multiple of 16) */
#define MEM_BLOCK 16384

void
lmf_zero(float *x, size_t n)
{
	double prof_t0 = LMF_PROF_BEGIN();
	size_t i;

	OMP_FOR(n)
	for (i = 0; i < n; i += MEM_BLOCK)
		memset(x + i, 0, (n - i < MEM_BLOCK ? n - i : MEM_BLOCK) *
		    sizeof *x);
	LMF_PROF_END(LMF_PROF_MEM, prof_t0, 0);
}

LMF_VEC static void
add_block(float *restrict y, const float *restrict x, size_t n)
{
	size_t i;

	OMP_SIMD
	for (i = 0; i < n; i++)
		y[i] += x[i];
}

void
lmf_add(float *y, const float *x, size_t n)
{
	double prof_t0 = LMF_PROF_BEGIN();
	size_t i;

	OMP_FOR(n)
	for (i = 0; i < n; i += MEM_BLOCK)
		add_block(y + i, x + i, n - i < MEM_BLOCK ? n - i : MEM_BLOCK);
	LMF_PROF_END(LMF_PROF_MEM, prof_t0, 0);
}

void
lmf_copy_rows(float *dst, size_t dld, const float *src, size_t sld,
    const float *bias, long rows, size_t cols)
{
	double prof_t0 = LMF_PROF_BEGIN();
	long r;

	OMP_FOR((size_t)rows * cols)
	for (r = 0; r < rows; r++) {
		float *y = dst + (size_t)r * dld;

		memcpy(y, src + (size_t)r * sld, cols * sizeof *y);
		if (bias)
			add_block(y, bias, cols);
	}
	LMF_PROF_END(LMF_PROF_MEM, prof_t0, 0);
}

/* ------------------------------------------------------------------ */
/* embedding */

void
lmf_embedding_forward(float *out, const int32_t *tokens, const float *wte,
    int N, int C)
{
	double prof_t0 = LMF_PROF_BEGIN();
	int n;

	/* we copy row tokens[n] of the table to row n */
	OMP_FOR((long)N * C)
	for (n = 0; n < N; n++)
		memcpy(out + (size_t)n * C, wte + (size_t)tokens[n] * C,
		    (size_t)C * sizeof *out);
	LMF_PROF_END(LMF_PROF_EMBED, prof_t0, 0);
}

void
lmf_embedding_backward(float *dwte, const float *dout,
    const int32_t *tokens, int N, int C)
{
	double prof_t0 = LMF_PROF_BEGIN();
	int n, c;

	/* the gradient of a lookup is a scatter-add; a token seen twice
	 * collects both rows, so we stay serial (and deterministic) */
	for (n = 0; n < N; n++) {
		float *d = dwte + (size_t)tokens[n] * C;
		const float *g = dout + (size_t)n * C;

		for (c = 0; c < C; c++)
			d[c] += g[c];
	}
	LMF_PROF_END(LMF_PROF_EMBED, prof_t0, 0);
}

long
lmf_embedding_check(const int32_t *tokens, long N, int V)
{
	long n;

	for (n = 0; n < N; n++)
		if (tokens[n] < 0 || tokens[n] >= V)
			return n;
	return -1;
}

/* ------------------------------------------------------------------ */
/* rmsnorm */

/* columns per thread's block in the dweight sum */
#define RMS_COLS 64

void
lmf_rmsnorm_forward(float *out, float *rstd, const float *inp,
    const float *weight, float eps, int N, int C)
{
	double prof_t0 = LMF_PROF_BEGIN();
	int n;

	/* per row we take r = 1 / sqrt(mean(x^2) + eps), eps inside the root
	 * as HF does, and write (x * r) * weight */
	OMP_FOR((long)N * C)
	for (n = 0; n < N; n++) {
		const float *x = inp + (size_t)n * C;
		float *y = out + (size_t)n * C;
		double ss = 0;
		float r;
		int c;

		OMP_SIMD_SUM(ss)
		for (c = 0; c < C; c++)
			ss += (double)x[c] * x[c];
		r = (float)(1.0 / sqrt(ss / C + eps));
		rstd[n] = r;
		OMP_SIMD
		for (c = 0; c < C; c++)
			y[c] = weight[c] * (x[c] * r);
	}
	LMF_PROF_END(LMF_PROF_NORM, prof_t0, 0);
}

void
lmf_rmsnorm_backward(float *dinp, float *dweight, const float *dout,
    const float *inp, const float *weight, const float *rstd, int N, int C)
{
	double prof_t0 = LMF_PROF_BEGIN();
	int n;

	/* with xn = x * r and dxn = dout * weight, we have
	 *   dx = r * (dxn - xn * mean(dxn * xn))
	 * since dr/dx_j = -r^3 x_j / C; and dweight = sum over rows of
	 * dout * xn */
	if (dinp) {
		OMP_FOR((long)N * C)
		for (n = 0; n < N; n++) {
			const float *x = inp + (size_t)n * C;
			const float *g = dout + (size_t)n * C;
			float *dx = dinp + (size_t)n * C;
			float r = rstd[n], m;
			double dot = 0;
			int j;

			OMP_SIMD_SUM(dot)
			for (j = 0; j < C; j++)
				dot += (double)g[j] * weight[j] * x[j] * r;
			m = (float)(dot / C);
			OMP_SIMD
			for (j = 0; j < C; j++)
				dx[j] += r * (g[j] * weight[j] - x[j] * r * m);
		}
	}
	if (dweight) {
		int c0;

		/* a sum across rows, in row order: the threads take blocks of
		 * columns, so the order does not depend on them */
		OMP_FOR((long)N * C)
		for (c0 = 0; c0 < C; c0 += RMS_COLS) {
			int c1 = c0 + RMS_COLS < C ? c0 + RMS_COLS : C, row;

			for (row = 0; row < N; row++) {
				const float *x = inp + (size_t)row * C;
				const float *g = dout + (size_t)row * C;
				float r = rstd[row];
				int c;

				OMP_SIMD
				for (c = c0; c < c1; c++)
					dweight[c] += g[c] * x[c] * r;
			}
		}
	}
	LMF_PROF_END(LMF_PROF_NORM, prof_t0, 0);
}

/* ------------------------------------------------------------------ */
/* linear: out (N, OC) = inp (N, C) @ weight (OC, C)^T + bias */

static void
add_bias(float *out, const float *bias, int N, int OC)
{
	int n;

	if (!bias)
		return;
	OMP_FOR((long)N * OC)
	for (n = 0; n < N; n++) {
		int o;

		for (o = 0; o < OC; o++)
			out[(size_t)n * OC + o] += bias[o];
	}
}

static void
bias_grad(float *dbias, const float *dout, int N, int OC)
{
	int n, o;

	for (n = 0; n < N; n++)
		for (o = 0; o < OC; o++)
			dbias[o] += dout[(size_t)n * OC + o];
}

void
lmf_matmul_forward(float *out, const float *inp, const float *weight,
    const float *bias, int N, int C, int OC)
{
	/* HF keeps the weight as (out, in), so we multiply by its transpose */
	lmf_gemm(LMF_NOTRANS, LMF_TRANS, N, OC, C, 1.0f, inp, C, weight, C,
	    0.0f, out, OC);
	add_bias(out, bias, N, OC);
}

void
lmf_matmul_forward_ref(float *out, const float *inp, const float *weight,
    const float *bias, int N, int C, int OC)
{
	int n, o, c;

	for (n = 0; n < N; n++) {
		for (o = 0; o < OC; o++) {
			double sum = bias ? bias[o] : 0;

			for (c = 0; c < C; c++)
				sum += (double)inp[(size_t)n * C + c] *
				    weight[(size_t)o * C + c];
			out[(size_t)n * OC + o] = (float)sum;
		}
	}
}

void
lmf_matmul_backward(float *dinp, float *dweight, float *dbias,
    const float *dout, const float *inp, const float *weight, int N, int C,
    int OC)
{
	/* dinp (N, C) += dout (N, OC) @ weight (OC, C) */
	if (dinp)
		lmf_gemm(LMF_NOTRANS, LMF_NOTRANS, N, C, OC, 1.0f, dout, OC,
		    weight, C, 1.0f, dinp, C);
	/* dweight (OC, C) += dout^T (OC, N) @ inp (N, C) */
	if (dweight)
		lmf_gemm(LMF_TRANS, LMF_NOTRANS, OC, C, N, 1.0f, dout, OC, inp,
		    C, 1.0f, dweight, C);
	/* dbias (OC) += the column sums of dout */
	if (dbias)
		bias_grad(dbias, dout, N, OC);
}

void
lmf_matmul_backward_ref(float *dinp, float *dweight, float *dbias,
    const float *dout, const float *inp, const float *weight, int N, int C,
    int OC)
{
	int n, o, c;

	if (dinp) {
		for (n = 0; n < N; n++) {
			for (c = 0; c < C; c++) {
				double sum = 0;

				for (o = 0; o < OC; o++)
					sum += (double)dout[(size_t)n * OC + o] *
					    weight[(size_t)o * C + c];
				dinp[(size_t)n * C + c] += (float)sum;
			}
		}
	}
	if (dweight) {
		for (o = 0; o < OC; o++) {
			for (c = 0; c < C; c++) {
				double sum = 0;

				for (n = 0; n < N; n++)
					sum += (double)dout[(size_t)n * OC + o] *
					    inp[(size_t)n * C + c];
				dweight[(size_t)o * C + c] += (float)sum;
			}
		}
	}
	if (dbias) {
		for (o = 0; o < OC; o++) {
			double sum = 0;

			for (n = 0; n < N; n++)
				sum += dout[(size_t)n * OC + o];
			dbias[o] += (float)sum;
		}
	}
}

/* ------------------------------------------------------------------ */
/* rope */

void
lmf_rope_inv_freq(double *inv_freq, int HS, double theta)
{
	int i;

	for (i = 0; i < HS / 2; i++)
		inv_freq[i] = pow(theta, -2.0 * i / HS);
}

void
lmf_rope_cache(float *cos_, float *sin_, const int32_t *pos,
    const double *inv_freq, int N, int HS)
{
	int n, half = HS / 2;

	/* we take the angle in double: positions in the thousands times a
	 * frequency near 1 lose digits in float */
	OMP_FOR((long)N * HS)
	for (n = 0; n < N; n++) {
		int i;

		for (i = 0; i < half; i++) {
			double a = (double)pos[n] * inv_freq[i];

			cos_[(size_t)n * half + i] = (float)cos(a);
			sin_[(size_t)n * half + i] = (float)sin(a);
		}
	}
}

void
lmf_rope_scale(float *cos_, float *sin_, double scale, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		cos_[i] = (float)(cos_[i] * scale);
		sin_[i] = (float)(sin_[i] * scale);
	}
}

int64_t
lmf_rope_seq_len(const int32_t *pos, int N)
{
	int64_t mx = 0;
	int n;

	for (n = 0; n < N; n++)
		if (pos[n] + (int64_t)1 > mx)
			mx = pos[n] + (int64_t)1;
	return mx;
}

void
lmf_rope_forward(float *out, const float *inp, const float *cos_,
    const float *sin_, int N, int nh, int HS)
{
	double prof_t0 = LMF_PROF_BEGIN();
	int n, half = HS / 2;

	/* HF's q * cos + rotate_half(q) * sin with cos = cat(c, c) is, per
	 * pair (x1, x2) = (x[i], x[i + HS/2]):
	 *   y1 = x1 c - x2 s,  y2 = x2 c + x1 s
	 * We read both before writing, so out may be inp */
	OMP_FOR((long)N * nh * HS)
	for (n = 0; n < N; n++) {
		const float *c = cos_ + (size_t)n * half;
		const float *s = sin_ + (size_t)n * half;
		int h, i;

		for (h = 0; h < nh; h++) {
			const float *x = inp + ((size_t)n * nh + h) * HS;
			float *y = out + ((size_t)n * nh + h) * HS;

			for (i = 0; i < half; i++) {
				float x1 = x[i], x2 = x[i + half];

				y[i] = x1 * c[i] - x2 * s[i];
				y[i + half] = x2 * c[i] + x1 * s[i];
			}
		}
	}
	LMF_PROF_END(LMF_PROF_ROPE, prof_t0, 0);
}

void
lmf_rope_backward(float *dinp, const float *dout, const float *cos_,
    const float *sin_, int N, int nh, int HS)
{
	double prof_t0 = LMF_PROF_BEGIN();
	int n, half = HS / 2, inplace = dinp == dout;

	/* the rotation is orthogonal, so its transpose is the rotation by
	 * minus the angle: dx1 = d1 c + d2 s, dx2 = d2 c - d1 s */
	OMP_FOR((long)N * nh * HS)
	for (n = 0; n < N; n++) {
		const float *c = cos_ + (size_t)n * half;
		const float *s = sin_ + (size_t)n * half;
		int h, i;

		for (h = 0; h < nh; h++) {
			const float *d = dout + ((size_t)n * nh + h) * HS;
			float *dx = dinp + ((size_t)n * nh + h) * HS;

			for (i = 0; i < half; i++) {
				float d1 = d[i], d2 = d[i + half];
				float g1 = d1 * c[i] + d2 * s[i];
				float g2 = d2 * c[i] - d1 * s[i];

				if (inplace) {
					dx[i] = g1;
					dx[i + half] = g2;
				} else {
					dx[i] += g1;
					dx[i + half] += g2;
				}
			}
		}
	}
	LMF_PROF_END(LMF_PROF_ROPE, prof_t0, 0);
}

/* emb = cat(freqs, freqs) for one position, as HF builds it */
static void
rope_ref_angles(double *cs, double *sn, int32_t pos, double theta, int HS)
{
	int j, half = HS / 2;

	for (j = 0; j < HS; j++) {
		int i = j % half;
		double a = pos * pow(theta, -2.0 * i / HS);

		cs[j] = cos(a);
		sn[j] = sin(a);
	}
}

void
lmf_rope_forward_ref(float *out, const float *inp, const int32_t *pos,
    double theta, int N, int nh, int HS)
{
	double cs[512], sn[512], rot[512];
	int n, h, j, half = HS / 2;

	if (HS > 512 || HS % 2)
		BUG("rope ref: head size %d", HS);
	for (n = 0; n < N; n++) {
		rope_ref_angles(cs, sn, pos[n], theta, HS);
		for (h = 0; h < nh; h++) {
			const float *x = inp + ((size_t)n * nh + h) * HS;
			float *y = out + ((size_t)n * nh + h) * HS;

			/* rotate_half(x) = cat(-x2, x1) */
			for (j = 0; j < HS; j++)
				rot[j] = j < half ? -x[j + half] : x[j - half];
			for (j = 0; j < HS; j++)
				y[j] = (float)(x[j] * cs[j] + rot[j] * sn[j]);
		}
	}
}

void
lmf_rope_backward_ref(float *dinp, const float *dout, const int32_t *pos,
    double theta, int N, int nh, int HS)
{
	double cs[512], sn[512], ds[512];
	int n, h, j, half = HS / 2;

	if (HS > 512 || HS % 2)
		BUG("rope ref: head size %d", HS);
	for (n = 0; n < N; n++) {
		rope_ref_angles(cs, sn, pos[n], theta, HS);
		for (h = 0; h < nh; h++) {
			const float *d = dout + ((size_t)n * nh + h) * HS;
			float *dx = dinp + ((size_t)n * nh + h) * HS;

			/* y = x * cos + rot(x) * sin, so dx = d * cos +
			 * rot^T(d * sin) with rot^T(u) = cat(u2, -u1) */
			for (j = 0; j < HS; j++)
				ds[j] = d[j] * sn[j];
			for (j = 0; j < HS; j++)
				dx[j] += (float)(d[j] * cs[j] +
				    (j < half ? ds[j + half] : -ds[j - half]));
		}
	}
}

/* ------------------------------------------------------------------ */
/* attention */

/* may query t of row b see key s? (s <= t is the caller's business;
 * W > 0: a sliding window, key s is hidden when s <= t - W) */
static inline int
att_visible(const int32_t *mask, const int32_t *seg, int W, int b, int T,
    int t, int s)
{
	if (W > 0 && s <= t - W)
		return 0;
	if (mask && !mask[(size_t)b * T + s])
		return 0;
	if (seg && seg[(size_t)b * T + s] != seg[(size_t)b * T + t])
		return 0;
	return 1;
}


void
lmf_attention_forward_ref(float *out, float *att, const float *q,
    const float *k, const float *v, const int32_t *mask, const int32_t *seg,
    int B, int T, int NH, int NKV, int HS)
{
	lmf_attention_forward_window_ref(out, att, q, k, v, mask, seg, 0, B,
	    T, NH, NKV, HS);
}

void
lmf_attention_forward_window_ref(float *out, float *att, const float *q,
    const float *k, const float *v, const int32_t *mask, const int32_t *seg,
    int W, int B, int T, int NH, int NKV, int HS)
{
	int b, t, h, s, i, rep = NH / NKV;
	double scale = 1.0 / sqrt((double)HS);

	if (NKV <= 0 || NH % NKV)
		BUG("attention: %d heads over %d kv heads", NH, NKV);
	for (b = 0; b < B; b++) {
		for (t = 0; t < T; t++) {
			for (h = 0; h < NH; h++) {
				const float *qt = q + (((size_t)b * T + t) * NH +
				    h) * HS;
				float *a = att + (((size_t)b * NH + h) * T + t) *
				    T;
				float *o = out + (((size_t)b * T + t) * NH + h) *
				    HS;
				int kh = h / rep, any = 0;
				double mx = -INFINITY, sum = 0;

				/* scores of the visible keys, the rest 0 */
				for (s = 0; s < T; s++) {
					const float *ks = k + (((size_t)b * T +
					    s) * NKV + kh) * HS;
					double d = 0;

					a[s] = 0;
					if (s > t ||
					    !att_visible(mask, seg, W, b, T, t, s))
						continue;
					for (i = 0; i < HS; i++)
						d += (double)qt[i] * ks[i];
					d *= scale;
					a[s] = (float)d;
					mx = d > mx ? d : mx;
					any = 1;
				}
				for (i = 0; i < HS; i++)
					o[i] = 0;
				if (!any)
					continue;
				for (s = 0; s <= t; s++)
					if (att_visible(mask, seg, W, b, T, t, s))
						sum += exp(a[s] - mx);
				for (s = 0; s <= t; s++)
					a[s] = att_visible(mask, seg, W, b, T, t,
					    s) ? (float)(exp(a[s] - mx) / sum) :
					    0;
				for (i = 0; i < HS; i++) {
					double acc = 0;

					for (s = 0; s <= t; s++)
						acc += (double)a[s] * v[(((size_t)
						    b * T + s) * NKV + kh) *
						    HS + i];
					o[i] = (float)acc;
				}
			}
		}
	}
}

void
lmf_attention_backward_ref(float *dq, float *dk, float *dv,
    const float *dout, const float *att, const float *q, const float *k,
    const float *v, int B, int T, int NH, int NKV, int HS)
{
	int b, t, h, s, i, rep = NH / NKV;
	double scale = 1.0 / sqrt((double)HS);

	if (NKV <= 0 || NH % NKV)
		BUG("attention: %d heads over %d kv heads", NH, NKV);
	for (b = 0; b < B; b++) {
		for (h = 0; h < NH; h++) {
			int kh = h / rep;

			for (t = 0; t < T; t++) {
				const float *p = att + (((size_t)b * NH + h) * T +
				    t) * T;
				const float *dot_ = dout + (((size_t)b * T + t) *
				    NH + h) * HS;
				const float *qt = q + (((size_t)b * T + t) * NH +
				    h) * HS;
				float *dqt = dq + (((size_t)b * T + t) * NH + h) *
				    HS;
				double rowdot = 0;

				/* rowdot = sum_s P[s] dP[s] with
				 * dP[s] = dO[t] . v[s] */
				for (s = 0; s <= t; s++) {
					const float *vs = v + (((size_t)b * T +
					    s) * NKV + kh) * HS;
					double dp = 0;

					for (i = 0; i < HS; i++)
						dp += (double)dot_[i] * vs[i];
					rowdot += p[s] * dp;
				}
				for (s = 0; s <= t; s++) {
					size_t ko = (((size_t)b * T + s) * NKV +
					    kh) * HS;
					double dp = 0, ds;

					if (p[s] == 0)
						continue;
					for (i = 0; i < HS; i++)
						dp += (double)dot_[i] * v[ko + i];
					ds = p[s] * (dp - rowdot) * scale;
					for (i = 0; i < HS; i++) {
						dqt[i] += (float)(ds * k[ko + i]);
						dk[ko + i] += (float)(ds * qt[i]);
						dv[ko + i] += (float)(p[s] *
						    dot_[i]);
					}
				}
			}
		}
	}
}

/* ------------------------------------------------------------------ */
/* attention in blocks (flash-style): no (T, T) matrix */

/* keys per block of the online softmax */
#define ATT_KBLOCK 128

/* floats of one thread's scratch: S and dP blocks, three row vectors */
#define FA_PER (2 * (size_t)ATT_BLOCK * ATT_KBLOCK + 3 * ATT_BLOCK)

/* the threads that take scratch: per floats each */
static size_t
fa_team_scratch(size_t per)
{
#ifdef _OPENMP
	return per * (size_t)lmf_gemm_threads();
#else
	return per;
#endif
}

size_t
lmf_attention_flash_scratch(void)
{
	return fa_team_scratch(FA_PER);
}

/* hide the keys [s0, s1) that queries [t0, t1) may not see: S (t1 - t0,
 * s1 - s0) becomes -inf there */
/* does v (row b of T) hold one nonzero value at [lo, hi)? (NULL: yes) */
static int
fa_uniform(const int32_t *v, int b, int T, int lo, int hi)
{
	int i;

	if (!v)
		return 1;
	v += (size_t)b * T;
	for (i = lo; i < hi && v[i] == v[lo]; i++)
		;
	return i == hi && v[lo] != 0;
}

static void
fa_mask_block(float *S, const int32_t *mask, const int32_t *seg, int W,
    int b, int T, int t0, int t1, int s0, int s1)
{
	int t, s, kb = s1 - s0;

	/* without a window, keys and queries of one segment, none of them
	 * padding: only the keys after each query to hide (none below the
	 * diagonal, s1 - 1 <= t0) */
	if (W <= 0 && fa_uniform(mask, b, T, s0, t1) &&
	    (seg == mask || fa_uniform(seg, b, T, s0, t1))) {
		for (t = t0; t < t1 && t + 1 < s1; t++) {
			float *row = S + (size_t)(t - t0) * kb;

			for (s = t + 1 > s0 ? t + 1 : s0; s < s1; s++)
				row[s - s0] = -INFINITY;
		}
		return;
	}
	for (t = t0; t < t1; t++) {
		float *row = S + (size_t)(t - t0) * kb;

		for (s = s0; s < s1; s++)
			if (s > t || !att_visible(mask, seg, W, b, T, t, s))
				row[s - s0] = -INFINITY;
	}
}

/* the online softmax over one more block of scores p (kb): p becomes
 * exp(p - m'), with m' the running max; l, the running sum, and the
 * output row o (HS) are rescaled to m' first */
static void
fa_online_row(float *p, int kb, float *m, float *l, float *o, int HS)
{
	float mx = vmax(p, kb), mn = mx > *m ? mx : *m, corr;

	if (mn == -INFINITY) {
		memset(p, 0, (size_t)kb * sizeof *p);
		return;
	}
	corr = *m == -INFINITY ? 0.0f : expf(*m - mn);
	*l = *l * corr + (float)vexp_store(p, p, mn, kb);
	if (corr != 1.0f)
		vscale(o, corr, HS);
	*m = mn;
}

/* is key block [s0, s1) hidden from every query of [t0, t1) by the
 * window? (causality is the loop bound's business) */
static int
fa_block_hidden(int W, int t0, int s1)
{
	return W > 0 && s1 - 1 <= t0 - W;
}

/* what the flash kernels' heads share: the tensors (B, T, NH or NKV, HS)
 * and masks of lmf_attention_flash_forward/_backward, the sizes, and the
 * strides and scale we derive; each kernel sets only the fields it uses */
struct fa_args {
	float *out, *lse, *dq, *dk, *dv, *scratch; /* what we write */
	const float *q, *k, *v, *dout, *fout, *flse; /* the forward's out,
	                                           lse for the backward */
	const int32_t *mask, *seg;
	int W, B, T, NH, NKV, HS;
	size_t ldq, ldk;
	float scale;
	int bf16;       /* the products on bf16 inputs (lmf_gemm16) */
	size_t per;     /* floats of scratch a thread has */
};

/* ---- under bf16: true: the products' inputs rounded to bf16 ----
 * A thread's scratch has, after the FA_PER floats of the fp32 path, the
 * packed operands of lmf_gemm16 (gemm16.h: words of bf16 pairs) and two
 * f32 accumulators. Per kv head, packed once: Kt and Vt (K^T, V^T: pairs
 * of features, a column per key), Kv and Vv (pairs of keys, a column per
 * feature). Per query block: Qa and dOa (a row per query, pairs of
 * features), QT and dOT (a row per feature, pairs of queries). Per key
 * block: Pa and dSa (a row per query, pairs of keys), Pv and dSv (pairs
 * of queries, a column per key). dVT and dKT (HS, T) gather dV^T = dO^T P
 * and dK^T = Q^T dS over the kv head's queries: with the pairs along the
 * queries, every packing but the per-head ones reads rows in order */
struct fa16 {
	uint32_t *Kt, *Vt, *Kv, *Vv, *Qa, *dOa, *QT, *dOT, *Pa, *Pv, *dSa,
	    *dSv;
	float *dVT, *dKT, *wk;  /* wk: lmf_gemm16's scratch */
	size_t T16, HS2, HSw;
};

#define FA16_NB2 (ATT_BLOCK / 2)
#define FA16_KB2 (ATT_KBLOCK / 2)

/* carve a thread's bf16 scratch (after its FA_PER floats) for T, HS;
 * with p NULL only count: @return the 4-byte units it takes */
static size_t
fa16_carve(struct fa16 *z, float *p, int T, int HS)
{
	size_t T16 = ((size_t)T + 15) & ~(size_t)15, Th = ((size_t)T + 1) / 2;
	size_t HS2 = ((size_t)HS + 1) / 2, HSw = ((size_t)HS + 15) & ~(size_t)15;
	size_t off = 0;
	uint32_t *w = (uint32_t *)p;

#define FA16_TAKE(f, n) do { if (p) z->f = (void *)(w + off); \
	off += (n); } while (0)
	FA16_TAKE(Kt, HS2 * T16);
	FA16_TAKE(Vt, HS2 * T16);
	FA16_TAKE(Kv, Th * HSw);
	FA16_TAKE(Vv, Th * HSw);
	FA16_TAKE(Qa, (size_t)ATT_BLOCK * HS2);
	FA16_TAKE(dOa, (size_t)ATT_BLOCK * HS2);
	FA16_TAKE(QT, (size_t)HS * FA16_NB2);
	FA16_TAKE(dOT, (size_t)HS * FA16_NB2);
	FA16_TAKE(Pa, (size_t)ATT_BLOCK * FA16_KB2);
	FA16_TAKE(Pv, (size_t)FA16_NB2 * ATT_KBLOCK);
	FA16_TAKE(dSa, (size_t)ATT_BLOCK * FA16_KB2);
	FA16_TAKE(dSv, (size_t)FA16_NB2 * ATT_KBLOCK);
	FA16_TAKE(dVT, (size_t)HS * T16);
	FA16_TAKE(dKT, (size_t)HS * T16);
	/* the largest product: M, N <= max(block, HS), K2 <= max(HS2,
	 * block / 2) */
	FA16_TAKE(wk, lmf_gemm16_scratch(HS > ATT_BLOCK ? HS : ATT_BLOCK,
	    HS > ATT_KBLOCK ? HS : ATT_KBLOCK, (int)(HS2 > FA16_KB2 ? HS2 :
	    FA16_KB2 > FA16_NB2 ? FA16_KB2 : FA16_NB2)));
#undef FA16_TAKE
	if (p) {
		z->T16 = T16;
		z->HS2 = HS2;
		z->HSw = HSw;
	}
	return off;
}

/* S (nb, kb) = scale Q K^T for query rows t0.. and keys s0.. */
static void
fa_scores(const struct fa_args *a, const struct fa16 *z, float *S,
    const float *Q, const float *K, int t0, int s0, int nb, int kb)
{
	if (a->bf16)
		lmf_gemm16(nb, kb, (int)z->HS2, a->scale, z->Qa, z->HS2,
		    z->Kt + s0, z->T16, 0, S, (size_t)kb, z->wk);
	else
		lmf_gemm(LMF_NOTRANS, LMF_TRANS, nb, kb, a->HS, a->scale,
		    Q + t0 * a->ldq, (int)a->ldq, K + s0 * a->ldk,
		    (int)a->ldk, 0.0f, S, kb);
}

/* one unit's work: query heads h0 .. h0 + g - 1 of row b (g > 1: the
 * query heads of one kv head), sc its thread's scratch */
typedef void fa_head_fn(const struct fa_args *a, int b, int h0, int g,
    float *sc);

/* the forward of one (row, head): query blocks, then key blocks */
static void
fa_fwd_one(const struct fa_args *a, const struct fa16 *z, int b, int h,
    float *sc)
{
	size_t ldq = a->ldq, ldk = a->ldk, qoff, kvoff;
	float *S = sc, *m = sc + (size_t)ATT_BLOCK * ATT_KBLOCK;
	float *l = m + ATT_BLOCK, *O, *lse;
	const float *Q, *K, *Vh;
	const int32_t *mask = a->mask, *seg = a->seg;
	int T = a->T, HS = a->HS, W = a->W, t0, t1, s0, s1, t;

	qoff = (size_t)b * T * ldq + (size_t)h * HS;
	kvoff = (size_t)b * T * ldk + (size_t)(h / (a->NH / a->NKV)) * HS;
	O = a->out + qoff;
	lse = a->lse + ((size_t)b * a->NH + h) * T;
	Q = a->q + qoff;
	K = a->k + kvoff;
	Vh = a->v + kvoff;
	if (a->bf16) {
		lmf_pack16(z->Kt, z->T16, K, ldk, T, HS, LMF_PACK16_ROWS_T);
		lmf_pack16(z->Vv, z->HSw, Vh, ldk, T, HS, LMF_PACK16_PAIRS);
	}

	for (t0 = 0; t0 < T; t0 = t1) {
		int nb;

		t1 = t0 + ATT_BLOCK < T ? t0 + ATT_BLOCK : T;
		nb = t1 - t0;
		for (t = 0; t < nb; t++) {
			m[t] = -INFINITY;
			l[t] = 0;
			memset(O + (t0 + t) * ldq, 0, (size_t)HS * sizeof *O);
		}
		if (a->bf16)
			lmf_pack16(z->Qa, z->HS2, Q + t0 * ldq, ldq, nb, HS,
			    LMF_PACK16_ROWS);
		for (s0 = 0; s0 < t1; s0 = s1) {
			int kb;

			s1 = s0 + ATT_KBLOCK < t1 ? s0 + ATT_KBLOCK : t1;
			kb = s1 - s0;
			if (fa_block_hidden(W, t0, s1))
				continue;
			fa_scores(a, z, S, Q, K, t0, s0, nb, kb);
			fa_mask_block(S, mask, seg, W, b, T, t0, t1, s0, s1);
			for (t = 0; t < nb; t++)
				fa_online_row(S + (size_t)t * kb, kb, &m[t],
				    &l[t], O + (t0 + t) * ldq, HS);
			if (a->bf16) {
				/* O += r(P~) r(V), l summed from P~ itself */
				lmf_pack16(z->Pa, FA16_KB2, S, (size_t)kb, nb,
				    kb, LMF_PACK16_ROWS);
				lmf_gemm16(nb, HS, (kb + 1) / 2, 1.0f, z->Pa,
				    FA16_KB2, z->Vv + (size_t)(s0 / 2) * z->HSw,
				    z->HSw, 1, O + t0 * ldq, ldq, z->wk);
			} else {
				lmf_gemm(LMF_NOTRANS, LMF_NOTRANS, nb, HS, kb,
				    1.0f, S, kb, Vh + s0 * ldk, (int)ldk,
				    1.0f, O + t0 * ldq, (int)ldq);
			}
		}
		/* a query that saw no key keeps O = 0 and lse = -inf */
		for (t = 0; t < nb; t++) {
			if (l[t] > 0)
				vscale(O + (t0 + t) * ldq, 1.0f / l[t], HS);
			lse[t0 + t] = l[t] > 0 ? m[t] + logf(l[t]) : -INFINITY;
		}
	}
}

static void
fa_fwd_head(const struct fa_args *a, int b, int h0, int g, float *sc)
{
	struct fa16 z = { 0 };
	int h;

	if (a->bf16)
		fa16_carve(&z, sc + FA_PER, a->T, a->HS);
	for (h = h0; h < h0 + g; h++)
		fa_fwd_one(a, &z, b, h, sc);
}

/* dS in place over dP (nb, kb): P (dP - D) scale, P from S in place */
static void LMF_VEC
fa_ds_block(float *dP, float *S, const float *lse, const float *D,
    int nb, int kb, float scale)
{
	int t, s;

	for (t = 0; t < nb; t++) {
		float *p = S + (size_t)t * kb, *d = dP + (size_t)t * kb;
		float dt = D[t];

		if (lse[t] == -INFINITY)
			memset(p, 0, (size_t)kb * sizeof *p);
		else
			vexp_only(p, p, lse[t], kb);
		OMP_SIMD
		for (s = 0; s < kb; s++)
			d[s] = p[s] * (d[s] - dt) * scale;
	}
}

/* D[t] = dO[t] . O[t] for the block's rows: rowsum(P * dP) */
static void
fa_rowdot(float *D, const float *dO, const float *O, int nb, size_t ldq,
    int HS)
{
	int t, i;

	for (t = 0; t < nb; t++) {
		double d = 0;

		for (i = 0; i < HS; i++)
			d += (double)dO[t * ldq + i] * O[t * ldq + i];
		D[t] = (float)d;
	}
}

/* one query head of the backward, adding into its kv head's dK, dV (or,
 * under bf16, into dKT, dVT) */
static void
fa_bwd_one(const struct fa_args *a, const struct fa16 *z, int b, int h,
    float *sc)
{
	size_t ldq = a->ldq, ldk = a->ldk, qoff, kvoff;
	float *S = sc, *dP = sc + (size_t)ATT_BLOCK * ATT_KBLOCK;
	float *D = dP + (size_t)ATT_BLOCK * ATT_KBLOCK, *dQ, *dK, *dV;
	const float *dO, *O, *lse, *Q, *K, *Vh;
	const int32_t *mask = a->mask, *seg = a->seg;
	int T = a->T, HS = a->HS, W = a->W, t0, t1, s0, s1;
	float scale = a->scale;

	qoff = (size_t)b * T * ldq + (size_t)h * HS;
	kvoff = (size_t)b * T * ldk + (size_t)(h / (a->NH / a->NKV)) * HS;
	dQ = a->dq + qoff;
	dK = a->dk + kvoff;
	dV = a->dv + kvoff;
	dO = a->dout + qoff;
	O = a->fout + qoff;
	lse = a->flse + ((size_t)b * a->NH + h) * T;
	Q = a->q + qoff;
	K = a->k + kvoff;
	Vh = a->v + kvoff;

	for (t0 = 0; t0 < T; t0 = t1) {
		int nb;

		t1 = t0 + ATT_BLOCK < T ? t0 + ATT_BLOCK : T;
		nb = t1 - t0;
		fa_rowdot(D, dO + t0 * ldq, O + t0 * ldq, nb, ldq, HS);
		if (a->bf16) {
			lmf_pack16(z->Qa, z->HS2, Q + t0 * ldq, ldq, nb, HS,
			    LMF_PACK16_ROWS);
			lmf_pack16(z->dOa, z->HS2, dO + t0 * ldq, ldq, nb, HS,
			    LMF_PACK16_ROWS);
			lmf_pack16(z->QT, FA16_NB2, Q + t0 * ldq, ldq, nb, HS,
			    LMF_PACK16_PAIRS_T);
			lmf_pack16(z->dOT, FA16_NB2, dO + t0 * ldq, ldq, nb,
			    HS, LMF_PACK16_PAIRS_T);
		}
		for (s0 = 0; s0 < t1; s0 = s1) {
			int kb;

			s1 = s0 + ATT_KBLOCK < t1 ? s0 + ATT_KBLOCK : t1;
			kb = s1 - s0;
			if (fa_block_hidden(W, t0, s1))
				continue;
			/* P again: exp(S - lse), the hidden keys 0 */
			fa_scores(a, z, S, Q, K, t0, s0, nb, kb);
			fa_mask_block(S, mask, seg, W, b, T, t0, t1, s0, s1);
			if (!a->bf16) {
				/* dP = dO V^T */
				lmf_gemm(LMF_NOTRANS, LMF_TRANS, nb, kb, HS,
				    1.0f, dO + t0 * ldq, (int)ldq,
				    Vh + s0 * ldk, (int)ldk, 0.0f, dP, kb);
				fa_ds_block(dP, S, lse + t0, D, nb, kb, scale);
				/* dV += P^T dO, dQ += dS K, dK += dS^T Q */
				lmf_gemm(LMF_TRANS, LMF_NOTRANS, kb, HS, nb,
				    1.0f, S, kb, dO + t0 * ldq, (int)ldq,
				    1.0f, dV + s0 * ldk, (int)ldk);
				lmf_gemm(LMF_NOTRANS, LMF_NOTRANS, nb, HS, kb,
				    1.0f, dP, kb, K + s0 * ldk, (int)ldk,
				    1.0f, dQ + t0 * ldq, (int)ldq);
				lmf_gemm(LMF_TRANS, LMF_NOTRANS, kb, HS, nb,
				    1.0f, dP, kb, Q + t0 * ldq, (int)ldq,
				    1.0f, dK + s0 * ldk, (int)ldk);
				continue;
			}
			/* the same on r(dO), r(V), r(P), r(dS), r(K), r(Q),
			 * dV and dK transposed (dV^T += dO^T P) */
			lmf_gemm16(nb, kb, (int)z->HS2, 1.0f, z->dOa, z->HS2,
			    z->Vt + s0, z->T16, 0, dP, (size_t)kb, z->wk);
			fa_ds_block(dP, S, lse + t0, D, nb, kb, scale);
			lmf_pack16(z->Pv, ATT_KBLOCK, S, (size_t)kb, nb, kb,
			    LMF_PACK16_PAIRS);
			lmf_gemm16(HS, kb, (nb + 1) / 2, 1.0f, z->dOT,
			    FA16_NB2, z->Pv, ATT_KBLOCK, 1, z->dVT + s0,
			    z->T16, z->wk);
			lmf_pack16(z->dSa, FA16_KB2, dP, (size_t)kb, nb, kb,
			    LMF_PACK16_ROWS);
			lmf_pack16(z->dSv, ATT_KBLOCK, dP, (size_t)kb, nb, kb,
			    LMF_PACK16_PAIRS);
			lmf_gemm16(nb, HS, (kb + 1) / 2, 1.0f, z->dSa,
			    FA16_KB2, z->Kv + (size_t)(s0 / 2) * z->HSw,
			    z->HSw, 1, dQ + t0 * ldq, ldq, z->wk);
			lmf_gemm16(HS, kb, (nb + 1) / 2, 1.0f, z->QT,
			    FA16_NB2, z->dSv, ATT_KBLOCK, 1, z->dKT + s0,
			    z->T16, z->wk);
		}
	}
}

/* the backward of one kv head's query heads h0 .. h0 + g - 1; under bf16
 * its K and V packed once, dK^T and dV^T gathered, then added in */
static void
fa_bwd_head(const struct fa_args *a, int b, int h0, int g, float *sc)
{
	struct fa16 z = { 0 };
	size_t ldk = a->ldk, kvoff;
	int T = a->T, HS = a->HS, h;

	kvoff = (size_t)b * T * ldk + (size_t)(h0 / (a->NH / a->NKV)) * HS;
	if (a->bf16) {
		const float *K = a->k + kvoff, *Vh = a->v + kvoff;

		fa16_carve(&z, sc + FA_PER, T, HS);
		lmf_pack16(z.Kt, z.T16, K, ldk, T, HS, LMF_PACK16_ROWS_T);
		lmf_pack16(z.Vt, z.T16, Vh, ldk, T, HS, LMF_PACK16_ROWS_T);
		lmf_pack16(z.Kv, z.HSw, K, ldk, T, HS, LMF_PACK16_PAIRS);
		memset(z.dVT, 0, (size_t)HS * z.T16 * sizeof *z.dVT);
		memset(z.dKT, 0, (size_t)HS * z.T16 * sizeof *z.dKT);
	}
	for (h = h0; h < h0 + g; h++)
		fa_bwd_one(a, &z, b, h, sc);
	if (!a->bf16)
		return;
	lmf_add_t(a->dk + kvoff, ldk, z.dKT, z.T16, T, HS);
	lmf_add_t(a->dv + kvoff, ldk, z.dVT, z.T16, T, HS);
}

/* the (row, head) loops: on lmf_gemm_threads() threads when there are
 * two pairs or more and enough work per pair */
#ifdef _OPENMP
#define OMP_PAIRS(pairs, work) OMP_PRAGMA(omp parallel for \
	schedule(static) num_threads(lmf_gemm_threads()) \
	if ((pairs) > 1 && (long)(work) * (pairs) >= OMP_MIN_WORK))
static int
thread_id(void)
{
	return omp_get_thread_num();
}
#else
#define OMP_PAIRS(pairs, work)
static int
thread_id(void)
{
	return 0;
}
#endif

/* run fn on every (row, query head): the threads take units of g query
 * heads (g = 1, or NH / NKV: the query heads of one kv head, run in
 * order since they add into the same dK, dV rows), each thread with its
 * own block of scratch */
static void
fa_dispatch(const struct fa_args *a, fa_head_fn *fn, int g)
{
	int units = a->B * (a->NH / g), u;

	OMP_PAIRS(units, (long)a->T * a->T * a->HS * g)
	for (u = 0; u < units; u++) {
		int b = u / (a->NH / g), h0 = u % (a->NH / g) * g;

		fn(a, b, h0, g, a->scratch + a->per * (size_t)thread_id());
	}
}

/* bf16: the products on bf16 inputs, each thread's scratch the larger */
static struct fa_args
fa_args(int bf16, float *scratch, const float *q, const float *k,
    const float *v, const int32_t *mask, const int32_t *seg, int W, int B,
    int T, int NH, int NKV, int HS)
{
	struct fa_args a = { .scratch = scratch, .q = q, .k = k, .v = v,
		.mask = mask, .seg = seg, .W = W, .B = B, .T = T, .NH = NH,
		.NKV = NKV, .HS = HS, .ldq = (size_t)NH * HS,
		.ldk = (size_t)NKV * HS,
		.scale = (float)(1.0 / sqrt((double)HS)), .bf16 = bf16,
		.per = FA_PER + (bf16 ? fa16_carve(NULL, NULL, T, HS) : 0) };

	if (NKV <= 0 || NH % NKV)
		BUG("attention: %d heads over %d kv heads", NH, NKV);
	if (bf16)
		(void)lmf_gemm16_native(); /* decided here, not in a thread */
	return a;
}

static void
fa_forward(int bf16, float *out, float *lse, float *scratch, const float *q,
    const float *k, const float *v, const int32_t *mask, const int32_t *seg,
    int W, int B, int T, int NH, int NKV, int HS)
{
	double prof_t0 = LMF_PROF_BEGIN();
	struct fa_args a = fa_args(bf16, scratch, q, k, v, mask, seg, W, B, T,
	    NH, NKV, HS);

	/* per (row, head) and block of query rows, the key blocks update a
	 * running max m, sum l and unnormalised O = sum exp(S - m) V; at
	 * the end O /= l and lse = m + log l is kept for the backward. The
	 * (row, head) pairs are independent */
	a.out = out;
	a.lse = lse;
	fa_dispatch(&a, fa_fwd_head, 1);
	LMF_PROF_END(LMF_PROF_ATTN, prof_t0, 0);
}

static void
fa_backward(int bf16, float *dq, float *dk, float *dv, float *scratch,
    const float *dout, const float *out, const float *lse, const float *q,
    const float *k, const float *v, const int32_t *mask, const int32_t *seg,
    int W, int B, int T, int NH, int NKV, int HS)
{
	double prof_t0 = LMF_PROF_BEGIN();
	struct fa_args a = fa_args(bf16, scratch, q, k, v, mask, seg, W, B, T,
	    NH, NKV, HS);

	/* with O = P V and P = softmax(S) row-wise:
	 *   dV += P^T dO,  dP = dO V^T,
	 *   dS = P * (dP - rowsum(P * dP)) / sqrt(HS),
	 *   dQ += dS K,  dK += dS^T Q,
	 * P recomputed block by block from lse and rowsum(P * dP) taken as
	 * dO . O. Query heads sharing a kv head add into the same dK, dV, so
	 * a thread takes a kv head's query heads together */
	a.dq = dq;
	a.dk = dk;
	a.dv = dv;
	a.dout = dout;
	a.fout = out;
	a.flse = lse;
	fa_dispatch(&a, fa_bwd_head, NH / NKV);
	LMF_PROF_END(LMF_PROF_ATTN, prof_t0, 0);
}

void
lmf_attention_flash_forward(float *out, float *lse, float *scratch,
    const float *q, const float *k, const float *v, const int32_t *mask,
    const int32_t *seg, int W, int B, int T, int NH, int NKV, int HS)
{
	fa_forward(0, out, lse, scratch, q, k, v, mask, seg, W, B, T, NH, NKV,
	    HS);
}

void
lmf_attention_flash_backward(float *dq, float *dk, float *dv,
    float *scratch, const float *dout, const float *out, const float *lse,
    const float *q, const float *k, const float *v, const int32_t *mask,
    const int32_t *seg, int W, int B, int T, int NH, int NKV, int HS)
{
	fa_backward(0, dq, dk, dv, scratch, dout, out, lse, q, k, v, mask, seg,
	    W, B, T, NH, NKV, HS);
}

size_t
lmf_attention_flash_scratch16(int T, int HS)
{
	return fa_team_scratch(FA_PER + fa16_carve(NULL, NULL, T, HS));
}

void
lmf_attention_flash_forward16(float *out, float *lse, float *scratch,
    const float *q, const float *k, const float *v, const int32_t *mask,
    const int32_t *seg, int W, int B, int T, int NH, int NKV, int HS)
{
	fa_forward(1, out, lse, scratch, q, k, v, mask, seg, W, B, T, NH, NKV,
	    HS);
}

void
lmf_attention_flash_backward16(float *dq, float *dk, float *dv,
    float *scratch, const float *dout, const float *out, const float *lse,
    const float *q, const float *k, const float *v, const int32_t *mask,
    const int32_t *seg, int W, int B, int T, int NH, int NKV, int HS)
{
	fa_backward(1, dq, dk, dv, scratch, dout, out, lse, q, k, v, mask, seg,
	    W, B, T, NH, NKV, HS);
}

/* ------------------------------------------------------------------ */
/* swiglu */

/* elements per call of the vector loops below; the threads take blocks */
#define SWIGLU_BLOCK 4096

static void LMF_VEC
swiglu_fwd_block(float *out, const float *gate, const float *up, long n)
{
	long i;

	OMP_SIMD
	for (i = 0; i < n; i++) {
		float g = gate[i];
		float sg = 1.0f / (1.0f + vexpf(-g));

		out[i] = g * sg * up[i];
	}
}

static void LMF_VEC
swiglu_bwd_block(float *dgate, float *dup, const float *dout,
    const float *gate, const float *up, long n)
{
	long i;

	if (dgate && dup) {
		OMP_SIMD
		for (i = 0; i < n; i++) {
			float g = gate[i];
			float sg = 1.0f / (1.0f + vexpf(-g));

			dgate[i] += dout[i] * up[i] * sg * (1.0f + g *
			    (1.0f - sg));
			dup[i] += dout[i] * g * sg;
		}
		return;
	}
	if (dgate) {
		OMP_SIMD
		for (i = 0; i < n; i++) {
			float g = gate[i];
			float sg = 1.0f / (1.0f + vexpf(-g));

			dgate[i] += dout[i] * up[i] * sg * (1.0f + g *
			    (1.0f - sg));
		}
	}
	if (dup) {
		OMP_SIMD
		for (i = 0; i < n; i++) {
			float g = gate[i];
			float sg = 1.0f / (1.0f + vexpf(-g));

			dup[i] += dout[i] * g * sg;
		}
	}
}

void
lmf_swiglu_forward(float *out, const float *gate, const float *up, long n)
{
	double prof_t0 = LMF_PROF_BEGIN();
	long i;

	/* silu(g) = g * sigmoid(g); for very negative g, exp(-g) is inf and
	 * sigmoid is 0, as it should be */
	OMP_FOR(n)
	for (i = 0; i < n; i += SWIGLU_BLOCK)
		swiglu_fwd_block(out + i, gate + i, up + i,
		    n - i < SWIGLU_BLOCK ? n - i : SWIGLU_BLOCK);
	LMF_PROF_END(LMF_PROF_SWIGLU, prof_t0, 0);
}

void
lmf_swiglu_backward(float *dgate, float *dup, const float *dout,
    const float *gate, const float *up, long n)
{
	double prof_t0 = LMF_PROF_BEGIN();
	long i;

	/* d silu(g) / dg = s (1 + g (1 - s)) with s = sigmoid(g) */
	OMP_FOR(n)
	for (i = 0; i < n; i += SWIGLU_BLOCK)
		swiglu_bwd_block(dgate ? dgate + i : NULL, dup ? dup + i : NULL,
		    dout + i, gate + i, up + i,
		    n - i < SWIGLU_BLOCK ? n - i : SWIGLU_BLOCK);
	LMF_PROF_END(LMF_PROF_SWIGLU, prof_t0, 0);
}

/* ------------------------------------------------------------------ */
/* softmax and log-softmax over rows */

static float
row_max(const float *x, int V)
{
	return vmax(x, V);
}

void
lmf_softmax_forward(float *out, const float *inp, int N, int V)
{
	int n;

	OMP_FOR((long)N * V)
	for (n = 0; n < N; n++) {
		const float *x = inp + (size_t)n * V;
		float *y = out + (size_t)n * V;
		float mx = row_max(x, V);
		double sum = vexp_store(y, x, mx, V);

		vscale(y, (float)(1.0 / sum), V);
	}
}

void
lmf_softmax_backward(float *dinp, const float *dout, const float *out,
    int N, int V)
{
	int n;

	/* dx_i = y_i (dy_i - sum_j dy_j y_j) */
	OMP_FOR((long)N * V)
	for (n = 0; n < N; n++) {
		const float *y = out + (size_t)n * V;
		const float *dy = dout + (size_t)n * V;
		float *dx = dinp + (size_t)n * V;
		double dot = 0;
		float fd;
		int i;

		for (i = 0; i < V; i++)
			dot += (double)dy[i] * y[i];
		fd = (float)dot;
		for (i = 0; i < V; i++)
			dx[i] += y[i] * (dy[i] - fd);
	}
}

void
lmf_logsoftmax_forward(float *out, const float *inp, int N, int V)
{
	int n;

	OMP_FOR((long)N * V)
	for (n = 0; n < N; n++) {
		const float *x = inp + (size_t)n * V;
		float *y = out + (size_t)n * V;
		float mx = row_max(x, V), lse;
		double sum = vexp_sum(x, mx, V);
		int i;

		lse = mx + (float)log(sum);
		for (i = 0; i < V; i++)
			y[i] = x[i] - lse;
	}
}

void
lmf_logsoftmax_backward(float *dinp, const float *dout, const float *out,
    int N, int V)
{
	int n;

	/* y = x - lse(x), so dx_i = dy_i - softmax_i sum_j dy_j */
	OMP_FOR((long)N * V)
	for (n = 0; n < N; n++) {
		const float *y = out + (size_t)n * V;
		const float *dy = dout + (size_t)n * V;
		float *dx = dinp + (size_t)n * V;
		double sum = 0;
		float fs;
		int i;

		for (i = 0; i < V; i++)
			sum += dy[i];
		fs = (float)sum;
		for (i = 0; i < V; i++)
			dx[i] += dy[i] - expf(y[i]) * fs;
	}
}

/* ------------------------------------------------------------------ */
/* cross-entropy */

void
lmf_labels_shift(int32_t *targets, const int32_t *labels, int B, int T)
{
	int b, t;

	/* position t predicts token t + 1; going left to right we may work
	 * in place */
	for (b = 0; b < B; b++) {
		for (t = 0; t < T; t++)
			targets[(size_t)b * T + t] = t + 1 < T ?
			    labels[(size_t)b * T + t + 1] : LMF_IGNORE_INDEX;
	}
}

static int
target_of(const int32_t *targets, int n, int V)
{
	int32_t y = targets[n];

	if (y != LMF_IGNORE_INDEX && (y < 0 || y >= V))
		BUG("cross-entropy: target %d of row %d outside [0, %d)",
		    (int)y, n, V);
	return y;
}

/* the loss of one row: logsumexp(x) - x[y] */
static float
ce_row(const float *x, int y, int V)
{
	float mx = row_max(x, V);
	double sum = vexp_sum(x, mx, V);

	return (float)(mx + log(sum) - x[y]);
}

/* the loss and the gradient of one row, possibly in place (d == x) */
static float
ce_row_grad(float *d, const float *x, int y, float scale, int V)
{
	float mx = row_max(x, V), xy = x[y];
	double sum;

	/* we keep exp(x - max) in d, then scale it into softmax * scale */
	sum = vexp_store(d, x, mx, V);
	vscale(d, (float)(scale / sum), V);
	d[y] -= scale;
	return (float)(mx + log(sum) - xy);
}

/* sum of per-chunk sums of row losses, in a fixed order */
static double
ce_run(float *dlogits, float *losses, const float *logits,
    const int32_t *targets, float scale, int N, int V)
{
	double part[NCHUNK], total = 0;
	int c, n;

	for (n = 0; n < N; n++)
		target_of(targets, n, V);
	OMP_FOR((long)N * V)
	for (c = 0; c < NCHUNK; c++) {
		int lo = (int)((long)N * c / NCHUNK);
		int hi = (int)((long)N * (c + 1) / NCHUNK), r;

		part[c] = 0;
		for (r = lo; r < hi; r++) {
			const float *x = logits + (size_t)r * V;
			int y = targets[r];
			float l = 0;

			if (y != LMF_IGNORE_INDEX)
				l = dlogits ? ce_row_grad(dlogits + (size_t)r *
				    V, x, y, scale, V) : ce_row(x, y, V);
			else if (dlogits)
				memset(dlogits + (size_t)r * V, 0,
				    (size_t)V * sizeof *dlogits);
			if (losses)
				losses[r] = l;
			part[c] += l;
		}
	}
	for (c = 0; c < NCHUNK; c++)
		total += part[c];
	return total;
}

double
lmf_crossentropy_forward(float *losses, const float *logits,
    const int32_t *targets, int N, int V)
{
	double prof_t0 = LMF_PROF_BEGIN();
	double loss = ce_run(NULL, losses, logits, targets, 0, N, V);

	LMF_PROF_END(LMF_PROF_CE, prof_t0, 0);
	return loss;
}

double
lmf_crossentropy_backward(float *dlogits, float *losses,
    const float *logits, const int32_t *targets, float scale, int N, int V)
{
	double prof_t0 = LMF_PROF_BEGIN();
	double loss = ce_run(dlogits, losses, logits, targets, scale, N, V);

	LMF_PROF_END(LMF_PROF_CE, prof_t0, 0);
	return loss;
}

double
lmf_crossentropy_backward_ref(float *dlogits, float *losses,
    const float *logits, const int32_t *targets, float scale, int N, int V)
{
	double total = 0;
	int n, i;

	/* in double, with the softmax taken apart from the one-hot term */
	for (n = 0; n < N; n++) {
		const float *x = logits + (size_t)n * V;
		float *d = dlogits + (size_t)n * V;
		int y = target_of(targets, n, V);
		double mx = -INFINITY, sum = 0, lse;

		if (y == LMF_IGNORE_INDEX) {
			for (i = 0; i < V; i++)
				d[i] = 0;
			if (losses)
				losses[n] = 0;
			continue;
		}
		for (i = 0; i < V; i++)
			mx = x[i] > mx ? x[i] : mx;
		for (i = 0; i < V; i++)
			sum += exp(x[i] - mx);
		lse = mx + log(sum);
		if (losses)
			losses[n] = (float)(lse - x[y]);
		total += lse - x[y];
		for (i = 0; i < V; i++)
			d[i] = (float)((exp(x[i] - lse) - (i == y)) * scale);
	}
	return total;
}

/* ------------------------------------------------------------------ */
/* matvec: the linear layer for a few rows (decoding) */

/* For N <= LMF_MATVEC_MAX_N rows we skip sgemm, which packs the whole
 * weight on every call: each thread takes a static range of output
 * features and streams each weight row once for all N inputs, eight
 * lanes at a time in two accumulators, summed in a fixed order (so the
 * result does not depend on the thread count). */
typedef float v8f __attribute__((vector_size(32)));

static LMF_VEC void
matvec_rows(float *out, const float *inp, const float *weight,
    const float *bias, int N, int C, int OC, int o0, int o1)
{
	int o, n, c, k;

	for (o = o0; o < o1; o++) {
		const float *w = weight + (size_t)o * C;

		for (n = 0; n < N; n++) {
			const float *x = inp + (size_t)n * C;
			v8f a0 = { 0 }, a1 = { 0 }, w0, w1, x0, x1;
			float s = 0;

			for (c = 0; c + 16 <= C; c += 16) {
				memcpy(&w0, w + c, sizeof w0);
				memcpy(&w1, w + c + 8, sizeof w1);
				memcpy(&x0, x + c, sizeof x0);
				memcpy(&x1, x + c + 8, sizeof x1);
				a0 += w0 * x0;
				a1 += w1 * x1;
			}
			a0 += a1;
			for (k = 0; k < 8; k++)
				s += a0[k];
			for (; c < C; c++)
				s += w[c] * x[c];
			out[(size_t)n * OC + o] = s + (bias ? bias[o] : 0.0f);
		}
	}
}

/* the same over bf16 weights (the upper half of an f32: widening is a
 * shift by 16), accumulated in f32 as matvec_rows does. We read the
 * weight row once for all N inputs at half the bytes of f32. */
typedef uint32_t v8u __attribute__((vector_size(32)));
typedef uint16_t v8h __attribute__((vector_size(16)));

static LMF_VEC void
matvec_rows_bf16(float *out, const float *inp, const uint16_t *weight,
    const float *bias, int N, int C, int OC, int o0, int o1)
{
	int o, n, c, k;

	for (o = o0; o < o1; o++) {
		const uint16_t *w = weight + (size_t)o * C;

		for (n = 0; n < N; n++) {
			const float *x = inp + (size_t)n * C;
			v8f a0 = { 0 }, a1 = { 0 }, w0, w1, x0, x1;
			v8h h0, h1;
			v8u u0, u1;
			float s = 0;

			for (c = 0; c + 16 <= C; c += 16) {
				memcpy(&h0, w + c, sizeof h0);
				memcpy(&h1, w + c + 8, sizeof h1);
				u0 = __builtin_convertvector(h0, v8u) << 16;
				u1 = __builtin_convertvector(h1, v8u) << 16;
				memcpy(&w0, &u0, sizeof w0);
				memcpy(&w1, &u1, sizeof w1);
				memcpy(&x0, x + c, sizeof x0);
				memcpy(&x1, x + c + 8, sizeof x1);
				a0 += w0 * x0;
				a1 += w1 * x1;
			}
			a0 += a1;
			for (k = 0; k < 8; k++)
				s += a0[k];
			for (; c < C; c++)
				s += lmf_bf16_to_f32(w[c]) * x[c];
			out[(size_t)n * OC + o] = s + (bias ? bias[o] : 0.0f);
		}
	}
}

/* the same over int8 weights with a scale per row: we widen each weight
 * to f32 and multiply it by its row's scale, the very f32 value
 * lmf_i8_widen gives, then sum as matvec_rows does; a quarter of f32's
 * bytes read. The vector extensions' int8 conversions come out as scalar
 * code, so on x86-64 with AVX2 we write the sign extension (vpmovsxbd)
 * with intrinsics; the sums are the same either way (no fused
 * multiply-add: AVX2 alone does not enable it). */
#define I8_ROW_TAIL(s, w, x, sc, c, C) \
	for (; (c) < (C); (c)++) \
		(s) += (float)(w)[c] * (sc) * (x)[c]

static void
matvec_rows_i8_generic(float *out, const float *inp, const int8_t *weight,
    const float *scale, const float *bias, int N, int C, int OC, int o0,
    int o1)
{
	int o, n, c, k;

	for (o = o0; o < o1; o++) {
		const int8_t *w = weight + (size_t)o * C;
		float sc = scale[o];

		for (n = 0; n < N; n++) {
			const float *x = inp + (size_t)n * C;
			float a0[8] = { 0 }, a1[8] = { 0 }, s = 0;

			for (c = 0; c + 16 <= C; c += 16) {
				for (k = 0; k < 8; k++) {
					a0[k] += (float)w[c + k] * sc * x[c + k];
					a1[k] += (float)w[c + 8 + k] * sc *
					    x[c + 8 + k];
				}
			}
			for (k = 0; k < 8; k++)
				a0[k] += a1[k];
			for (k = 0; k < 8; k++)
				s += a0[k];
			I8_ROW_TAIL(s, w, x, sc, c, C);
			out[(size_t)n * OC + o] = s + (bias ? bias[o] : 0.0f);
		}
	}
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx2"))) static void
matvec_rows_i8_avx2(float *out, const float *inp, const int8_t *weight,
    const float *scale, const float *bias, int N, int C, int OC, int o0,
    int o1)
{
	int o, n, c, k;

	for (o = o0; o < o1; o++) {
		const int8_t *w = weight + (size_t)o * C;
		float sc = scale[o], t[8];
		__m256 vs = _mm256_set1_ps(sc);

		for (n = 0; n < N; n++) {
			const float *x = inp + (size_t)n * C;
			__m256 a0 = _mm256_setzero_ps(), a1 = a0, w0, w1;
			float s = 0;

			for (c = 0; c + 16 <= C; c += 16) {
				w0 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(
				    _mm_loadl_epi64((const __m128i *)(w + c))));
				w1 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(
				    _mm_loadl_epi64((const __m128i *)(w + c +
				    8))));
				w0 = _mm256_mul_ps(w0, vs);
				w1 = _mm256_mul_ps(w1, vs);
				a0 = _mm256_add_ps(a0, _mm256_mul_ps(w0,
				    _mm256_loadu_ps(x + c)));
				a1 = _mm256_add_ps(a1, _mm256_mul_ps(w1,
				    _mm256_loadu_ps(x + c + 8)));
			}
			_mm256_storeu_ps(t, _mm256_add_ps(a0, a1));
			for (k = 0; k < 8; k++)
				s += t[k];
			I8_ROW_TAIL(s, w, x, sc, c, C);
			out[(size_t)n * OC + o] = s + (bias ? bias[o] : 0.0f);
		}
	}
}
#endif

static void
matvec_rows_i8(float *out, const float *inp, const int8_t *weight,
    const float *scale, const float *bias, int N, int C, int OC, int o0,
    int o1)
{
#if defined(__x86_64__) && defined(__GNUC__)
	if (__builtin_cpu_supports("avx2")) {
		matvec_rows_i8_avx2(out, inp, weight, scale, bias, N, C, OC,
		    o0, o1);
		return;
	}
#endif
	matvec_rows_i8_generic(out, inp, weight, scale, bias, N, C, OC, o0,
	    o1);
}

/* The threads of matvec are our own, not OpenMP's: a decoding step is
 * dozens of products of microseconds each, and libgomp's workers spin at
 * every barrier, which on a shared machine starves the thread doing the
 * work (the same run took 21 s at 2 threads against 1.6 s at 1). Ours
 * spin briefly for the next job, then sleep on a condition variable. The
 * pool has omp_get_max_threads() - 1 workers, made on first use; the
 * caller is thread 0. Thread t always takes the same feature range. */
#define POOL_MAX 64
#define POOL_SPIN 20000
static struct {
	pthread_mutex_t mu;
	pthread_cond_t go, done;
	int nt;                  /* threads with the caller; 0: not made */
	atomic_uint gen;         /* job number */
	atomic_int left;         /* workers still on the job */
	float *out;
	const float *inp, *weight, *bias;
	const uint16_t *wbf;     /* bf16 weight, used instead when set */
	const int8_t *wi8;       /* or int8 weight, with its row scales */
	const float *wsc;
	int N, C, OC, jnt;       /* jnt: threads on this job */
} pool = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
	PTHREAD_COND_INITIALIZER, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL,
	NULL, 0, 0, 0, 0 };

/* the weights of one product: f32, bf16 or int8 with row scales */
struct mv_w {
	const float *f;
	const uint16_t *bf;
	const int8_t *i8;
	const float *sc;
};

/* The AVX-512 kernels: the same sums, bit for bit, faster. One 16-lane
 * accumulator is exactly the two 8-lane ones above side by side (lanes
 * c % 16 in 0..7 are a0, 8..15 are a1), each step a multiply then an add
 * (no fused multiply-add: -std=c11 leaves contraction off, and we call no
 * FMA intrinsic), and at the end we add the halves, sum their 8 lanes in
 * order and add the scalar tail, as above. bf16 widens 16 weights with
 * one zero extension to 32-bit lanes and a shift (vpmovzxwd, vpslld),
 * int8 with a sign extension (vpmovsxbd), a conversion and the row's
 * scale, as matvec_rows_i8_avx2 does. For N inputs we keep N
 * accumulators, so each weight vector is read and widened once for all
 * of them (the kernels above widen it again for every input) and the N
 * chains overlap. We take one output row at a time: blocks of 2 or 4
 * rows sharing each input load were slower on this machine's memory
 * (Zen 5: 0.5-0.8x at N = 1, with or without software prefetch; a single
 * sequential stream per thread is what its prefetchers follow best). */
#if defined(__x86_64__) && defined(__GNUC__)
#define MV512 1
#define MV512_TARGET __attribute__((target("avx512f")))
enum { MV_F32, MV_BF16, MV_I8 };

/* 16 weights of row w from column c, widened to f32 (times sc for int8) */
static inline __attribute__((always_inline)) MV512_TARGET __m512
mv512_load(int kind, const void *w, size_t c, __m512 sc)
{
	__m512i u;
	__m256 lo, hi;

	if (kind == MV_BF16) {
		u = _mm512_cvtepu16_epi32(_mm256_loadu_si256(
		    (const __m256i *)((const uint16_t *)w + c)));
		return _mm512_castsi512_ps(_mm512_slli_epi32(u, 16));
	}
	if (kind == MV_I8) {
		u = _mm512_cvtepi8_epi32(_mm_loadu_si128(
		    (const __m128i *)((const int8_t *)w + c)));
		return _mm512_mul_ps(_mm512_cvtepi32_ps(u), sc);
	}
	/* f32 in two halves: a whole-vector load of a row that is not
	 * 64-byte aligned (malloc's blocks are 16) straddles two cache lines
	 * every time, and ran at 0.5-0.7x the 8-lane kernel's speed */
	lo = _mm256_loadu_ps((const float *)w + c);
	hi = _mm256_loadu_ps((const float *)w + c + 8);
	return _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castpd256_pd512(
	    _mm256_castps_pd(lo)), _mm256_castps_pd(hi), 1));
}

/* weight c of row w times x, in the tails' order (int8: times sc first) */
static inline __attribute__((always_inline)) float
mv_at(int kind, const void *w, int c, float sc, float x)
{
	if (kind == MV_BF16)
		return lmf_bf16_to_f32(((const uint16_t *)w)[c]) * x;
	if (kind == MV_I8)
		return (float)((const int8_t *)w)[c] * sc * x;
	return ((const float *)w)[c] * x;
}

/* one output from its accumulator a (16 lanes, stored): the halves
 * added, their lanes summed in order, then the tail from column c */
static inline __attribute__((always_inline)) float
mv512_sum(int kind, const float *a, const void *w, const float *x, float sc,
    int c, int C)
{
	float t[8], s = 0;
	int k;

	for (k = 0; k < 8; k++)
		t[k] = a[k] + a[8 + k];
	for (k = 0; k < 8; k++)
		s += t[k];
	for (; c < C; c++)
		s += mv_at(kind, w, c, sc, x[c]);
	return s;
}

/* rows o0 to o1 of one kind for N inputs (both constants, so that the
 * loops over n unroll and the accumulators live in registers) */
static inline __attribute__((always_inline)) MV512_TARGET void
mv512_loop(int kind, int N, float *out, const float *inp,
    const struct mv_w *mw, const float *bias, int C, int OC, int o0,
    int o1)
{
	__m512 acc[LMF_MATVEC_MAX_N], wv, vs;
	float sc, fin[LMF_MATVEC_MAX_N][16];
	size_t es = kind == MV_BF16 ? 2 : kind == MV_I8 ? 1 : 4;
	const char *base = kind == MV_BF16 ? (const char *)mw->bf :
	    kind == MV_I8 ? (const char *)mw->i8 : (const char *)mw->f;
	const void *w;
	int o, n, c;

	for (o = o0; o < o1; o++) {
		w = base + (size_t)o * C * es;
		sc = kind == MV_I8 ? mw->sc[o] : 1.0f;
		vs = _mm512_set1_ps(sc);
#pragma GCC unroll 8
		for (n = 0; n < N; n++)
			acc[n] = _mm512_setzero_ps();
		for (c = 0; c + 16 <= C; c += 16) {
			wv = mv512_load(kind, w, c, vs);
#pragma GCC unroll 8
			for (n = 0; n < N; n++)
				acc[n] = _mm512_add_ps(acc[n], _mm512_mul_ps(wv,
				    _mm512_loadu_ps(inp + (size_t)n * C + c)));
		}
#pragma GCC unroll 8
		for (n = 0; n < N; n++)
			_mm512_storeu_ps(fin[n], acc[n]);
		for (n = 0; n < N; n++)
			out[(size_t)n * OC + o] = mv512_sum(kind, fin[n], w,
			    inp + (size_t)n * C, sc, c, C) +
			    (bias ? bias[o] : 0.0f);
	}
}

#define MV512_CASE(kind, n) \
	case n: \
		mv512_loop(kind, n, out, inp, w, bias, C, OC, o0, o1); \
		break
#define MV512_SWITCH(kind) \
	switch (N) { \
	MV512_CASE(kind, 1); MV512_CASE(kind, 2); MV512_CASE(kind, 3); \
	MV512_CASE(kind, 4); MV512_CASE(kind, 5); MV512_CASE(kind, 6); \
	MV512_CASE(kind, 7); MV512_CASE(kind, 8); \
	}

static MV512_TARGET void
mv512_f32(float *out, const float *inp, const struct mv_w *w,
    const float *bias, int N, int C, int OC, int o0, int o1)
{
	MV512_SWITCH(MV_F32)
}

static MV512_TARGET void
mv512_bf16(float *out, const float *inp, const struct mv_w *w,
    const float *bias, int N, int C, int OC, int o0, int o1)
{
	MV512_SWITCH(MV_BF16)
}

static MV512_TARGET void
mv512_i8(float *out, const float *inp, const struct mv_w *w,
    const float *bias, int N, int C, int OC, int o0, int o1)
{
	MV512_SWITCH(MV_I8)
}
#endif

/* which kernels run (lmf_matvec_select) */
static atomic_int mv_select = LMF_MATVEC_BEST;

int
lmf_matvec_select(int kernels)
{
	return atomic_exchange(&mv_select, kernels);
}

static void
mv_rows(float *out, const float *inp, const struct mv_w *w,
    const float *bias, int N, int C, int OC, int o0, int o1)
{
#ifdef MV512
	if (atomic_load(&mv_select) == LMF_MATVEC_BEST && N >= 1 &&
	    N <= LMF_MATVEC_MAX_N && __builtin_cpu_supports("avx512f")) {
		if (w->bf)
			mv512_bf16(out, inp, w, bias, N, C, OC, o0, o1);
		else if (w->i8)
			mv512_i8(out, inp, w, bias, N, C, OC, o0, o1);
		else
			mv512_f32(out, inp, w, bias, N, C, OC, o0, o1);
		return;
	}
#endif
	if (w->bf)
		matvec_rows_bf16(out, inp, w->bf, bias, N, C, OC, o0, o1);
	else if (w->i8)
		matvec_rows_i8(out, inp, w->i8, w->sc, bias, N, C, OC, o0, o1);
	else
		matvec_rows(out, inp, w->f, bias, N, C, OC, o0, o1);
}

static void
pool_slice(int t)
{
	int nb = (pool.OC + 15) / 16;
	int o0 = (int)((long)nb * t / pool.jnt) * 16;
	int o1 = (int)((long)nb * (t + 1) / pool.jnt) * 16;

	if (t >= pool.jnt)
		return;
	struct mv_w w = { pool.weight, pool.wbf, pool.wi8, pool.wsc };

	if (o1 > pool.OC)
		o1 = pool.OC;
	if (o0 < o1)
		mv_rows(pool.out, pool.inp, &w, pool.bias, pool.N, pool.C,
		    pool.OC, o0, o1);
}

static void *
pool_worker(void *arg)
{
	int t = (int)(intptr_t)arg, i;
	unsigned seen = 0;

	for (;;) {
		for (i = 0; i < POOL_SPIN && atomic_load(&pool.gen) == seen;
		    i++)
			;
		if (atomic_load(&pool.gen) == seen) {
			pthread_mutex_lock(&pool.mu);
			while (atomic_load(&pool.gen) == seen)
				pthread_cond_wait(&pool.go, &pool.mu);
			pthread_mutex_unlock(&pool.mu);
		}
		seen = atomic_load(&pool.gen);
		pool_slice(t);
		if (atomic_fetch_sub(&pool.left, 1) == 1) {
			pthread_mutex_lock(&pool.mu);
			pthread_cond_signal(&pool.done);
			pthread_mutex_unlock(&pool.mu);
		}
	}
	return NULL;
}

/* threads for matvec, making the pool on first use */
static int
pool_threads(void)
{
	int nt = 1, t;
	pthread_t th;

	if (pool.nt)
		return pool.nt;
#ifdef _OPENMP
	nt = omp_get_max_threads();
#endif
	if (nt > POOL_MAX)
		nt = POOL_MAX;
	pool.nt = nt;
	for (t = 1; t < nt; t++) {
		if (pthread_create(&th, NULL, pool_worker,
		    (void *)(intptr_t)t)) {
			pool.nt = 1;
			return 1;
		}
		pthread_detach(th);
	}
	return nt;
}

/* run the product on the pool */
static void
matvec_run(float *out, const float *inp, const struct mv_w *w,
    const float *bias, int N, int C, int OC)
{
	int i, nt = 1;

#ifdef _OPENMP
	/* not from inside a parallel region: the pool serves one caller */
	if (!omp_in_parallel())
		nt = omp_get_max_threads();
#endif
	if (nt > 1 && (long)N * C * OC >= OMP_MIN_WORK && pool_threads() < nt)
		nt = pool.nt;
	if ((long)N * C * OC < OMP_MIN_WORK || nt < 2) {
		mv_rows(out, inp, w, bias, N, C, OC, 0, OC);
		return;
	}
	/* one caller at a time (the pool serves one job): decoding calls
	 * from one thread */
	pthread_mutex_lock(&pool.mu);
	pool.jnt = nt;
	pool.out = out;
	pool.inp = inp;
	pool.weight = w->f;
	pool.wbf = w->bf;
	pool.wi8 = w->i8;
	pool.wsc = w->sc;
	pool.bias = bias;
	pool.N = N;
	pool.C = C;
	pool.OC = OC;
	atomic_store(&pool.left, pool.nt - 1);
	atomic_fetch_add(&pool.gen, 1);
	pthread_cond_broadcast(&pool.go);
	pthread_mutex_unlock(&pool.mu);
	pool_slice(0);
	for (i = 0; i < POOL_SPIN && atomic_load(&pool.left) > 0; i++)
		;
	if (atomic_load(&pool.left) > 0) {
		pthread_mutex_lock(&pool.mu);
		while (atomic_load(&pool.left) > 0)
			pthread_cond_wait(&pool.done, &pool.mu);
		pthread_mutex_unlock(&pool.mu);
	}
}

void
lmf_matvec_forward(float *out, const float *inp, const float *weight,
    const float *bias, int N, int C, int OC)
{
	if (N > LMF_MATVEC_MAX_N) {
		lmf_matmul_forward(out, inp, weight, bias, N, C, OC);
		return;
	}
	struct mv_w w = { .f = weight };

	matvec_run(out, inp, &w, bias, N, C, OC);
}

/* For more rows than LMF_MATVEC_MAX_N (a prompt) we widen
 * LMF_MATVEC_BF16_ROWS weight rows at a time into scratch and multiply
 * them with sgemm into their columns of out. */
/* rows o0.. o0 + rows - 1 of a bf16 or int8 weight widened to f32 */
static void
mv_widen(float *dst, const struct mv_w *w, int o0, int rows, int C)
{
	if (w->bf)
		lmf_bf16_widen(dst, w->bf + (size_t)o0 * C, (size_t)rows * C);
	else
		lmf_i8_widen(dst, w->i8 + (size_t)o0 * C, w->sc + o0, rows, C);
}

/* the product over bf16 or int8 weights: matvec for a few rows, else
 * sgemm on LMF_MATVEC_BF16_ROWS rows of the weight widened at a time */
static void
matvec_narrow_forward(float *out, const float *inp, const struct mv_w *w,
    const float *bias, int N, int C, int OC, float *scratch)
{
	int o0, n, o, rows;

	if (N <= LMF_MATVEC_MAX_N) {
		matvec_run(out, inp, w, bias, N, C, OC);
		return;
	}
	for (o0 = 0; o0 < OC; o0 += LMF_MATVEC_BF16_ROWS) {
		rows = OC - o0 < LMF_MATVEC_BF16_ROWS ? OC - o0 :
		    LMF_MATVEC_BF16_ROWS;
		mv_widen(scratch, w, o0, rows, C);
		lmf_gemm(LMF_NOTRANS, LMF_TRANS, N, rows, C, 1.0f, inp, C,
		    scratch, C, 0.0f, out + o0, OC);
	}
	for (n = 0; bias && n < N; n++)
		for (o = 0; o < OC; o++)
			out[(size_t)n * OC + o] += bias[o];
}

void
lmf_matvec_bf16_forward(float *out, const float *inp, const uint16_t *weight,
    const float *bias, int N, int C, int OC, float *scratch)
{
	struct mv_w w = { .bf = weight };

	matvec_narrow_forward(out, inp, &w, bias, N, C, OC, scratch);
}

void
lmf_matvec_bf16_forward_ref(float *out, const float *inp,
    const uint16_t *weight, const float *bias, int N, int C, int OC)
{
	int n, o, c;

	for (n = 0; n < N; n++) {
		for (o = 0; o < OC; o++) {
			double sum = bias ? bias[o] : 0;

			for (c = 0; c < C; c++)
				sum += (double)inp[(size_t)n * C + c] *
				    lmf_bf16_to_f32(weight[(size_t)o * C + c]);
			out[(size_t)n * OC + o] = (float)sum;
		}
	}
}

void
lmf_matvec_i8_forward(float *out, const float *inp, const int8_t *weight,
    const float *scale, const float *bias, int N, int C, int OC,
    float *scratch)
{
	struct mv_w w = { .i8 = weight, .sc = scale };

	matvec_narrow_forward(out, inp, &w, bias, N, C, OC, scratch);
}

void
lmf_matvec_i8_forward_ref(float *out, const float *inp,
    const int8_t *weight, const float *scale, const float *bias, int N,
    int C, int OC)
{
	int n, o, c;

	for (n = 0; n < N; n++) {
		for (o = 0; o < OC; o++) {
			double sum = bias ? bias[o] : 0;

			for (c = 0; c < C; c++)
				sum += (double)inp[(size_t)n * C + c] *
				    ((float)weight[(size_t)o * C + c] *
				    scale[o]);
			out[(size_t)n * OC + o] = (float)sum;
		}
	}
}

/* per row we take the largest magnitude m, scale = m / 127, and round
 * w / scale to the nearest integer (ties to even), so that every weight
 * is within scale / 2 of q scale; a row of zeros gets scale 0 */
void
lmf_i8_quantize(int8_t *q, float *scale, const float *w, int rows, int C)
{
	int r;

	OMP_FOR((long)rows * C)
	for (r = 0; r < rows; r++) {
		const float *x = w + (size_t)r * C;
		int8_t *y = q + (size_t)r * C;
		float m = 0, s, v;
		int c;

		for (c = 0; c < C; c++)
			m = fabsf(x[c]) > m ? fabsf(x[c]) : m;
		s = m / 127.0f;
		scale[r] = s;
		for (c = 0; c < C; c++) {
			v = s > 0 ? nearbyintf(x[c] / s) : 0;
			y[c] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
		}
	}
}

void
lmf_i8_widen(float *out, const int8_t *q, const float *scale, int rows,
    int C)
{
	int r, c;

	for (r = 0; r < rows; r++)
		for (c = 0; c < C; c++)
			out[(size_t)r * C + c] = (float)q[(size_t)r * C + c] *
			    scale[r];
}

void
lmf_bf16_widen(float *out, const uint16_t *in, size_t n)
{
	double prof_t0 = LMF_PROF_BEGIN();
	size_t i;

	OMP_FOR_SIMD(n)
	for (i = 0; i < n; i++) {
		uint32_t u = (uint32_t)in[i] << 16;

		memcpy(&out[i], &u, sizeof u);
	}
	LMF_PROF_END(LMF_PROF_CVT, prof_t0, 0);
}

/* lmf_f32_to_bf16 written out so that the loop vectorises: we add half
 * an ulp of bf16 (less one, plus the kept bit: ties to even) and keep the
 * upper half; a NaN keeps its sign and top bits and is made quiet */
void
lmf_bf16_narrow(uint16_t *out, const float *in, size_t n)
{
	double prof_t0 = LMF_PROF_BEGIN();
	size_t i;

	OMP_FOR_SIMD(n)
	for (i = 0; i < n; i++) {
		uint32_t u, r;

		memcpy(&u, &in[i], sizeof u);
		r = (u + 0x7fff + ((u >> 16) & 1)) >> 16;
		out[i] = (uint16_t)((u & 0x7fffffff) > 0x7f800000 ?
		    (u >> 16) | 0x40 : r);
	}
	LMF_PROF_END(LMF_PROF_CVT, prof_t0, 0);
}

void
lmf_matvec_forward_ref(float *out, const float *inp, const float *weight,
    const float *bias, int N, int C, int OC)
{
	lmf_matmul_forward_ref(out, inp, weight, bias, N, C, OC);
}
