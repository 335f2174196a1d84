#ifndef LMF_INFER_H
#define LMF_INFER_H
/* infer.h: a LLaMA-family model for inference: the weights of a model
 * stream in f32, LoRA adapters merged into them (W += scaling * B A), or
 * the weights of a model held elsewhere, borrowed (LoRA unmerged); and
 * a forward pass with a key/value cache per row, so that generating a
 * token costs one token's work. Rows are independent: each has its own
 * length and positions (0, 1, 2, ... from its first token), which is what
 * Hugging Face's left padding computes, without the padding.
 *
 * The numbers match lmf_llama_logits (llama.h) on the same tokens; the
 * tests hold the two together. */
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "lmf/lora.h"
#include "lmf/model.h"
#include "lmf/stream.h"

/* the merge is lmf_lora_merge (lora.h); this name stays for its callers */
static inline int
lmf_infer_merge_lora(struct lmf_item *model, const struct lmf_config *c,
    json_t *adapter_meta, struct lmf_item *adapter, char *err,
    size_t errlen)
{
	return lmf_lora_merge(model, c, adapter_meta, adapter, err, errlen);
}

/* read a model item in place: check every weight of c's parameter table
 * is there with its shape, convert float tensors to f32. 0, or -1 with
 * err */
int lmf_infer_check_item(struct lmf_item *it, const struct lmf_config *c,
    char *err, size_t errlen);

struct lmf_infer;

/* the weights of a model held elsewhere, e.g. a model in training
 * (llama.h): an inference model borrows them, never copies or frees them,
 * so it computes with their values at the time of each forward (a PPO
 * rollout from the policy being trained). LoRA pairs are applied unmerged:
 * y = x W^T + b + scaling (x A^T) B^T. The lender keeps every pointer
 * valid until lmf_infer_free. */
enum { LMF_INFER_Q, LMF_INFER_K, LMF_INFER_V, LMF_INFER_O, LMF_INFER_GATE,
	LMF_INFER_UP, LMF_INFER_DOWN, LMF_INFER_NPROJ }; /* PEFT's order */
struct lmf_infer_layer {
	const float *ln1;             /* (C) input_layernorm */
	const float *w[LMF_INFER_NPROJ];
	/* q (NH * HS, C), k, v (NKV * HS, C), o (C, NH * HS),
	 * gate, up (FF, C), down (C, FF) */
	const float *b[4];            /* q, k, v, o biases, or NULL */
	const float *ln2;             /* (C) post_attention_layernorm */
	const float *q_norm;          /* (HS) qwen3 self_attn.q_norm, or NULL */
	const float *k_norm;          /* (HS) self_attn.k_norm */
	const float *lora_a[LMF_INFER_NPROJ]; /* (r, in), NULL: none */
	const float *lora_b[LMF_INFER_NPROJ]; /* (out, r) */
};
struct lmf_infer_weights {
	const float *wte;             /* (V, C) */
	const float *lnf;             /* (C) */
	const float *lmw;             /* (V, C); wte when tied */
	const struct lmf_infer_layer *layer; /* (L) */
	int lora_rank;                /* r; 0: no LoRA */
	float lora_scaling;           /* alpha / r, or alpha / sqrt(r) */
};
/* fill w and layer (L entries) by name: find(ctx, name) gives the f32
 * values of a Hugging Face weight ("model.layers.0.self_attn.q_proj.
 * weight") or of a PEFT LoRA one ("base_model.model.model.layers.0.
 * self_attn.q_proj.lora_A.weight"), or NULL. The LoRA rank and scaling are
 * left to the caller. 0, or -1 with the missing name in err */
int lmf_infer_weights_by_name(struct lmf_infer_weights *w,
    struct lmf_infer_layer *layer, const struct lmf_config *c,
    const float *(*find)(void *ctx, const char *name), void *ctx,
    char *err, size_t errlen);
/* an inference model over borrowed weights (the pointers are copied, the
 * arrays they point at are not). NULL with err when a weight the config
 * needs is missing or a LoRA pair is half there */
struct lmf_infer *lmf_infer_borrow(const struct lmf_config *c,
    const struct lmf_infer_weights *w, char *err, size_t errlen);

/* read a model stream (and, when adapter is not NULL, an adapter stream to
 * merge). q/k/v and gate/up are read straight into one block each, so
 * that each group is one product. NULL with a one-line message in err on
 * failure */
struct lmf_infer *lmf_infer_open(struct lmf_rd *model, struct lmf_rd *adapter,
    char *err, size_t errlen);
/* the same with the weights in dtype (lmf_infer_set_dtype): LMF_BF16
 * without an adapter reads every projection and lm_head straight into
 * bf16, never holding them in f32 */
struct lmf_infer *lmf_infer_open_dtype(struct lmf_rd *model,
    struct lmf_rd *adapter, int dtype, char *err, size_t errlen);
void lmf_infer_free(struct lmf_infer *m);
const struct lmf_config *lmf_infer_config(const struct lmf_infer *m);
json_t *lmf_infer_meta(struct lmf_infer *m);        /* header (borrowed;
                                    NULL for lmf_infer_borrow's) */
struct lmf_item *lmf_infer_item(struct lmf_infer *m); /* the tensors,
                                    tokenizer files included (borrowed) */

/* hold the projections and lm_head in dtype: LMF_BF16 (rounded to
 * nearest even, widened on the fly in the products, f32 sums; the
 * embedding, norms, biases and LoRA pairs stay f32), LMF_I8 (the same
 * with int8 and an f32 scale per row, lmf_i8_quantize) or LMF_F32 (as
 * opened; a no-op). An opened model frees its f32 copies (the tensors
 * of lmf_infer_item for them are then left without data); a borrowed one
 * copies the lender's weights as they are at this call, and copies them
 * again at each later call (a policy trained between rollouts; a LoRA
 * base is frozen, its pairs stay f32 and live). 0, or -1 with err */
int lmf_infer_set_dtype(struct lmf_infer *m, int dtype, char *err,
    size_t errlen);

/* the values of LLaMA-Factory's infer_dtype key, int8 lmf's own, as an
 * option's choices (opt.h's LMF_OPT_CHOICE: 0 auto, 1 float32, 2
 * bfloat16, 3 int8) */
#define LMF_INFER_DTYPES "auto|float32|bfloat16|int8"
/* the weights dtype of choice i of LMF_INFER_DTYPES, for
 * lmf_infer_set_dtype and lmf_infer_open_dtype: LMF_F32 (auto and
 * float32: unlike LLaMA-Factory's auto, never the checkpoint's dtype),
 * LMF_BF16 or LMF_I8 */
int lmf_infer_dtype(int choice);

/* make room for B rows of up to maxT tokens each, all empty */
void lmf_infer_reset(struct lmf_infer *m, int B, int maxT);
int lmf_infer_len(const struct lmf_infer *m, int row); /* tokens cached */
void lmf_infer_clear(struct lmf_infer *m, int row);    /* empty one row */

/* run n tokens: token i (tok[i], each in [0, V)) is appended to row
 * row[i] at that row's next position and attends to the row's cached
 * tokens and itself; tokens of one row come in order. logits gets (nlast,
 * V): the logits of the last nlast tokens of the call (nlast <= n).
 * -1 (nothing done) when a row would pass maxT, else 0 */
int lmf_infer_forward(struct lmf_infer *m, int n, const int *row,
    const int32_t *tok, float *logits, int nlast);

#endif
