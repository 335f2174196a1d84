/* llama.c: a LLaMA-family causal LM in training (llama.h): parameters read
 * from a model stream, what is trainable (full, freeze, LoRA), the forward
 * to hidden states and the backward from them with optional per-layer
 * recomputation, the heads on the hidden states (token cross-entropy and
 * log-probs through lm_head in blocks of rows, TRL's value head), and the
 * result as a model or adapter stream.
 *
 * Mistral's sliding window: a query at t sees the keys s with
 * t - sliding_window < s <= t, as transformers masks it. LoRA dropout masks come from a stream seeded by (seed,
 * step, layer, projection), so the recomputation in backward draws the
 * same mask as the forward did.
 *
 * Memory as in llm.c: one block of base weights (model order), one of
 * LoRA weights, one of gradients for trainable tensors only, one of
 * activations that grows to the largest batch seen and is then reused.
 * In that block, what the backward can get back exactly for a few
 * elementwise passes is not kept per layer (struct lacts), and buffers
 * never live at once share storage (the two halves' backward scratch;
 * the heads' logits and the blocks' fused products).
 *
 * bf16 (o.bf16, LLaMA-Factory's bf16: true): the seven projections' and
 * lm_head's products take bf16 inputs (lmf_gemm_bf16: fp32 accumulation
 * and output). The weights are narrowed once after each optimizer step
 * (lmf_llama_weights_changed) into a bf16 copy; the activations and
 * gradients that enter a product are narrowed just before it. What is
 * rounded: forward X W^T, both inputs; backward dY W and dY^T X, all of
 * dY, W, X. Attention's five products round their inputs too, as autocast
 * runs attention (lmf_attention_flash_forward16: q, k, v, the
 * probabilities, dO and dS; softmax and its sums in fp32). Everything else
 * stays fp32: master weights, optimizer state, gradients (their products
 * accumulate in fp32), norms, RoPE, softmax, the loss, LoRA's A and B
 * products, and the log-prob heads (lmf_llama_logps) and value head. With LoRA the
 * frozen projections are held in bf16 only: their fp32 is freed once
 * narrowed (generation widens a copy on demand, lmf_llama_infer_weights). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmf/gemm.h"
#include "lmf/infer.h"
#include "lmf/kernels.h"
#include "lmf/llama.h"
#include "lmf/llama_priv.h"
#include "lmf/loss.h"
#include "lmf/prof.h"
#include "lmf/tok.h"
#include "lmf/util.h"
#include "lmf/banned.h"

/* the weights of one block, by their place in the layer */
enum {
	W_LN1, W_Q, W_BQ, W_K, W_BK, W_V, W_BV, W_O, W_BO, W_LN2, W_G, W_U,
	W_D, W_QN, W_KN, NW
};
static const char *wname[NW] = {
	"input_layernorm.weight", "self_attn.q_proj.weight",
	"self_attn.q_proj.bias", "self_attn.k_proj.weight",
	"self_attn.k_proj.bias", "self_attn.v_proj.weight",
	"self_attn.v_proj.bias", "self_attn.o_proj.weight",
	"self_attn.o_proj.bias", "post_attention_layernorm.weight",
	"mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight",
	"self_attn.q_norm.weight", "self_attn.k_norm.weight",
};

/* the seven projections, in PEFT's module order (lora.h) */
#define NPROJ LMF_LORA_NPROJ
enum { P_Q, P_K, P_V, P_O, P_G, P_U, P_D };
static const int pweight[NPROJ] = { W_Q, W_K, W_V, W_O, W_G, W_U, W_D };
static const int pbias[NPROJ] = { W_BQ, W_BK, W_BV, W_BO, -1, -1, -1 };

#define MAX_EXTRA 16

/* one LoRA pair on one projection */
struct lora {
	float *A;      /* (r, in) */
	float *B;      /* (out, r) */
	float *dA;     /* (r, in) */
	float *dB;     /* (out, r) */
	int in, out;
};

/* the activations of one layer (all (N, ...) row-major). In training,
 * unless m->keep, ln1, ln2, h and the xd are not kept per layer: they
 * point at shared buffers (ln1 and ln2 at one (N, C), h at the backward's
 * dgate, every xd at its dx) and the backward recomputes them from what
 * is kept (x, xmid, gate, up, the dropout seed) with the functions the
 * forward used, so they come back bit for bit */
struct lacts {
	float *ln1;    /* (N, C) */
	float *rstd1;  /* (N) */
	float *q;      /* (N, NH * HS), after rope */
	float *k;      /* (N, NKV * HS), after rope */
	float *qp;     /* (N, NH * HS) qwen3: q before q_norm, else NULL */
	float *kp;     /* (N, NKV * HS) k before k_norm */
	float *qrstd;  /* (N * NH) */
	float *krstd;  /* (N * NKV) */
	float *v;      /* (N, NKV * HS) */
	float *alse;   /* (B, NH, T) attention's logsumexp per query */
	float *atty;   /* (N, NH * HS) */
	float *xmid;   /* (N, C) residual after attention */
	float *ln2;    /* (N, C) */
	float *rstd2;  /* (N) */
	float *gate;   /* (N, FF) */
	float *up;     /* (N, FF) */
	float *h;      /* (N, FF) silu(gate) * up */
	float *t[NPROJ];  /* (N, r) LoRA x A^T, when targeted */
	float *xd[NPROJ]; /* (N, in) dropped-out input, when dropout > 0 */
};

/* backward scratch, shared by all layers. The MLP half's (dh, dgate,
 * dup) and the attention half's (datty .. dkp) are never live at once:
 * they share one region */
struct bscratch {
	float *dres;   /* (N, C) gradient of the residual stream */
	float *dln;    /* (N, C) */
	float *xscr;   /* (N, C) recomputed layer output (discarded);
	                  checkpointing only */
	float *rstd;   /* (N) a recomputed norm's rstd (the saved one's) */
	float *dh;     /* (N, FF) */
	float *dgate;  /* (N, FF) */
	float *dup;    /* (N, FF) */
	float *datty;  /* (N, NH * HS) */
	float *dq;     /* (N, NH * HS) */
	float *dk;     /* (N, NKV * HS) */
	float *dv;     /* (N, NKV * HS) */
	float *dqp;    /* (N, NH * HS) qwen3: d q before q_norm */
	float *dkp;    /* (N, NKV * HS) */
	float *dt;     /* (N, r) */
	float *dx;     /* (N, max(C, FF, NH * HS)) */
};

struct lmf_llama {
	struct lmf_config c;
	struct lmf_train_opts o;
	json_t *meta;          /* the model stream's header */
	struct lmf_param *p;   /* the parameter table */
	int np;
	float *params;         /* all base weights, model order */
	float **pw;            /* (np) each weight in params */
	float **pg;            /* (np) each gradient, or NULL when frozen */
	float *grads;          /* gradients of trainable base weights */
	uint64_t ngrads;
	float *wte, *dwte, *lnf, *dlnf, *lmw, *dlmw;
	float *(*lw)[NW];      /* (L) per layer weights */
	float *(*lg)[NW];      /* (L) per layer gradients */
	/* lora */
	int lora;              /* LoRA active */
	int rank;
	double alpha, scaling, dropout;
	int targets, rslora;
	float *lblock;         /* all A and B */
	float *lgrad;          /* their gradients */
	uint64_t nlora;
	struct lora (*lo)[NPROJ]; /* (L) A NULL when not targeted */
	/* what a trainer sees */
	struct lmf_tparam *tp;
	int ntp;
	uint64_t tnumel;
	int embed_trainable;
	int *cont;             /* (L) backward must run through layer l */
	void (*on_grads)(void *ctx, int l);   /* lmf_llama_on_grads */
	void *grads_ctx;
	/* extra tensors (tokenizer files), kept for writing */
	struct lmf_tensor extra[MAX_EXTRA];
	int nextra;
	/* activations */
	float *acts;
	size_t acap;
	int32_t *ints;
	size_t icap;
	int nsets;             /* layer activation sets: L or 1 */
	struct lacts *la;      /* (nsets) */
	struct bscratch s;
	float **res;           /* (L + 1) residual stream, each (N, C) */
	float *xf, *rstdf;     /* (N, C), (N) final norm */
	float *lscr;           /* (min(N, LOGIT_ROWS), V) a block of logits;
	                          the heads' scratch, shares fscr's storage */
	float *fscr;           /* (N, max(QD + 2 KD, 2 FF)) fused products,
	                          used by the blocks only */
	float *lnb;            /* (N, C) ln1 and ln2 when not kept */
	int keep;              /* keep ln1, ln2, h, xd per layer
	                          (lmf_llama_keep_acts) */
	float *lse;            /* (N) logsumexp of each row's logits */
	float *attscr;         /* lmf_attention_flash_scratch(16) */
	float *cosb, *sinb;    /* (N, HS / 2) */
	int32_t *pos, *targ;   /* (N) */
	struct lmf_rope rope;  /* inverse frequencies, attention scaling */
	uint64_t nsteps;       /* steps taken: seeds dropout */
	/* bf16 (o.bf16): each projection's and lm_head's bf16 copy */
	uint16_t *p16;         /* the bf16 copies, one block */
	uint16_t **pw16;       /* (np) a weight's bf16, or NULL */
	uint16_t *(*lw16)[NW]; /* (L) per layer, or NULL */
	uint16_t *lmw16;       /* (V, C) */
	float **pwback;        /* (np) a bf16-only weight widened for
	                          generation, made on demand */
	int w16_fresh;         /* the copies match the fp32 masters */
	uint16_t *x16, *y16;   /* products' inputs narrowed: (N, max(C,
	                          FF, QD)) and the larger of (N, the widest
	                          output) and (LOGIT_ROWS, V) */
	size_t x16cap, y16cap;
	int fflags, fB, fT;    /* the last forward: LMF_FWD_*, its batch */
	char *trainable;       /* (np) which base weights train */
	/* the value head (TRL's v_head.summary), when there is one */
	int vhead;
	double vdrop;          /* summary_dropout_prob */
	float *vh;             /* (C + 1) weight (1, C), then bias (1) */
	float *dvh;            /* (C + 1) their gradients */
	int vseen;             /* bits 1, 2: weight, bias read from a stream */
};

/* rows of logits the fused lm_head holds at once: the (N, V) logits are
 * never materialised in training */
#define LOGIT_ROWS 256

/* ------------------------------------------------------------------ */
/* options */

struct lmf_train_opts
lmf_train_opts_default(void)
{
	struct lmf_train_opts o = {
		.finetuning_type = LMF_FT_LORA,
		.freeze_trainable_layers = 2,
		.freeze_trainable_modules = "all",
		.freeze_extra_modules = NULL,
		.lora_rank = 8,
		.lora_alpha = 0,
		.lora_dropout = 0,
		.lora_target = LMF_PROJ_ALL,
		.use_rslora = 0,
		.gradient_checkpointing = 1,
		.seed = 42,
	};
	return o;
}

/* ------------------------------------------------------------------ */
/* batches */

static struct lmf_tensor *
batch_tensor(struct lmf_item *it, const char *name, int need, int *B,
    int *T, char *err, size_t errlen, int *bad)
{
	struct lmf_tensor *t = lmf_item_find(it, name);
	uint64_t i, n;

	if (!t) {
		if (need) {
			lmf_seterr(err, errlen, "batch has no '%s'", name);
			*bad = 1;
		}
		return NULL;
	}
	if (t->dtype != LMF_I32 && t->dtype != LMF_I64) {
		lmf_seterr(err, errlen,
		    "batch tensor '%s' is %s, not i32 or i64",
		    name, lmf_dtype_name(t->dtype) ? lmf_dtype_name(t->dtype) :
		    "unknown");
		*bad = 1;
		return NULL;
	}
	if (t->ndim != 2 || t->shape[0] < 1 || t->shape[1] < 1 ||
	    t->shape[0] > 1 << 20 || t->shape[1] > 1 << 20 ||
	    t->shape[0] * t->shape[1] > 1 << 28 || !t->data) {
		lmf_seterr(err, errlen,
		    "batch tensor '%s' is not a (B, T) matrix",
		    name);
		*bad = 1;
		return NULL;
	}
	if (*B && (t->shape[0] != *B || t->shape[1] != *T)) {
		lmf_seterr(err, errlen, "batch tensor '%s' is [%lld, %lld], "
		    "input_ids [%d, %d]", name, (long long)t->shape[0],
		    (long long)t->shape[1], *B, *T);
		*bad = 1;
		return NULL;
	}
	*B = (int)t->shape[0];
	*T = (int)t->shape[1];
	if (t->dtype == LMF_I64) {
		int32_t *d = t->data;

		n = lmf_tensor_numel(t);
		for (i = 0; i < n; i++) {
			int64_t v = (int64_t)lmf_get_u64(
			    (unsigned char *)t->data + 8 * i);

			if (v < INT32_MIN || v > INT32_MAX) {
				lmf_seterr(err, errlen,
				    "batch tensor '%s': value "
				    "%lld at %llu does not fit in 32 bits",
				    name, (long long)v, (unsigned long long)i);
				*bad = 1;
				return NULL;
			}
			d[i] = (int32_t)v;
		}
		t->dtype = LMF_I32;
		t->nbytes = 4 * n;
	}
	return t;
}

int
lmf_batch_from_prompts(struct lmf_batch *b, struct lmf_item *it, int64_t V,
    long cutoff, char *err, size_t errlen)
{
	struct lmf_tensor *x = lmf_item_find(it, "input_ids");
	struct lmf_tensor *m = lmf_item_find(it, "attention_mask");
	int64_t i, t, n;

	if (!x || x->dtype != LMF_I32 || x->ndim != 2 || x->shape[0] < 1 ||
	    x->shape[1] < 1 || (m && (m->dtype != LMF_I32 || m->ndim != 2 ||
	    m->shape[0] != x->shape[0] || m->shape[1] != x->shape[1]))) {
		lmf_seterr(err, errlen, "no i32 (B, T) input_ids and "
		    "attention_mask");
		return -1;
	}
	memset(b, 0, sizeof *b);
	b->B = (int)x->shape[0];
	b->T = (int)x->shape[1];
	b->input_ids = x->data;
	b->attention_mask = m ? m->data : NULL;
	for (i = 0; i < x->shape[0] * x->shape[1]; i++)
		if (b->input_ids[i] < 0 || b->input_ids[i] >= V) {
			lmf_seterr(err, errlen, "id %d is out of range",
			    (int)b->input_ids[i]);
			return -1;
		}
	for (i = 0; i < b->B; i++) {
		for (n = t = 0; t < b->T; t++)
			n += !b->attention_mask || b->attention_mask[i * b->T + t];
		if (!n) {
			lmf_seterr(err, errlen, "row %d is all padding", (int)i);
			return -1;
		}
		if (cutoff > 0 && n > cutoff) {
			lmf_seterr(err, errlen, "row %d: a prompt of %lld tokens, "
			    "longer than cutoff_len %ld", (int)i, (long long)n,
			    cutoff);
			return -1;
		}
	}
	return 0;
}

int
lmf_batch_row_tokens(const struct lmf_batch *b, int row, int32_t *q)
{
	long t, o = (long)row * b->T;
	int n = 0;

	for (t = 0; t < b->T; t++)
		if (!b->attention_mask || b->attention_mask[o + t])
			q[n++] = b->input_ids[o + t];
	return n;
}

int
lmf_batch_from_item(struct lmf_batch *b, struct lmf_item *it, int V,
    char *err, size_t errlen)
{
	struct lmf_tensor *ids, *mask, *lab, *pos;
	int B = 0, T = 0, bad = 0;
	long i, n;
	const int32_t *x;

	memset(b, 0, sizeof *b);
	ids = batch_tensor(it, "input_ids", 1, &B, &T, err, errlen, &bad);
	if (bad)
		return -1;
	lab = batch_tensor(it, "labels", 1, &B, &T, err, errlen, &bad);
	if (bad)
		return -1;
	mask = batch_tensor(it, "attention_mask", 0, &B, &T, err, errlen,
	    &bad);
	if (bad)
		return -1;
	pos = batch_tensor(it, "position_ids", 0, &B, &T, err, errlen, &bad);
	if (bad)
		return -1;
	n = (long)B * T;
	x = ids->data;
	i = lmf_embedding_check(x, n, V);
	if (i >= 0) {
		lmf_seterr(err, errlen,
		    "input_ids: token id %d at row %ld column "
		    "%ld is outside [0, %d)", x[i], i / T, i % T, V);
		return -1;
	}
	x = lab->data;
	for (i = 0; i < n; i++)
		if (x[i] != LMF_IGNORE_INDEX && (x[i] < 0 || x[i] >= V)) {
			lmf_seterr(err, errlen,
			    "labels: %d at row %ld column %ld "
			    "is neither -100 nor in [0, %d)", x[i], i / T,
			    i % T, V);
			return -1;
		}
	for (i = 0; mask && i < n; i++)
		if (((int32_t *)mask->data)[i] < 0) {
			lmf_seterr(err, errlen,
			    "attention_mask: negative value "
			    "at row %ld column %ld", i / T, i % T);
			return -1;
		}
	for (i = 0; pos && i < n; i++)
		if (((int32_t *)pos->data)[i] < 0) {
			lmf_seterr(err, errlen, "position_ids: negative value "
			    "at row %ld column %ld", i / T, i % T);
			return -1;
		}
	b->B = B;
	b->T = T;
	b->input_ids = ids->data;
	b->labels = lab->data;
	b->attention_mask = mask ? mask->data : NULL;
	b->position_ids = pos ? pos->data : NULL;
	return 0;
}

long
lmf_batch_label_tokens(const struct lmf_batch *b)
{
	long i, n = (long)b->B * b->T, k = 0;

	for (i = 0; i < n; i++)
		k += b->labels[i] != LMF_IGNORE_INDEX;
	return k;
}

long
lmf_batch_last(const struct lmf_batch *b, int row)
{
	long n = 0, t;

	for (t = 0; t < b->T; t++)
		n += !b->attention_mask || b->attention_mask[(long)row * b->T +
		    t] != 0;
	return n ? (long)row * b->T + n - 1 : -1;
}

/* ------------------------------------------------------------------ */
/* set-up */

static int
layer_slot(const char *name, int layer)
{
	char pre[48];
	size_t n;
	int k;

	n = (size_t)snprintf(pre, sizeof pre, "model.layers.%d.", layer);
	if (strncmp(name, pre, n))
		return -1;
	for (k = 0; k < NW; k++)
		if (!strcmp(name + n, wname[k]))
			return k;
	return -1;
}

/* point the named pointers at the blocks */
static void
point_params(struct lmf_llama *m)
{
	int i, k;

	for (i = 0; i < m->np; i++) {
		const struct lmf_param *q = &m->p[i];

		if (q->layer >= 0) {
			k = layer_slot(q->name, q->layer);
			if (k < 0)
				BUG("unknown layer weight '%s'", q->name);
			m->lw[q->layer][k] = m->pw[i];
			m->lg[q->layer][k] = m->pg[i];
		} else if (!strcmp(q->name, "model.embed_tokens.weight")) {
			m->wte = m->pw[i];
			m->dwte = m->pg[i];
		} else if (!strcmp(q->name, "model.norm.weight")) {
			m->lnf = m->pw[i];
			m->dlnf = m->pg[i];
		} else if (!strcmp(q->name, "lm_head.weight")) {
			m->lmw = m->pw[i];
			m->dlmw = m->pg[i];
		}
	}
	if (m->c.tie_word_embeddings) {
		m->lmw = m->wte;
		m->dlmw = m->dwte;
	}
}

/* does any of the comma list's names appear in name (LLaMA-Factory's
 * substring rule)? */
static int
split_has(const char *list, const char *name, const char *pre, int layer)
{
	char pat[160];
	size_t n;

	while (list && *list) {
		n = strcspn(list, ",");
		if (pre && n == 3 && !strncmp(list, "all", 3))
			snprintf(pat, sizeof pat, ".%d.", layer);
		else if (pre)
			snprintf(pat, sizeof pat, ".%d.%.*s", layer, (int)n,
			    list);
		else
			snprintf(pat, sizeof pat, "%.*s", (int)n, list);
		if (n && strstr(name, pat))
			return 1;
		list += n;
		if (*list)
			list++;
	}
	return 0;
}

static int
check_list(const char *list, const char *const *ok, int nok, int allow_all,
    const char *what, char *err, size_t errlen)
{
	size_t n;
	int i;

	if (!list || !*list) {
		lmf_seterr(err, errlen, "%s is empty", what);
		return -1;
	}
	while (*list) {
		n = strcspn(list, ",");
		for (i = 0; i < nok; i++)
			if (strlen(ok[i]) == n && !strncmp(ok[i], list, n))
				break;
		if (i == nok && !(allow_all && n == 3 &&
		    !strncmp(list, "all", 3))) {
			lmf_seterr(err, errlen, "%s: '%.*s' is not one of the "
			    "model's modules", what, (int)(n > 64 ? 64 : n),
			    list);
			return -1;
		}
		list += n;
		if (*list)
			list++;
	}
	return 0;
}

/* which base weights train (spec 6.2, 6.3) */
static int
choose_trainable(struct lmf_llama *m, char *trainable, char *err,
    size_t errlen)
{
	static const char *hidden[] = { "self_attn", "mlp", "input_layernorm",
		"post_attention_layernorm" };
	static const char *extra[] = { "embed_tokens", "norm", "lm_head" };
	const struct lmf_train_opts *o = &m->o;
	int i, l, L = (int)m->c.num_hidden_layers, n, lo, hi, stride;

	memset(trainable, 0, (size_t)m->np);
	if (o->use_llama_pro && o->finetuning_type != LMF_FT_FREEZE) {
		lmf_seterr(err, errlen, "use_llama_pro: lmf implements it for "
		    "finetuning_type freeze only");
		return -1;
	}
	if (o->finetuning_type == LMF_FT_FULL) {
		memset(trainable, 1, (size_t)m->np);
		return 0;
	}
	if (o->finetuning_type != LMF_FT_FREEZE)
		return 0;
	n = o->freeze_trainable_layers;
	lo = n > 0 ? (L - n > 0 ? L - n : 0) : 0;
	hi = n > 0 ? L : (-n < L ? -n : L);
	stride = 1;
	if (o->use_llama_pro) {
		/* LLaMA Pro's expanded blocks: layers stride-1, 2*stride-1, ...
		 * (spec 6.3) */
		if (n <= 0 || L % n) {
			lmf_seterr(err, errlen, "use_llama_pro: the %d layers "
			    "are not a multiple of freeze_trainable_layers %d",
			    L, n);
			return -1;
		}
		stride = L / n;
		lo = stride - 1;
		hi = L;
	}
	if (check_list(o->freeze_trainable_modules ?
	    o->freeze_trainable_modules : "all", hidden, 4, 1,
	    "freeze_trainable_modules", err, errlen))
		return -1;
	if (o->freeze_extra_modules && check_list(o->freeze_extra_modules,
	    extra, m->c.tie_word_embeddings ? 2 : 3, 0,
	    "freeze_extra_modules", err, errlen))
		return -1;
	for (i = 0; i < m->np; i++) {
		for (l = lo; l < hi; l += stride)
			if (split_has(o->freeze_trainable_modules ?
			    o->freeze_trainable_modules : "all", m->p[i].name,
			    "", l))
				trainable[i] = 1;
		if (split_has(o->freeze_extra_modules, m->p[i].name, NULL, 0))
			trainable[i] = 1;
	}
	return 0;
}

/* what the adapter is, as lora.h has it */
static struct lmf_lora_config
lora_config(const struct lmf_llama *m)
{
	struct lmf_lora_config lc = { m->rank, m->alpha, m->dropout,
		m->rslora };

	return lc;
}

/* (re)build the LoRA block for rank, targets; A uniform when init */
static void
lora_setup(struct lmf_llama *m, int init)
{
	const struct lmf_config *c = &m->c;
	int L = (int)c->num_hidden_layers, l, j, r = m->rank;
	int64_t C = c->hidden_size, FF = c->intermediate_size;
	int64_t QD = c->num_attention_heads * c->head_dim;
	int64_t KD = c->num_key_value_heads * c->head_dim;
	int64_t in[NPROJ] = { C, C, C, QD, C, C, FF };
	int64_t out[NPROJ] = { QD, KD, KD, C, FF, FF, C };
	uint64_t n = 0, off = 0, i;
	struct lmf_lora_config lc;
	struct lmf_rng rng;
	float bound;

	free(m->lblock);
	free(m->lgrad);
	memset(m->lo, 0, (size_t)L * sizeof *m->lo);
	m->lblock = m->lgrad = NULL;
	m->nlora = 0;
	if (!m->lora)
		return;
	for (l = 0; l < L; l++)
		for (j = 0; j < NPROJ; j++)
			if (m->targets & 1 << j)
				n += (uint64_t)r * (uint64_t)(in[j] + out[j]);
	m->lblock = xcalloc(n, sizeof(float));
	m->lgrad = xcalloc(n, sizeof(float));
	m->nlora = n;
	lmf_rng_seed(&rng, m->o.seed);
	for (l = 0; l < L; l++)
		for (j = 0; j < NPROJ; j++) {
			struct lora *lo = &m->lo[l][j];

			if (!(m->targets & 1 << j))
				continue;
			lo->in = (int)in[j];
			lo->out = (int)out[j];
			lo->A = m->lblock + off;
			lo->dA = m->lgrad + off;
			off += (uint64_t)r * (uint64_t)in[j];
			lo->B = m->lblock + off;
			lo->dB = m->lgrad + off;
			off += (uint64_t)r * (uint64_t)out[j];
			/* kaiming_uniform(a = sqrt(5)) is U(-1/sqrt(in),
			 * 1/sqrt(in)); B starts at zero */
			bound = (float)(1.0 / sqrt((double)in[j]));
			for (i = 0; init && i < (uint64_t)r * in[j]; i++)
				lo->A[i] = (2 * lmf_rng_uniform(&rng) - 1) *
				    bound;
		}
	lc = lora_config(m);
	m->scaling = lmf_lora_scaling(&lc);
}

/* the trainer's list, the gradient pointers, where backward may stop */
static void
build_trainable(struct lmf_llama *m)
{
	const char *trainable = m->trainable;
	int L = (int)m->c.num_hidden_layers, i, l, j, k = 0;
	uint64_t off = 0;
	int *has = xcalloc((size_t)L + 1, sizeof *has);

	free(m->tp);
	free(m->grads);
	m->grads = NULL;
	m->ngrads = 0;
	m->ntp = 0;
	m->tnumel = 0;
	for (i = 0; i < m->np; i++)
		if (trainable && trainable[i])
			m->ngrads += m->p[i].numel;
	if (m->ngrads)
		m->grads = xcalloc(m->ngrads, sizeof(float));
	m->tp = xcalloc((size_t)m->np + 2 * NPROJ * (size_t)L + 3,
	    sizeof *m->tp);
	m->embed_trainable = 0;
	for (i = 0; i < m->np; i++) {
		m->pg[i] = NULL;
		if (!trainable || !trainable[i])
			continue;
		m->pg[i] = m->grads + off;
		off += m->p[i].numel;
		struct lmf_tparam *t = &m->tp[k++];

		snprintf(t->name, sizeof t->name, "%s", m->p[i].name);
		t->ndim = m->p[i].ndim;
		t->shape[0] = m->p[i].shape[0];
		t->shape[1] = m->p[i].shape[1];
		t->numel = m->p[i].numel;
		t->w = m->pw[i];
		t->g = m->pg[i];
		t->decay = m->p[i].kind == LMF_PARAM_LINEAR ||
		    m->p[i].kind == LMF_PARAM_EMBED;
		t->layer = m->p[i].layer >= 0 ? m->p[i].layer : L;
		if (m->p[i].layer >= 0)
			has[m->p[i].layer] = 1;
		else if (!strcmp(m->p[i].name, "model.embed_tokens.weight"))
			m->embed_trainable = 1, t->layer = -1;
	}
	for (l = 0; m->lora && l < L; l++)
		for (j = 0; j < NPROJ; j++) {
			struct lora *lo = &m->lo[l][j];
			int ab;

			if (!lo->A)
				continue;
			has[l] = 1;
			for (ab = 0; ab < 2; ab++) {
				struct lmf_tparam *t = &m->tp[k++];

				lmf_lora_tensor_name(t->name, sizeof t->name,
				    l, j, ab);
				t->ndim = 2;
				t->shape[0] = ab ? lo->out : m->rank;
				t->shape[1] = ab ? m->rank : lo->in;
				t->numel = (uint64_t)lo->in * m->rank;
				if (ab)
					t->numel = (uint64_t)lo->out * m->rank;
				t->w = ab ? lo->B : lo->A;
				t->g = ab ? lo->dB : lo->dA;
				t->decay = 1;
				t->layer = l;
			}
		}
	for (j = 0; m->vhead && j < 2; j++) {
		struct lmf_tparam *t = &m->tp[k++];
		int64_t C = m->c.hidden_size;

		snprintf(t->name, sizeof t->name, "v_head.summary.%s",
		    j ? "bias" : "weight");
		t->ndim = 2 - j;
		t->shape[0] = 1;
		t->shape[1] = j ? 0 : C;
		t->numel = j ? 1 : (uint64_t)C;
		t->w = m->vh + (j ? C : 0);
		t->g = m->dvh + (j ? C : 0);
		t->decay = !j;
		t->layer = L;
	}
	m->ntp = k;
	for (i = 0; i < k; i++)
		m->tnumel += m->tp[i].numel;
	/* the backward runs down through layer l while something at or
	 * below it trains */
	for (l = 0; l < L; l++)
		m->cont[l] = m->embed_trainable || has[l] ||
		    (l > 0 && m->cont[l - 1]);
	point_params(m);
	free(has);
}

static int
is_extra(const struct lmf_recinfo *rec)
{
	return rec->t.dtype == LMF_U8 && rec->t.ndim == 1;
}

/* a v_head.summary tensor of a model or adapter stream into m->vh: 1 when
 * rec was one (read), 0 when not, -1 with err on a bad one */
static int
read_vhead(struct lmf_llama *m, struct lmf_rd *r,
    const struct lmf_recinfo *rec, char *err, size_t errlen)
{
	int64_t C = m->c.hidden_size;
	int j;
	struct lmf_tensor t = { 0 };

	if (!strcmp(rec->t.name, "v_head.summary.weight"))
		j = 0;
	else if (!strcmp(rec->t.name, "v_head.summary.bias"))
		j = 1;
	else
		return 0;
	if (m->vseen & (1 << j)) {
		lmf_seterr(err, errlen, "'%s': tensor '%s' appears twice",
		    lmf_rd_name(r), rec->t.name);
		return -1;
	}
	if (rec->t.ndim != 2 - j || rec->t.shape[0] != 1 ||
	    (!j && rec->t.shape[1] != C)) {
		char b1[96];

		lmf_seterr(err, errlen, "'%s': tensor '%s' has shape %s, not "
		    "[1%s%lld]", lmf_rd_name(r), rec->t.name,
		    lmf_shape_str(&rec->t, b1, sizeof b1), j ? "" : ", ",
		    j ? 0LL : (long long)C);
		if (j)
			lmf_seterr(err, errlen, "'%s': tensor '%s' has shape "
			    "%s, not [1]", lmf_rd_name(r), rec->t.name,
			    lmf_shape_str(&rec->t, b1, sizeof b1));
		return -1;
	}
	if (rec->t.dtype != LMF_F32 && rec->t.dtype != LMF_BF16 &&
	    rec->t.dtype != LMF_F16) {
		lmf_seterr(err, errlen, "'%s': tensor '%s' is not f32, bf16 "
		    "or f16", lmf_rd_name(r), rec->t.name);
		return -1;
	}
	if (lmf_rd_tensor_data(r, rec, &t) < 0 || lmf_tensor_to_f32(&t) < 0) {
		lmf_seterr(err, errlen, "%s", lmf_rd_errmsg(r));
		lmf_tensor_free(&t);
		return -1;
	}
	if (!m->vh) {
		m->vh = xcalloc((size_t)C + 1, sizeof(float));
		m->dvh = xcalloc((size_t)C + 1, sizeof(float));
	}
	memcpy(m->vh + (j ? C : 0), t.data, (size_t)(j ? 1 : C) *
	    sizeof(float));
	lmf_tensor_free(&t);
	m->vseen |= 1 << j;
	return 1;
}

/* read the one item of a model stream into the parameter block */
static int
read_weights(struct lmf_llama *m, struct lmf_rd *r, char *err, size_t errlen)
{
	struct lmf_recinfo rec;
	char *seen = xcalloc((size_t)m->np, 1);
	uint16_t *tmp = NULL;
	size_t tmpcap = 0;
	uint32_t k, n;
	int rc, i, ret = -1;
	uint64_t j;

	for (;;) {
		rc = lmf_rd_next(r, &rec);
		if (rc < 0)
			goto rderr;
		if (rc == LMF_REC_EOF) {
			lmf_seterr(err, errlen, "'%s': the model stream has no "
			    "item", lmf_rd_name(r));
			goto out;
		}
		if (rc == LMF_REC_ITEM)
			break;
		if (rc == LMF_REC_TENSOR) {
			lmf_seterr(err, errlen, "'%s': tensor outside an item",
			    lmf_rd_name(r));
			goto out;
		}
	}
	n = rec.ntensors;
	for (k = 0; k < n; k++) {
		do {
			rc = lmf_rd_next(r, &rec);
			if (rc < 0)
				goto rderr;
		} while (rc == LMF_REC_OTHER);
		if (rc != LMF_REC_TENSOR) {
			lmf_seterr(err, errlen,
			    "'%s': item ends after %u of %u "
			    "tensors", lmf_rd_name(r), k, n);
			goto out;
		}
		const struct lmf_param *q = lmf_model_param_find(m->p, m->np,
		    rec.t.name);

		if (!q && is_extra(&rec)) {
			struct lmf_tensor *t;

			if (m->nextra == MAX_EXTRA) {
				lmf_seterr(err, errlen, "'%s': more than %d u8 "
				    "tensors", lmf_rd_name(r), MAX_EXTRA);
				goto out;
			}
			t = &m->extra[m->nextra++];
			rc = lmf_rd_tensor_data(r, &rec, t);
			if (rc < 0)
				goto rderr;
			continue;
		}
		if (!q && (rc = read_vhead(m, r, &rec, err, errlen)) != 0) {
			if (rc < 0)
				goto out;
			continue;
		}
		if (!q) {
			lmf_seterr(err, errlen,
			    "'%s': unexpected tensor '%s' for "
			    "%s", lmf_rd_name(r), rec.t.name,
			    m->c.model_type_name);
			goto out;
		}
		i = (int)(q - m->p);
		if (seen[i]) {
			lmf_seterr(err, errlen,
			    "'%s': tensor '%s' appears twice",
			    lmf_rd_name(r), rec.t.name);
			goto out;
		}
		seen[i] = 1;
		if (rec.t.ndim != q->ndim || rec.t.shape[0] != q->shape[0] ||
		    (q->ndim == 2 && rec.t.shape[1] != q->shape[1])) {
			char b1[96];

			lmf_seterr(err, errlen,
			    "'%s': tensor '%s' has shape %s, "
			    "the config says [%lld%s%lld]", lmf_rd_name(r),
			    rec.t.name, lmf_shape_str(&rec.t, b1, sizeof b1),
			    (long long)q->shape[0], q->ndim == 2 ? ", " : "",
			    q->ndim == 2 ? (long long)q->shape[1] : 0LL);
			if (q->ndim == 1)
				lmf_seterr(err, errlen, "'%s': tensor '%s' has "
				    "shape %s, the config says [%lld]",
				    lmf_rd_name(r), rec.t.name,
				    lmf_shape_str(&rec.t, b1, sizeof b1),
				    (long long)q->shape[0]);
			goto out;
		}
		if (rec.t.dtype == LMF_F32) {
			rc = lmf_rd_payload(r, m->pw[i], q->numel * 4);
		} else if (rec.t.dtype == LMF_BF16 || rec.t.dtype == LMF_F16) {
			if (tmpcap < q->numel) {
				free(tmp);
				tmpcap = q->numel;
				tmp = xmallocarray(tmpcap, 2);
			}
			rc = lmf_rd_payload(r, tmp, q->numel * 2);
			for (j = 0; rc >= 0 && j < q->numel; j++) {
				uint16_t h = lmf_get_u16((unsigned char *)
				    (tmp + j));

				m->pw[i][j] = rec.t.dtype == LMF_BF16 ?
				    lmf_bf16_to_f32(h) : lmf_f16_to_f32(h);
			}
		} else {
			lmf_seterr(err, errlen,
			    "'%s': tensor '%s' is %s, not f32, "
			    "bf16 or f16", lmf_rd_name(r), rec.t.name,
			    lmf_dtype_name(rec.t.dtype) ?
			    lmf_dtype_name(rec.t.dtype) : "unknown");
			goto out;
		}
		if (rc < 0)
			goto rderr;
	}
	for (i = 0; i < m->np; i++)
		if (!seen[i]) {
			lmf_seterr(err, errlen, "'%s': tensor '%s' is missing",
			    lmf_rd_name(r), m->p[i].name);
			goto out;
		}
	if (m->vseen && m->vseen != 3) {
		lmf_seterr(err, errlen, "'%s': tensor 'v_head.summary.%s' is "
		    "missing", lmf_rd_name(r), m->vseen & 1 ? "bias" :
		    "weight");
		goto out;
	}
	/* the end record, so that a cut or corrupt stream is noticed */
	do {
		rc = lmf_rd_next(r, &rec);
	} while (rc == LMF_REC_OTHER);
	if (rc < 0)
		goto rderr;
	if (rc != LMF_REC_EOF) {
		lmf_seterr(err, errlen, "'%s': a model stream holds one item",
		    lmf_rd_name(r));
		goto out;
	}
	ret = 0;
	goto out;
rderr:
	lmf_seterr(err, errlen, "%s", lmf_rd_errmsg(r));
out:
	free(tmp);
	free(seen);
	return ret;
}

/* ---- bf16 (see the top) ---- */

/* is parameter i narrowed for the bf16 products: a projection, lm_head,
 * or the embedding when lm_head is tied to it */
static int
bf16_param(const struct lmf_llama *m, int i)
{
	const struct lmf_param *q = &m->p[i];

	if (q->kind == LMF_PARAM_LINEAR)
		return 1;
	return m->c.tie_word_embeddings &&
	    !strcmp(q->name, "model.embed_tokens.weight");
}

/* the named bf16 pointers, as point_params sets the fp32 ones */
static void
bf16_point(struct lmf_llama *m)
{
	int i, k;

	for (i = 0; i < m->np; i++) {
		const struct lmf_param *q = &m->p[i];

		if (!m->pw16[i])
			continue;
		if (q->layer >= 0 && (k = layer_slot(q->name, q->layer)) >= 0)
			m->lw16[q->layer][k] = m->pw16[i];
		else if (!strcmp(q->name, "lm_head.weight") ||
		    !strcmp(q->name, "model.embed_tokens.weight"))
			m->lmw16 = m->pw16[i];
	}
}

/* LoRA: the frozen projections in bf16 only; the fp32 block keeps the
 * rest (embedding, norms, biases, lm_head), moved down in place and the
 * block shrunk, so that no second block is ever held */
static void
bf16_drop_f32(struct lmf_llama *m)
{
	uint64_t off = 0;
	int i;

#define DROP(i) (m->p[i].layer >= 0 && m->pw16[i] && !m->pg[i])
	for (i = 0; i < m->np; i++) {
		if (DROP(i))
			continue;
		memmove(m->params + off, m->pw[i],
		    m->p[i].numel * sizeof(float));
		off += m->p[i].numel;
	}
	m->params = xrealloc(m->params, (off ? off : 1) * sizeof(float));
	for (off = 0, i = 0; i < m->np; i++) {
		if (DROP(i)) {
			m->pw[i] = NULL;
			continue;
		}
		m->pw[i] = m->params + off;
		off += m->p[i].numel;
	}
#undef DROP
	build_trainable(m);
}

/* the bf16 copies of every bf16_param, narrowed now */
static void
bf16_setup(struct lmf_llama *m)
{
	uint64_t n = 0;
	int i;

	if (!m->o.bf16)
		return;
	for (i = 0; i < m->np; i++)
		n += bf16_param(m, i) ? m->p[i].numel : 0;
	m->p16 = xmallocarray(n ? n : 1, sizeof *m->p16);
	m->pw16 = xcalloc((size_t)m->np, sizeof *m->pw16);
	m->lw16 = xcalloc((size_t)m->c.num_hidden_layers, sizeof *m->lw16);
	for (n = 0, i = 0; i < m->np; i++) {
		if (!bf16_param(m, i))
			continue;
		m->pw16[i] = m->p16 + n;
		n += m->p[i].numel;
		lmf_bf16_narrow(m->pw16[i], m->pw[i], m->p[i].numel);
	}
	bf16_point(m);
	m->w16_fresh = 1;
	if (m->lora)
		bf16_drop_f32(m);
}

/* after an optimizer step: narrow the trainable weights again */
static void
bf16_refresh(struct lmf_llama *m)
{
	int i;

	if (!m->o.bf16 || m->w16_fresh)
		return;
	for (i = 0; i < m->np; i++)
		if (m->pw16[i] && m->pw[i] && m->pg[i])
			lmf_bf16_narrow(m->pw16[i], m->pw[i], m->p[i].numel);
	m->w16_fresh = 1;
}

void
lmf_llama_keep_acts(struct lmf_llama *m, int keep)
{
	m->keep = keep != 0;
}

void
lmf_llama_weights_changed(struct lmf_llama *m)
{
	m->w16_fresh = 0;
}

struct lmf_llama *
lmf_llama_open(struct lmf_rd *r, const struct lmf_train_opts *o, char *err,
    size_t errlen)
{
	struct lmf_llama *m = xcalloc(1, sizeof *m);
	json_t *meta = lmf_rd_meta(r);
	const char *kind = lmf_rd_kind(r);
	char *trainable = NULL;
	uint64_t off = 0;
	int i, L;

	m->o = *o;
	if (!kind || strcmp(kind, "model")) {
		lmf_seterr(err, errlen, "'%s': kind is '%s', not 'model'",
		    lmf_rd_name(r), kind ? kind : "(none)");
		goto fail;
	}
	if (!json_is_object(json_object_get(meta, "config"))) {
		lmf_seterr(err, errlen,
		    "'%s': the header has no 'config' object",
		    lmf_rd_name(r));
		goto fail;
	}
	if (lmf_config_parse(&m->c, json_object_get(meta, "config"), err,
	    errlen))
		goto fail;
	m->meta = json_incref(meta);
	L = (int)m->c.num_hidden_layers;
	if (o->finetuning_type == LMF_FT_LORA) {
		if (o->lora_rank < 1 || !(o->lora_target & LMF_PROJ_ALL) ||
		    o->lora_dropout < 0 || o->lora_dropout >= 1 ||
		    o->lora_alpha < 0) {
			lmf_seterr(err, errlen, "bad LoRA options");
			goto fail;
		}
	}
	m->p = lmf_model_params(&m->c, &m->np);
	m->pw = xcalloc((size_t)m->np, sizeof *m->pw);
	m->pg = xcalloc((size_t)m->np, sizeof *m->pg);
	m->params = xmallocarray(lmf_model_numel(m->p, m->np), sizeof(float));
	for (i = 0; i < m->np; i++) {
		m->pw[i] = m->params + off;
		off += m->p[i].numel;
	}
	m->lw = xcalloc((size_t)L, sizeof *m->lw);
	m->lg = xcalloc((size_t)L, sizeof *m->lg);
	m->lo = xcalloc((size_t)L, sizeof *m->lo);
	m->cont = xcalloc((size_t)L, sizeof *m->cont);
	m->res = xcalloc((size_t)L + 1, sizeof *m->res);
	m->la = xcalloc((size_t)L, sizeof *m->la);
	lmf_rope_init(&m->rope, &m->c);
	if (read_weights(m, r, err, errlen))
		goto fail;
	m->trainable = trainable = xmalloc((size_t)m->np);
	if (choose_trainable(m, trainable, err, errlen))
		goto fail;
	if (o->finetuning_type == LMF_FT_LORA) {
		m->lora = 1;
		m->rank = o->lora_rank;
		m->alpha = o->lora_alpha > 0 ? o->lora_alpha :
		    2.0 * o->lora_rank;
		m->dropout = o->lora_dropout;
		m->targets = o->lora_target & LMF_PROJ_ALL;
		m->rslora = o->use_rslora;
		lora_setup(m, 1);
	}
	if (m->vseen)
		lmf_llama_value_head(m, -1);
	build_trainable(m);
	bf16_setup(m);
	return m;
fail:
	lmf_llama_free(m);
	return NULL;
}

void
lmf_llama_free(struct lmf_llama *m)
{
	int i;

	if (!m)
		return;
	json_decref(m->meta);
	free(m->p);
	free(m->params);
	free(m->pw);
	free(m->pg);
	free(m->grads);
	free(m->lw);
	free(m->lg);
	free(m->lblock);
	free(m->lgrad);
	free(m->lo);
	free(m->tp);
	free(m->cont);
	free(m->trainable);
	free(m->vh);
	free(m->dvh);
	for (i = 0; i < m->nextra; i++)
		lmf_tensor_free(&m->extra[i]);
	free(m->acts);
	free(m->ints);
	free(m->la);
	free(m->res);
	lmf_rope_free(&m->rope);
	for (i = 0; m->pwback && i < m->np; i++)
		free(m->pwback[i]);
	free(m->pwback);
	free(m->p16);
	free(m->pw16);
	free(m->lw16);
	free(m->x16);
	free(m->y16);
	free(m);
}

const struct lmf_config *
lmf_llama_config(const struct lmf_llama *m)
{
	return &m->c;
}

/* a weight held in bf16 only, widened (once, kept) for generation */
static const float *
bf16_widened(struct lmf_llama *m, int i)
{
	if (!m->pw16 || !m->pw16[i])
		return NULL;
	if (!m->pwback)
		m->pwback = xcalloc((size_t)m->np, sizeof *m->pwback);
	if (!m->pwback[i]) {
		m->pwback[i] = xmallocarray(m->p[i].numel, sizeof(float));
		lmf_bf16_widen(m->pwback[i], m->pw16[i], m->p[i].numel);
	}
	return m->pwback[i];
}

/* infer.h's find: a base weight by its HF name, a LoRA one by PEFT's */
static const float *
infer_find(void *ctx, const char *name)
{
	struct lmf_llama *m = ctx;
	const struct lmf_param *q = lmf_model_param_find(m->p, m->np, name);
	int i;

	if (q && !m->pw[q - m->p])
		return bf16_widened(m, (int)(q - m->p));
	if (q)
		return m->pw[q - m->p];
	for (i = 0; m->lora && i < m->ntp; i++)
		if (!strcmp(m->tp[i].name, name))
			return m->tp[i].w;
	return NULL;
}

int
lmf_llama_infer_weights(struct lmf_llama *m, struct lmf_infer_weights *w,
    struct lmf_infer_layer *layer, char *err, size_t errlen)
{
	if (lmf_infer_weights_by_name(w, layer, &m->c, infer_find, m, err,
	    errlen) < 0)
		return -1;
	w->lora_rank = m->lora ? m->rank : 0;
	w->lora_scaling = m->lora ? (float)m->scaling : 0.0f;
	return 0;
}

int
lmf_llama_ntrainable(const struct lmf_llama *m)
{
	return m->ntp;
}

struct lmf_tparam *
lmf_llama_trainable(struct lmf_llama *m, int i)
{
	return i >= 0 && i < m->ntp ? &m->tp[i] : NULL;
}

uint64_t
lmf_llama_trainable_numel(const struct lmf_llama *m)
{
	return m->tnumel;
}

uint64_t
lmf_llama_numel(const struct lmf_llama *m)
{
	return lmf_model_numel(m->p, m->np) + m->nlora +
	    (m->vhead ? (uint64_t)m->c.hidden_size + 1 : 0);
}

void
lmf_llama_zero_grad(struct lmf_llama *m)
{
	if (m->grads)
		lmf_zero(m->grads, m->ngrads);
	if (m->lgrad)
		lmf_zero(m->lgrad, m->nlora);
	if (m->dvh)
		memset(m->dvh, 0, ((size_t)m->c.hidden_size + 1) *
		    sizeof(float));
}

/* ------------------------------------------------------------------ */
/* adapters */

int
lmf_llama_load_adapter(struct lmf_llama *m, struct lmf_rd *r, char *err,
    size_t errlen)
{
	json_t *meta = lmf_rd_meta(r), *ac = json_object_get(meta,
	    "adapter_config");
	const char *kind = lmf_rd_kind(r);
	struct lmf_recinfo rec;
	struct lmf_tensor t = { 0 };
	struct lmf_lora_config lc;
	int L = (int)m->c.num_hidden_layers, rank, targets, rc, l, j, ab;
	char *seen = NULL, name[160];
	uint32_t k, n;

	if (!m->lora) {
		lmf_seterr(err, errlen,
		    "an adapter needs finetuning_type lora");
		return -1;
	}
	if (!kind || strcmp(kind, "adapter") || !json_is_object(ac)) {
		lmf_seterr(err, errlen, "'%s': not an adapter stream",
		    lmf_rd_name(r));
		return -1;
	}
	if (lmf_lora_config_parse(&lc, ac, name, sizeof name)) {
		lmf_seterr(err, errlen, "'%s': %s", lmf_rd_name(r), name);
		return -1;
	}
	rank = lc.r;
	targets = lmf_lora_targets_parse(json_object_get(ac,
	    "target_modules"), err, errlen);
	if (targets < 0)
		return -1;
	m->rank = rank;
	m->alpha = lc.alpha;
	m->targets = targets;
	m->rslora = lc.rslora;
	if (lc.dropout >= 0)
		m->dropout = lc.dropout;
	lora_setup(m, 0);
	seen = xcalloc((size_t)L * NPROJ * 2, 1);
	m->vseen = 0;
	do {
		rc = lmf_rd_next(r, &rec);
	} while (rc == LMF_REC_OTHER);
	if (rc != LMF_REC_ITEM) {
		if (rc < 0)
			lmf_seterr(err, errlen, "%s", lmf_rd_errmsg(r));
		else
			lmf_seterr(err, errlen,
			    "'%s': the adapter stream has no "
			    "item", lmf_rd_name(r));
		goto fail;
	}
	n = rec.ntensors;
	for (k = 0; k < n; k++) {
		struct lora *lo;
		uint64_t i, want;

		do {
			rc = lmf_rd_next(r, &rec);
		} while (rc == LMF_REC_OTHER);
		if (rc < 0) {
			lmf_seterr(err, errlen, "%s", lmf_rd_errmsg(r));
			goto fail;
		}
		if (rc != LMF_REC_TENSOR) {
			lmf_seterr(err, errlen, "'%s': item ends early",
			    lmf_rd_name(r));
			goto fail;
		}
		rc = read_vhead(m, r, &rec, err, errlen);
		if (rc < 0)
			goto fail;
		if (rc)
			continue;
		ab = lmf_lora_parse_name(rec.t.name, L, &l, &j);
		if (ab < 0 || !m->lo[l][j].A) {
			lmf_seterr(err, errlen,
			    "'%s': unexpected adapter tensor "
			    "'%s'", lmf_rd_name(r), rec.t.name);
			goto fail;
		}
		lo = &m->lo[l][j];
		if (seen[(l * NPROJ + j) * 2 + ab]++) {
			lmf_seterr(err, errlen,
			    "'%s': tensor '%s' appears twice",
			    lmf_rd_name(r), rec.t.name);
			goto fail;
		}
		if (rec.t.ndim != 2 ||
		    rec.t.shape[0] != (ab ? lo->out : rank) ||
		    rec.t.shape[1] != (ab ? rank : lo->in)) {
			char b1[96];

			lmf_seterr(err, errlen,
			    "'%s': tensor '%s' has shape %s, "
			    "not [%d, %d]", lmf_rd_name(r), rec.t.name,
			    lmf_shape_str(&rec.t, b1, sizeof b1),
			    ab ? lo->out : rank, ab ? rank : lo->in);
			goto fail;
		}
		if (rec.t.dtype != LMF_F32 && rec.t.dtype != LMF_BF16 &&
		    rec.t.dtype != LMF_F16) {
			lmf_seterr(err, errlen, "'%s': tensor '%s' is not f32, "
			    "bf16 or f16", lmf_rd_name(r), rec.t.name);
			goto fail;
		}
		rc = lmf_rd_tensor_data(r, &rec, &t);
		if (rc >= 0)
			rc = lmf_tensor_to_f32(&t);
		if (rc < 0) {
			lmf_seterr(err, errlen, "%s", lmf_rd_errmsg(r));
			lmf_tensor_free(&t);
			goto fail;
		}
		want = (uint64_t)rank * (uint64_t)(ab ? lo->out : lo->in);
		for (i = 0; i < want; i++)
			(ab ? lo->B : lo->A)[i] = ((float *)t.data)[i];
		lmf_tensor_free(&t);
	}
	for (l = 0; l < L; l++)
		for (j = 0; j < NPROJ; j++)
			for (ab = 0; ab < 2 && m->lo[l][j].A; ab++)
				if (!seen[(l * NPROJ + j) * 2 + ab]) {
					lmf_lora_tensor_name(name, sizeof name,
					    l, j, ab);
					lmf_seterr(err, errlen, "'%s': tensor "
					    "'%s' is missing", lmf_rd_name(r),
					    name);
					goto fail;
				}
	do {
		rc = lmf_rd_next(r, &rec);
	} while (rc == LMF_REC_OTHER);
	if (rc < 0) {
		lmf_seterr(err, errlen, "%s", lmf_rd_errmsg(r));
		goto fail;
	}
	if (rc != LMF_REC_EOF) {
		lmf_seterr(err, errlen,
		    "'%s': an adapter stream holds one item",
		    lmf_rd_name(r));
		goto fail;
	}
	if (m->vseen && m->vseen != 3) {
		lmf_seterr(err, errlen, "'%s': tensor 'v_head.summary.%s' is "
		    "missing", lmf_rd_name(r), m->vseen & 1 ? "bias" :
		    "weight");
		goto fail;
	}
	free(seen);
	if (m->vseen)
		lmf_llama_value_head(m, -1);
	build_trainable(m);
	return 0;
fail:
	free(seen);
	/* leave a consistent (fresh) adapter behind */
	lora_setup(m, 1);
	build_trainable(m);
	return -1;
}

/* ------------------------------------------------------------------ */
/* activations */

#define TAKE(p, n) do { if (base) (p) = base + off; off += (n); } while (0)

/* the backward scratch from base + off; the new offset. dh, dgate, dup
 * and datty .. dkp overlap (struct bscratch) */
static size_t
layout_bscratch(struct lmf_llama *m, float *base, size_t off, size_t N,
    int drop)
{
	const struct lmf_config *c = &m->c;
	struct bscratch *s = &m->s;
	size_t C = (size_t)c->hidden_size, FF = (size_t)c->intermediate_size;
	size_t HS = (size_t)c->head_dim, NH = (size_t)c->num_attention_heads;
	size_t QD = NH * HS, KD = (size_t)c->num_key_value_heads * HS;
	size_t mx, mlp = 3 * FF, att = 2 * QD + 2 * KD, reg;

	mx = C > FF ? C : FF;
	mx = mx > QD ? mx : QD;
	if (c->qk_norm)
		att += QD + KD;
	TAKE(s->dres, N * C);
	TAKE(s->dln, N * C);
	TAKE(s->xscr, m->nsets == 1 ? N * C : 0);
	TAKE(s->rstd, N);
	reg = off;
	TAKE(s->dh, N * FF);
	TAKE(s->dgate, N * FF);
	TAKE(s->dup, N * FF);
	off = reg;
	TAKE(s->datty, N * QD);
	TAKE(s->dq, N * QD);
	TAKE(s->dk, N * KD);
	TAKE(s->dv, N * KD);
	TAKE(s->dqp, c->qk_norm ? N * QD : 0);
	TAKE(s->dkp, c->qk_norm ? N * KD : 0);
	off = reg + N * (mlp > att ? mlp : att);
	TAKE(s->dt, m->lora ? N * (size_t)m->rank : 0);
	TAKE(s->dx, drop ? N * mx : 0);
	return off;
}

/* one layer's activation set from base + off; the new offset. With
 * share, ln1, ln2, h and the xd point at the shared buffers */
static size_t
layout_set(struct lmf_llama *m, struct lacts *a, float *base, size_t off,
    int B, int T, int drop, int share)
{
	const struct lmf_config *c = &m->c;
	size_t N = (size_t)B * T, C = (size_t)c->hidden_size;
	size_t FF = (size_t)c->intermediate_size;
	size_t HS = (size_t)c->head_dim, NH = (size_t)c->num_attention_heads;
	size_t QD = NH * HS, KD = (size_t)c->num_key_value_heads * HS;
	size_t in[NPROJ] = { C, C, C, QD, C, C, FF };
	int j;

	TAKE(a->ln1, share ? 0 : N * C);
	TAKE(a->rstd1, N);
	TAKE(a->q, N * QD);
	TAKE(a->k, N * KD);
	TAKE(a->v, N * KD);
	if (c->qk_norm) {
		TAKE(a->qp, N * QD);
		TAKE(a->kp, N * KD);
		TAKE(a->qrstd, N * NH);
		TAKE(a->krstd, N * (size_t)c->num_key_value_heads);
	}
	TAKE(a->alse, (size_t)B * NH * T);
	TAKE(a->atty, N * QD);
	TAKE(a->xmid, N * C);
	TAKE(a->ln2, share ? 0 : N * C);
	TAKE(a->rstd2, N);
	TAKE(a->gate, N * FF);
	TAKE(a->up, N * FF);
	TAKE(a->h, share ? 0 : N * FF);
	for (j = 0; m->lora && j < NPROJ; j++) {
		if (!(m->targets & 1 << j))
			continue;
		TAKE(a->t[j], N * (size_t)m->rank);
		if (drop)
			TAKE(a->xd[j], share ? 0 : N * in[j]);
	}
	if (base && share) {
		a->ln1 = a->ln2 = m->lnb;
		a->h = m->s.dgate;
		for (j = 0; drop && j < NPROJ; j++)
			a->xd[j] = m->s.dx;
	}
	return off;
}

/* lay out the activation block for (B, T); with base NULL only count */
static size_t
layout(struct lmf_llama *m, float *base, int B, int T, int train)
{
	const struct lmf_config *c = &m->c;
	size_t N = (size_t)B * T, C = (size_t)c->hidden_size;
	size_t FF = (size_t)c->intermediate_size, V = (size_t)c->vocab_size;
	size_t HS = (size_t)c->head_dim, NH = (size_t)c->num_attention_heads;
	size_t QD = NH * HS, KD = (size_t)c->num_key_value_heads * HS;
	size_t off = 0, nl, nf;
	int L = (int)c->num_hidden_layers, l, nsets, drop, share;
	struct lacts dummy;

	nsets = train && !m->o.gradient_checkpointing ? L : 1;
	drop = train && m->lora && m->dropout > 0;
	share = train && !m->keep;
	m->nsets = nsets;
	for (l = 0; l <= L; l++)
		TAKE(m->res[l], N * C);
	TAKE(m->lnb, share ? N * C : 0);
	if (train)
		off = layout_bscratch(m, base, off, N, drop);
	for (l = 0; l < nsets; l++)
		off = layout_set(m, base ? &m->la[l] : &dummy, base, off, B, T,
		    drop, share);
	TAKE(m->xf, N * C);
	TAKE(m->rstdf, N);
	/* the heads' logits and the blocks' fused products share storage */
	nl = (N < LOGIT_ROWS ? N : LOGIT_ROWS) * V;
	nf = N * (QD + 2 * KD > 2 * FF ? QD + 2 * KD : 2 * FF);
	TAKE(m->lscr, 0);
	TAKE(m->fscr, nl > nf ? nl : nf);
	TAKE(m->lse, N);
	TAKE(m->attscr, m->o.bf16 ? lmf_attention_flash_scratch16(T,
	    (int)HS) : lmf_attention_flash_scratch());
	TAKE(m->cosb, N * (HS / 2));
	TAKE(m->sinb, N * (HS / 2));
	return off;
}
#undef TAKE

/* the bf16 scratch for N rows (see struct lmf_llama); grows only */
static void
bf16_scratch_fit(struct lmf_llama *m, size_t N)
{
	const struct lmf_config *c = &m->c;
	size_t C = (size_t)c->hidden_size, FF = (size_t)c->intermediate_size;
	size_t QD = (size_t)(c->num_attention_heads * c->head_dim);
	size_t KD = (size_t)(c->num_key_value_heads * c->head_dim);
	size_t V = (size_t)c->vocab_size, nx, ny, w;

	w = C > FF ? C : FF;
	nx = N * (w > QD ? w : QD);
	w = QD + 2 * KD > 2 * FF ? QD + 2 * KD : 2 * FF;
	w = w > C ? w : C;
	ny = N * w;
	w = (N < LOGIT_ROWS ? N : LOGIT_ROWS) * V;
	ny = ny > w ? ny : w;
	if (nx > m->x16cap) {
		free(m->x16);
		m->x16 = xmallocarray(nx, sizeof *m->x16);
		m->x16cap = nx;
	}
	if (ny > m->y16cap) {
		free(m->y16);
		m->y16 = xmallocarray(ny, sizeof *m->y16);
		m->y16cap = ny;
	}
}

/* make the activation block fit (B, T); grows, never shrinks */
static void
acts_fit(struct lmf_llama *m, int B, int T, int train)
{
	size_t need = layout(m, NULL, B, T, train), N = (size_t)B * T;

	if (need > m->acap) {
		free(m->acts);
		m->acts = xmallocarray(need, sizeof(float));
		m->acap = need;
	}
	if (2 * N > m->icap) {
		free(m->ints);
		m->ints = xmallocarray(2 * N, sizeof(int32_t));
		m->icap = 2 * N;
	}
	if (m->o.bf16)
		bf16_scratch_fit(m, N);
	layout(m, m->acts, B, T, train);
	m->pos = m->ints;
	m->targ = m->ints + N;
}

/* ------------------------------------------------------------------ */
/* forward and backward */

/* a 64-bit mix (splitmix64's finaliser) for dropout seeds */
static uint64_t
mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

/* the dropout stream of projection j of layer l in the current step: the
 * recomputation in backward draws the same mask */
static void
drop_rng(struct lmf_llama *m, struct lmf_rng *rng, int l, int j)
{
	lmf_rng_seed(rng, mix64(m->o.seed ^ mix64(m->nsteps * 1024 +
	    (uint64_t)l * NPROJ + (uint64_t)j + 1)));
}

/* the input and output widths of projection j */
static void
proj_dims(const struct lmf_llama *m, int j, int *in, int *out)
{
	const struct lmf_config *c = &m->c;
	int C = (int)c->hidden_size, FF = (int)c->intermediate_size;
	int QD = (int)(c->num_attention_heads * c->head_dim);
	int KD = (int)(c->num_key_value_heads * c->head_dim);
	int in_[NPROJ] = { C, C, C, QD, C, C, FF };
	int out_[NPROJ] = { QD, KD, KD, C, FF, FF, C };

	*in = in_[j];
	*out = out_[j];
}

/* xd (n) = the dropped-out inp of projection j in layer l: inverted
 * dropout, the kept inputs scaled by 1 / (1 - p); the backward calls it
 * again to get the forward's xd back */
static void
lora_dropout(struct lmf_llama *m, float *xd, const float *inp, int l, int j,
    long n)
{
	float keep = (float)(1.0 / (1.0 - m->dropout));
	struct lmf_rng rng;
	long i;

	drop_rng(m, &rng, l, j);
	for (i = 0; i < n; i++)
		xd[i] = lmf_rng_uniform(&rng) < m->dropout ? 0.0f :
		    inp[i] * keep;
}

/* out (N, O) += scaling (x A^T) B^T, the LoRA term of projection j when
 * it is targeted (x: inp, or its dropped-out copy in training) */
static void
lora_forward_(struct lmf_llama *m, struct lacts *a, int l, int j,
    float *out, const float *inp, int N, int train)
{
	struct lora *lo = &m->lo[l][j];
	const float *x = inp;
	int I, O;

	if (!m->lora || !lo->A || (m->fflags & LMF_FWD_NO_ADAPTER))
		return;
	proj_dims(m, j, &I, &O);
	if (train && m->dropout > 0) {
		lora_dropout(m, a->xd[j], inp, l, j, (long)N * I);
		x = a->xd[j];
	}
	/* t (N, r) = x A^T; out += scaling * t B^T */
	lmf_gemm_thin(LMF_NOTRANS, LMF_TRANS, N, m->rank, I, 1.0f, x, I,
	    lo->A, I, 0.0f, a->t[j], m->rank);
	lmf_gemm_thin(LMF_NOTRANS, LMF_TRANS, N, O, m->rank,
	    (float)m->scaling, a->t[j], m->rank, lo->B, m->rank, 1.0f, out, O);
}

/* lora_forward_ timed as LMF_PROFILE's "LoRA" */
static void
lora_forward(struct lmf_llama *m, struct lacts *a, int l, int j,
    float *out, const float *inp, int N, int train)
{
	double t0;

	if (!m->lora)
		return;
	t0 = LMF_PROF_BEGIN();
	lora_forward_(m, a, l, j, out, inp, N, train);
	LMF_PROF_END(LMF_PROF_LORA, t0, 0);
}

/* bf16: out (N, O) (row stride ldo) = inp (N, I) W^T + bias, inp
 * narrowed into m->x16, w16 W's bf16 copy */
static void
lin16_forward(struct lmf_llama *m, float *out, int ldo, const float *inp,
    const uint16_t *w16, const float *bias, int N, int I, int O)
{
	int n, o;

	lmf_bf16_narrow(m->x16, inp, (size_t)N * I);
	lmf_gemm_bf16(LMF_NOTRANS, LMF_TRANS, N, O, I, 1.0f, m->x16, I, w16,
	    I, 0.0f, out, ldo);
	for (n = 0; bias && n < N; n++)
		for (o = 0; o < O; o++)
			out[(size_t)n * ldo + o] += bias[o];
}

/* bf16: from dy (N, O), dout already narrowed (row stride ldy), and x16
 * the narrowed input (N, I): dinp (N, I) += dy W, dw (O, I) += dy^T x */
static void
lin16_backward(struct lmf_llama *m, float *dinp, float *dw,
    const uint16_t *dy, int ldy, const uint16_t *w16, int N, int I, int O)
{
	if (dinp)
		lmf_gemm_bf16(LMF_NOTRANS, LMF_NOTRANS, N, I, O, 1.0f, dy, ldy,
		    w16, I, 1.0f, dinp, I);
	if (dw)
		lmf_gemm_bf16(LMF_TRANS, LMF_NOTRANS, O, I, N, 1.0f, dy, ldy,
		    m->x16, I, 1.0f, dw, I);
}

/* out (N, OC) = inp W^T + b, plus the LoRA term when targeted */
static void
proj_forward(struct lmf_llama *m, struct lacts *a, int l, int j,
    float *out, const float *inp, int N, int train)
{
	const float *bias = pbias[j] >= 0 ? m->lw[l][pbias[j]] : NULL;
	int I, O;

	proj_dims(m, j, &I, &O);
	if (m->o.bf16)
		lin16_forward(m, out, O, inp, m->lw16[l][pweight[j]], bias, N,
		    I, O);
	else
		lmf_matmul_forward(out, inp, m->lw[l][pweight[j]], bias, N, I,
		    O);
	lora_forward(m, a, l, j, out, inp, N, train);
}

/* the LoRA backward of projection j: dB, dA +=, dinp += (through the
 * dropout mask of the forward) */
static void
lora_backward_(struct lmf_llama *m, struct lacts *a, int l, int j,
    float *dinp, const float *dout, const float *inp, int N)
{
	struct lora *lo = &m->lo[l][j];
	int r = m->rank, I, O;
	float sc = (float)m->scaling, keep, *dx = m->s.dx, *dt = m->s.dt;
	const float *x = inp;
	struct lmf_rng rng;
	long i, n;

	if (!m->lora || !lo->A)
		return;
	proj_dims(m, j, &I, &O);
	if (m->dropout > 0) {
		/* not kept: xd is dx, which we fill again (dx = dt A
		 * below overwrites it once dA has it) */
		if (!m->keep)
			lora_dropout(m, a->xd[j], inp, l, j, (long)N * I);
		x = a->xd[j];
	}
	/* dB (O, r) += sc * dout^T t; dt (N, r) = sc * dout B;
	 * dA (r, I) += dt^T x; dx (N, I) = dt A */
	lmf_gemm_thin(LMF_TRANS, LMF_NOTRANS, O, r, N, sc, dout, O, a->t[j],
	    r, 1.0f, lo->dB, r);
	lmf_gemm_thin(LMF_NOTRANS, LMF_NOTRANS, N, r, O, sc, dout, O, lo->B,
	    r, 0.0f, dt, r);
	lmf_gemm_thin(LMF_TRANS, LMF_NOTRANS, r, I, N, 1.0f, dt, r, x, I,
	    1.0f, lo->dA, I);
	if (!dinp)
		return;
	if (m->dropout <= 0) {
		lmf_gemm_thin(LMF_NOTRANS, LMF_NOTRANS, N, I, r, 1.0f, dt, r,
		    lo->A, I, 1.0f, dinp, I);
		return;
	}
	lmf_gemm_thin(LMF_NOTRANS, LMF_NOTRANS, N, I, r, 1.0f, dt, r, lo->A,
	    I, 0.0f, dx, I);
	keep = (float)(1.0 / (1.0 - m->dropout));
	n = (long)N * I;
	drop_rng(m, &rng, l, j);
	for (i = 0; i < n; i++)
		if (!(lmf_rng_uniform(&rng) < m->dropout))
			dinp[i] += dx[i] * keep;
}

/* lora_backward_ timed as LMF_PROFILE's "LoRA" */
static void
lora_backward(struct lmf_llama *m, struct lacts *a, int l, int j,
    float *dinp, const float *dout, const float *inp, int N)
{
	double t0;

	if (!m->lora)
		return;
	t0 = LMF_PROF_BEGIN();
	lora_backward_(m, a, l, j, dinp, dout, inp, N);
	LMF_PROF_END(LMF_PROF_LORA, t0, 0);
}

/* dinp (N, in) +=, weight and LoRA gradients += from dout (N, out) */
static void
proj_backward(struct lmf_llama *m, struct lacts *a, int l, int j,
    float *dinp, const float *dout, const float *inp, int N)
{
	float *dbias = pbias[j] >= 0 ? m->lg[l][pbias[j]] : NULL;
	int I, O;

	float *dw = m->lg[l][pweight[j]];

	proj_dims(m, j, &I, &O);
	if (m->o.bf16) {
		lmf_bf16_narrow(m->y16, dout, (size_t)N * O);
		if (dw)
			lmf_bf16_narrow(m->x16, inp, (size_t)N * I);
		lin16_backward(m, dinp, dw, m->y16, O, m->lw16[l][pweight[j]],
		    N, I, O);
		lmf_matmul_backward(NULL, NULL, dbias, dout, NULL, NULL, N, I,
		    O);
	} else {
		lmf_matmul_backward(dinp, dw, dbias, dout, inp,
		    m->lw[l][pweight[j]], N, I, O);
	}
	lora_backward(m, a, l, j, dinp, dout, inp, N);
}

/* ---- fused projections: q/k/v and gate/up as one product each ----
 * Projections j0..j0+n-1 read the same input. When their weights lie one
 * after another in the parameter block (the model order puts q, k, v and
 * gate, up side by side when there are no biases between them), they
 * are one (sum of O, I) matrix and we run one product into the scratch
 * (N, sum of O), then copy each projection's columns out. The LoRA terms
 * stay per projection. The names and the stream are unchanged. */

/* the projections' weights (or gradients, g) are contiguous: 1, else 0 */
static int
group_adjacent(struct lmf_llama *m, int l, int j0, int n, int g)
{
	float *const *w = g ? m->lg[l] : m->lw[l];
	uint16_t *const *w16 = m->o.bf16 && !g ? m->lw16[l] : NULL;
	int k, I, O;

	for (k = 0; k + 1 < n; k++) {
		proj_dims(m, j0 + k, &I, &O);
		if (w16 && (!w16[pweight[j0 + k]] || w16[pweight[j0 + k + 1]]
		    != w16[pweight[j0 + k]] + (size_t)I * O))
			return 0;
		if (!w16 && (!w[pweight[j0 + k]] || w[pweight[j0 + k + 1]] !=
		    w[pweight[j0 + k]] + (size_t)I * O))
			return 0;
	}
	return 1;
}

/* the fused width (sum of O) and each part's offset in it */
static int
group_width(struct lmf_llama *m, int j0, int n, int *off, int *O)
{
	int k, I, tot = 0;

	for (k = 0; k < n; k++) {
		proj_dims(m, j0 + k, &I, &O[k]);
		off[k] = tot;
		tot += O[k];
	}
	return tot;
}

static void
group_forward(struct lmf_llama *m, struct lacts *a, int l, int j0, int n,
    float *const *outs, const float *inp, int N, int train)
{
	int off[3], O[3], tot, I, k;
	const float *bias;
	float *f = m->fscr;

	if (!group_adjacent(m, l, j0, n, 0)) {
		for (k = 0; k < n; k++)
			proj_forward(m, a, l, j0 + k, outs[k], inp, N, train);
		return;
	}
	tot = group_width(m, j0, n, off, O);
	proj_dims(m, j0, &I, &O[0]);
	if (m->o.bf16)
		lin16_forward(m, f, tot, inp, m->lw16[l][pweight[j0]], NULL, N,
		    I, tot);
	else
		lmf_gemm(LMF_NOTRANS, LMF_TRANS, N, tot, I, 1.0f, inp, I,
		    m->lw[l][pweight[j0]], I, 0.0f, f, tot);
	for (k = 0; k < n; k++) {
		bias = pbias[j0 + k] >= 0 ? m->lw[l][pbias[j0 + k]] : NULL;
		lmf_copy_rows(outs[k], (size_t)O[k], f + off[k], (size_t)tot,
		    bias, N, (size_t)O[k]);
		lora_forward(m, a, l, j0 + k, outs[k], inp, N, train);
	}
}

/* group_backward's products in fp32, from the gathered dout in fscr */
static void
group_backward32(struct lmf_llama *m, int l, int j0, int n, float *dinp,
    const float *inp, int N)
{
	int off[3], O[3], tot, I, k;
	float *f = m->fscr, *dw;

	tot = group_width(m, j0, n, off, O);
	proj_dims(m, j0, &I, &O[0]);
	/* dinp (N, I) += dout (N, tot) W (tot, I) */
	if (dinp)
		lmf_gemm(LMF_NOTRANS, LMF_NOTRANS, N, I, tot, 1.0f, f, tot,
		    m->lw[l][pweight[j0]], I, 1.0f, dinp, I);
	/* dW (tot, I) += dout^T inp, in one product when the gradients
	 * are contiguous too */
	if (group_adjacent(m, l, j0, n, 1)) {
		lmf_gemm(LMF_TRANS, LMF_NOTRANS, tot, I, N, 1.0f, f, tot, inp,
		    I, 1.0f, m->lg[l][pweight[j0]], I);
	} else {
		for (k = 0; k < n; k++)
			if ((dw = m->lg[l][pweight[j0 + k]]))
				lmf_gemm(LMF_TRANS, LMF_NOTRANS, O[k], I, N,
				    1.0f, f + off[k], tot, inp, I, 1.0f, dw,
				    I);
	}
}

/* group_backward's products in bf16, from the gathered dout in fscr */
static void
group_backward16(struct lmf_llama *m, int l, int j0, int n, float *dinp,
    const float *inp, int N)
{
	int off[3], O[3], tot, I, k, any = 0;
	float *dw;

	tot = group_width(m, j0, n, off, O);
	proj_dims(m, j0, &I, &O[0]);
	lmf_bf16_narrow(m->y16, m->fscr, (size_t)N * tot);
	for (k = 0; k < n; k++)
		any |= m->lg[l][pweight[j0 + k]] != NULL;
	if (any)
		lmf_bf16_narrow(m->x16, inp, (size_t)N * I);
	if (group_adjacent(m, l, j0, n, 1)) {
		lin16_backward(m, dinp, m->lg[l][pweight[j0]], m->y16, tot,
		    m->lw16[l][pweight[j0]], N, I, tot);
		return;
	}
	lin16_backward(m, dinp, NULL, m->y16, tot, m->lw16[l][pweight[j0]],
	    N, I, tot);
	for (k = 0; k < n; k++)
		if ((dw = m->lg[l][pweight[j0 + k]]))
			lin16_backward(m, NULL, dw, m->y16 + off[k], tot, NULL,
			    N, I, O[k]);
}

static void
group_backward(struct lmf_llama *m, struct lacts *a, int l, int j0, int n,
    float *dinp, const float *const *douts, const float *inp, int N)
{
	int off[3], O[3], tot, I, k;
	float *f = m->fscr, *dbias;

	if (!group_adjacent(m, l, j0, n, 0)) {
		for (k = 0; k < n; k++)
			proj_backward(m, a, l, j0 + k, dinp, douts[k], inp, N);
		return;
	}
	tot = group_width(m, j0, n, off, O);
	proj_dims(m, j0, &I, &O[0]);
	for (k = 0; k < n; k++)
		lmf_copy_rows(f + off[k], (size_t)tot, douts[k], (size_t)O[k],
		    NULL, N, (size_t)O[k]);
	if (m->o.bf16)
		group_backward16(m, l, j0, n, dinp, inp, N);
	else
		group_backward32(m, l, j0, n, dinp, inp, N);
	for (k = 0; k < n; k++) {
		dbias = pbias[j0 + k] >= 0 ? m->lg[l][pbias[j0 + k]] : NULL;
		if (dbias)
			lmf_matmul_backward(NULL, NULL, dbias, douts[k], NULL,
			    NULL, N, I, O[k]);
		lora_backward(m, a, l, j0 + k, dinp, douts[k], inp, N);
	}
}

/* one block: xout (N, C) from x (N, C), saving what backward needs in a */
/* Mistral's sliding window for a batch of T: 0 (none) when it is longer
 * than the batch and so hides nothing */
static int
att_window(const struct lmf_config *c, int T)
{
	return c->sliding_window > 0 && c->sliding_window < T ?
	    (int)c->sliding_window : 0;
}

static void
layer_forward(struct lmf_llama *m, int l, struct lacts *a, const float *x,
    float *xout, const struct lmf_batch *b, int train)
{
	const struct lmf_config *c = &m->c;
	int B = b->B, T = b->T, N = B * T, C = (int)c->hidden_size;
	int NH = (int)c->num_attention_heads;
	int NKV = (int)c->num_key_value_heads, HS = (int)c->head_dim;
	long n = (long)N * C;
	float eps = (float)c->rms_norm_eps;
	float *const *w = m->lw[l];
	float *qkv[3], *gu[2];

	lmf_rmsnorm_forward(a->ln1, a->rstd1, x, w[W_LN1], eps, N, C);
	qkv[0] = c->qk_norm ? a->qp : a->q;
	qkv[1] = c->qk_norm ? a->kp : a->k;
	qkv[2] = a->v;
	group_forward(m, a, l, P_Q, 3, qkv, a->ln1, N, train);
	if (c->qk_norm) {
		/* qwen3: each head's q and k through an RMSNorm of HS */
		lmf_rmsnorm_forward(a->q, a->qrstd, a->qp, w[W_QN], eps,
		    N * NH, HS);
		lmf_rmsnorm_forward(a->k, a->krstd, a->kp, w[W_KN], eps,
		    N * NKV, HS);
	}
	lmf_rope_forward(a->q, a->q, m->cosb, m->sinb, N, NH, HS);
	lmf_rope_forward(a->k, a->k, m->cosb, m->sinb, N, NKV, HS);
	(m->o.bf16 ? lmf_attention_flash_forward16 :
	    lmf_attention_flash_forward)(a->atty, a->alse, m->attscr, a->q,
	    a->k, a->v, b->attention_mask, b->attention_mask, att_window(c, T),
	    B, T, NH, NKV, HS);
	proj_forward(m, a, l, P_O, a->xmid, a->atty, N, train);
	lmf_add(a->xmid, x, (size_t)n);
	lmf_rmsnorm_forward(a->ln2, a->rstd2, a->xmid, w[W_LN2], eps, N, C);
	gu[0] = a->gate;
	gu[1] = a->up;
	group_forward(m, a, l, P_G, 2, gu, a->ln2, N, train);
	lmf_swiglu_forward(a->h, a->gate, a->up, (long)N *
	    c->intermediate_size);
	proj_forward(m, a, l, P_D, xout, a->h, N, train);
	lmf_add(xout, a->xmid, (size_t)n);
}

/* one block backward: s.dres holds d xout on entry and d x on return;
 * fresh: layer_forward has just run again (checkpointing), so h and ln2
 * are there, and only ln1, which ln2 overwrote, is recomputed */
static void
layer_backward(struct lmf_llama *m, int l, struct lacts *a, const float *x,
    const struct lmf_batch *b, int fresh)
{
	const struct lmf_config *c = &m->c;
	struct bscratch *s = &m->s;
	int B = b->B, T = b->T, N = B * T, C = (int)c->hidden_size;
	int NH = (int)c->num_attention_heads;
	int NKV = (int)c->num_key_value_heads, HS = (int)c->head_dim;
	size_t nff = (size_t)N * c->intermediate_size, nc = (size_t)N * C;
	size_t nq = (size_t)N * NH * HS, nk = (size_t)N * NKV * HS;
	float *const *w = m->lw[l];
	float *const *g = m->lg[l];
	float eps = (float)c->rms_norm_eps, *dq, *dk;
	const float *dqkv[3], *dgu[2];

	/* the MLP half: xout = xmid + down(silu(gate(ln2)) * up(ln2)); h
	 * and ln2 recomputed when not kept */
	if (!m->keep && !fresh)
		lmf_swiglu_forward(a->h, a->gate, a->up, (long)nff);
	lmf_zero(s->dh, nff);
	proj_backward(m, a, l, P_D, s->dh, s->dres, a->h, N);
	lmf_zero(s->dgate, nff);
	lmf_zero(s->dup, nff);
	lmf_swiglu_backward(s->dgate, s->dup, s->dh, a->gate, a->up,
	    (long)nff);
	lmf_zero(s->dln, nc);
	dgu[0] = s->dgate;
	dgu[1] = s->dup;
	if (!m->keep && !fresh)
		lmf_rmsnorm_forward(a->ln2, s->rstd, a->xmid, w[W_LN2], eps, N,
		    C);
	group_backward(m, a, l, P_G, 2, s->dln, dgu, a->ln2, N);
	lmf_rmsnorm_backward(s->dres, g[W_LN2], s->dln, a->xmid, w[W_LN2],
	    a->rstd2, N, C);
	/* the attention half: xmid = x + o(attention(rope(q), rope(k), v)) */
	lmf_zero(s->datty, nq);
	proj_backward(m, a, l, P_O, s->datty, s->dres, a->atty, N);
	lmf_zero(s->dq, nq);
	lmf_zero(s->dk, nk);
	lmf_zero(s->dv, nk);
	(m->o.bf16 ? lmf_attention_flash_backward16 :
	    lmf_attention_flash_backward)(s->dq, s->dk, s->dv, m->attscr,
	    s->datty, a->atty, a->alse, a->q, a->k, a->v, b->attention_mask,
	    b->attention_mask, att_window(c, T), B, T, NH, NKV, HS);
	lmf_rope_backward(s->dq, s->dq, m->cosb, m->sinb, N, NH, HS);
	lmf_rope_backward(s->dk, s->dk, m->cosb, m->sinb, N, NKV, HS);
	dq = s->dq;
	dk = s->dk;
	if (c->qk_norm) {
		lmf_zero(s->dqp, nq);
		lmf_zero(s->dkp, nk);
		lmf_rmsnorm_backward(s->dqp, g[W_QN], s->dq, a->qp, w[W_QN],
		    a->qrstd, N * NH, HS);
		lmf_rmsnorm_backward(s->dkp, g[W_KN], s->dk, a->kp, w[W_KN],
		    a->krstd, N * NKV, HS);
		dq = s->dqp;
		dk = s->dkp;
	}
	lmf_zero(s->dln, nc);
	dqkv[0] = dq;
	dqkv[1] = dk;
	dqkv[2] = s->dv;
	if (!m->keep)
		lmf_rmsnorm_forward(a->ln1, s->rstd, x, w[W_LN1], eps, N, C);
	group_backward(m, a, l, P_Q, 3, s->dln, dqkv, a->ln1, N);
	lmf_rmsnorm_backward(s->dres, g[W_LN1], s->dln, x, w[W_LN1],
	    a->rstd1, N, C);
}

/* embedding, the blocks and the final norm: m->xf holds the hidden
 * states, m->targ the shifted labels */
static void
forward(struct lmf_llama *m, const struct lmf_batch *b, int flags)
{
	const struct lmf_config *c = &m->c;
	int N = b->B * b->T, C = (int)c->hidden_size, L, l, t, i;
	int train = (flags & LMF_FWD_TRAIN) != 0;

	if (train && (flags & LMF_FWD_NO_ADAPTER))
		BUG("a forward without the adapter has no gradients");
	acts_fit(m, b->B, b->T, train);
	bf16_refresh(m);
	m->fflags = flags;
	m->fB = b->B;
	m->fT = b->T;
	L = (int)c->num_hidden_layers;
	for (i = 0; i < b->B; i++)
		for (t = 0; t < b->T; t++)
			m->pos[i * b->T + t] = b->position_ids ?
			    b->position_ids[i * b->T + t] : t;
	if (b->labels)
		lmf_labels_shift(m->targ, b->labels, b->B, b->T);
	else
		for (i = 0; i < N; i++)
			m->targ[i] = LMF_IGNORE_INDEX;
	lmf_rope_update(&m->rope, c, lmf_rope_seq_len(m->pos, N));
	lmf_rope_cache(m->cosb, m->sinb, m->pos, m->rope.inv_freq, N,
	    (int)c->head_dim);
	if (m->rope.scale != 1.0)
		lmf_rope_scale(m->cosb, m->sinb, m->rope.scale,
		    (size_t)N * (c->head_dim / 2));
	lmf_embedding_forward(m->res[0], b->input_ids, m->wte, N, C);
	for (l = 0; l < L; l++)
		layer_forward(m, l, &m->la[m->nsets > 1 ? l : 0], m->res[l],
		    m->res[l + 1], b, train);
	lmf_rmsnorm_forward(m->xf, m->rstdf, m->res[L], m->lnf,
	    (float)c->rms_norm_eps, N, C);
	if (train)
		lmf_zero(m->s.dln, (size_t)N * C);
}

/* the gradients of .layer >= l are final: tell the one who asked */
static void
grads_final(struct lmf_llama *m, int l)
{
	if (m->on_grads)
		m->on_grads(m->grads_ctx, l);
}

/* from d(hidden) in s.dln down through the blocks into the trainable
 * gradients; the step is then taken (nsteps, the dropout seed, moves) */
static void
backward(struct lmf_llama *m, const struct lmf_batch *b)
{
	const struct lmf_config *c = &m->c;
	int N = b->B * b->T, C = (int)c->hidden_size;
	int L = (int)c->num_hidden_layers, l, fresh;
	struct bscratch *s = &m->s;

	if (!(m->fflags & LMF_FWD_TRAIN) || b->B != m->fB || b->T != m->fT)
		BUG("backward without the training forward of its batch");
	lmf_zero(s->dres, (size_t)N * C);
	lmf_rmsnorm_backward(s->dres, m->dlnf, s->dln, m->res[L], m->lnf,
	    m->rstdf, N, C);
	grads_final(m, L);
	for (l = L - 1; l >= 0 && m->cont[l]; l--) {
		struct lacts *a = &m->la[m->nsets > 1 ? l : 0];

		/* recompute the block, except the last one, whose
		 * activations are still there from the forward */
		fresh = m->nsets == 1 && l != L - 1;
		if (fresh)
			layer_forward(m, l, a, m->res[l], s->xscr, b, 1);
		layer_backward(m, l, a, m->res[l], b, fresh);
		grads_final(m, l);
	}
	if (m->dwte && m->embed_trainable)
		lmf_embedding_backward(m->dwte, s->dres, b->input_ids, N, C);
	grads_final(m, -1);
	m->fflags = 0;
	m->nsteps++;
}

/* the rows [*lo, hi) of the block from *lo that hold targets (ignored
 * rows trimmed off both ends); 0 when none */
static int
logit_block(const struct lmf_llama *m, int *lo, int *hi, int N)
{
	*hi = *lo + LOGIT_ROWS < N ? *lo + LOGIT_ROWS : N;
	while (*lo < *hi && m->targ[*lo] == LMF_IGNORE_INDEX)
		++*lo;
	while (*hi > *lo && m->targ[*hi - 1] == LMF_IGNORE_INDEX)
		--*hi;
	return *hi > *lo;
}

/* the summed token cross-entropy of the last forward, block by block of
 * rows: we take a block's logits (one sgemm), and with dhid turn them in
 * place into dlogits = scale (softmax - onehot) and send them back
 * through lm_head at once (dhid += dlogits W, dW += dlogits^T xf): the
 * three products of the unfused head, without the (N, V) logits */
static double
ce_fused(struct lmf_llama *m, float *dhid, float scale)
{
	int N = m->fB * m->fT, C = (int)m->c.hidden_size;
	int V = (int)m->c.vocab_size, n0, lo, hi;
	double loss = 0;

	for (n0 = 0; n0 < N; n0 += LOGIT_ROWS) {
		const float *x;

		lo = n0;
		if (!logit_block(m, &lo, &hi, N))
			continue;
		x = m->xf + (size_t)lo * C;
		if (m->o.bf16)
			lin16_forward(m, m->lscr, V, x, m->lmw16, NULL, hi - lo,
			    C, V);
		else
			lmf_gemm(LMF_NOTRANS, LMF_TRANS, hi - lo, V, C, 1.0f, x,
			    C, m->lmw, C, 0.0f, m->lscr, V);
		if (!dhid) {
			loss += lmf_crossentropy_forward(NULL, m->lscr,
			    m->targ + lo, hi - lo, V);
			continue;
		}
		loss += lmf_crossentropy_backward(m->lscr, NULL, m->lscr,
		    m->targ + lo, scale, hi - lo, V);
		if (m->o.bf16) {
			/* x16 still holds x, narrowed by the forward */
			lmf_bf16_narrow(m->y16, m->lscr, (size_t)(hi - lo) * V);
			lin16_backward(m, dhid + (size_t)lo * C, m->dlmw,
			    m->y16, V, m->lmw16, hi - lo, C, V);
			continue;
		}
		lmf_matmul_backward(dhid + (size_t)lo * C, m->dlmw, NULL,
		    m->lscr, x, m->lmw, hi - lo, C, V);
	}
	return loss;
}

static long
count_pred(const int32_t *targ, long N)
{
	long i, k = 0;

	for (i = 0; i < N; i++)
		k += targ[i] != LMF_IGNORE_INDEX;
	return k;
}

double
lmf_llama_step(struct lmf_llama *m, const struct lmf_batch *b, float scale,
    long *npred)
{
	double loss;

	forward(m, b, LMF_FWD_TRAIN);
	if (npred)
		*npred = count_pred(m->targ, (long)b->B * b->T);
	loss = ce_fused(m, m->s.dln, scale);
	backward(m, b);
	return loss;
}

uint64_t
lmf_llama_nsteps(const struct lmf_llama *m)
{
	return m->nsteps;
}

void
lmf_llama_set_nsteps(struct lmf_llama *m, uint64_t n)
{
	m->nsteps = n;
}

double
lmf_llama_eval(struct lmf_llama *m, const struct lmf_batch *b, long *npred)
{
	forward(m, b, 0);
	if (npred)
		*npred = count_pred(m->targ, (long)b->B * b->T);
	return ce_fused(m, NULL, 0);
}

void
lmf_llama_logits(struct lmf_llama *m, const struct lmf_batch *b,
    float *out)
{
	forward(m, b, 0);
	lmf_llama_head_logits(m, out);
}

void
lmf_llama_argmax(struct lmf_llama *m, int32_t *pred)
{
	int N = m->fB * m->fT, C = (int)m->c.hidden_size;
	int V = (int)m->c.vocab_size, n0, R, n, v;

	/* we compute the logits LOGIT_ROWS rows at a time, so the (N, V)
	 * block is never held; the first maximum wins, as torch.argmax */
	for (n0 = 0; n0 < N; n0 += LOGIT_ROWS) {
		R = N - n0 < LOGIT_ROWS ? N - n0 : LOGIT_ROWS;
		lmf_matmul_forward(m->lscr, m->xf + (size_t)n0 * C, m->lmw,
		    NULL, R, C, V);
		for (n = 0; n < R; n++) {
			const float *l = m->lscr + (size_t)n * V;
			int best = 0;

			for (v = 1; v < V; v++)
				if (l[v] > l[best])
					best = v;
			pred[n0 + n] = best;
		}
	}
}

/* ------------------------------------------------------------------ */
/* the model API: hidden states, heads, backward */

const float *
lmf_llama_forward(struct lmf_llama *m, const struct lmf_batch *b, int flags)
{
	forward(m, b, flags);
	return m->xf;
}

float *
lmf_llama_dhidden(struct lmf_llama *m)
{
	if (!(m->fflags & LMF_FWD_TRAIN))
		BUG("d(hidden) without a training forward");
	return m->s.dln;
}

void
lmf_llama_on_grads(struct lmf_llama *m, void (*fn)(void *ctx, int l),
    void *ctx)
{
	m->on_grads = fn;
	m->grads_ctx = ctx;
}

void
lmf_llama_backward(struct lmf_llama *m, const struct lmf_batch *b)
{
	backward(m, b);
}

void
lmf_llama_head_logits(struct lmf_llama *m, float *logits)
{
	int N = m->fB * m->fT;

	lmf_matmul_forward(logits, m->xf, m->lmw, NULL, N,
	    (int)m->c.hidden_size, (int)m->c.vocab_size);
}

void
lmf_llama_logits_backward(struct lmf_llama *m, const float *dlogits)
{
	int N = m->fB * m->fT;

	lmf_matmul_backward(lmf_llama_dhidden(m), m->dlmw, NULL, dlogits,
	    m->xf, m->lmw, N, (int)m->c.hidden_size, (int)m->c.vocab_size);
}

void
lmf_llama_logps(struct lmf_llama *m, float *lp)
{
	lmf_logps_fused_forward(lp, m->lse, m->lscr, m->xf, m->lmw, m->targ,
	    m->fB * m->fT, (int)m->c.hidden_size, (int)m->c.vocab_size,
	    LOGIT_ROWS);
}

void
lmf_llama_logps_backward(struct lmf_llama *m, const float *dlp)
{
	lmf_logps_fused_backward(lmf_llama_dhidden(m), m->dlmw, m->lscr, dlp,
	    m->lse, m->xf, m->lmw, m->targ, m->fB * m->fT,
	    (int)m->c.hidden_size, (int)m->c.vocab_size, LOGIT_ROWS);
}

void
lmf_llama_mean_logits(struct lmf_llama *m, float *mean)
{
	int N = m->fB * m->fT, C = (int)m->c.hidden_size;
	int V = (int)m->c.vocab_size, v, n, i;
	double *wbar = xcalloc((size_t)C, sizeof *wbar), acc;

	for (v = 0; v < V; v++)
		for (i = 0; i < C; i++)
			wbar[i] += m->lmw[(size_t)v * C + i];
	for (n = 0; n < N; n++) {
		acc = 0;
		for (i = 0; i < C; i++)
			acc += wbar[i] * m->xf[(size_t)n * C + i];
		mean[n] = (float)(acc / V);
	}
	free(wbar);
}

const int32_t *
lmf_llama_targets(const struct lmf_llama *m)
{
	return m->targ;
}

/* ---- the value head ---- */

/* the dropout stream of the value head in the current step (below the
 * layers' streams as long as L < 146) */
static void
vdrop_rng(struct lmf_llama *m, struct lmf_rng *rng)
{
	lmf_rng_seed(rng, mix64(m->o.seed ^ mix64(m->nsteps * 1024 + 1023)));
}

void
lmf_llama_value_head(struct lmf_llama *m, double dropout)
{
	json_t *v = json_object_get(json_object_get(m->meta, "config"),
	    "summary_dropout_prob");
	int64_t C = m->c.hidden_size, i;
	struct lmf_rng rng;
	float bound;

	/* trl: the config's value when it has one (null: none), else 0.1 */
	if (dropout < 0 && v && !json_is_null(v) && !(json_is_number(v) &&
	    json_number_value(v) >= 0 && json_number_value(v) < 1))
		die("the model config's summary_dropout_prob is not a number "
		    "in [0, 1)");
	if (dropout < 0)
		dropout = !v ? 0.1 : json_is_null(v) ? 0 :
		    json_number_value(v);
	if (dropout >= 1)
		BUG("value head dropout %g", dropout);
	m->vdrop = dropout;
	if (m->vhead)
		return;
	if (!m->vh) {
		m->vh = xcalloc((size_t)C + 1, sizeof(float));
		m->dvh = xcalloc((size_t)C + 1, sizeof(float));
	}
	if (m->vseen != 3) {
		/* nn.Linear's default, which TRL keeps: weight and bias
		 * U(-1/sqrt(C), 1/sqrt(C)) */
		lmf_rng_seed(&rng, mix64(m->o.seed ^ 0x765f68656164ull));
		bound = (float)(1.0 / sqrt((double)C));
		for (i = 0; i <= C; i++)
			m->vh[i] = (2 * lmf_rng_uniform(&rng) - 1) * bound;
	}
	m->vhead = 1;
	if (m->tp)
		build_trainable(m);
}

int
lmf_llama_has_value_head(const struct lmf_llama *m)
{
	return m->vhead;
}

/* values (N) = dropout(xf) w + b; the mask is drawn again in backward */
void
lmf_llama_values(struct lmf_llama *m, float *values)
{
	int N = m->fB * m->fT, C = (int)m->c.hidden_size, n, c;
	int drop = (m->fflags & LMF_FWD_TRAIN) && m->vdrop > 0;
	float keep = (float)(1.0 / (1.0 - m->vdrop));
	struct lmf_rng rng;

	if (!m->vhead)
		BUG("values without a value head");
	vdrop_rng(m, &rng);
	for (n = 0; n < N; n++) {
		const float *x = m->xf + (size_t)n * C;
		double sum = m->vh[C];

		for (c = 0; c < C; c++)
			if (!drop)
				sum += (double)x[c] * m->vh[c];
			else if (!(lmf_rng_uniform(&rng) < m->vdrop))
				sum += (double)x[c] * keep * m->vh[c];
		values[n] = (float)sum;
	}
}

void
lmf_llama_values_backward(struct lmf_llama *m, const float *dvalues)
{
	int N = m->fB * m->fT, C = (int)m->c.hidden_size, n, c;
	int drop = m->vdrop > 0;
	float keep = (float)(1.0 / (1.0 - m->vdrop)), k;
	float *dhid = lmf_llama_dhidden(m);
	struct lmf_rng rng;

	vdrop_rng(m, &rng);
	for (n = 0; n < N; n++) {
		const float *x = m->xf + (size_t)n * C;
		float *dx = dhid + (size_t)n * C, g = dvalues[n];

		m->dvh[C] += g;
		for (c = 0; c < C; c++) {
			k = !drop ? 1.0f : lmf_rng_uniform(&rng) < m->vdrop ?
			    0.0f : keep;
			m->dvh[c] += g * x[c] * k;
			dx[c] += g * m->vh[c] * k;
		}
	}
}

/* ------------------------------------------------------------------ */
/* the result */

struct lmf_tok *
lmf_llama_tok(struct lmf_llama *m, char *err, size_t errlen)
{
	struct lmf_item it = { m->nextra, m->extra };

	return lmf_tok_load_item(&it, err, errlen);
}

json_t *
lmf_llama_result_meta(struct lmf_llama *m)
{
	json_t *meta = json_object(), *v;
	struct lmf_lora_config lc;

	if (m->lora) {
		json_object_set_new(meta, "kind", json_string("adapter"));
		lc = lora_config(m);
		json_object_set_new(meta, "adapter_config",
		    lmf_lora_config_json(&lc, m->targets,
		    json_object_get(m->meta, "source")));
		json_object_set_new(meta, "dtype", json_string("f32"));
		v = json_object_get(m->meta, "source");
		if (json_is_string(v))
			json_object_set_new(meta, "base_model", json_copy(v));
		return meta;
	}
	json_object_set_new(meta, "kind", json_string("model"));
	json_object_set(meta, "config", json_object_get(m->meta, "config"));
	json_object_set_new(meta, "dtype", json_string("f32"));
	v = json_object_get(m->meta, "source");
	if (json_is_string(v))
		json_object_set_new(meta, "source", json_copy(v));
	json_object_set_new(meta, "model_type",
	    json_string(m->c.model_type_name));
	return meta;
}

/* t: name (allocated), f32 shape and data pointing at x */
static void
put_f32(struct lmf_tensor *t, const char *name, int ndim,
    const int64_t *shape, float *x)
{
	t->name = xstrdup(name);
	t->dtype = LMF_F32;
	t->ndim = ndim;
	memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
	t->data = x;
	t->nbytes = lmf_tensor_numel(t) * sizeof(float);
}

void
lmf_llama_result_item(struct lmf_llama *m, struct lmf_item *it)
{
	int L = (int)m->c.num_hidden_layers, l, j, k, ab, n;
	int64_t shape[2] = { 1, m->c.hidden_size };
	char name[160];

	n = m->lora ? 0 : m->nextra + m->np;
	for (l = 0; m->lora && l < L; l++)
		for (j = 0; j < NPROJ; j++)
			n += m->lo[l][j].A ? 2 : 0;
	it->t = xcalloc((size_t)n + 2, sizeof *it->t);
	it->ntensors = 0;
	for (l = 0; m->lora && l < L; l++)
		for (k = 0; k < NPROJ; k++) {
			j = lmf_lora_sorted(k);
			struct lora *lo = &m->lo[l][j];

			for (ab = 0; lo->A && ab < 2; ab++) {
				lmf_lora_tensor_name(name, sizeof name, l, j,
				    ab);
				shape[0] = ab ? lo->out : m->rank;
				shape[1] = ab ? m->rank : lo->in;
				put_f32(&it->t[it->ntensors++], name, 2, shape,
				    ab ? lo->B : lo->A);
			}
		}
	for (k = 0; !m->lora && k < m->nextra; k++) {
		it->t[it->ntensors] = m->extra[k];
		it->t[it->ntensors++].name = xstrdup(m->extra[k].name);
	}
	for (k = 0; !m->lora && k < m->np; k++)
		put_f32(&it->t[it->ntensors++], m->p[k].name, m->p[k].ndim,
		    m->p[k].shape, m->pw[k]);
	if (m->vhead) {
		/* v_head.summary.weight (1, C) and .bias (1), last */
		shape[0] = 1;
		shape[1] = m->c.hidden_size;
		put_f32(&it->t[it->ntensors++], "v_head.summary.weight", 2,
		    shape, m->vh);
		put_f32(&it->t[it->ntensors++], "v_head.summary.bias", 1,
		    shape, m->vh + shape[1]);
	}
}

void
lmf_llama_result_release(struct lmf_item *it)
{
	int i;

	for (i = 0; i < it->ntensors; i++)
		free(it->t[i].name);
	free(it->t);
	it->t = NULL;
	it->ntensors = 0;
}

int
lmf_llama_write(struct lmf_llama *m, struct lmf_wr *w)
{
	struct lmf_item it;
	int k, rc;

	lmf_llama_result_item(m, &it);
	rc = lmf_wr_item(w, (uint32_t)it.ntensors);
	for (k = 0; rc >= 0 && k < it.ntensors; k++)
		rc = lmf_wr_tensor(w, &it.t[k]);
	lmf_llama_result_release(&it);
	return rc < 0 ? rc : 0;
}

void
lmf_llama_seqlogps(struct lmf_llama *m, struct lmf_seqlp *s,
    const struct lmf_batch *b, int flags, int mlog, float *logps,
    float *avg, float *len)
{
	long N = (long)b->B * b->T;

	if (N > s->cap) {
		lmf_seqlp_free(s);
		s->lp = xmallocarray((size_t)N, sizeof(float));
		s->dlp = xmallocarray((size_t)N, sizeof(float));
		s->mlog = xmallocarray((size_t)N, sizeof(float));
		s->cap = N;
	}
	lmf_llama_forward(m, b, flags);
	lmf_llama_logps(m, s->lp);
	if (mlog)
		lmf_llama_mean_logits(m, s->mlog);
	lmf_seqlogps_forward(logps, avg, len, s->lp, lmf_llama_targets(m),
	    b->B, b->T);
}

void
lmf_llama_seqlogps_backward(struct lmf_llama *m, struct lmf_seqlp *s,
    const struct lmf_batch *b, float *dlogps, float scale)
{
	long i;

	for (i = 0; i < b->B; i++)
		dlogps[i] *= scale;
	memset(s->dlp, 0, (size_t)b->B * (size_t)b->T * sizeof *s->dlp);
	lmf_seqlogps_backward(s->dlp, dlogps, NULL, lmf_llama_targets(m),
	    b->B, b->T);
	lmf_llama_logps_backward(m, s->dlp);
	lmf_llama_backward(m, b);
}

void
lmf_seqlp_free(struct lmf_seqlp *s)
{
	free(s->lp);
	free(s->dlp);
	free(s->mlog);
	s->lp = s->dlp = s->mlog = NULL;
	s->cap = 0;
}
