/* gemm16_test: lmf_pack16's four layouts against lmf_f32_to_bf16 element
 * by element, the kernel's packing (AVX512-BF16) against the portable one
 * bit for bit; lmf_gemm16 both ways (the AVX512-BF16 kernel where the CPU
 * has it, and the words widened into sgemm) against a double reference
 * over the same bf16 values, within fp32 summation error: odd sizes,
 * masked column tails, row tails, K2 = 0, beta 0 and 1, alpha 1 and not.
 * TAP. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmf/gemm16.h"
#include "lmf/util.h"
#include "lmf/banned.h"
#include "tap.h"

static float
frand(unsigned *st)
{
	*st = *st * 1103515245u + 12345u;
	return (float)((*st >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static float
bf(uint16_t h)
{
	uint32_t u = (uint32_t)h << 16;
	float f;

	memcpy(&f, &u, sizeof f);
	return f;
}

/* the pair element k of word w (0 low, 1 high) */
static uint16_t
half(uint32_t w, int k)
{
	return (uint16_t)(k ? w >> 16 : w & 0xffff);
}

/* every layout of a (rows, cols) matrix with a padded stride: each half
 * is lmf_f32_to_bf16 of its source, or 0 past an odd end */
static int
pack_case(int rows, int cols, int how)
{
	size_t lds = (size_t)cols + 3, ldd = 200;
	float *s = xmallocarray((size_t)rows * lds, sizeof *s);
	uint32_t *d = xcalloc(200 * 200, sizeof *d);
	unsigned st = 7u + (unsigned)(rows * 31 + cols);
	int r, c, bad = 0;

	for (r = 0; r < rows * (int)lds; r++)
		s[r] = frand(&st) * 3;
	lmf_pack16(d, ldd, s, lds, rows, cols, how);
	for (r = 0; r < rows + 1; r++)
		for (c = 0; c < cols + 1; c++) {
			int pr = how == LMF_PACK16_ROWS ||
			    how == LMF_PACK16_ROWS_T;
			/* the pair holding (r, c): its index along the
			 * paired dimension and the other coordinate */
			int j = pr ? c / 2 : r / 2, o = pr ? r : c;
			int k = pr ? c & 1 : r & 1;
			int lim = pr ? cols : rows, olim = pr ? rows : cols;
			uint32_t w;
			uint16_t want;

			if (o >= olim || 2 * j >= lim)
				continue;
			w = how == LMF_PACK16_ROWS || how == LMF_PACK16_PAIRS_T ?
			    d[(size_t)o * ldd + j] : d[(size_t)j * ldd + o];
			want = r < rows && c < cols ?
			    lmf_f32_to_bf16(s[(size_t)r * lds + c]) : 0;
			bad += half(w, k) != want;
		}
	free(s);
	free(d);
	return bad == 0;
}

/* C = alpha A B (+ C) on random words: the double reference within
 * (K + 2) 2^-24 sum |a b|, and the kernel equal to the portable loop */
static void
gemm_case(int M, int N, int K2, float alpha, int beta, int native,
    unsigned seed)
{
	size_t lda = (size_t)K2 + 1, ldb = (size_t)N + 5, ldc = (size_t)N + 2;
	float *sa = xmallocarray((size_t)M * 2 * (K2 + 1), sizeof *sa);
	float *sb = xmallocarray((size_t)2 * (K2 + 1) * N, sizeof *sb);
	uint32_t *A = xcalloc((size_t)M * lda + 1, sizeof *A);
	uint32_t *B = xcalloc((size_t)(K2 + 1) * ldb + 1, sizeof *B);
	float *C0 = xmallocarray((size_t)M * ldc + 1, sizeof *C0);
	float *C1 = xmallocarray((size_t)M * ldc + 1, sizeof *C1);
	double worst = 0;
	float *wk;
	int m, n, j, k, bad = 0;
	size_t i;

	for (i = 0; i < (size_t)M * 2 * (K2 + 1); i++)
		sa[i] = frand(&seed);
	for (i = 0; i < (size_t)2 * (K2 + 1) * N; i++)
		sb[i] = frand(&seed) * 2;
	for (i = 0; i < (size_t)M * ldc + 1; i++)
		C0[i] = frand(&seed);
	lmf_pack16(A, lda, sa, (size_t)2 * K2, M, 2 * K2, LMF_PACK16_ROWS);
	lmf_pack16(B, ldb, sb, (size_t)N, 2 * K2, N, LMF_PACK16_PAIRS);
	memcpy(C1, C0, ((size_t)M * ldc + 1) * sizeof *C1);
	lmf_gemm16_select(native);
	wk = xcalloc(lmf_gemm16_scratch(M, N, K2) + 1, sizeof *wk);
	lmf_gemm16(M, N, K2, alpha, A, lda, B, ldb, beta, C1, ldc, wk);
	free(wk);
	for (m = 0; m < M; m++)
		for (n = 0; n < N; n++) {
			double s = 0, sabs = 0, got, tol;

			for (j = 0; j < K2; j++)
				for (k = 0; k < 2; k++) {
					double p = (double)bf(half(A[m * lda +
					    j], k)) * bf(half(B[j * ldb + n], k));

					s += p;
					sabs += fabs(p);
				}
			s *= alpha;
			if (beta)
				s += C0[m * ldc + n];
			got = C1[m * ldc + n];
			tol = (K2 * 2 + 2) * ldexp(1, -24) * (sabs * fabs(alpha) +
			    fabs(C0[m * ldc + n])) + 1e-30;
			if (fabs(got - s) > tol)
				bad++;
			if (fabs(got - s) / tol > worst)
				worst = fabs(got - s) / tol;
		}
	/* past each row's N columns and the last row: untouched */
	for (m = 0; m < M; m++)
		for (n = N; n < (int)ldc; n++)
			bad += C1[m * ldc + n] != C0[m * ldc + n];
	bad += C1[M * ldc] != C0[M * ldc];
	ok(bad == 0, "gemm16 %s %dx%dx%d alpha %g beta %d vs double (worst "
	    "%.2f of the bound)", native ? "AVX512-BF16" : "sgemm", M, N, K2,
	    (double)alpha, beta, worst);
	free(sa);
	free(sb);
	free(A);
	free(B);
	free(C0);
	free(C1);
}

/* ties, subnormals, zeros, infinities, NaN, the largest floats: the
 * kernel's packing (vcvtne2ps2bf16) gives the portable rounding's bits in
 * every layout, and that rounding is lmf_f32_to_bf16 but for subnormals,
 * which become a zero of their sign */
static void
pack_special(int native)
{
	static const uint32_t bits[] = { 0x3f808000, 0x3f818000, 0x3f807fff,
		0x3f808001, 0x00000001, 0x807fffff, 0x00800000, 0x80000000,
		0x00000000, 0x7f800000, 0xff800000, 0x7fc00001, 0xffa00000,
		0x7f7fffff, 0xff7f8000, 0x3dcccccd, 0xc2f6e979, 0x1b7fc000,
		0x477fe000, 0x33800000 };
	enum { R = 5, C = 37 };
	float s[R * C];
	uint32_t d0[64 * 64], d1[64 * 64];
	int i, how, bad = 0;

	for (i = 0; i < R * C; i++) {
		uint32_t u = bits[i % (int)(sizeof bits / sizeof bits[0])];

		memcpy(&s[i], &u, sizeof u);
	}
	for (i = 0; i < R * C; i++) {
		uint32_t u, want;
		uint32_t w[64] = { 0 };

		memcpy(&u, &s[i], sizeof u);
		want = (u & 0x7f800000) == 0 ? (u >> 16) & 0x8000 :
		    lmf_f32_to_bf16(s[i]);
		lmf_gemm16_select(0);
		lmf_pack16(w, 1, &s[i], 1, 1, 1, LMF_PACK16_ROWS);
		bad += w[0] != want;
	}
	ok(bad == 0, "pack16 special values: nearest even, subnormals to "
	    "signed zero, NaN quiet");
	if (!native)
		return;
	for (how = LMF_PACK16_ROWS; how <= LMF_PACK16_PAIRS_T; how++) {
		memset(d0, 0xaa, sizeof d0);
		memset(d1, 0xaa, sizeof d1);
		lmf_gemm16_select(0);
		lmf_pack16(d0, 64, s, C, R, C, how);
		lmf_gemm16_select(1);
		lmf_pack16(d1, 64, s, C, R, C, how);
		ok(!memcmp(d0, d1, sizeof d0), "pack16 layout %d special "
		    "values: AVX512-BF16 = portable bit for bit", how);
	}
}

int
main(void)
{
	static const int shapes[][3] = {
		{ 1, 1, 1 }, { 3, 17, 5 }, { 4, 64, 32 }, { 5, 65, 33 },
		{ 7, 130, 64 }, { 128, 128, 32 }, { 64, 128, 64 },
		{ 128, 64, 64 }, { 9, 15, 0 }, { 6, 80, 7 }, { 2, 200, 3 },
	};
	int native = lmf_gemm16_native_cpu(), i, how, k;

	if (!native)
		printf("# no AVX512-BF16 here: the sgemm way only\n");
	pack_special(native);
	for (how = LMF_PACK16_ROWS; how <= LMF_PACK16_PAIRS_T; how++) {
		ok(pack_case(7, 9, how), "pack16 layout %d, 7 x 9", how);
		ok(pack_case(8, 6, how), "pack16 layout %d, 8 x 6", how);
		ok(pack_case(1, 1, how), "pack16 layout %d, 1 x 1", how);
	}
	for (i = 0; i < (int)(sizeof shapes / sizeof shapes[0]); i++) {
		for (k = 0; k <= native; k++) {
			gemm_case(shapes[i][0], shapes[i][1], shapes[i][2],
			    1.0f, 0, k, 11u + (unsigned)i);
			gemm_case(shapes[i][0], shapes[i][1], shapes[i][2],
			    0.125f, 0, k, 101u + (unsigned)i);
			gemm_case(shapes[i][0], shapes[i][1], shapes[i][2],
			    1.0f, 1, k, 1001u + (unsigned)i);
		}
	}
	return tap_done();
}
