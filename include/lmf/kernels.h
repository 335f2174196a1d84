#ifndef LMF_KERNELS_H
#define LMF_KERNELS_H
/* kernels.h: forward and backward of the LLaMA-family building blocks, as
 * plain functions over flat float arrays (llm.c style).
 *
 * We fix these names for the sizes throughout:
 *   B   batch size (rows of a batch)
 *   T   sequence length (tokens per row)
 *   N   B * T, the number of token positions
 *   C   channels (hidden_size)
 *   V   vocabulary size
 *   L   layers
 *   NH  query heads (num_attention_heads)
 *   NKV key/value heads (num_key_value_heads); NH % NKV == 0
 *   HS  head size (head_dim, often C / NH); even, for rope
 *   FF  MLP hidden size (intermediate_size)
 * and every array is row-major: (N, C) means N rows of C floats. An
 * activation of shape (B, T, NH, HS) is the same memory as (N, NH * HS).
 *
 * Rules every kernel keeps: it never allocates (scratch comes from the
 * caller), does no I/O and holds no state. Backward kernels accumulate
 * into their gradients with += (zeroing is the caller's job); a gradient
 * pointer that may be NULL is skipped, which is how frozen weights cost
 * nothing. A kernel named _ref is the plain reference of the fast kernel
 * beside it, kept for the tests. Matrix products go through lmf_gemm
 * (gemm.h); call lmf_gemm_init first. Token ids and targets must be valid
 * (the caller checks its input); a target outside [0, V) other than -100
 * is a BUG. */
#include <stddef.h>
#include <stdint.h>

#define LMF_IGNORE_INDEX (-100)

/* ---- memory: the step's bulk zeroing, residual sums and copies, on
 * the threads (each element written by one thread: bit for bit as a
 * plain loop) ---- */
void lmf_zero(float *x, size_t n);
	/* x (n) = 0 */
void lmf_add(float *y, const float *x, size_t n);
	/* y (n) += x (n) */
void lmf_copy_rows(float *dst, size_t dld, const float *src, size_t sld,
    const float *bias, long rows, size_t cols);
	/* dst[r][c] = src[r][c] (+ bias[c] when bias) for rows x cols, the
	 * rows dld and sld floats apart */

/* ---- embedding: out[n] = wte[tokens[n]] ---- */
void lmf_embedding_forward(float *out, const int32_t *tokens,
    const float *wte, int N, int C);
	/* out (N, C), tokens (N), wte (V, C) */
void lmf_embedding_backward(float *dwte, const float *dout,
    const int32_t *tokens, int N, int C);
	/* dwte (V, C) += scatter of dout (N, C) */
/* index of the first token outside [0, V), or -1 when all are valid */
long lmf_embedding_check(const int32_t *tokens, long N, int V);

/* ---- rmsnorm (HF): out = inp * rsqrt(mean(inp^2) + eps) * weight ---- */
void lmf_rmsnorm_forward(float *out, float *rstd, const float *inp,
    const float *weight, float eps, int N, int C);
	/* out (N, C), rstd (N) saved for backward, inp (N, C), weight (C);
	 * out may equal inp */
void lmf_rmsnorm_backward(float *dinp, float *dweight, const float *dout,
    const float *inp, const float *weight, const float *rstd, int N, int C);
	/* dinp (N, C) +=, dweight (C) += (either may be NULL) */

/* ---- linear (HF nn.Linear): out = inp @ weight^T + bias ---- */
void lmf_matmul_forward(float *out, const float *inp, const float *weight,
    const float *bias, int N, int C, int OC);
	/* out (N, OC), inp (N, C), weight (OC, C), bias (OC) or NULL */
void lmf_matmul_forward_ref(float *out, const float *inp,
    const float *weight, const float *bias, int N, int C, int OC);
/* the same product for a few rows (decoding): no sgemm, each weight row
 * read once for all N rows, output features split over the threads; for
 * N > LMF_MATVEC_MAX_N it calls lmf_matmul_forward */
#define LMF_MATVEC_MAX_N 8
void lmf_matvec_forward(float *out, const float *inp, const float *weight,
    const float *bias, int N, int C, int OC);
	/* out (N, OC), inp (N, C), weight (OC, C), bias (OC) or NULL */
void lmf_matvec_forward_ref(float *out, const float *inp,
    const float *weight, const float *bias, int N, int C, int OC);
/* which kernels the three matvec products run on: LMF_MATVEC_BEST (the
 * default: AVX-512 where the CPU has it) or LMF_MATVEC_AVX2 (the 8-lane
 * kernels alone, as before the AVX-512 ones; for tests and benchmarks).
 * The outputs are the same bits either way.
 * @return the previous choice */
#define LMF_MATVEC_BEST 0
#define LMF_MATVEC_AVX2 1
int lmf_matvec_select(int kernels);
/* the same with bf16 weights (decoding from a model held in bf16): each
 * weight row widened to f32 as it is read, f32 sums. For N >
 * LMF_MATVEC_MAX_N, LMF_MATVEC_BF16_ROWS rows at a time are widened into
 * scratch (LMF_MATVEC_BF16_ROWS, C) for sgemm */
#define LMF_MATVEC_BF16_ROWS 64
void lmf_matvec_bf16_forward(float *out, const float *inp,
    const uint16_t *weight, const float *bias, int N, int C, int OC,
    float *scratch);
void lmf_matvec_bf16_forward_ref(float *out, const float *inp,
    const uint16_t *weight, const float *bias, int N, int C, int OC);
/* and with int8 weights, a scale per row (w = q * scale[o], rounded to
 * f32 as it is read; for N > LMF_MATVEC_MAX_N widened in blocks as bf16's
 * are: the same values, so the same sums as lmf_matvec_forward over the
 * widened weights) */
void lmf_matvec_i8_forward(float *out, const float *inp,
    const int8_t *weight, const float *scale, const float *bias, int N,
    int C, int OC, float *scratch);
	/* weight (OC, C), scale (OC) */
void lmf_matvec_i8_forward_ref(float *out, const float *inp,
    const int8_t *weight, const float *scale, const float *bias, int N,
    int C, int OC);
void lmf_i8_quantize(int8_t *q, float *scale, const float *w, int rows,
    int C);
	/* q (rows, C), scale (rows) from w (rows, C): scale = max |w| / 127,
	 * q = w / scale rounded to nearest even, in [-127, 127] */
void lmf_i8_widen(float *out, const int8_t *q, const float *scale, int rows,
    int C);
	/* out (rows, C) = q * scale, in f32 */
void lmf_bf16_widen(float *out, const uint16_t *in, size_t n);
	/* out (n) = in (n) widened exactly */
void lmf_bf16_narrow(uint16_t *out, const float *in, size_t n);
	/* out (n) = in (n) rounded to nearest even (lmf_f32_to_bf16) */
void lmf_matmul_backward(float *dinp, float *dweight, float *dbias,
    const float *dout, const float *inp, const float *weight, int N, int C,
    int OC);
	/* dinp (N, C) +=, dweight (OC, C) +=, dbias (OC) += (each may be
	 * NULL); dout (N, OC) */
void lmf_matmul_backward_ref(float *dinp, float *dweight, float *dbias,
    const float *dout, const float *inp, const float *weight, int N, int C,
    int OC);

/* ---- rope (HF rotate_half layout) ----
 * Per token n and pair i < HS/2 we rotate (x[i], x[i + HS/2]) by the
 * angle pos[n] * inv_freq[i], inv_freq[i] = theta^(-2i/HS). Positions come
 * per token, so packed rows may restart them. */
void lmf_rope_inv_freq(double *inv_freq, int HS, double theta);
	/* inv_freq (HS/2); rope scaling edits it afterwards */
void lmf_rope_cache(float *cos, float *sin, const int32_t *pos,
    const double *inv_freq, int N, int HS);
	/* cos, sin (N, HS/2) from pos (N); shared by q, k and all layers */
void lmf_rope_scale(float *cos, float *sin, double scale, size_t n);
	/* cos, sin (n) *= scale: yarn's attention factor */
int64_t lmf_rope_seq_len(const int32_t *pos, int N);
	/* the largest of pos (N), plus 1: the length dynamic rope sees */
void lmf_rope_forward(float *out, const float *inp, const float *cos,
    const float *sin, int N, int nh, int HS);
	/* out, inp (N, nh, HS); out may equal inp (in place) */
void lmf_rope_forward_ref(float *out, const float *inp, const int32_t *pos,
    double theta, int N, int nh, int HS);
	/* from pos directly, with explicit cat(freqs, freqs), rotate_half */
void lmf_rope_backward(float *dinp, const float *dout, const float *cos,
    const float *sin, int N, int nh, int HS);
	/* dinp (N, nh, HS) += R^T dout; when dinp == dout the inverse
	 * rotation is applied in place instead (dinp = R^T dout) */
void lmf_rope_backward_ref(float *dinp, const float *dout,
    const int32_t *pos, double theta, int N, int nh, int HS);

/* ---- attention: causal, grouped-query, padding and segment masks ----
 * Query head h reads kv head h / (NH / NKV). Query t of row b sees key s
 * when s <= t, mask[b, s] != 0 and seg[b, s] == seg[b, t] (mask, seg may
 * be NULL: no padding, one segment), and, with a sliding window W > 0
 * (Mistral's; transformers' sliding_window_overlay), when t - W < s.
 * Scores are scaled by 1/sqrt(HS). A query that sees no key gets a zero
 * output and a zero gradient. The model runs the flash kernels; these
 * references keep the (B, NH, T, T) probabilities, and the tests compare
 * the two. */
void lmf_attention_forward_ref(float *out, float *att, const float *q,
    const float *k, const float *v, const int32_t *mask, const int32_t *seg,
    int B, int T, int NH, int NKV, int HS);
	/* out (B, T, NH, HS), att (B, NH, T, T) probabilities, q (B, T,
	 * NH, HS), k, v (B, T, NKV, HS), mask, seg (B, T) */
void lmf_attention_forward_window_ref(float *out, float *att,
    const float *q, const float *k, const float *v, const int32_t *mask,
    const int32_t *seg, int W, int B, int T, int NH, int NKV, int HS);
	/* the same with a window W (0: none) */
void lmf_attention_backward_ref(float *dq, float *dk, float *dv,
    const float *dout, const float *att, const float *q, const float *k,
    const float *v, int B, int T, int NH, int NKV, int HS);
	/* dq (B, T, NH, HS) +=, dk, dv (B, T, NKV, HS) +=, att from the
	 * forward (with or without a window: hidden keys' att is 0) */

/* ---- attention in blocks (flash-style), same masks as above ----
 * The forward keeps each query's logsumexp instead of the (T, T)
 * probabilities; the backward recomputes them block by block. */
size_t lmf_attention_flash_scratch(void);
	/* floats of scratch the flash kernels need (any T) */
void lmf_attention_flash_forward(float *out, float *lse, float *scratch,
    const float *q, const float *k, const float *v, const int32_t *mask,
    const int32_t *seg, int W, int B, int T, int NH, int NKV, int HS);
	/* out (B, T, NH, HS), lse (B, NH, T) (-inf: a query seeing no
	 * key), W the sliding window (0: none) */
void lmf_attention_flash_backward(float *dq, float *dk, float *dv,
    float *scratch, const float *dout, const float *out, const float *lse,
    const float *q, const float *k, const float *v, const int32_t *mask,
    const int32_t *seg, int W, int B, int T, int NH, int NKV, int HS);
	/* dq +=, dk, dv +=; out, lse from the forward with the same masks */

/* ---- the same under bf16: true ----
 * The five products take bf16 inputs with fp32 accumulation (gemm16.h),
 * as autocast runs attention: S = r(Q) r(K)^T / sqrt(HS) and O += r(P~)
 * r(V) with P~ = exp(S - running max) and its sum l taken in fp32; the
 * backward dP = r(dO) r(V)^T, dV += r(P)^T r(dO), dQ += r(dS) r(K), dK +=
 * r(dS)^T r(Q), P = exp(S - lse) and dS = P (dP - dO . O) / sqrt(HS) in
 * fp32 (r: rounded to bf16, nearest even). With or without AVX512-BF16
 * the same up to the order of the fp32 sums (gemm16.h); the same bits on
 * any thread count. */
size_t lmf_attention_flash_scratch16(int T, int HS);
	/* floats of scratch the bf16 kernels need for T and HS */
void lmf_attention_flash_forward16(float *out, float *lse, float *scratch,
    const float *q, const float *k, const float *v, const int32_t *mask,
    const int32_t *seg, int W, int B, int T, int NH, int NKV, int HS);
void lmf_attention_flash_backward16(float *dq, float *dk, float *dv,
    float *scratch, const float *dout, const float *out, const float *lse,
    const float *q, const float *k, const float *v, const int32_t *mask,
    const int32_t *seg, int W, int B, int T, int NH, int NKV, int HS);

/* ---- swiglu: out = silu(gate) * up, silu(x) = x * sigmoid(x) ---- */
void lmf_swiglu_forward(float *out, const float *gate, const float *up,
    long n);
	/* out, gate, up (n), n = N * FF; out may equal gate or up */
void lmf_swiglu_backward(float *dgate, float *dup, const float *dout,
    const float *gate, const float *up, long n);
	/* dgate, dup (n) += */

/* ---- softmax helpers over rows ---- */
void lmf_softmax_forward(float *out, const float *inp, int N, int V);
	/* out, inp (N, V); out may equal inp */
void lmf_softmax_backward(float *dinp, const float *dout, const float *out,
    int N, int V);
	/* dinp (N, V) += out * (dout - sum(dout * out)) */
void lmf_logsoftmax_forward(float *out, const float *inp, int N, int V);
	/* out = inp - logsumexp(inp); may be in place */
void lmf_logsoftmax_backward(float *dinp, const float *dout, const float *out,
    int N, int V);
	/* dinp (N, V) += dout - exp(out) * sum(dout) */

/* ---- cross-entropy over the vocabulary ----
 * targets[n] is the token row n should predict (the caller shifts the
 * labels: lmf_labels_shift), or -100 to ignore the row. */
void lmf_labels_shift(int32_t *targets, const int32_t *labels, int B,
    int T);
	/* targets (B, T) = labels (B, T) shifted left by one, -100 last */
double lmf_crossentropy_forward(float *losses, const float *logits,
    const int32_t *targets, int N, int V);
	/* @return the summed loss over rows not ignored; losses (N) or NULL
	 * gets each row's loss (0 when ignored); logits (N, V) */
double lmf_crossentropy_backward(float *dlogits, float *losses,
    const float *logits, const int32_t *targets, float scale, int N, int V);
	/* the forward, and dlogits (N, V) = (softmax - onehot) * scale for
	 * rows not ignored, 0 for ignored rows. dlogits is written, not
	 * accumulated (it starts the backward), and may equal logits, which
	 * saves a (N, V) buffer. scale is 1 / the label tokens of the whole
	 * optimizer step. @return the summed loss, as the forward */
double lmf_crossentropy_backward_ref(float *dlogits, float *losses,
    const float *logits, const int32_t *targets, float scale, int N, int V);

#endif
