#ifndef LMF_LLAMA_H
#define LMF_LLAMA_H
/* llama.h: a LLaMA-family causal LM (llama, mistral, qwen2, qwen3) in
 * training: its parameters, what is trainable (full, freeze, LoRA),
 * gradients, activations, the forward and backward of the token cross-entropy
 * (lmf_llama_step), and for other objectives the forward to hidden
 * states, per-token log-probs, a value head, the base model without the
 * adapter, and the backward from any of them, with Hugging Face's
 * semantics in fp32. The (N, V) logits are never held in training: the
 * lm_head products run in blocks of rows.
 *
 * Memory follows llm.c: one block for the base weights, one for the LoRA
 * weights, one gradient block holding only trainable tensors (frozen ones
 * have none), one activation block sized for the largest batch seen.
 * Gradient checkpointing (on by default, as in LLaMA-Factory) keeps only
 * each layer's input and recomputes the layer in backward. Without it a
 * layer keeps q, k, v, the attention output, the residual after attention,
 * gate and up; the two RMSNorm outputs, silu(gate) * up and LoRA's
 * dropped-out inputs are recomputed in backward by the forward's own
 * functions, so the results are those of keeping them, bit for bit.
 *
 * The batch (a "batches" stream item, lmf-stream(5)):
 *   input_ids       i32 (B, T)   token ids, each in [0, V)
 *   attention_mask  i32 (B, T)   0 for padding; otherwise a segment id:
 *                                all 1 for plain rows, 1, 2, 3... for the
 *                                examples of a neat-packed row (tokens
 *                                attend only within their segment)
 *   labels          i32 (B, T)   aligned with input_ids (position t's
 *                                logits predict labels[t + 1]), -100 ignored
 *   position_ids    i32 (B, T)   optional; default 0..T-1 in every row;
 *                                packed rows restart them per example
 * (i64 ids are accepted and converted.) */
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "lmf/lora.h"
#include "lmf/model.h"
#include "lmf/stream.h"

enum lmf_finetuning_type {
	LMF_FT_LORA = 0, /* LLaMA-Factory's default */
	LMF_FT_FULL = 1,
	LMF_FT_FREEZE = 2,
};

/* what to train and how; lmf_train_opts_default() gives LLaMA-Factory's
 * defaults */
struct lmf_train_opts {
	int finetuning_type;           /* enum lmf_finetuning_type */
	/* freeze (spec 6.3) */
	int freeze_trainable_layers;   /* 2: last 2; -n: first n */
	const char *freeze_trainable_modules; /* "all" or e.g. "mlp,self_attn" */
	const char *freeze_extra_modules;     /* NULL or "embed_tokens,norm" */
	int use_llama_pro;             /* every (L/n)th layer trains instead */
	/* lora (spec 6.4) */
	int lora_rank;                 /* 8 */
	double lora_alpha;             /* 0: 2 * rank */
	double lora_dropout;           /* 0.0 */
	int lora_target;               /* LMF_PROJ_* bits; default ALL */
	int use_rslora;                /* scaling alpha / sqrt(r) */
	/* training */
	int gradient_checkpointing;    /* 1 */
	int bf16;                      /* 0; 1: the linear layers' products
	                                  with bf16 inputs (lmf_gemm_bf16) */
	uint64_t seed;                 /* LoRA init and dropout: 42 */
};
struct lmf_train_opts lmf_train_opts_default(void);

/* one tensor of the model as a trainer sees it */
struct lmf_tparam {
	char name[160];   /* HF name, or the PEFT name for LoRA tensors
	                     (base_model.model.model.layers.0.self_attn.
	                     q_proj.lora_A.weight) */
	int ndim;
	int64_t shape[2];
	uint64_t numel;
	float *w;         /* the values */
	float *g;         /* the gradient; NULL when frozen */
	int decay;        /* weight decay applies (HF Trainer: not to biases
	                     and norm weights) */
	int layer;        /* when a backward makes its gradient final: after
	                     block layer (0 .. L-1); L: before the blocks
	                     (lm_head, model.norm, v_head); -1: at the end
	                     (embed_tokens, tied or not) */
};

/* a batch in memory (pointers borrowed from a stream item) */
struct lmf_batch {
	int B, T;
	const int32_t *input_ids;      /* (B, T) */
	const int32_t *attention_mask; /* (B, T) or NULL: all 1 */
	const int32_t *labels;         /* (B, T) */
	const int32_t *position_ids;   /* (B, T) or NULL: 0..T-1 */
};
/* point b at an item's tensors (converting i64 to i32 in place of the
 * item's data); checks names, dtypes, shapes and id ranges. 0, or -1
 * with a one-line message in err */
int lmf_batch_from_item(struct lmf_batch *b, struct lmf_item *it, int V,
    char *err, size_t errlen);
/* point b at a prompt batch's tensors (lmf-tokenize
 * --predict_with_generate or --stage ppo, lmf-pack; PPO rollouts, sft
 * predict): input_ids and attention_mask (B, T), ids below V, no prompt
 * longer than cutoff (when > 0: lmf-tokenize truncates to it); its
 * labels, the unaligned reference answers, are not used. 0, or -1 */
int lmf_batch_from_prompts(struct lmf_batch *b, struct lmf_item *it, int64_t V,
    long cutoff, char *err, size_t errlen);
/* a prompt batch row's tokens without its padding into q (room for T
 * ids); their count */
int lmf_batch_row_tokens(const struct lmf_batch *b, int row, int32_t *q);
/* tokens with labels != -100 (unshifted, as HF counts num_items_in_batch) */
long lmf_batch_label_tokens(const struct lmf_batch *b);
/* the row's last non-padding position as an index into (B * T) per-token
 * values: attention_mask.sum() - 1 of the right-padded row, as
 * LLaMA-Factory takes a reward model's score (spec 5.3); -1 if the row is
 * all padding */
long lmf_batch_last(const struct lmf_batch *b, int row);

struct lmf_llama;

/* read a model stream (its header and its one item, payloads straight
 * into the parameter block) and set up training per o. NULL with a
 * one-line message in err on failure (missing tensor, wrong shape, ...).
 * Tokenizer tensors in the stream are kept for writing the result. */
struct lmf_llama *lmf_llama_open(struct lmf_rd *r, const struct lmf_train_opts *o,
    char *err, size_t errlen);
/* continue training an existing adapter (an adapter stream): its rank,
 * alpha, targets and values replace o's. 0, or -1 with err */
int lmf_llama_load_adapter(struct lmf_llama *m, struct lmf_rd *r, char *err,
    size_t errlen);
void lmf_llama_free(struct lmf_llama *m);
/* the weights changed (an optimizer step): with bf16 the next forward
 * narrows the trainable ones' bf16 copies again */
void lmf_llama_weights_changed(struct lmf_llama *m);
/* a preference trainer's buffers for lmf_llama_seqlogps, (B * T): the
 * tokens' log-probs, their gradient, the mean logits of each position */
struct lmf_seqlp {
	float *lp, *dlp, *mlog;
	long cap;
};
/* forward batch b (flags as lmf_llama_forward), s->mlog set when mlog,
 * and each row's summed label log-prob into logps (B), with avg and len
 * when not NULL (lmf_seqlogps_forward) */
void lmf_llama_seqlogps(struct lmf_llama *m, struct lmf_seqlp *s,
    const struct lmf_batch *b, int flags, int mlog, float *logps,
    float *avg, float *len);
/* the backward of dlogps (B, multiplied by scale in place) through that
 * forward into m's gradients */
void lmf_llama_seqlogps_backward(struct lmf_llama *m, struct lmf_seqlp *s,
    const struct lmf_batch *b, float *dlogps, float scale);
void lmf_seqlp_free(struct lmf_seqlp *s);
const struct lmf_config *lmf_llama_config(const struct lmf_llama *m);

/* point w and layer (L entries, the caller's) at the model's live
 * weights, for generating from the model being trained (a PPO rollout):
 * lmf_infer_borrow(lmf_llama_config(m), w, ...) then reads, at each
 * forward, the values the last optimizer step left. LoRA is applied on
 * the fly, as infer.h does (y = x W^T + scaling (x A^T) B^T, nothing
 * merged or copied), with no dropout; the value head is not used. The
 * pointers stay valid until lmf_llama_free, or lmf_llama_load_adapter
 * (call again after it). 0, or -1 with err */
struct lmf_infer_weights;
struct lmf_infer_layer;
int lmf_llama_infer_weights(struct lmf_llama *m, struct lmf_infer_weights *w,
    struct lmf_infer_layer *layer, char *err, size_t errlen);
/* the trainable tensors in model order (LoRA: each targeted module's
 * lora_A then lora_B, layer by layer, in PEFT's module order) */
int lmf_llama_ntrainable(const struct lmf_llama *m);
struct lmf_tparam *lmf_llama_trainable(struct lmf_llama *m, int i);
uint64_t lmf_llama_trainable_numel(const struct lmf_llama *m);
uint64_t lmf_llama_numel(const struct lmf_llama *m); /* all parameters */

void lmf_llama_zero_grad(struct lmf_llama *m);
/* micro-batch steps taken, which seed the LoRA dropout masks: a resumed
 * run sets it to the micro-batches its checkpoint consumed, so that it
 * draws the masks an uninterrupted run would */
uint64_t lmf_llama_nsteps(const struct lmf_llama *m);
void lmf_llama_set_nsteps(struct lmf_llama *m, uint64_t n);
/* forward and backward of one micro-batch: gradients of
 * (sum of token cross-entropy) * scale are ADDED to the trainable
 * gradients (scale = 1 / label tokens of the whole optimizer step).
 * Returns the summed (unscaled) cross-entropy over the batch's predicted
 * tokens; *npred gets how many tokens were predicted. Training mode:
 * LoRA dropout is active. */
double lmf_llama_step(struct lmf_llama *m, const struct lmf_batch *b,
    float scale, long *npred);
/* the same without gradients (evaluation; no dropout) */
double lmf_llama_eval(struct lmf_llama *m, const struct lmf_batch *b,
    long *npred);
/* after lmf_llama_eval: each position's argmax of the logits into pred
 * (B * T), without holding the (B, T, V) logits (compute_accuracy) */
void lmf_llama_argmax(struct lmf_llama *m, int32_t *pred);
/* the logits of a batch, (B, T, V) into out (tests, generation); eval
 * mode */
void lmf_llama_logits(struct lmf_llama *m, const struct lmf_batch *b,
    float *out);

/* ---- the model API, for trainers with their own objective ----
 * A step of such a trainer:
 *   h = lmf_llama_forward(m, b, LMF_FWD_TRAIN);   hidden states
 *   lmf_llama_logps(m, lp); lmf_llama_values(m, v);   heads on h
 *   (the loss, giving dlp, dv)
 *   lmf_llama_logps_backward(m, dlp); lmf_llama_values_backward(m, dv);
 *   lmf_llama_backward(m, b);                     into the gradients
 * The heads work on the LAST forward; between a training forward and its
 * backward only head calls may come (another forward overwrites the
 * activations). N = B * T; row n of a batch is position n % T of row
 * n / T. */
enum {
	LMF_FWD_TRAIN = 1,      /* LoRA (and value head) dropout; keep what
	                           the backward needs */
	LMF_FWD_NO_ADAPTER = 2, /* the base model: LoRA terms skipped (the
	                           reference model of LoRA runs); no
	                           gradients, so not with LMF_FWD_TRAIN */
};
/* the final hidden states (after the final norm, HF's hidden_states[-1]),
 * (N, C), valid until the next forward */
const float *lmf_llama_forward(struct lmf_llama *m, const struct lmf_batch *b,
    int flags);
/* d(hidden) (N, C), zeroed by a training forward: heads add into it */
float *lmf_llama_dhidden(struct lmf_llama *m);
/* from d(hidden) down through the model: the gradients of the trainable
 * tensors are ADDED to; one micro-batch step is counted (nsteps) */
void lmf_llama_backward(struct lmf_llama *m, const struct lmf_batch *b);
/* fn(ctx, l) from every backward (lmf_llama_step's too) as soon as the
 * gradients of the trainable tensors whose .layer >= l are final: l = L
 * before the first block, then L-1 .. 0 as each block is done, -1 at the
 * end; fn NULL: none (the default). Data parallelism sends gradients on
 * their way while the backward goes on */
void lmf_llama_on_grads(struct lmf_llama *m, void (*fn)(void *ctx, int l),
    void *ctx);
/* logits (N, V) of the last forward; and d(logits) (N, V) back through
 * lm_head into d(hidden) and lm_head's gradient (when it trains) */
void lmf_llama_head_logits(struct lmf_llama *m, float *logits);
void lmf_llama_logits_backward(struct lmf_llama *m, const float *dlogits);
/* lp (N): log-prob of each row's target (the label of the next position,
 * lmf_llama_targets), 0 where ignored, through lm_head in blocks of rows
 * (lmf_logps_fused_forward), never the (N, V) logits; and its backward
 * from dlp (N) into d(hidden) and lm_head's gradient */
void lmf_llama_logps(struct lmf_llama *m, float *lp);
void lmf_llama_logps_backward(struct lmf_llama *m, const float *dlp);
/* mean (N): each row's logits averaged over the vocabulary, as the mean
 * lm_head row dotted with the hidden state (no (N, V) logits) */
void lmf_llama_mean_logits(struct lmf_llama *m, float *mean);
const int32_t *lmf_llama_targets(const struct lmf_llama *m);
	/* (N) the last forward's labels shifted left (-100 ignored) */

/* the value head of TRL's AutoModelForCausalLMWithValueHead: values (N) =
 * v_head.summary (Linear(C, 1)) of dropout(hidden), dropout active after
 * a training forward. lmf_llama_value_head adds it (trainable, listed
 * after every other tensor as v_head.summary.weight (1, C) and .bias (1))
 * with dropout p (< 0: the config's summary_dropout_prob, else 0.1),
 * initialised as nn.Linear: U(-1/sqrt(C), 1/sqrt(C)) from the seed, or
 * with the values of the model or adapter stream read, which then has it
 * already. lmf_llama_write writes it after every other tensor. */
void lmf_llama_value_head(struct lmf_llama *m, double dropout);
int lmf_llama_has_value_head(const struct lmf_llama *m);
void lmf_llama_values(struct lmf_llama *m, float *values);
void lmf_llama_values_backward(struct lmf_llama *m, const float *dvalues);
	/* d(hidden) and the head's gradients += from dvalues (N) */

/* the result: for LoRA an adapter stream (kind "adapter", PEFT names,
 * "adapter_config" in the header as PEFT writes it, lmf-load(1)'s adapter
 * layout), otherwise a model stream (kind "model", HF names, "config",
 * the tokenizer tensors first, lmf-load(1)'s layout). The header comes
 * from lmf_llama_result_meta (new reference; add to it, then open the
 * writer with it); lmf_llama_write writes the one item. */
json_t *lmf_llama_result_meta(struct lmf_llama *m);
/* the tokenizer of the stream's tokenizer tensors (lmf_tok_free it);
 * NULL with err when it has none */
struct lmf_tok;
struct lmf_tok *lmf_llama_tok(struct lmf_llama *m, char *err, size_t errlen);
int lmf_llama_write(struct lmf_llama *m, struct lmf_wr *w);
/* the tensors lmf_llama_write writes, in its order, as an item whose
 * data are m's own weights (not copied: valid while m is and unchanged);
 * lmf_llama_result_release frees what it allocated (names, the array) */
struct lmf_item;
void lmf_llama_result_item(struct lmf_llama *m, struct lmf_item *it);
void lmf_llama_result_release(struct lmf_item *it);

#endif
