/* infer_test: the cached forward of infer.h against lmf_llama_logits
 * (llama.h, no cache): random models (llama with grouped-query attention,
 * qwen2 with biases and tied embeddings), rows of different lengths fed as
 * a prompt and then token by token in mixed batches, with and without a
 * LoRA adapter (merged by infer, unmerged by llama). TAP.
 *
 * With arguments, MODEL ADAPTER MERGED (stream files): the logits of
 * MODEL + ADAPTER (llama, unmerged) against MERGED's, within 1e-4 of the
 * largest logit (t7000-export). With --greedy MODEL IDS N: N tokens of
 * greedy continuation of the ids 'IDS' without a cache (t6000). */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lmf/gemm.h"
#include "lmf/infer.h"
#include "lmf/llama.h"
#include "lmf/stream.h"
#include "lmf/util.h"
#include "lmf/banned.h"
#include "tap.h"

#define TOL 1e-4

static char tmpdir[] = "/tmp/infer_testXXXXXX";

static void
put_tensor(struct lmf_wr *w, const char *name, int ndim, const int64_t *sh,
    struct lmf_rng *rng, float mean, float sd)
{
	struct lmf_tensor t = { 0 };
	uint64_t i, n = 1;
	float *p;
	int d;

	for (d = 0; d < ndim; d++)
		n *= (uint64_t)sh[d];
	p = xmallocarray(n, sizeof *p);
	for (i = 0; i < n; i++)
		p[i] = mean + sd * lmf_rng_normal(rng);
	t.name = (char *)name;
	t.dtype = LMF_F32;
	t.ndim = ndim;
	memcpy(t.shape, sh, (size_t)ndim * sizeof *sh);
	t.data = p;
	t.nbytes = n * 4;
	lmf_wr_tensor_or_die(w, &t);
	free(p);
}

/* a random model stream for the config text; its path */
static char *
make_model(const char *name, const char *cfgtext, struct lmf_config *c)
{
	json_error_t je;
	json_t *cfg = json_loads(cfgtext, 0, &je), *meta;
	struct lmf_param *p;
	struct lmf_rng rng;
	struct lmf_wr *w;
	char err[256], *path = xasprintf("%s/%s.lmf", tmpdir, name);
	int np, i;

	if (!cfg || lmf_config_parse(c, cfg, err, sizeof err))
		BUG("config %s", name);
	meta = json_pack("{s:s, s:o}", "kind", "model", "config", cfg);
	w = lmf_wr_open_or_die(path, meta, &lmf_wropts_default);
	json_decref(meta);
	p = lmf_model_params(c, &np);
	lmf_wr_item(w, (uint32_t)np);
	lmf_rng_seed(&rng, 7);
	for (i = 0; i < np; i++)
		put_tensor(w, p[i].name, p[i].ndim, p[i].shape, &rng,
		    p[i].kind == LMF_PARAM_NORM ? 1.0f : 0.0f,
		    p[i].kind == LMF_PARAM_NORM ? 0.1f : 0.15f);
	lmf_wr_close_or_die(w);
	free(p);
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
			put_tensor(w, tn, 2, sh, &rng, 0, 0.2f);
			snprintf(tn, sizeof tn, "base_model.model.model.layers."
			    "%d.%s.lora_B.weight", l, mod[j]);
			sh[0] = out[j];
			sh[1] = r;
			put_tensor(w, tn, 2, sh, &rng, 0, 0.2f);
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

/* the cached forward against the reference: row 0 prefilled with 3
 * tokens, row 1 with 1; then one token per unfinished row per call */
static void
check_cached(const char *what, const char *model, const char *adapter)
{
	enum { B = 3, T = 9 };
	static const int len[B] = { 9, 6, 4 };
	struct lmf_llama *lm = open_llama(model, adapter);
	struct lmf_rd *r = lmf_rd_open_or_die(model), *ra = NULL;
	struct lmf_infer *m;
	int32_t ids[B * T], tok[B];
	int V, i, t, n, rows[B], fed[B] = { 0 }, pre[B] = { 3, 1, 0 };
	float *ref, *lg, *got;
	double diff = 0, mx;
	char err[256];
	struct lmf_rng rng;

	if (adapter)
		ra = lmf_rd_open_or_die(adapter);
	if (!(m = lmf_infer_open(r, ra, err, sizeof err)))
		die("%s", err);
	lmf_rd_close(r);
	if (ra)
		lmf_rd_close(ra);
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
	if (argc == 4)
		return check_merged(argv[1], argv[2], argv[3]);
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
