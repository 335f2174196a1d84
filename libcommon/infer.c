/* infer.c: inference with a key/value cache (infer.h).
 *
 * We keep the weights as the model item holds them (f32, Hugging Face
 * names; q/k/v and gate/up read into one block each, or every projection
 * into bf16) and point a table at them, or point the table at weights we
 * borrow (lmf_infer_borrow), with their LoRA pairs beside. The cache holds, per layer and row,
 * the keys (after rope) and values of every token seen: (L, B, maxT, NKV,
 * HS) each. A call runs its n tokens through the blocks together (one
 * matrix product per projection, N = n), so a prompt is one pass and a
 * decoding step of B rows is one pass of B tokens. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmf/gemm.h"
#include "lmf/infer.h"
#include "lmf/kernels.h"
#include "lmf/lora.h"
#include "lmf/util.h"
#include "lmf/banned.h"

/* the weights of one block, in the parameter table's order */
enum { W_LN1, W_Q, W_BQ, W_K, W_BK, W_V, W_BV, W_O, W_BO, W_LN2, W_G, W_U,
	W_D, W_QN, W_KN, NW };
static const char *wname[NW] = {
	"input_layernorm.weight", "self_attn.q_proj.weight",
	"self_attn.q_proj.bias", "self_attn.k_proj.weight",
	"self_attn.k_proj.bias", "self_attn.v_proj.weight",
	"self_attn.v_proj.bias", "self_attn.o_proj.weight",
	"self_attn.o_proj.bias", "post_attention_layernorm.weight",
	"mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight",
	"self_attn.q_norm.weight", "self_attn.k_norm.weight",
};
/* the projections (LMF_INFER_Q...) in that table */
static const int pw[LMF_INFER_NPROJ] = { W_Q, W_K, W_V, W_O, W_G, W_U,
	W_D };
static const int pb[LMF_INFER_NPROJ] = { W_BQ, W_BK, W_BV, W_BO, -1, -1,
	-1 };

struct lmf_infer {
	struct lmf_config c;
	json_t *meta;
	struct lmf_item it;
	const float *wte;       /* (V, C) */
	const float *lnf;       /* (C) */
	const float *lmw;       /* (V, C), wte when tied */
	const float *(*lw)[NW]; /* (L) tables; NULL for an absent bias */
	const float *(*la)[LMF_INFER_NPROJ]; /* (L) LoRA A (r, in) or NULL;
	                           la, lb NULL without LoRA */
	const float *(*lb)[LMF_INFER_NPROJ]; /* (L) LoRA B (out, r) */
	int r;                  /* LoRA rank */
	float scaling;
	struct lmf_rope rope;   /* inverse frequencies, attention scaling */
	int B, maxT;
	int *len;               /* (B) tokens cached per row */
	float *kc, *vc;         /* (L, B, maxT, NKV * HS) */
	/* scratch for n tokens, grown as needed */
	int cap;
	int32_t *pos;           /* (n) */
	float *rstd;            /* (n * NH): per row, or per head (q_norm) */
	float *cos, *sin;       /* (n, HS / 2) */
	float *x, *xn, *q, *k, *v, *att, *gate, *up, *sc, *t, *fs;
	/* x, xn (n, C), q, att (n, NH * HS), k, v (n, NKV * HS),
	 * gate, up (n, FF), sc (maxT), t (n, r),
	 * fs (n, max(NH * HS + 2 NKV * HS, 2 FF)) fused products */
	float **fown;           /* (2 L) fused q/k/v, gate/up blocks an
	                           opened model's tensors were read into, or
	                           NULL */
	/* bf16 weights (lmf_infer_set_dtype), else NULL */
	uint16_t *bfblk;        /* every projection and lm_head */
	const uint16_t *(*bw)[LMF_INFER_NPROJ]; /* (L) into bfblk: q, k, v
	                           and gate, up side by side */
	const uint16_t *lmbf;   /* (V, C) */
	/* int8 weights with a scale per row (lmf_infer_set_dtype), else
	 * NULL: laid out as bfblk, the scales in the same order */
	int8_t *i8blk;
	float *i8sc;
	const int8_t *(*qw)[LMF_INFER_NPROJ]; /* (L) into i8blk */
	const float *(*qs)[LMF_INFER_NPROJ];  /* (L) into i8sc */
	const int8_t *lmq;      /* (V, C) */
	const float *lmqs;      /* (V) */
	float *wscr;            /* (LMF_MATVEC_BF16_ROWS, max(C, FF, NH * HS)) */
};

static void unpoint_fused(struct lmf_infer *m);
static int open_weights(struct lmf_infer *m, struct lmf_rd *model,
    struct lmf_rd *adapter, int dtype, char *err, size_t errlen);

int
lmf_infer_check_item(struct lmf_item *it, const struct lmf_config *c,
    char *err, size_t errlen)
{
	struct lmf_param *p;
	struct lmf_tensor *t;
	char buf[64];
	int np, i, d;

	p = lmf_model_params(c, &np);
	for (i = 0; i < np; i++) {
		if (!(t = lmf_item_find(it, p[i].name))) {
			lmf_seterr(err, errlen, "model tensor '%s' is missing",
			    p[i].name);
			goto fail;
		}
		if (lmf_tensor_to_f32(t) < 0) {
			lmf_seterr(err, errlen,
			    "model tensor '%s' has dtype %s, "
			    "not a float", t->name,
			    lmf_dtype_name(t->dtype) ? lmf_dtype_name(t->dtype)
			    : "?");
			goto fail;
		}
		for (d = 0; d < p[i].ndim; d++)
			if (t->ndim != p[i].ndim ||
			    t->shape[d] != p[i].shape[d])
				break;
		if (d < p[i].ndim || t->ndim != p[i].ndim) {
			lmf_seterr(err, errlen,
			    "model tensor '%s' has shape %s, "
			    "not the config's", t->name,
			    lmf_shape_str(t, buf, sizeof buf));
			goto fail;
		}
	}
	free(p);
	return 0;
fail:
	free(p);
	return -1;
}

/* read the one item of a stream */
static int
read_item(struct lmf_rd *r, const char *kind, struct lmf_item *it, char *err,
    size_t errlen)
{
	const char *k = lmf_rd_kind(r);
	int rc;

	if (!k || strcmp(k, kind)) {
		lmf_seterr(err, errlen, "'%s': stream kind '%s', not '%s'",
		    lmf_rd_name(r), k ? k : "", kind);
		return -1;
	}
	rc = lmf_rd_item(r, it);
	if (rc < 0) {
		lmf_seterr(err, errlen, "%s", lmf_rd_errmsg(r));
		return -1;
	}
	if (rc == 0) {
		lmf_seterr(err, errlen, "'%s': the %s stream has no item",
		    lmf_rd_name(r), kind);
		return -1;
	}
	return 0;
}

/* an opened model's weight by name: its f32 values, or, for one held
 * only in bf16 (read straight into bfblk), a mark that it is there,
 * which the open clears once the tables are set up */
static const float *
find_item(void *ctx, const char *name)
{
	static const float held_bf16;
	struct lmf_tensor *t = lmf_item_find(ctx, name);

	return !t ? NULL : t->data ? t->data : &held_bf16;
}

/* whether the config gives projection j a bias */
static int
has_bias(const struct lmf_config *c, int j)
{
	return pb[j] >= 0 && (j == LMF_INFER_O ? c->o_bias : c->qkv_bias);
}

int
lmf_infer_weights_by_name(struct lmf_infer_weights *w,
    struct lmf_infer_layer *layer, const struct lmf_config *c,
    const float *(*find)(void *ctx, const char *name), void *ctx,
    char *err, size_t errlen)
{
	int L = (int)c->num_hidden_layers, l, j, n;
	char name[200];

#define GET(to, ...) do { \
	snprintf(name, sizeof name, __VA_ARGS__); \
	if (!((to) = find(ctx, name))) \
		goto missing; \
} while (0)
	memset(w, 0, sizeof *w);
	memset(layer, 0, (size_t)L * sizeof *layer);
	w->layer = layer;
	GET(w->wte, "model.embed_tokens.weight");
	GET(w->lnf, "model.norm.weight");
	if (c->tie_word_embeddings)
		w->lmw = w->wte;
	else
		GET(w->lmw, "lm_head.weight");
	for (l = 0; l < L; l++) {
		struct lmf_infer_layer *y = &layer[l];

		GET(y->ln1, "model.layers.%d.%s", l, wname[W_LN1]);
		GET(y->ln2, "model.layers.%d.%s", l, wname[W_LN2]);
		if (c->qk_norm) {
			GET(y->q_norm, "model.layers.%d.%s", l, wname[W_QN]);
			GET(y->k_norm, "model.layers.%d.%s", l, wname[W_KN]);
		}
		for (j = 0; j < LMF_INFER_NPROJ; j++) {
			GET(y->w[j], "model.layers.%d.%s", l, wname[pw[j]]);
			if (has_bias(c, j))
				GET(y->b[j], "model.layers.%d.%s", l,
				    wname[pb[j]]);
			/* PEFT's names: the module without ".weight" */
			n = (int)(strlen(wname[pw[j]]) - strlen(".weight"));
			snprintf(name, sizeof name, "base_model.model.model."
			    "layers.%d.%.*s.lora_A.weight", l, n,
			    wname[pw[j]]);
			y->lora_a[j] = find(ctx, name);
			name[strlen(name) - strlen("A.weight")] = 'B';
			y->lora_b[j] = find(ctx, name);
		}
	}
#undef GET
	return 0;
missing:
	lmf_seterr(err, errlen, "model tensor '%s' is missing", name);
	return -1;
}

/* point m's tables at w */
static int
setup(struct lmf_infer *m, const struct lmf_infer_weights *w, char *err,
    size_t errlen)
{
	const struct lmf_config *c = &m->c;
	int L = (int)c->num_hidden_layers, l, j, nlora = 0;

	if (!w->wte || !w->lnf || !w->lmw) {
		lmf_seterr(err, errlen, "no embedding, final norm or lm_head "
		    "weights");
		return -1;
	}
	m->wte = w->wte;
	m->lnf = w->lnf;
	m->lmw = w->lmw;
	m->lw = xcalloc((size_t)L, sizeof *m->lw);
	m->la = xcalloc((size_t)L, sizeof *m->la);
	m->lb = xcalloc((size_t)L, sizeof *m->lb);
	for (l = 0; l < L; l++) {
		const struct lmf_infer_layer *y = &w->layer[l];

		m->lw[l][W_LN1] = y->ln1;
		m->lw[l][W_LN2] = y->ln2;
		m->lw[l][W_QN] = y->q_norm;
		m->lw[l][W_KN] = y->k_norm;
		if (c->qk_norm && (!y->q_norm || !y->k_norm)) {
			lmf_seterr(err, errlen, "layer %d: no q_norm or k_norm "
			    "weight", l);
			return -1;
		}
		for (j = 0; j < LMF_INFER_NPROJ; j++) {
			m->lw[l][pw[j]] = y->w[j];
			if (pb[j] >= 0)
				m->lw[l][pb[j]] = y->b[j];
			if (!y->w[j] || !y->ln1 || !y->ln2 || (has_bias(c, j) &&
			    !y->b[j])) {
				lmf_seterr(err, errlen, "layer %d: a weight "
				    "the config needs is missing", l);
				return -1;
			}
			if (!y->lora_a[j] != !y->lora_b[j]) {
				lmf_seterr(err, errlen, "layer %d: a LoRA "
				    "pair without its A or B", l);
				return -1;
			}
			m->la[l][j] = y->lora_a[j];
			m->lb[l][j] = y->lora_b[j];
			nlora += y->lora_a[j] != NULL;
		}
	}
	if (nlora && w->lora_rank < 1) {
		lmf_seterr(err, errlen, "LoRA weights and rank %d",
		    w->lora_rank);
		return -1;
	}
	if (!nlora) {
		free(m->la);
		free(m->lb);
		m->la = NULL;
		m->lb = NULL;
	}
	m->r = nlora ? w->lora_rank : 0;
	m->scaling = w->lora_scaling;
	lmf_rope_init(&m->rope, &m->c);
	return 0;
}

struct lmf_infer *
lmf_infer_borrow(const struct lmf_config *c,
    const struct lmf_infer_weights *w, char *err, size_t errlen)
{
	struct lmf_infer *m = xcalloc(1, sizeof *m);

	m->c = *c;
	if (setup(m, w, err, errlen)) {
		lmf_infer_free(m);
		return NULL;
	}
	return m;
}

struct lmf_infer *
lmf_infer_open(struct lmf_rd *model, struct lmf_rd *adapter, char *err,
    size_t errlen)
{
	return lmf_infer_open_dtype(model, adapter, LMF_F32, err, errlen);
}

struct lmf_infer *
lmf_infer_open_dtype(struct lmf_rd *model, struct lmf_rd *adapter,
    int dtype, char *err, size_t errlen)
{
	struct lmf_infer *m = xcalloc(1, sizeof *m);
	struct lmf_infer_weights w;
	struct lmf_infer_layer *layer = NULL;
	const char *k = lmf_rd_kind(model);
	int L, l, j;

	m->meta = json_incref(lmf_rd_meta(model));
	if (!k || strcmp(k, "model")) {
		lmf_seterr(err, errlen, "'%s': stream kind '%s', not 'model'",
		    lmf_rd_name(model), k ? k : "");
		goto fail;
	}
	if (lmf_config_parse(&m->c, json_object_get(m->meta, "config"), err,
	    errlen))
		goto fail;
	if (dtype != LMF_F32 && dtype != LMF_BF16 && dtype != LMF_I8) {
		lmf_seterr(err, errlen, "weights dtype %s: only f32, bf16 or "
		    "int8",
		    lmf_dtype_name(dtype) ? lmf_dtype_name(dtype) : "?");
		goto fail;
	}
	if (open_weights(m, model, adapter, dtype, err, errlen))
		goto fail;
	L = (int)m->c.num_hidden_layers;
	layer = xcalloc((size_t)L, sizeof *layer);
	if (lmf_infer_weights_by_name(&w, layer, &m->c, find_item, &m->it,
	    err, errlen) || setup(m, &w, err, errlen))
		goto fail;
	if (m->bw) {
		/* bf16 only: no f32 projections, no f32 lm_head */
		for (l = 0; l < L; l++)
			for (j = 0; j < LMF_INFER_NPROJ; j++)
				m->lw[l][pw[j]] = NULL;
		if (!m->c.tie_word_embeddings)
			m->lmw = NULL;
	} else if (dtype != LMF_F32 &&
	    lmf_infer_set_dtype(m, dtype, err, errlen)) {
		goto fail;
	}
	free(layer);
	return m;
fail:
	free(layer);
	lmf_infer_free(m);
	return NULL;
}

void
lmf_infer_free(struct lmf_infer *m)
{
	int i;

	if (!m)
		return;
	json_decref(m->meta);
	unpoint_fused(m);
	lmf_item_free(&m->it);
	free(m->lw);
	free(m->la);
	free(m->lb);
	lmf_rope_free(&m->rope);
	free(m->len);
	free(m->kc);
	free(m->vc);
	free(m->pos);
	free(m->rstd);
	free(m->cos);
	free(m->sin);
	free(m->x);
	free(m->xn);
	free(m->q);
	free(m->k);
	free(m->v);
	free(m->att);
	free(m->gate);
	free(m->up);
	free(m->sc);
	free(m->t);
	free(m->fs);
	for (i = 0; m->fown && i < 2 * m->c.num_hidden_layers; i++)
		free(m->fown[i]);
	free(m->fown);
	free(m->bfblk);
	free(m->bw);
	free(m->i8blk);
	free(m->i8sc);
	free(m->qw);
	free(m->qs);
	free(m->wscr);
	free(m);
}

const struct lmf_config *
lmf_infer_config(const struct lmf_infer *m)
{
	return &m->c;
}

json_t *
lmf_infer_meta(struct lmf_infer *m)
{
	return m->meta;
}

struct lmf_item *
lmf_infer_item(struct lmf_infer *m)
{
	return &m->it;
}

void
lmf_infer_reset(struct lmf_infer *m, int B, int maxT)
{
	size_t kv = (size_t)m->c.num_key_value_heads * m->c.head_dim;
	size_t n = (size_t)m->c.num_hidden_layers * B * maxT * kv;

	free(m->len);
	free(m->kc);
	free(m->vc);
	free(m->sc);
	m->B = B;
	m->maxT = maxT;
	m->len = xcalloc((size_t)B, sizeof *m->len);
	m->kc = xmallocarray(n ? n : 1, sizeof(float));
	m->vc = xmallocarray(n ? n : 1, sizeof(float));
	m->sc = xmallocarray((size_t)maxT + 1, sizeof(float));
}

int
lmf_infer_len(const struct lmf_infer *m, int row)
{
	return m->len[row];
}

void
lmf_infer_clear(struct lmf_infer *m, int row)
{
	m->len[row] = 0;
}

static void
fit(struct lmf_infer *m, int n)
{
	const struct lmf_config *c = &m->c;
	size_t C = (size_t)c->hidden_size, HS = (size_t)c->head_dim;
	size_t nq = (size_t)c->num_attention_heads * HS;
	size_t nk = (size_t)c->num_key_value_heads * HS;
	size_t FF = (size_t)c->intermediate_size, N;

	if (n <= m->cap)
		return;
	m->cap = n;
	N = (size_t)n;
	m->pos = xrealloc(m->pos, N * sizeof *m->pos);
	m->rstd = xrealloc(m->rstd, N * (size_t)c->num_attention_heads *
	    sizeof(float));
	m->cos = xrealloc(m->cos, N * (HS / 2) * sizeof(float));
	m->sin = xrealloc(m->sin, N * (HS / 2) * sizeof(float));
	m->x = xrealloc(m->x, N * C * sizeof(float));
	m->xn = xrealloc(m->xn, N * C * sizeof(float));
	m->q = xrealloc(m->q, N * nq * sizeof(float));
	m->att = xrealloc(m->att, N * nq * sizeof(float));
	m->k = xrealloc(m->k, N * nk * sizeof(float));
	m->v = xrealloc(m->v, N * nk * sizeof(float));
	m->gate = xrealloc(m->gate, N * FF * sizeof(float));
	m->up = xrealloc(m->up, N * FF * sizeof(float));
	if (m->r)
		m->t = xrealloc(m->t, N * (size_t)m->r * sizeof(float));
	m->fs = xrealloc(m->fs, N * (nq + 2 * nk > 2 * FF ? nq + 2 * nk :
	    2 * FF) * sizeof(float));
}

/* out (n, on) += scaling (inp A^T) B^T when projection j has a LoRA
 * pair */
static void
lora_add(struct lmf_infer *m, int l, int j, float *out, const float *inp,
    int n, int in, int on)
{
	const float *a = m->la ? m->la[l][j] : NULL;

	if (!a)
		return;
	lmf_gemm(LMF_NOTRANS, LMF_TRANS, n, m->r, in, 1.0f, inp, in, a, in,
	    0.0f, m->t, m->r);
	lmf_gemm(LMF_NOTRANS, LMF_TRANS, n, on, m->r, m->scaling, m->t, m->r,
	    m->lb[l][j], m->r, 1.0f, out, on);
}

/* out (n, on) = inp (n, in) W^T + b, plus the LoRA term */
static void
proj(struct lmf_infer *m, int l, int j, float *out, const float *inp,
    int n, int in, int on)
{
	const float *b = pb[j] >= 0 ? m->lw[l][pb[j]] : NULL;

	if (m->bw)
		lmf_matvec_bf16_forward(out, inp, m->bw[l][j], b, n, in, on,
		    m->wscr);
	else if (m->qw)
		lmf_matvec_i8_forward(out, inp, m->qw[l][j], m->qs[l][j], b, n,
		    in, on, m->wscr);
	else
		lmf_matvec_forward(out, inp, m->lw[l][pw[j]], b, n, in, on);
	lora_add(m, l, j, out, inp, n, in, on);
}

/* the f32 weights of projections j0..j0+cnt-1 lie one after another */
static int
adjacent(const struct lmf_infer *m, int l, int j0, int cnt, int in,
    const int *on)
{
	int k;

	for (k = 0; k + 1 < cnt; k++)
		if (m->lw[l][pw[j0 + k + 1]] != m->lw[l][pw[j0 + k]] +
		    (size_t)on[k] * in)
			return 0;
	return 1;
}

/* projections j0..j0+cnt-1 on the same input (q, k, v or gate, up): when
 * their weights are one block (bf16, int8 always; f32 when side by side) one
 * product into fs (n, sum of on), each part copied out with its bias,
 * then each LoRA term */
static void
group(struct lmf_infer *m, int l, int j0, int cnt, float *const *outs,
    const float *inp, int n, int in, const int *on)
{
	int k, i, o, tot = 0, off;
	const float *b;

	if (!m->bw && !m->qw && !adjacent(m, l, j0, cnt, in, on)) {
		for (k = 0; k < cnt; k++)
			proj(m, l, j0 + k, outs[k], inp, n, in, on[k]);
		return;
	}
	for (k = 0; k < cnt; k++)
		tot += on[k];
	if (m->bw)
		lmf_matvec_bf16_forward(m->fs, inp, m->bw[l][j0], NULL, n, in,
		    tot, m->wscr);
	else if (m->qw)
		lmf_matvec_i8_forward(m->fs, inp, m->qw[l][j0], m->qs[l][j0],
		    NULL, n, in, tot, m->wscr);
	else
		lmf_matvec_forward(m->fs, inp, m->lw[l][pw[j0]], NULL, n, in,
		    tot);
	for (k = off = 0; k < cnt; off += on[k++]) {
		b = pb[j0 + k] >= 0 ? m->lw[l][pb[j0 + k]] : NULL;
		for (i = 0; i < n; i++) {
			float *y = outs[k] + (size_t)i * on[k];

			memcpy(y, m->fs + (size_t)i * tot + off,
			    (size_t)on[k] * sizeof(float));
			for (o = 0; b && o < on[k]; o++)
				y[o] += b[o];
		}
		lora_add(m, l, j0 + k, outs[k], inp, n, in, on[k]);
	}
}

/* the sizes of each projection's weight, (out, in) */
static void
proj_shape(const struct lmf_config *c, int j, int *on, int *in)
{
	int C = (int)c->hidden_size, FF = (int)c->intermediate_size;
	int nq = (int)(c->num_attention_heads * c->head_dim);
	int nk = (int)(c->num_key_value_heads * c->head_dim);
	int o_[LMF_INFER_NPROJ] = { nq, nk, nk, C, FF, FF, C };
	int i_[LMF_INFER_NPROJ] = { C, C, C, nq, C, C, FF };

	*on = o_[j];
	*in = i_[j];
}

/* the item's tensor of a layer weight, or NULL */
static struct lmf_tensor *
item_weight(struct lmf_infer *m, int l, int w)
{
	char name[200];

	snprintf(name, sizeof name, "model.layers.%d.%s", l, wname[w]);
	return lmf_item_find(&m->it, name);
}

/* the fused block (fown) holding projection j of layer l, or NULL */
static float *
fused_block(const struct lmf_infer *m, int l, int j)
{
	if (!m->fown || j == LMF_INFER_O || j == LMF_INFER_DOWN)
		return NULL;
	return m->fown[2 * l + (j >= LMF_INFER_GATE)];
}

/* the offset, in weights, of projection j's weight in a layer's
 * projections laid out in model order (q, k, v, o, gate, up, down; j =
 * LMF_INFER_NPROJ: the size of them all), in bfblk, i8blk and fown alike */
static size_t
proj_off(const struct lmf_config *c, int j)
{
	size_t off = 0;
	int k, on, in;

	for (k = 0; k < j; k++) {
		proj_shape(c, k, &on, &in);
		off += (size_t)on * in;
	}
	return off;
}

/* the scratch of the bf16 and int8 products */
static void
wscr_alloc(struct lmf_infer *m)
{
	const struct lmf_config *c = &m->c;
	int mx = (int)c->hidden_size;

	if (c->intermediate_size > mx)
		mx = (int)c->intermediate_size;
	if (c->num_attention_heads * c->head_dim > mx)
		mx = (int)(c->num_attention_heads * c->head_dim);
	m->wscr = xmallocarray((size_t)LMF_MATVEC_BF16_ROWS * mx,
	    sizeof(float));
}

/* room for the bf16 weights: bfblk, bw and lmbf pointing into it, wscr */
static void
bf16_alloc(struct lmf_infer *m)
{
	const struct lmf_config *c = &m->c;
	int L = (int)c->num_hidden_layers, l, j;
	size_t n = proj_off(c, LMF_INFER_NPROJ), C = (size_t)c->hidden_size;

	m->bfblk = xmallocarray(n * (size_t)L + (size_t)c->vocab_size * C,
	    sizeof(uint16_t));
	m->bw = xcalloc((size_t)L, sizeof *m->bw);
	for (l = 0; l < L; l++)
		for (j = 0; j < LMF_INFER_NPROJ; j++)
			m->bw[l][j] = m->bfblk + n * l + proj_off(c, j);
	m->lmbf = m->bfblk + n * L;
	wscr_alloc(m);
}

/* the rows of projection j's weight before it in a layer (model order) */
static size_t
rows_off(const struct lmf_config *c, int j)
{
	size_t off = 0;
	int k, on, in;

	for (k = 0; k < j; k++) {
		proj_shape(c, k, &on, &in);
		off += (size_t)on;
	}
	return off;
}

/* room for the int8 weights and their scales: i8blk, i8sc, qw, qs, lmq,
 * lmqs pointing into them, wscr */
static void
i8_alloc(struct lmf_infer *m)
{
	const struct lmf_config *c = &m->c;
	int L = (int)c->num_hidden_layers, l, j;
	size_t n = proj_off(c, LMF_INFER_NPROJ), C = (size_t)c->hidden_size;
	size_t r = rows_off(c, LMF_INFER_NPROJ), V = (size_t)c->vocab_size;

	m->i8blk = xmallocarray(n * (size_t)L + V * C, 1);
	m->i8sc = xmallocarray(r * (size_t)L + V, sizeof(float));
	m->qw = xcalloc((size_t)L, sizeof *m->qw);
	m->qs = xcalloc((size_t)L, sizeof *m->qs);
	for (l = 0; l < L; l++) {
		for (j = 0; j < LMF_INFER_NPROJ; j++) {
			m->qw[l][j] = m->i8blk + n * l + proj_off(c, j);
			m->qs[l][j] = m->i8sc + r * l + rows_off(c, j);
		}
	}
	m->lmq = m->i8blk + n * L;
	m->lmqs = m->i8sc + r * L;
	wscr_alloc(m);
}

/* room for the f32 q/k/v and gate/up blocks of an opened model (fown) */
static void
fused_alloc(struct lmf_infer *m)
{
	const struct lmf_config *c = &m->c;
	int L = (int)c->num_hidden_layers, l;
	size_t qkv = proj_off(c, LMF_INFER_O) - proj_off(c, LMF_INFER_Q);
	size_t gu = proj_off(c, LMF_INFER_DOWN) - proj_off(c, LMF_INFER_GATE);

	m->fown = xcalloc(2 * (size_t)L, sizeof *m->fown);
	for (l = 0; l < L; l++) {
		m->fown[2 * l] = xmallocarray(qkv, sizeof(float));
		m->fown[2 * l + 1] = xmallocarray(gu, sizeof(float));
	}
}

/* where an opened model keeps projection j of layer l (j ==
 * LMF_INFER_NPROJ: lm_head) and in which dtype: bf16 in bfblk when bw is
 * set, else f32 in its fused block, or NULL (o, down and lm_head stay
 * the item's own tensors) */
static void *
slot(struct lmf_infer *m, int l, int j, int *dtype)
{
	int g0;

	if (m->bw) {
		*dtype = LMF_BF16;
		return (void *)(j == LMF_INFER_NPROJ ? m->lmbf : m->bw[l][j]);
	}
	*dtype = LMF_F32;
	if (j == LMF_INFER_NPROJ || !fused_block(m, l, j))
		return NULL;
	g0 = j < LMF_INFER_GATE ? LMF_INFER_Q : LMF_INFER_GATE;
	return fused_block(m, l, j) + proj_off(&m->c, j) - proj_off(&m->c, g0);
}

/* the layer and projection a tensor name gives ("model.layers.3.mlp.
 * up_proj.weight"; lm_head: LMF_INFER_NPROJ), or -1 */
static int
weight_of(const struct lmf_config *c, const char *name, int *l)
{
	const char *pre = "model.layers.";
	char *end;
	long v;
	int j;

	*l = 0;
	if (!strcmp(name, "lm_head.weight"))
		return c->tie_word_embeddings ? -1 : LMF_INFER_NPROJ;
	if (strncmp(name, pre, strlen(pre)) || name[strlen(pre)] < '0' ||
	    name[strlen(pre)] > '9')
		return -1;
	v = strtol(name + strlen(pre), &end, 10);
	if (*end != '.' || v < 0 || v >= c->num_hidden_layers)
		return -1;
	*l = (int)v;
	for (j = 0; j < LMF_INFER_NPROJ; j++)
		if (!strcmp(end + 1, wname[pw[j]]))
			return j;
	return -1;
}

/* the item's tensors that point into fused blocks let go of them */
static void
unpoint_fused(struct lmf_infer *m)
{
	struct lmf_tensor *t;
	int i, l, j, dt;

	for (i = 0; m->fown && i < m->it.ntensors; i++) {
		t = &m->it.t[i];
		if (t->data && (j = weight_of(&m->c, t->name, &l)) >= 0 &&
		    j < LMF_INFER_NPROJ && fused_block(m, l, j) &&
		    t->data == slot(m, l, j, &dt))
			t->data = NULL;
	}
}

/* lmf_rd_item_place's callback (ctx: the model being opened): the slot
 * of a weight the config shapes so, unless the item has one of that name
 * already (lmf_item_find gives the first) */
static void *
place_weight(void *ctx, const struct lmf_tensor *t, int *dtype)
{
	struct lmf_infer *m = ctx;
	const struct lmf_config *c = &m->c;
	int l, j, on, in;

	if ((j = weight_of(c, t->name, &l)) < 0 ||
	    lmf_item_find(&m->it, t->name))
		return NULL;
	if (j == LMF_INFER_NPROJ) {
		on = (int)c->vocab_size;
		in = (int)c->hidden_size;
	} else {
		proj_shape(c, j, &on, &in);
	}
	if (t->ndim != 2 || t->shape[0] != on || t->shape[1] != in)
		return NULL;
	return slot(m, l, j, dtype);
}

/* after the read: the placed tensors (those without data) in the item as
 * f32, pointing into their fused block, or left without data (bf16) */
static void
mark_placed(struct lmf_infer *m)
{
	struct lmf_tensor *t;
	int i, l, j, dt;

	for (i = 0; i < m->it.ntensors; i++) {
		t = &m->it.t[i];
		if (t->data || (j = weight_of(&m->c, t->name, &l)) < 0)
			continue;
		t->data = slot(m, l, j, &dt);
		t->dtype = LMF_F32;
		t->nbytes = lmf_tensor_numel(t) * sizeof(float);
		if (dt != LMF_F32)
			t->data = NULL;
	}
}

/* the weights the read left in the item (another dtype) to their slots
 * as placed ones are, from their f32 values */
static void
place_rest(struct lmf_infer *m)
{
	const struct lmf_config *c = &m->c;
	int L = (int)c->num_hidden_layers, l, j, dt;
	struct lmf_tensor *t;
	char name[200];
	void *to;

	for (l = 0; l < L; l++) {
		for (j = 0; j < LMF_INFER_NPROJ; j++) {
			snprintf(name, sizeof name, "model.layers.%d.%s", l,
			    wname[pw[j]]);
			t = lmf_item_find(&m->it, name);
			if (!(to = slot(m, l, j, &dt)) || !t->data ||
			    t->data == to)
				continue;
			if (dt == LMF_BF16)
				lmf_bf16_narrow(to, t->data,
				    lmf_tensor_numel(t));
			else
				memcpy(to, t->data, t->nbytes);
			free(t->data);
			t->data = dt == LMF_F32 ? to : NULL;
		}
	}
	if (!m->bw)
		return;
	t = lmf_item_find(&m->it, c->tie_word_embeddings ?
	    "model.embed_tokens.weight" : "lm_head.weight");
	if (t->data)
		lmf_bf16_narrow((uint16_t *)m->lmbf, t->data,
		    (size_t)c->vocab_size * c->hidden_size);
	if (!c->tie_word_embeddings) {
		free(t->data);
		t->data = NULL;
	}
}

/* read an opened model's item with q/k/v and gate/up side by side, each
 * tensor read straight into its place in the block (f32), or every
 * projection and lm_head narrowed into bfblk as it is read (bf16 without
 * an adapter: no f32 copy of them at all); then merge the adapter. The
 * item's tensors of the f32 blocks point into them (unpoint_fused lets
 * go), those held in bf16 are left without data */
static int
open_weights(struct lmf_infer *m, struct lmf_rd *model,
    struct lmf_rd *adapter, int dtype, char *err, size_t errlen)
{
	struct lmf_item ad = { 0 };
	int rc;

	if (dtype == LMF_BF16 && !adapter)
		bf16_alloc(m);
	else
		fused_alloc(m);
	rc = lmf_rd_item_place(model, &m->it, place_weight, m);
	if (rc <= 0) {
		lmf_seterr(err, errlen, rc < 0 ? "%s" : "'%s': the model "
		    "stream has no item", rc < 0 ? lmf_rd_errmsg(model) :
		    lmf_rd_name(model));
		goto fail;
	}
	mark_placed(m);
	if (lmf_infer_check_item(&m->it, &m->c, err, errlen))
		goto fail;
	place_rest(m);
	if (adapter) {
		if (read_item(adapter, "adapter", &ad, err, errlen) ||
		    lmf_lora_merge(&m->it, &m->c, lmf_rd_meta(adapter), &ad,
		    err, errlen))
			goto fail;
		lmf_item_free(&ad);
	}
	return 0;
fail:
	lmf_item_free(&ad);
	return -1;
}

/* the bf16 copies of the projections and lm_head from their f32 values */
static void
narrow_all(struct lmf_infer *m)
{
	const struct lmf_config *c = &m->c;
	int L = (int)c->num_hidden_layers, l, j, on, in;

	for (l = 0; l < L; l++) {
		for (j = 0; j < LMF_INFER_NPROJ; j++) {
			proj_shape(c, j, &on, &in);
			lmf_bf16_narrow((uint16_t *)m->bw[l][j],
			    m->lw[l][pw[j]], (size_t)on * in);
		}
	}
	lmf_bf16_narrow((uint16_t *)m->lmbf, m->lmw,
	    (size_t)c->vocab_size * c->hidden_size);
}

/* the int8 weights and scales of the projections and lm_head from their
 * f32 values */
static void
quantize_all(struct lmf_infer *m)
{
	const struct lmf_config *c = &m->c;
	int L = (int)c->num_hidden_layers, l, j, on, in;

	for (l = 0; l < L; l++) {
		for (j = 0; j < LMF_INFER_NPROJ; j++) {
			proj_shape(c, j, &on, &in);
			lmf_i8_quantize((int8_t *)m->qw[l][j],
			    (float *)m->qs[l][j], m->lw[l][pw[j]], on, in);
		}
	}
	lmf_i8_quantize((int8_t *)m->lmq, (float *)m->lmqs, m->lmw,
	    (int)c->vocab_size, (int)c->hidden_size);
}

/* an opened model's f32 copies of what bf16 now holds go */
static void
drop_f32(struct lmf_infer *m)
{
	int L = (int)m->c.num_hidden_layers, l, j;
	struct lmf_tensor *t;

	for (l = 0; l < L; l++) {
		for (j = 0; j < LMF_INFER_NPROJ; j++) {
			if ((t = item_weight(m, l, pw[j]))) {
				if (!fused_block(m, l, j))
					free(t->data);
				t->data = NULL;
			}
			m->lw[l][pw[j]] = NULL;
		}
		if (m->fown) {
			free(m->fown[2 * l]);
			free(m->fown[2 * l + 1]);
			m->fown[2 * l] = m->fown[2 * l + 1] = NULL;
		}
	}
	if (!m->c.tie_word_embeddings && (t = lmf_item_find(&m->it,
	    "lm_head.weight")) && t->data) {
		free(t->data);
		t->data = NULL;
		m->lmw = NULL;
	}
}

int
lmf_infer_dtype(int choice)
{
	return choice == 2 ? LMF_BF16 : choice == 3 ? LMF_I8 : LMF_F32;
}

int
lmf_infer_set_dtype(struct lmf_infer *m, int dtype, char *err,
    size_t errlen)
{
	int have = m->bw ? LMF_BF16 : m->qw ? LMF_I8 : LMF_F32;

	if (dtype == have) {
		/* again: a borrowed model's current values; an opened
		 * model's cannot change */
		if (!m->meta && dtype == LMF_BF16)
			narrow_all(m);
		else if (!m->meta && dtype == LMF_I8)
			quantize_all(m);
		return 0;
	}
	if ((dtype != LMF_BF16 && dtype != LMF_I8) || have != LMF_F32) {
		lmf_seterr(err, errlen, "weights dtype %s: only f32, bf16 or "
		    "int8, once", lmf_dtype_name(dtype) ?
		    lmf_dtype_name(dtype) : "?");
		return -1;
	}
	if (dtype == LMF_BF16) {
		bf16_alloc(m);
		narrow_all(m);
	} else {
		i8_alloc(m);
		quantize_all(m);
	}
	if (m->meta)
		drop_f32(m);
	return 0;
}

/* attention of token i (row r, position p) over its row's cache 0..p:
 * we take each query head's dot products with the keys of its kv head,
 * scaled by 1/sqrt(HS), softmax them and sum the values. Mistral's sliding
 * window leaves out keys p - s >= window. */
static void
attend(struct lmf_infer *m, int l, int i, int r, int p)
{
	const struct lmf_config *c = &m->c;
	int NH = (int)c->num_attention_heads, NKV = (int)c->num_key_value_heads;
	int HS = (int)c->head_dim, g = NH / NKV, h, s, d, s0 = 0;
	size_t kv = (size_t)NKV * HS;
	const float *kb = m->kc + ((size_t)l * m->B + r) * m->maxT * kv;
	const float *vb = m->vc + ((size_t)l * m->B + r) * m->maxT * kv;
	float scale = 1.0f / sqrtf((float)HS), mx, sum, *sc = m->sc;

	if (c->sliding_window > 0 && p - s0 >= c->sliding_window)
		s0 = p - (int)c->sliding_window + 1;
	for (h = 0; h < NH; h++) {
		const float *q = m->q + ((size_t)i * NH + h) * HS;
		float *out = m->att + ((size_t)i * NH + h) * HS;
		size_t off = (size_t)(h / g) * HS;

		mx = -INFINITY;
		for (s = s0; s <= p; s++) {
			const float *k = kb + s * kv + off;
			float dot = 0;

			for (d = 0; d < HS; d++)
				dot += q[d] * k[d];
			sc[s] = dot * scale;
			if (sc[s] > mx)
				mx = sc[s];
		}
		sum = 0;
		for (s = s0; s <= p; s++) {
			sc[s] = expf(sc[s] - mx);
			sum += sc[s];
		}
		memset(out, 0, (size_t)HS * sizeof(float));
		for (s = s0; s <= p; s++) {
			const float *v = vb + s * kv + off;
			float w = sc[s] / sum;

			for (d = 0; d < HS; d++)
				out[d] += w * v[d];
		}
	}
}

int
lmf_infer_forward(struct lmf_infer *m, int n, const int *row,
    const int32_t *tok, float *logits, int nlast)
{
	const struct lmf_config *c = &m->c;
	int C = (int)c->hidden_size, NH = (int)c->num_attention_heads;
	int NKV = (int)c->num_key_value_heads, HS = (int)c->head_dim;
	int FF = (int)c->intermediate_size, V = (int)c->vocab_size;
	int L = (int)c->num_hidden_layers, nq = NH * HS, nk = NKV * HS;
	float eps = (float)c->rms_norm_eps;
	long j, nc = (long)n * C;
	int i, l, first, oqkv[3] = { nq, nk, nk }, ogu[2] = { FF, FF };
	float *qkv[3], *gu[2];

	if (n <= 0)
		return 0;
	/* positions: each token takes its row's next slot */
	fit(m, n);
	{
		int *cnt = xcalloc((size_t)m->B, sizeof *cnt);

		for (i = 0; i < n; i++) {
			m->pos[i] = m->len[row[i]] + cnt[row[i]]++;
			if (m->pos[i] >= m->maxT) {
				free(cnt);
				return -1;
			}
		}
		free(cnt);
	}
	for (i = 0; i < n; i++)
		m->len[row[i]]++;
	qkv[0] = m->q;
	qkv[1] = m->k;
	qkv[2] = m->v;
	gu[0] = m->gate;
	gu[1] = m->up;
	lmf_rope_update(&m->rope, c, lmf_rope_seq_len(m->pos, n));
	lmf_rope_cache(m->cos, m->sin, m->pos, m->rope.inv_freq, n, HS);
	if (m->rope.scale != 1.0)
		lmf_rope_scale(m->cos, m->sin, m->rope.scale,
		    (size_t)n * (HS / 2));
	lmf_embedding_forward(m->x, tok, m->wte, n, C);
	for (l = 0; l < L; l++) {
		const float *const *w = m->lw[l];
		size_t lb = (size_t)l * m->B;

		lmf_rmsnorm_forward(m->xn, m->rstd, m->x, w[W_LN1], eps, n,
		    C);
		group(m, l, LMF_INFER_Q, 3, qkv, m->xn, n, C, oqkv);
		if (c->qk_norm) {
			/* qwen3: per-head RMSNorm; rstd is scratch here */
			lmf_rmsnorm_forward(m->q, m->rstd, m->q, w[W_QN], eps,
			    n * NH, HS);
			lmf_rmsnorm_forward(m->k, m->rstd, m->k, w[W_KN], eps,
			    n * NKV, HS);
		}
		lmf_rope_forward(m->q, m->q, m->cos, m->sin, n, NH, HS);
		lmf_rope_forward(m->k, m->k, m->cos, m->sin, n, NKV, HS);
		for (i = 0; i < n; i++) {
			size_t at = ((lb + row[i]) * m->maxT + m->pos[i]) * nk;

			memcpy(m->kc + at, m->k + (size_t)i * nk,
			    (size_t)nk * sizeof(float));
			memcpy(m->vc + at, m->v + (size_t)i * nk,
			    (size_t)nk * sizeof(float));
		}
		for (i = 0; i < n; i++)
			attend(m, l, i, row[i], m->pos[i]);
		/* the o projection into xn, then the residual */
		proj(m, l, LMF_INFER_O, m->xn, m->att, n, nq, C);
		for (j = 0; j < nc; j++)
			m->x[j] += m->xn[j];
		lmf_rmsnorm_forward(m->xn, m->rstd, m->x, w[W_LN2], eps, n, C);
		group(m, l, LMF_INFER_GATE, 2, gu, m->xn, n, C, ogu);
		lmf_swiglu_forward(m->gate, m->gate, m->up, (long)n * FF);
		proj(m, l, LMF_INFER_DOWN, m->xn, m->gate, n, FF, C);
		for (j = 0; j < nc; j++)
			m->x[j] += m->xn[j];
	}
	if (!logits || nlast <= 0)
		return 0;
	if (nlast > n)
		nlast = n;
	first = n - nlast;
	lmf_rmsnorm_forward(m->xn, m->rstd, m->x + (size_t)first * C, m->lnf,
	    eps, nlast, C);
	if (m->lmbf)
		lmf_matvec_bf16_forward(logits, m->xn, m->lmbf, NULL, nlast, C,
		    V, m->wscr);
	else if (m->lmq)
		lmf_matvec_i8_forward(logits, m->xn, m->lmq, m->lmqs, NULL,
		    nlast, C, V, m->wscr);
	else
		lmf_matvec_forward(logits, m->xn, m->lmw, NULL, nlast, C, V);
	return 0;
}
