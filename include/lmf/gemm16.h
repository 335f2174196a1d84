#ifndef LMF_GEMM16_H
#define LMF_GEMM16_H
/* gemm16.h: the small bf16 products of attention under bf16: true.
 *
 * Operands are packed as 32-bit words, each a pair of bf16 values along
 * the summed dimension, low half first (the layout of AVX512-BF16's
 * vdpbf16ps). lmf_pack16 rounds f32 values to bf16 (nearest even;
 * subnormals to zero, NaN stays NaN) into such words; lmf_gemm16 computes
 *
 *     C (M, N) = alpha * A (M, K2 words) @ B (K2 words, N)  [+ C]
 *
 * in fp32 sums of exact bf16 x bf16 products: on lmf's AVX512-BF16 kernel
 * where the CPU has it (unless LMF_BF16_ISA=none), else widened into f32
 * for a single-threaded sgemm; the two differ only in the order of the
 * sums. Safe inside OpenMP parallel regions (each call is
 * single-threaded). */
#include <stddef.h>
#include <stdint.h>

enum {
	LMF_PACK16_ROWS,	/* d[r][j] = (s[r][2j], s[r][2j+1]) */
	LMF_PACK16_ROWS_T,	/* d[j][r] = (s[r][2j], s[r][2j+1]) */
	LMF_PACK16_PAIRS,	/* d[j][c] = (s[2j][c], s[2j+1][c]) */
	LMF_PACK16_PAIRS_T,	/* d[c][j] = (s[2j][c], s[2j+1][c]) */
};

void lmf_pack16(uint32_t *d, size_t ldd, const float *s, size_t lds,
    int rows, int cols, int how);
	/* s (rows, cols) f32 with row stride lds into d (row stride ldd
	 * words); an odd last element of a pair is paired with zero */
void lmf_gemm16(int M, int N, int K2, float alpha, const uint32_t *A,
    size_t lda, const uint32_t *B, size_t ldb, int beta, float *C,
    size_t ldc, float *wk);
	/* beta 0 or 1; alpha must be 1 when beta is 1; wk: scratch of
	 * lmf_gemm16_scratch(M, N, K2) floats */
size_t lmf_gemm16_scratch(int M, int N, int K2);
	/* 0 with the kernel */
void lmf_add_t(float *d, size_t ldd, const float *s, size_t lds, int rows,
    int cols);
	/* d (rows, cols) += s^T, s (cols, rows) with row stride lds */
int lmf_gemm16_native(void);
	/* 1: the AVX512-BF16 kernel runs (decided on the first call: make
	 * it from serial code) */
int lmf_gemm16_native_cpu(void);
	/* does the CPU have AVX512-BF16 (whatever LMF_BF16_ISA says) */
void lmf_gemm16_select(int native);
	/* tests: 0 the sgemm way, 1 the kernel where the CPU has it */

#endif
