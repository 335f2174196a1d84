/* infer.c: inference with a key/value cache (infer.h).
 *
 * We keep the weights as the model item holds them (f32, Hugging Face
 * names) and point a table at them. The cache holds, per layer and row,
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
	W_D, NW };
static const char *wname[NW] = {
	"input_layernorm.weight", "self_attn.q_proj.weight",
	"self_attn.q_proj.bias", "self_attn.k_proj.weight",
	"self_attn.k_proj.bias", "self_attn.v_proj.weight",
	"self_attn.v_proj.bias", "self_attn.o_proj.weight",
	"self_attn.o_proj.bias", "post_attention_layernorm.weight",
	"mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight",
};

struct lmf_infer {
	struct lmf_config c;
	json_t *meta;
	struct lmf_item it;
	const float *wte;       /* (V, C) */
	const float *lnf;       /* (C) */
	const float *lmw;       /* (V, C), wte when tied */
	const float *(*lw)[NW]; /* (L) tables; NULL for an absent bias */
	double *inv_freq;       /* (HS / 2) */
	int B, maxT;
	int *len;               /* (B) tokens cached per row */
	float *kc, *vc;         /* (L, B, maxT, NKV * HS) */
	/* scratch for n tokens, grown as needed */
	int cap;
	int32_t *pos;           /* (n) */
	float *rstd;            /* (n) */
	float *cos, *sin;       /* (n, HS / 2) */
	float *x, *xn, *q, *k, *v, *att, *gate, *up, *sc;
	/* x, xn (n, C), q, att (n, NH * HS), k, v (n, NKV * HS),
	 * gate, up (n, FF), sc (maxT) */
};

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

static const float *
wt(struct lmf_infer *m, const char *name)
{
	struct lmf_tensor *t = lmf_item_find(&m->it, name);

	return t ? t->data : NULL;
}

struct lmf_infer *
lmf_infer_open(struct lmf_rd *model, struct lmf_rd *adapter, char *err,
    size_t errlen)
{
	struct lmf_infer *m = xcalloc(1, sizeof *m);
	struct lmf_item ad = { 0 };
	char name[160];
	int L, l, j;

	m->meta = json_incref(lmf_rd_meta(model));
	if (read_item(model, "model", &m->it, err, errlen))
		goto fail;
	if (lmf_config_parse(&m->c, json_object_get(m->meta, "config"), err,
	    errlen))
		goto fail;
	if (lmf_infer_check_item(&m->it, &m->c, err, errlen))
		goto fail;
	if (adapter) {
		if (read_item(adapter, "adapter", &ad, err, errlen))
			goto fail;
		if (lmf_lora_merge(&m->it, &m->c, lmf_rd_meta(adapter), &ad,
		    err, errlen))
			goto fail;
		lmf_item_free(&ad);
	}
	L = (int)m->c.num_hidden_layers;
	m->wte = wt(m, "model.embed_tokens.weight");
	m->lnf = wt(m, "model.norm.weight");
	m->lmw = m->c.tie_word_embeddings ? m->wte : wt(m, "lm_head.weight");
	m->lw = xcalloc((size_t)L, sizeof *m->lw);
	for (l = 0; l < L; l++)
		for (j = 0; j < NW; j++) {
			snprintf(name, sizeof name, "model.layers.%d.%s", l,
			    wname[j]);
			m->lw[l][j] = wt(m, name);
		}
	m->inv_freq = xcalloc((size_t)m->c.head_dim / 2 + 1,
	    sizeof *m->inv_freq);
	lmf_rope_inv_freq(m->inv_freq, (int)m->c.head_dim, m->c.rope_theta);
	return m;
fail:
	lmf_item_free(&ad);
	lmf_infer_free(m);
	return NULL;
}

void
lmf_infer_free(struct lmf_infer *m)
{
	if (!m)
		return;
	json_decref(m->meta);
	lmf_item_free(&m->it);
	free(m->lw);
	free(m->inv_freq);
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
	m->rstd = xrealloc(m->rstd, N * sizeof(float));
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
	int i, l, first;

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
	lmf_rope_cache(m->cos, m->sin, m->pos, m->inv_freq, n, HS);
	lmf_embedding_forward(m->x, tok, m->wte, n, C);
	for (l = 0; l < L; l++) {
		const float *const *w = m->lw[l];
		size_t lb = (size_t)l * m->B;

		lmf_rmsnorm_forward(m->xn, m->rstd, m->x, w[W_LN1], eps, n,
		    C);
		lmf_matvec_forward(m->q, m->xn, w[W_Q], w[W_BQ], n, C, nq);
		lmf_matvec_forward(m->k, m->xn, w[W_K], w[W_BK], n, C, nk);
		lmf_matvec_forward(m->v, m->xn, w[W_V], w[W_BV], n, C, nk);
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
		lmf_matvec_forward(m->xn, m->att, w[W_O], w[W_BO], n, nq, C);
		for (j = 0; j < nc; j++)
			m->x[j] += m->xn[j];
		lmf_rmsnorm_forward(m->xn, m->rstd, m->x, w[W_LN2], eps, n, C);
		lmf_matvec_forward(m->gate, m->xn, w[W_G], NULL, n, C, FF);
		lmf_matvec_forward(m->up, m->xn, w[W_U], NULL, n, C, FF);
		lmf_swiglu_forward(m->gate, m->gate, m->up, (long)n * FF);
		lmf_matvec_forward(m->xn, m->gate, w[W_D], NULL, n, FF, C);
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
	lmf_matvec_forward(logits, m->xn, m->lmw, NULL, nlast, C, V);
	return 0;
}
