#ifndef LMF_GEMM_H
#define LMF_GEMM_H
/* gemm.h: the one interface every matrix product in lmf goes through.
 *
 * All matrices are row-major float. lmf_gemm computes
 *
 *     C (M, N) = alpha * op(A) (M, K) @ op(B) (K, N) + beta * C
 *
 * where op(X) is X or X^T, A is stored (M, K) with row stride lda (or
 * (K, M) when transposed), B is stored (K, N) with row stride ldb (or
 * (N, K) when transposed), and C has row stride ldc. With beta == 0, C is
 * written without being read (NaN in C does not leak through).
 *
 * lmf_gemm's backend is OpenBLAS's cblas_sgemm, bit for bit as before
 * whatever else is built in. lmf_gemm_bf16 is the mixed-precision product
 * (bf16: true): bf16 inputs, fp32 accumulation, fp32 C. Where the CPU has
 * AVX512-BF16 or AMX and lmf was built with oneDNN (the Makefile finds
 * <oneapi/dnnl/dnnl.h>; DNNL=0 builds without), it runs oneDNN's matmul
 * primitive on the bf16 instructions; otherwise, or with LMF_BF16_ISA=none
 * in the environment, the inputs are widened to fp32 (exactly) and run
 * through sgemm. Both give sum_k a_k b_k of the same bf16 values, each
 * product exact in fp32, and differ only in the order of the fp32 sums.
 * oneDNN primitives are made once per (transposition, shape, leading
 * dimensions, alpha, beta) and kept (making one costs far more than a
 * small product); beta != 0 is oneDNN's sum post-op, alpha its output
 * scale. oneDNN runs on the same OpenMP team as OpenBLAS and the kernels.
 * lmf_gemm_bf16 keeps that cache and its scratch in the library: call it
 * from serial code only (never inside an OpenMP parallel region).
 *
 * Threads: lmf_gemm_init decides how many threads the backend uses, and
 * (when built with OpenMP) sets OpenMP to the same count. The Makefile
 * builds with OpenMP and links Debian's OpenMP build of OpenBLAS, so the
 * kernels' loops and sgemm share one thread team. Called from serial code,
 * lmf_gemm runs on all the threads; called from inside an OpenMP parallel
 * region (attention runs its (row, head) pairs so), it runs
 * single-threaded in the calling thread, which that OpenBLAS build does by
 * itself (tests/unit/threads_test checks it). Without OpenMP, call it only
 * from serial code.
 *
 * The OpenBLAS core type: Debian's OpenBLAS 0.3.21 (DYNAMIC_ARCH) detects
 * some AVX-512 Xeons as "Prescott" and then runs sgemm 3-5x slower than
 * with its SkylakeX kernel. OpenBLAS reads OPENBLAS_CORETYPE only while
 * the library loads, so when lmf_gemm_init finds a core type weaker than
 * what the CPU supports, it re-executes the program once (/proc/self/exe,
 * the same argv and environment) with OPENBLAS_CORETYPE=SkylakeX (CPUs with
 * AVX-512 F/CD/BW/DQ/VL) or Haswell (AVX2 and FMA). It does not when the
 * user has set OPENBLAS_CORETYPE (their choice wins; set it to opt out),
 * and never twice (LMF_GEMM_REEXEC marks the second run). Call
 * lmf_gemm_init early in main, before reading input, creating files or
 * starting threads, since everything before it runs twice. */
#include <stddef.h>
#include <stdint.h>

enum {
	LMF_NOTRANS = 0,
	LMF_TRANS = 1,
};

/* set up the backend: threads > 0 uses that many threads, 0 all the CPUs
 * this process may run on. May re-execute the program (see above).
 * @return the number of threads in use */
int lmf_gemm_init(int threads);
int lmf_gemm_threads(void);        /* threads in use (1 before init) */
const char *lmf_gemm_corename(void); /* OpenBLAS's core type, "Haswell" */
/* the core type this CPU should run ("SkylakeX", "Haswell"), or NULL when
 * the CPU has neither AVX-512 nor AVX2 */
const char *lmf_gemm_best_coretype(void);
/* 1 if corename is as fast as best_coretype, or best is NULL */
int lmf_gemm_coretype_ok(const char *corename, const char *best);

/* C = alpha op(A) op(B) + beta C, row-major (see above) */
void lmf_gemm(int transA, int transB, int M, int N, int K, float alpha,
    const float *A, int lda, const float *B, int ldb, float beta, float *C,
    int ldc);
/* lmf_gemm for a thin product (one side of rank-r width, LoRA's): C in
 * blocks of 128 rows (or 64 columns when N > M), each block one
 * single-threaded sgemm on the threads: 16 blocks for 2048 rows, enough
 * to keep 16 threads busy. OpenBLAS's own split of such shapes is slower
 * on two threads than on one. The blocks do not depend
 * on the thread count, so neither does the result; it may differ from
 * lmf_gemm's in the last bit of some elements */
void lmf_gemm_thin(int transA, int transB, int M, int N, int K, float alpha,
    const float *A, int lda, const float *B, int ldb, float beta, float *C,
    int ldc);
/* the same with three plain loops and double sums: the reference */
void lmf_gemm_ref(int transA, int transB, int M, int N, int K, float alpha,
    const float *A, int lda, const float *B, int ldb, float beta, float *C,
    int ldc);

/* C = alpha op(A) op(B) + beta C with A, B bf16 (their upper 16 bits of
 * an f32), fp32 accumulation and C (see above) */
void lmf_gemm_bf16(int transA, int transB, int M, int N, int K, float alpha,
    const uint16_t *A, int lda, const uint16_t *B, int ldb, float beta,
    float *C, int ldc);
/* 1 when lmf_gemm_bf16 runs on the CPU's bf16 instructions (oneDNN), 0
 * when it widens into sgemm; dies (exit 2) on a bad LMF_BF16_ISA */
int lmf_gemm_bf16_native(void);
/* what runs the bf16 products: "oneDNN brg:avx512_core_bf16", "sgemm" */
const char *lmf_gemm_bf16_impl(void);

/* does the CPU have AVX512-BF16 (and AVX512-F/BW/VL)? x86 only, else 0 */
int lmf_cpu_avx512bf16(void);

#endif
