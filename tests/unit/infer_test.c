/* infer_test: the cached forward of infer.h against lmf_llama_logits
 * (llama.h, no cache): random models (llama with grouped-query attention,
 * qwen2 with biases and tied embeddings), rows of different lengths fed as
 * a prompt and then token by token in mixed batches, with and without a
 * LoRA adapter (merged by infer, unmerged by llama). An inference model
 * over borrowed weights (lmf_infer_borrow): a training model's live
 * weights, with LoRA pairs unmerged, against the stream's own path, in
 * logits and in the greedy tokens of a batched generate. TAP.
 *
 * With arguments, MODEL ADAPTER MERGED (stream files): the logits of
 * MODEL + ADAPTER (llama, unmerged) against MERGED's, within 1e-4 of the
 * largest logit (t7000-export). With --greedy MODEL IDS N: N tokens of
 * greedy continuation of the ids 'IDS' without a cache (t6000). With
 * --dtype-diff MODEL IDS...: bf16 and int8 weights against f32, the
 * largest logit differences over every position of the prompts. */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lmf/gemm.h"
#include "lmf/infer.h"
#include "lmf/llama.h"
#include "lmf/model.h"
#include "lmf/sample.h"
#include "lmf/stream.h"
#include "lmf/util.h"
#include "lmf/banned.h"
#include "tap.h"
#include "mkmodel.h"

#define TOL 1e-4

static char tmpdir[] = "/tmp/infer_testXXXXXX";

/* a random model stream for the config text; its path */
static char *
make_model(const char *name, const char *cfgtext, struct lmf_config *c)
{
	json_error_t je;
	json_t *cfg = json_loads(cfgtext, 0, &je);
	char *path = xasprintf("%s/%s.lmf", tmpdir, name);

	if (!cfg)
		BUG("config %s", name);
	mk_model(path, cfg, 0.15f, c);
	return path;
}

/* a random rank-4 adapter on q, v and down */
static char *
make_adapter(const char *name, const struct lmf_config *c)
{
	static const char *mod[] = { "self_attn.q_proj", "self_attn.v_proj",
		"mlp.down_proj" };
	int64_t in[3] = { c->hidden_size, c->hidden_size,
		c->intermediate_size };
	int64_t out[3] = { c->num_attention_heads * c->head_dim,
		c->num_key_value_heads * c->head_dim, c->hidden_size };
	char *path = xasprintf("%s/%s.lmf", tmpdir, name), tn[200];
	struct lmf_rng rng;
	struct lmf_wr *w;
	json_t *meta;
	int l, j, r = 4;
	int64_t sh[2];

	meta = json_pack("{s:s, s:{s:s, s:i, s:f, s:[s,s,s], s:b}}", "kind",
	    "adapter", "adapter_config", "peft_type", "LORA", "r", r,
	    "lora_alpha", 8.0, "target_modules", "q_proj", "v_proj",
	    "down_proj", "use_rslora", 0);
	w = lmf_wr_open_or_die(path, meta, &lmf_wropts_default);
	json_decref(meta);
	lmf_wr_item(w, (uint32_t)(c->num_hidden_layers * 3 * 2));
	lmf_rng_seed(&rng, 11);
	for (l = 0; l < c->num_hidden_layers; l++)
		for (j = 0; j < 3; j++) {
			snprintf(tn, sizeof tn, "base_model.model.model.layers."
			    "%d.%s.lora_A.weight", l, mod[j]);
			sh[0] = r;
			sh[1] = in[j];
			mk_tensor(w, tn, 2, sh, &rng, 0, 0.2f);
			snprintf(tn, sizeof tn, "base_model.model.model.layers."
			    "%d.%s.lora_B.weight", l, mod[j]);
			sh[0] = out[j];
			sh[1] = r;
			mk_tensor(w, tn, 2, sh, &rng, 0, 0.2f);
		}
	lmf_wr_close_or_die(w);
	return path;
}

static struct lmf_llama *
open_llama(const char *model, const char *adapter)
{
	struct lmf_train_opts o = lmf_train_opts_default();
	struct lmf_rd *r = lmf_rd_open_or_die(model);
	struct lmf_llama *m;
	char err[256];

	o.finetuning_type = adapter ? LMF_FT_LORA : LMF_FT_FULL;
	if (!(m = lmf_llama_open(r, &o, err, sizeof err)))
		die("%s", err);
	lmf_rd_close(r);
	if (adapter) {
		r = lmf_rd_open_or_die(adapter);
		if (lmf_llama_load_adapter(m, r, err, sizeof err))
			die("%s", err);
		lmf_rd_close(r);
	}
	return m;
}

/* logits (B, T, V) of rows of tokens, right-padded, without a cache */
static float *
ref_logits(struct lmf_llama *m, const int32_t *ids, const int *len, int B,
    int T, int V)
{
	int32_t *mask = xcalloc((size_t)B * T, sizeof *mask);
	int32_t *lab = xcalloc((size_t)B * T, sizeof *lab);
	float *out = xmallocarray((size_t)B * T * V, sizeof *out);
	struct lmf_batch b = { B, T, ids, mask, lab, NULL };
	int i, t;

	for (i = 0; i < B; i++)
		for (t = 0; t < T; t++) {
			mask[i * T + t] = t < len[i];
			lab[i * T + t] = -100;
		}
	lmf_llama_logits(m, &b, out);
	free(mask);
	free(lab);
	return out;
}

static double
maxabs(const float *a, long n)
{
	double mx = 0;
	long i;

	for (i = 0; i < n; i++)
		if (fabs(a[i]) > mx)
			mx = fabs(a[i]);
	return mx;
}

static struct lmf_infer *
open_infer(const char *model, const char *adapter)
{
	struct lmf_rd *r = lmf_rd_open_or_die(model), *ra = NULL;
	struct lmf_infer *m;
	char err[256];

	if (adapter)
		ra = lmf_rd_open_or_die(adapter);
	if (!(m = lmf_infer_open(r, ra, err, sizeof err)))
		die("%s", err);
	lmf_rd_close(r);
	if (ra)
		lmf_rd_close(ra);
	return m;
}

/* the cached forward against the reference: row 0 prefilled with 3
 * tokens, row 1 with 1; then one token per unfinished row per call */
static void
check_cached(const char *what, const char *model, const char *adapter)
{
	enum { B = 3, T = 9 };
	static const int len[B] = { 9, 6, 4 };
	struct lmf_llama *lm = open_llama(model, adapter);
	struct lmf_infer *m = open_infer(model, adapter);
	int32_t ids[B * T], tok[B];
	int V, i, t, n, rows[B], fed[B] = { 0 }, pre[B] = { 3, 1, 0 };
	float *ref, *lg, *got;
	double diff = 0, mx;
	struct lmf_rng rng;

	V = (int)lmf_infer_config(m)->vocab_size;
	lmf_rng_seed(&rng, 3);
	for (i = 0; i < B * T; i++)
		ids[i] = (int32_t)lmf_rng_below(&rng, (uint32_t)V);
	ref = ref_logits(lm, ids, len, B, T, V);
	got = xcalloc((size_t)B * T * V, sizeof *got);
	lg = xmallocarray((size_t)B * T * V, sizeof *lg);
	lmf_infer_reset(m, B, T);
	for (i = 0; i < B; i++) {
		int rr[T];

		if (!pre[i])
			continue;
		for (t = 0; t < pre[i]; t++)
			rr[t] = i;
		lmf_infer_forward(m, pre[i], rr, ids + i * T, lg, pre[i]);
		memcpy(got + (size_t)i * T * V, lg,
		    (size_t)pre[i] * V * sizeof *lg);
		fed[i] = pre[i];
	}
	for (;;) {
		for (n = 0, i = 0; i < B; i++)
			if (fed[i] < len[i]) {
				rows[n] = i;
				tok[n++] = ids[i * T + fed[i]];
			}
		if (!n)
			break;
		lmf_infer_forward(m, n, rows, tok, lg, n);
		for (i = 0; i < n; i++)
			memcpy(got + ((size_t)rows[i] * T + fed[rows[i]]++) *
			    V, lg + (size_t)i * V, (size_t)V * sizeof *lg);
	}
	mx = maxabs(ref, (long)B * T * V);
	for (i = 0; i < B; i++)
		for (t = 0; t < len[i]; t++) {
			long j, o = ((long)i * T + t) * V;

			for (j = 0; j < V; j++)
				if (fabs(got[o + j] - ref[o + j]) > diff)
					diff = fabs(got[o + j] - ref[o + j]);
		}
	ok(diff <= TOL * (mx > 1 ? mx : 1), "%s: cached logits equal "
	    "lmf_llama_logits (maxdiff %.3g, max %.3g)", what, diff, mx);
	rows[0] = 0;
	tok[0] = 1;
	ok(lmf_infer_forward(m, 1, rows, tok, lg, 1) == -1,
	    "%s: a full row refuses more tokens", what);
	free(ref);
	free(got);
	free(lg);
	lmf_infer_free(m);
	lmf_llama_free(lm);
}

/* names to f32 values: tensors of items, then a training model's
 * trainable tensors (its live values) */
struct finder {
	struct lmf_item *it[2];
	struct lmf_llama *lm;
};

static const float *
find_any(void *ctx, const char *name)
{
	struct finder *f = ctx;
	struct lmf_tensor *t;
	int i;

	for (i = 0; i < 2; i++)
		if (f->it[i] && (t = lmf_item_find(f->it[i], name)) &&
		    t->dtype == LMF_F32)
			return t->data;
	for (i = 0; f->lm && i < lmf_llama_ntrainable(f->lm); i++)
		if (!strcmp(lmf_llama_trainable(f->lm, i)->name, name))
			return lmf_llama_trainable(f->lm, i)->w;
	return NULL;
}

static struct lmf_infer *
borrow(const struct lmf_config *c, struct finder *f, int r, float scaling,
    struct lmf_infer_layer **layer)
{
	struct lmf_infer_weights w;
	struct lmf_infer *m;
	char err[256];

	*layer = xcalloc((size_t)c->num_hidden_layers, sizeof **layer);
	if (lmf_infer_weights_by_name(&w, *layer, c, find_any, f, err,
	    sizeof err))
		die("%s", err);
	w.lora_rank = r;
	w.lora_scaling = scaling;
	if (!(m = lmf_infer_borrow(c, &w, err, sizeof err)))
		die("%s", err);
	return m;
}

enum { GB = 3, GT = 7, GNEW = 10 };
static const int32_t gids[GB][GT] = { { 1, 5, 9, 2, 7, 3, 4 }, { 8 },
	{ 6, 6, 1 } };
static const int glen[GB] = { 7, 1, 3 };

/* the last-token logits (GB, V) of the prompts, through a cache */
static float *
last_logits(struct lmf_infer *m, int V)
{
	float *lg = xmallocarray((size_t)GB * V, sizeof *lg);
	int rr[GT], i, t;

	lmf_infer_reset(m, GB, GT);
	for (i = 0; i < GB; i++) {
		for (t = 0; t < glen[i]; t++)
			rr[t] = i;
		lmf_infer_forward(m, glen[i], rr, gids[i], lg + (size_t)i * V,
		    1);
	}
	return lg;
}

/* greedy tokens (GB, GNEW) of a batched generate */
static void
gen_greedy(struct lmf_infer *m, int32_t *out, int *nout)
{
	const int32_t *p[GB] = { gids[0], gids[1], gids[2] };
	struct lmf_gen_opts o = { .s = { .do_sample = 0, .temperature = 1,
		.top_p = 1, .repetition_penalty = 1 }, .max_new_tokens = GNEW };
	struct lmf_rng rng;

	lmf_rng_seed(&rng, 1);
	memset(out, 0, GB * GNEW * sizeof *out);
	lmf_sample_generate(m, GB, p, glen, &o, &rng, out, nout);
}

static double
maxdiff(const float *a, const float *b, long n)
{
	double d = 0;
	long i;

	for (i = 0; i < n; i++)
		if (fabs(a[i] - b[i]) > d)
			d = fabs(a[i] - b[i]);
	return d;
}

/* logits (GB, V) of the prompts' last tokens without a cache */
static float *
llama_last(struct lmf_llama *lm, int V)
{
	int32_t ids[GB * GT] = { 0 };
	float *all, *lg = xmallocarray((size_t)GB * V, sizeof *lg);
	int i;

	for (i = 0; i < GB; i++)
		memcpy(ids + i * GT, gids[i], (size_t)glen[i] * sizeof *ids);
	all = ref_logits(lm, ids, glen, GB, GT, V);
	for (i = 0; i < GB; i++)
		memcpy(lg + (size_t)i * V, all + ((size_t)i * GT + glen[i] - 1) *
		    V, (size_t)V * sizeof *lg);
	free(all);
	return lg;
}

/* a training model's weights borrowed, no copy: the stream's numbers and
 * tokens, and after the trainer changes its weights, the new numbers */
static void
check_borrowed(const char *what, const char *model)
{
	struct lmf_llama *lm = open_llama(model, NULL);
	struct lmf_infer *own = open_infer(model, NULL), *b;
	const struct lmf_config *c = lmf_infer_config(own);
	struct finder f = { { NULL, NULL }, lm };
	struct lmf_infer_layer *layer;
	int V = (int)c->vocab_size, n1[GB], n2[GB], i;
	int32_t t1[GB * GNEW], t2[GB * GNEW];
	float *l1, *l2, *l3;
	uint64_t k;

	b = borrow(c, &f, 0, 0, &layer);
	l1 = last_logits(own, V);
	l2 = last_logits(b, V);
	ok(maxdiff(l1, l2, (long)GB * V) <= TOL, "%s: borrowed from a "
	    "training model, the logits of the stream's path (maxdiff %.3g)",
	    what, maxdiff(l1, l2, (long)GB * V));
	gen_greedy(own, t1, n1);
	gen_greedy(b, t2, n2);
	ok(!memcmp(t1, t2, sizeof t1) && !memcmp(n1, n2, sizeof n1) &&
	    n1[0] == GNEW, "%s: and its greedy tokens, batch of %d", what,
	    GB);
	/* the trainer moves every weight a little */
	for (i = 0; i < lmf_llama_ntrainable(lm); i++) {
		struct lmf_tparam *tp = lmf_llama_trainable(lm, i);

		for (k = 0; k < tp->numel; k++)
			tp->w[k] += 0.05f * sinf((float)(k % 97));
	}
	free(l2);
	l2 = last_logits(b, V);
	l3 = llama_last(lm, V);
	ok(maxdiff(l2, l3, (long)GB * V) <= TOL * (maxabs(l3, (long)GB * V)
	    + 1) && maxdiff(l1, l2, (long)GB * V) > 1e-3, "%s: after an "
	    "update, the live weights' logits (maxdiff %.3g, moved %.3g)",
	    what, maxdiff(l2, l3, (long)GB * V),
	    maxdiff(l1, l2, (long)GB * V));
	free(l1);
	free(l2);
	free(l3);
	free(layer);
	lmf_infer_free(b);
	lmf_infer_free(own);
	lmf_llama_free(lm);
}

/* base weights from a stream, LoRA pairs from a LoRA training model,
 * applied unmerged: the merged path's logits and tokens; the trainer's
 * update of B is seen; half a pair is refused */
static void
check_borrowed_lora(const char *what, const char *model, const char *adapter)
{
	struct lmf_llama *lm = open_llama(model, adapter);
	struct lmf_infer *base = open_infer(model, NULL);
	struct lmf_infer *merged = open_infer(model, adapter), *b;
	const struct lmf_config *c = lmf_infer_config(base);
	struct finder f = { { lmf_infer_item(base), NULL }, lm };
	struct lmf_infer_layer *layer;
	struct lmf_infer_weights w;
	int V = (int)c->vocab_size, n1[GB], n2[GB], i, nb = 0;
	int32_t t1[GB * GNEW], t2[GB * GNEW];
	float *l1, *l2, *l3;
	char err[256];
	uint64_t k;

	/* make_adapter: r 4, lora_alpha 8 */
	b = borrow(c, &f, 4, 2.0f, &layer);
	l1 = last_logits(merged, V);
	l2 = last_logits(b, V);
	ok(maxdiff(l1, l2, (long)GB * V) <= TOL * (maxabs(l1, (long)GB * V)
	    + 1), "%s: LoRA unmerged over borrowed weights, the merged "
	    "logits (maxdiff %.3g)", what, maxdiff(l1, l2, (long)GB * V));
	gen_greedy(merged, t1, n1);
	gen_greedy(b, t2, n2);
	ok(!memcmp(t1, t2, sizeof t1) && !memcmp(n1, n2, sizeof n1),
	    "%s: and the merged greedy tokens", what);
	for (i = 0; i < lmf_llama_ntrainable(lm); i++) {
		struct lmf_tparam *tp = lmf_llama_trainable(lm, i);

		if (!strstr(tp->name, "lora_B"))
			continue;
		nb++;
		for (k = 0; k < tp->numel; k++)
			tp->w[k] *= 1.5f;
	}
	free(l2);
	l2 = last_logits(b, V);
	l3 = llama_last(lm, V);
	ok(nb > 0 && maxdiff(l2, l3, (long)GB * V) <= TOL *
	    (maxabs(l3, (long)GB * V) + 1) && maxdiff(l1, l2, (long)GB * V) >
	    1e-3, "%s: the trainer's new lora_B is used (maxdiff %.3g)", what,
	    maxdiff(l2, l3, (long)GB * V));
	free(layer);
	layer = xcalloc((size_t)c->num_hidden_layers, sizeof *layer);
	if (lmf_infer_weights_by_name(&w, layer, c, find_any, &f, err,
	    sizeof err))
		die("%s", err);
	w.lora_rank = 4;
	layer[1].lora_b[LMF_INFER_Q] = NULL;
	ok(!lmf_infer_borrow(c, &w, err, sizeof err) && strstr(err, "LoRA"),
	    "%s: half a LoRA pair is refused (%s)", what, err);
	free(layer);
	free(l1);
	free(l2);
	free(l3);
	lmf_infer_free(b);
	lmf_infer_free(base);
	lmf_infer_free(merged);
	lmf_llama_free(lm);
}

/* t7000: base + adapter against the merged model */
static int
check_merged(const char *model, const char *adapter, const char *merged)
{
	enum { B = 2, T = 12 };
	static const int len[B] = { 12, 12 };
	struct lmf_llama *a = open_llama(model, adapter);
	struct lmf_llama *b = open_llama(merged, NULL);
	int V = (int)lmf_llama_config(a)->vocab_size, i;
	int32_t ids[B * T];
	struct lmf_rng rng;
	float *la, *lb;
	double diff = 0, mx;

	lmf_rng_seed(&rng, 5);
	for (i = 0; i < B * T; i++)
		ids[i] = (int32_t)lmf_rng_below(&rng, (uint32_t)V);
	la = ref_logits(a, ids, len, B, T, V);
	lb = ref_logits(b, ids, len, B, T, V);
	mx = maxabs(la, (long)B * T * V);
	for (i = 0; i < B * T * V; i++)
		if (fabs(la[i] - lb[i]) > diff)
			diff = fabs(la[i] - lb[i]);
	printf("maxdiff %.3g max %.3g\n", diff, mx);
	free(la);
	free(lb);
	lmf_llama_free(a);
	lmf_llama_free(b);
	return diff <= TOL * (mx > 1 ? mx : 1) ? 0 : 1;
}

/* t2100: the logits of the first batch of BATCHES (lmf_llama_logits,
 * with ADAPTER when not "-") against a golden f64 logits stream, within
 * TOL of max|ref| */
static int
check_golden(const char *model, const char *adapter, const char *batches,
    const char *golden)
{
	struct lmf_llama *m = open_llama(model, strcmp(adapter, "-") ?
	    adapter : NULL);
	int V = (int)lmf_llama_config(m)->vocab_size;
	struct lmf_rd *r;
	struct lmf_item bi = { 0 }, gi = { 0 };
	struct lmf_tensor *g;
	struct lmf_batch b;
	double diff = 0, mx = 0, d;
	float *out;
	uint64_t i, n;
	char err[256];

	r = lmf_rd_open_or_die(batches);
	if (lmf_rd_item(r, &bi) != 1 ||
	    lmf_batch_from_item(&b, &bi, V, err, sizeof err) < 0)
		die("'%s': no batch", batches);
	lmf_rd_close(r);
	r = lmf_rd_open_or_die(golden);
	if (lmf_rd_item(r, &gi) != 1 || !(g = lmf_item_find(&gi, "logits")) ||
	    g->dtype != LMF_F64)
		die("'%s': no f64 logits", golden);
	lmf_rd_close(r);
	n = (uint64_t)b.B * b.T * V;
	if (lmf_tensor_numel(g) != n)
		die("'%s': %llu logits, not %llu", golden,
		    (unsigned long long)lmf_tensor_numel(g),
		    (unsigned long long)n);
	out = xmallocarray(n, sizeof *out);
	lmf_llama_logits(m, &b, out);
	for (i = 0; i < n; i++) {
		d = ((const double *)g->data)[i];
		mx = fmax(mx, fabs(d));
		diff = fmax(diff, fabs(d - out[i]));
	}
	printf("maxdiff %.3g max %.3g\n", diff, mx);
	free(out);
	lmf_item_free(&bi);
	lmf_item_free(&gi);
	lmf_llama_free(m);
	return diff <= TOL * (mx > 1 ? mx : 1) ? 0 : 1;
}

static struct lmf_infer *
open_dtype(const char *model, int dtype)
{
	struct lmf_rd *r = lmf_rd_open_or_die(model);
	struct lmf_infer *m;
	char err[256];

	if (!(m = lmf_infer_open_dtype(r, NULL, dtype, err, sizeof err)))
		die("%s", err);
	lmf_rd_close(r);
	return m;
}

/* the logits (n, V) of every position of ids (n) in one row */
static float *
all_logits(struct lmf_infer *m, const int32_t *ids, int n, int V)
{
	float *lg = xmallocarray((size_t)n * V, sizeof *lg);
	int *rr = xcalloc((size_t)n, sizeof *rr);

	lmf_infer_reset(m, 1, n);
	lmf_infer_forward(m, n, rr, ids, lg, n);
	free(rr);
	return lg;
}

/* bf16 and int8 weights against f32: the largest logit difference over
 * every position of the prompts ids[k] (len[k]), relative to the largest
 * f32 logit; rel[0] bf16, rel[1] int8; agree[] the positions whose argmax
 * is f32's */
static void
dtype_diff(const char *model, int np, int32_t *const *ids, const int *len,
    double rel[2], int agree[2], int *npos)
{
	struct lmf_infer *f = open_dtype(model, LMF_F32);
	struct lmf_infer *nb[2] = { open_dtype(model, LMF_BF16),
		open_dtype(model, LMF_I8) };
	int V = (int)lmf_infer_config(f)->vocab_size, k, d, t;
	double mx = 0, diff[2] = { 0, 0 };
	float *a, *b[2];

	agree[0] = agree[1] = *npos = 0;
	for (k = 0; k < np; k++) {
		a = all_logits(f, ids[k], len[k], V);
		for (d = 0; d < 2; d++)
			b[d] = all_logits(nb[d], ids[k], len[k], V);
		if (maxabs(a, (long)len[k] * V) > mx)
			mx = maxabs(a, (long)len[k] * V);
		for (d = 0; d < 2; d++)
			if (maxdiff(a, b[d], (long)len[k] * V) > diff[d])
				diff[d] = maxdiff(a, b[d], (long)len[k] * V);
		for (t = 0; t < len[k]; t++) {
			size_t o = (size_t)t * V;
			int w = lmf_sample_argmax(a + o, V);

			agree[0] += lmf_sample_argmax(b[0] + o, V) == w;
			agree[1] += lmf_sample_argmax(b[1] + o, V) == w;
			++*npos;
		}
		free(a);
		free(b[0]);
		free(b[1]);
	}
	for (d = 0; d < 2; d++)
		rel[d] = diff[d] / (mx > 0 ? mx : 1);
	printf("# %s: max logit %.4g; bf16 max diff %.4g (rel %.3g), int8 "
	    "max diff %.4g (rel %.3g); argmax as f32's at %d (bf16), %d "
	    "(int8) of %d positions\n", model, mx, diff[0], rel[0], diff[1],
	    rel[1], agree[0], agree[1], *npos);
	lmf_infer_free(f);
	lmf_infer_free(nb[0]);
	lmf_infer_free(nb[1]);
}

/* random models: bf16 within 1% of the largest logit, int8 within 5% */
static void
check_dtypes(const char *what, const char *model)
{
	int32_t p0[GT], p1[GT], *ids[2] = { p0, p1 };
	int len[2] = { GT, 5 }, t, agree[2], npos;
	double rel[2];

	for (t = 0; t < GT; t++) {
		p0[t] = gids[0][t % glen[0]];
		p1[t] = (int32_t)(t * 7 % 30);
	}
	dtype_diff(model, 2, ids, len, rel, agree, &npos);
	ok(rel[0] < 0.01, "%s: bf16 logits within 1%% of f32's (%.3g)", what,
	    rel[0]);
	ok(rel[1] < 0.05, "%s: int8 logits within 5%% of f32's (%.3g)", what,
	    rel[1]);
}

/* --dtype-diff MODEL IDS...: the measurement of dtype_diff on prompts
 * given as '1,2,3' */
static int
dtype_diff_main(const char *model, int np, char **arg)
{
	int32_t **ids = xcalloc((size_t)np, sizeof *ids);
	int *len = xcalloc((size_t)np, sizeof *len), k, agree[2], npos;
	const char *s;
	char *end;
	double rel[2];

	for (k = 0; k < np; k++) {
		ids[k] = xmallocarray(strlen(arg[k]) + 1, sizeof **ids);
		for (s = arg[k]; *s; s = *end ? end + 1 : end)
			ids[k][len[k]++] = (int32_t)strtol(s, &end, 10);
	}
	dtype_diff(model, np, ids, len, rel, agree, &npos);
	for (k = 0; k < np; k++)
		free(ids[k]);
	free(ids);
	free(len);
	return 0;
}

/* t6000: greedy continuation of ids without a cache (the whole sequence
 * through lmf_llama_logits each step), stopping at the config's eos */
static int
greedy(const char *model, const char *ids, int nnew)
{
	struct lmf_llama *m = open_llama(model, NULL);
	const struct lmf_config *c = lmf_llama_config(m);
	int V = (int)c->vocab_size, n = 0, k, i, best, e;
	int32_t *seq = xmallocarray((size_t)nnew + strlen(ids) + 1,
	    sizeof *seq);
	const char *s = ids;
	char *end;
	float *lg;

	while (*s) {
		seq[n++] = (int32_t)strtol(s, &end, 10);
		s = *end ? end + 1 : end;
	}
	for (k = 0; k < nnew; k++) {
		lg = ref_logits(m, seq, &n, 1, n, V);
		for (best = 0, i = 1; i < V; i++)
			if (lg[(size_t)(n - 1) * V + i] >
			    lg[(size_t)(n - 1) * V + best])
				best = i;
		free(lg);
		for (e = 0; e < c->n_eos; e++)
			if (c->eos_token_ids[e] == best)
				break;
		if (e < c->n_eos)
			break;
		printf("%s%d", k ? "," : "", best);
		seq[n++] = best;
	}
	putchar('\n');
	free(seq);
	lmf_llama_free(m);
	return 0;
}

static const char llama_cfg[] = "{\"model_type\": \"llama\", "
    "\"hidden_size\": 32, \"intermediate_size\": 48, "
    "\"num_hidden_layers\": 2, \"num_attention_heads\": 4, "
    "\"num_key_value_heads\": 2, \"vocab_size\": 40, "
    "\"rms_norm_eps\": 1e-6, \"tie_word_embeddings\": false}";
static const char qwen_cfg[] = "{\"model_type\": \"qwen2\", "
    "\"hidden_size\": 24, \"intermediate_size\": 40, "
    "\"num_hidden_layers\": 3, \"num_attention_heads\": 6, "
    "\"num_key_value_heads\": 3, \"vocab_size\": 33, "
    "\"rope_theta\": 1000000.0, \"tie_word_embeddings\": true}";

int
main(int argc, char **argv)
{
	struct lmf_config c;
	char *m1, *m2, *a1, *a2;

	lmf_init(argc, argv);
	lmf_gemm_init(1);
	if (argc == 5 && !strcmp(argv[1], "--greedy"))
		return greedy(argv[2], argv[3], (int)lmf_parse_int("N",
		    argv[4], 0, 100000));
	if (argc >= 4 && !strcmp(argv[1], "--dtype-diff"))
		return dtype_diff_main(argv[2], argc - 3, argv + 3);
	if (argc == 4)
		return check_merged(argv[1], argv[2], argv[3]);
	if (argc == 6 && !strcmp(argv[1], "--golden"))
		return check_golden(argv[2], argv[3], argv[4], argv[5]);
	if (!mkdtemp(tmpdir))
		die_errno("mkdtemp");
	m1 = make_model("llama", llama_cfg, &c);
	a1 = make_adapter("llama-lora", &c);
	m2 = make_model("qwen2", qwen_cfg, &c);
	a2 = make_adapter("qwen2-lora", &c);
	check_cached("llama", m1, NULL);
	check_cached("qwen2", m2, NULL);
	check_cached("llama+lora", m1, a1);
	check_cached("qwen2+lora", m2, a2);
	check_borrowed("llama", m1);
	check_borrowed("qwen2", m2);
	check_borrowed_lora("llama", m1, a1);
	check_borrowed_lora("qwen2", m2, a2);
	check_dtypes("llama", m1);
	check_dtypes("qwen2", m2);
	unlink(m1);
	unlink(m2);
	unlink(a1);
	unlink(a2);
	rmdir(tmpdir);
	free(m1);
	free(m2);
	free(a1);
	free(a2);
	return tap_done();
}
