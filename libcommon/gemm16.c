/* gemm16.c: small bf16 products for attention under bf16: true (gemm16.h).
 *
 * A product here takes its operands already packed as 32-bit words, each
 * a pair of bf16 values along the summed dimension (the low half first),
 * the layout of AVX512-BF16's vdpbf16ps: A (M, K2) words, B (K2, N) words,
 * C (M, N) f32. The AVX512-BF16 kernel runs where the CPU has it, unless
 * LMF_BF16_ISA=none; otherwise the words are widened into f32 and go
 * through sgemm. A product of two bf16 values is exact in fp32, so the two
 * differ only in the order of the fp32 sums. */
#include <stdlib.h>
#include <string.h>
#include <cblas.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#include "lmf/gemm.h"
#include "lmf/gemm16.h"
#include "lmf/util.h"
#include "lmf/banned.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define LMF_VEC __attribute__((target_clones("avx2", "default")))
#define HAVE_G16_X86 1
#else
#define LMF_VEC
#endif

/* f32 to bf16, nearest even; subnormals become zero of their sign and NaN
 * stays a quiet NaN (what vcvtneps2bf16 does); branch-free, so that the
 * packing loops vectorise */
static inline uint32_t
r16(float f)
{
	uint32_t u, rne, nan, sub;

	memcpy(&u, &f, sizeof u);
	rne = (u + 0x7fff + ((u >> 16) & 1)) >> 16;
	nan = ((u >> 16) | 0x40) & 0xffff;
	sub = (u >> 16) & 0x8000;
	rne = (u & 0x7f800000) == 0 ? sub : rne;
	return (u & 0x7fffffff) > 0x7f800000 ? nan : rne;
}

static inline float
hi16(uint32_t w)
{
	uint32_t u = w & 0xffff0000u;
	float f;

	memcpy(&f, &u, sizeof f);
	return f;
}

static inline float
lo16(uint32_t w)
{
	uint32_t u = w << 16;
	float f;

	memcpy(&f, &u, sizeof f);
	return f;
}

static void LMF_VEC
pack16_c(uint32_t *d, size_t ldd, const float *s, size_t lds, int rows,
    int cols, int how)
{
	int r, c, j, n2;

	switch (how) {
	case LMF_PACK16_ROWS:	/* d[r][j] = (s[r][2j], s[r][2j+1]) */
	case LMF_PACK16_ROWS_T:	/* d[j][r] = the same pair */
		n2 = cols / 2;
		for (r = 0; r < rows; r++) {
			const float *x = s + (size_t)r * lds;

			if (how == LMF_PACK16_ROWS) {
				uint32_t *o = d + (size_t)r * ldd;

				for (j = 0; j < n2; j++)
					o[j] = r16(x[2 * j]) |
					    r16(x[2 * j + 1]) << 16;
				if (cols & 1)
					o[n2] = r16(x[cols - 1]);
			} else {
				for (j = 0; j < n2; j++)
					d[(size_t)j * ldd + r] = r16(x[2 * j]) |
					    r16(x[2 * j + 1]) << 16;
				if (cols & 1)
					d[(size_t)n2 * ldd + r] =
					    r16(x[cols - 1]);
			}
		}
		break;
	case LMF_PACK16_PAIRS:	/* d[j][c] = (s[2j][c], s[2j+1][c]) */
	case LMF_PACK16_PAIRS_T: /* d[c][j] = the same pair */
		for (j = 0; 2 * j < rows; j++) {
			const float *x0 = s + (size_t)(2 * j) * lds;
			const float *x1 = 2 * j + 1 < rows ? x0 + lds : NULL;

			if (how == LMF_PACK16_PAIRS) {
				uint32_t *o = d + (size_t)j * ldd;

				if (x1)
					for (c = 0; c < cols; c++)
						o[c] = r16(x0[c]) |
						    r16(x1[c]) << 16;
				else
					for (c = 0; c < cols; c++)
						o[c] = r16(x0[c]);
			} else {
				for (c = 0; c < cols; c++)
					d[(size_t)c * ldd + j] = r16(x0[c]) |
					    (x1 ? r16(x1[c]) << 16 : 0);
			}
		}
		break;
	default:
		BUG("lmf_pack16: layout %d", how);
	}
}

/* without AVX512-BF16: the words widened (exactly) into f32 and one
 * single-threaded sgemm (inside a parallel region OpenBLAS runs on the
 * calling thread; gemm.h) */
static void
g16_sgemm(int M, int N, int K2, float alpha, const uint32_t *A, size_t lda,
    const uint32_t *B, size_t ldb, int beta, float *C, size_t ldc,
    float *wk)
{
	float *a = wk, *b = wk + (size_t)M * 2 * K2;
	int m, j, n;

	for (m = 0; m < M; m++)
		for (j = 0; j < K2; j++) {
			uint32_t w = A[(size_t)m * lda + j];

			a[(size_t)m * 2 * K2 + 2 * j] = lo16(w);
			a[(size_t)m * 2 * K2 + 2 * j + 1] = hi16(w);
		}
	for (j = 0; j < K2; j++)
		for (n = 0; n < N; n++) {
			uint32_t w = B[(size_t)j * ldb + n];

			b[(size_t)(2 * j) * N + n] = lo16(w);
			b[(size_t)(2 * j + 1) * N + n] = hi16(w);
		}
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, 2 * K2,
	    alpha, a, 2 * K2, b, N, beta ? 1.0f : 0.0f, C, (int)ldc);
}

#ifdef HAVE_G16_X86
#define G16_TARGET \
	__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

/* rows of C per tile of the AVX512-BF16 kernel (4 x 64 columns: 16
 * accumulators) */
#define G16_MR 4

#define DP(r, v) acc##r##v = _mm512_dpbf16_ps(acc##r##v, (__m512bh)a##r, \
	(__m512bh)b##v)
#define ROWDP(r) do { DP(r, 0); DP(r, 1); DP(r, 2); DP(r, 3); } while (0)

G16_TARGET static inline void
g16_store(float *c, __mmask16 mk, __m512 acc, float alpha, int beta)
{
	if (alpha != 1.0f)
		acc = _mm512_mul_ps(acc, _mm512_set1_ps(alpha));
	if (beta)
		acc = _mm512_add_ps(_mm512_maskz_loadu_ps(mk, c), acc);
	_mm512_mask_storeu_ps(c, mk, acc);
}

G16_TARGET static void
g16_avx512(int M, int N, int K2, float alpha, const uint32_t *A,
    size_t lda, const uint32_t *B, size_t ldb, int beta, float *C,
    size_t ldc)
{
	int m0, n0, j, v, r;

	for (n0 = 0; n0 < N; n0 += 64) {
		__mmask16 mk[4];

		for (v = 0; v < 4; v++) {
			int left = N - n0 - 16 * v;

			mk[v] = left >= 16 ? 0xffff : left > 0 ?
			    (__mmask16)((1u << left) - 1) : 0;
		}
		for (m0 = 0; m0 < M; m0 += G16_MR) {
			int mr = M - m0 < G16_MR ? M - m0 : G16_MR;
			const uint32_t *p0 = A + (size_t)m0 * lda;
			const uint32_t *p1 = mr > 1 ? p0 + lda : p0;
			const uint32_t *p2 = mr > 2 ? p0 + 2 * lda : p0;
			const uint32_t *p3 = mr > 3 ? p0 + 3 * lda : p0;
			__m512 acc00 = _mm512_setzero_ps(), acc01 = acc00,
			    acc02 = acc00, acc03 = acc00, acc10 = acc00,
			    acc11 = acc00, acc12 = acc00, acc13 = acc00,
			    acc20 = acc00, acc21 = acc00, acc22 = acc00,
			    acc23 = acc00, acc30 = acc00, acc31 = acc00,
			    acc32 = acc00, acc33 = acc00;
			__m512 out[G16_MR][4];

			for (j = 0; j < K2; j++) {
				const uint32_t *b = B + (size_t)j * ldb + n0;
				__m512i b0 = _mm512_maskz_loadu_epi32(mk[0], b);
				__m512i b1 = _mm512_maskz_loadu_epi32(mk[1],
				    b + 16);
				__m512i b2 = _mm512_maskz_loadu_epi32(mk[2],
				    b + 32);
				__m512i b3 = _mm512_maskz_loadu_epi32(mk[3],
				    b + 48);
				__m512i a0 = _mm512_set1_epi32((int)p0[j]);
				__m512i a1 = _mm512_set1_epi32((int)p1[j]);
				__m512i a2 = _mm512_set1_epi32((int)p2[j]);
				__m512i a3 = _mm512_set1_epi32((int)p3[j]);

				ROWDP(0);
				ROWDP(1);
				ROWDP(2);
				ROWDP(3);
			}
			out[0][0] = acc00, out[0][1] = acc01;
			out[0][2] = acc02, out[0][3] = acc03;
			out[1][0] = acc10, out[1][1] = acc11;
			out[1][2] = acc12, out[1][3] = acc13;
			out[2][0] = acc20, out[2][1] = acc21;
			out[2][2] = acc22, out[2][3] = acc23;
			out[3][0] = acc30, out[3][1] = acc31;
			out[3][2] = acc32, out[3][3] = acc33;
			for (r = 0; r < mr; r++)
				for (v = 0; v < 4; v++)
					if (mk[v])
						g16_store(C + (size_t)(m0 + r) *
						    ldc + n0 + 16 * v, mk[v],
						    out[r][v], alpha, beta);
		}
	}
}
#undef DP
#undef ROWDP

/* the packings on vcvtne2ps2bf16 / vcvtneps2bf16 (the same rounding as
 * r16); the transposed ones store through scatters */
G16_TARGET static void
pack16_avx512(uint32_t *d, size_t ldd, const float *s, size_t lds, int rows,
    int cols, int how)
{
	int r, c, j;

	if (how == LMF_PACK16_ROWS_T) {
		/* word j of row r to d[j][r]: 16 words of a row at once */
		__m512i idx = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13,
		    12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
		    _mm512_set1_epi32((int)ldd));

		for (r = 0; r < rows; r++) {
			const float *x = s + (size_t)r * lds;

			for (c = 0; c + 32 <= cols; c += 32) {
				__m512bh v = _mm512_cvtne2ps_pbh(
				    _mm512_loadu_ps(x + c + 16),
				    _mm512_loadu_ps(x + c));

				_mm512_i32scatter_epi32(d + (size_t)(c / 2) *
				    ldd + r, idx, (__m512i)v, 4);
			}
			for (; c < cols; c += 2)
				d[(size_t)(c / 2) * ldd + r] = r16(x[c]) |
				    (c + 1 < cols ? r16(x[c + 1]) << 16 : 0);
		}
		return;
	}
	if (how == LMF_PACK16_ROWS) {
		for (r = 0; r < rows; r++) {
			const float *x = s + (size_t)r * lds;
			uint32_t *o = d + (size_t)r * ldd;

			for (c = 0; c + 32 <= cols; c += 32) {
				__m512bh v = _mm512_cvtne2ps_pbh(
				    _mm512_loadu_ps(x + c + 16),
				    _mm512_loadu_ps(x + c));

				_mm512_storeu_si512(o + c / 2, (__m512i)v);
			}
			for (; c < cols; c += 2)
				o[c / 2] = r16(x[c]) | (c + 1 < cols ?
				    r16(x[c + 1]) << 16 : 0);
		}
		return;
	}
	/* PAIRS: d[j][c]; PAIRS_T: d[c][j], scattered */
	for (j = 0; 2 * j < rows; j++) {
		const float *x0 = s + (size_t)(2 * j) * lds;
		const float *x1 = 2 * j + 1 < rows ? x0 + lds : NULL;
		__m512i idx = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13,
		    12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
		    _mm512_set1_epi32((int)ldd));

		for (c = 0; c + 16 <= cols; c += 16) {
			__m512i lo = _mm512_cvtepu16_epi32((__m256i)
			    _mm512_cvtneps_pbh(_mm512_loadu_ps(x0 + c)));
			__m512i hi = x1 ? _mm512_slli_epi32(
			    _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(
			    _mm512_loadu_ps(x1 + c))), 16) :
			    _mm512_setzero_si512();
			__m512i w = _mm512_or_si512(lo, hi);

			if (how == LMF_PACK16_PAIRS)
				_mm512_storeu_si512(d + (size_t)j * ldd + c, w);
			else
				_mm512_i32scatter_epi32(d + (size_t)c * ldd + j,
				    idx, w, 4);
		}
		for (; c < cols; c++) {
			uint32_t w = r16(x0[c]) | (x1 ? r16(x1[c]) << 16 : 0);

			if (how == LMF_PACK16_PAIRS)
				d[(size_t)j * ldd + c] = w;
			else
				d[(size_t)c * ldd + j] = w;
		}
	}
}

G16_TARGET static void
add_t_avx512(float *d, size_t ldd, const float *s, size_t lds, int rows,
    int cols)
{
	__m512i idx = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11,
	    10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0), _mm512_set1_epi32((int)lds));
	int r, c;

	for (r = 0; r < rows; r++) {
		float *o = d + (size_t)r * ldd;

		for (c = 0; c + 16 <= cols; c += 16)
			_mm512_storeu_ps(o + c, _mm512_add_ps(
			    _mm512_loadu_ps(o + c), _mm512_i32gather_ps(idx,
			    s + (size_t)c * lds + r, 4)));
		for (; c < cols; c++)
			o[c] += s[(size_t)c * lds + r];
	}
}

#endif

/* -1: not decided yet; 0 portable; 1 AVX512-BF16 */
static int g16_kind = -1;

int
lmf_gemm16_native(void)
{
	if (g16_kind < 0) {
		/* LMF_BF16_ISA's values are checked by lmf_gemm_bf16_native */
		const char *e = getenv("LMF_BF16_ISA");

		g16_kind = 0;
#ifdef HAVE_G16_X86
		if (!(e && !strcmp(e, "none")))
			g16_kind = lmf_cpu_avx512bf16();
#else
		(void)e;
#endif
	}
	return g16_kind;
}

void
lmf_gemm16_select(int native)
{
	g16_kind = native ? lmf_gemm16_native_cpu() : 0;
}

int
lmf_gemm16_native_cpu(void)
{
#ifdef HAVE_G16_X86
	return lmf_cpu_avx512bf16();
#else
	return 0;
#endif
}

void
lmf_pack16(uint32_t *d, size_t ldd, const float *s, size_t lds, int rows,
    int cols, int how)
{
#ifdef HAVE_G16_X86
	if (lmf_gemm16_native() && how >= LMF_PACK16_ROWS &&
	    how <= LMF_PACK16_PAIRS_T) {
		pack16_avx512(d, ldd, s, lds, rows, cols, how);
		return;
	}
#endif
	pack16_c(d, ldd, s, lds, rows, cols, how);
}

void
lmf_add_t(float *d, size_t ldd, const float *s, size_t lds, int rows,
    int cols)
{
	int r, c;

#ifdef HAVE_G16_X86
	if (lmf_gemm16_native()) {
		add_t_avx512(d, ldd, s, lds, rows, cols);
		return;
	}
#endif
	for (r = 0; r < rows; r++)
		for (c = 0; c < cols; c++)
			d[(size_t)r * ldd + c] += s[(size_t)c * lds + r];
}

size_t
lmf_gemm16_scratch(int M, int N, int K2)
{
	return lmf_gemm16_native() ? 0 : ((size_t)M + (size_t)N) * 2 *
	    (size_t)K2;
}

void
lmf_gemm16(int M, int N, int K2, float alpha, const uint32_t *A, size_t lda,
    const uint32_t *B, size_t ldb, int beta, float *C, size_t ldc,
    float *wk)
{
	if (alpha != 1.0f && beta)
		BUG("lmf_gemm16: alpha %g with beta 1", (double)alpha);
	if (M <= 0 || N <= 0)
		return;
#ifdef HAVE_G16_X86
	if (lmf_gemm16_native()) {
		g16_avx512(M, N, K2, alpha, A, lda, B, ldb, beta, C, ldc);
		return;
	}
#endif
	if (K2 == 0) {
		int m, n;

		for (m = 0; m < M; m++)
			for (n = 0; n < N; n++)
				C[(size_t)m * ldc + n] = beta ?
				    C[(size_t)m * ldc + n] : 0;
		return;
	}
	g16_sgemm(M, N, K2, alpha, A, lda, B, ldb, beta, C, ldc, wk);
}
