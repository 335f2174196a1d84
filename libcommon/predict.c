/* predict.c: sft predict with predict_with_generate (predict.h) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmf/dist.h"
#include "lmf/infer.h"
#include "lmf/llama.h"
#include "lmf/predict.h"
#include "lmf/pyjson.h"
#include "lmf/stream.h"
#include "lmf/template.h"
#include "lmf/textmetric.h"
#include "lmf/tok.h"
#include "lmf/train.h"
#include "lmf/util.h"
#include "lmf/banned.h"

void
lmf_predict_defaults(struct lmf_predict_opts *o)
{
	memset(o, 0, sizeof *o);
	o->g.s.do_sample = 1;
	o->g.s.temperature = 0.95;
	o->g.s.top_p = 0.7;
	o->g.s.top_k = 50;
	o->g.s.repetition_penalty = 1.0;
	o->g.max_new_tokens = 1024;
	o->skip_special = 1;
}

/* what one pass needs */
struct pred {
	struct lmf_infer *inf;
	struct lmf_tok *tok;
	struct lmf_jieba *j;
	struct lmf_gen_opts g;
	struct lmf_rng rng;
	FILE *f;
	double *sc[LMF_SIM_N];
	size_t n, cap;
	int skip_special;
};

/* the stop ids: the config's and tokenizer's eos, the stream's eos and
 * the template's stop words and the tokenizer's additional special
 * tokens (LLaMA-Factory's eos_token_id list) */
static void
stops(struct pred *p, const struct lmf_config *c, json_t *meta)
{
	json_t *t = json_object_get(meta, "template"), *e;
	struct lmf_template_opts to = { .enable_thinking = 1 };
	struct lmf_template *tm = NULL;
	char err[256];

	if (json_is_string(t))
		tm = lmf_template_new(json_string_value(t), p->tok, &to, err,
		    sizeof err);
	p->g.nstop = lmf_sample_stop_ids(c, p->tok, tm, (int32_t **)&p->g.stop);
	lmf_template_free(tm);
	e = json_object_get(meta, "eos_token_id");
	if (json_is_integer(e) && json_integer_value(e) >= 0 &&
	    json_integer_value(e) < c->vocab_size)
		lmf_gen_add_stop(&p->g, (int32_t)json_integer_value(e));
}

static void
put_line(struct pred *p, const char *prompt, const char *predict,
    const char *label)
{
	json_t *o;
	char *s;

	if (!p->f)
		return;
	o = json_pack("{s:s, s:s, s:s}", "prompt", prompt, "predict",
	    predict, "label", label);
	if (!o)
		die("generated text is not valid UTF-8");
	s = lmf_pyjson_dumps(o, -1, 0);
	fprintf(p->f, "%s\n", s);
	free(s);
	json_decref(o);
}

/* one example's line and scores: prompt (pl), generated ids g (ng, plus
 * the stop id at g[ng] when ended), labels lab (nl) */
static void
example(struct pred *p, const int32_t *q, int pl, const int32_t *g, int ng,
    int ended, const int32_t *lab, int nl)
{
	char *ps = lmf_tok_decode(p->tok, q, (size_t)pl, 0);
	char *gs = lmf_tok_decode(p->tok, g, (size_t)ng + !!ended,
	    p->skip_special);
	char *gm = lmf_tok_decode(p->tok, g, (size_t)ng + !!ended, 1);
	char *ls = lmf_tok_decode(p->tok, lab, (size_t)nl, 1);
	double raw[LMF_SIM_N], out[LMF_SIM_N];
	int k;

	put_line(p, ps, gs, ls);
	lmf_similarity(p->j, gm, strlen(gm), ls, strlen(ls), raw, out);
	if (p->n == p->cap) {
		p->cap = p->cap ? 2 * p->cap : 64;
		for (k = 0; k < LMF_SIM_N; k++)
			p->sc[k] = xrealloc(p->sc[k], p->cap *
			    sizeof *p->sc[k]);
	}
	for (k = 0; k < LMF_SIM_N; k++)
		p->sc[k][p->n] = out[k];
	p->n++;
	free(ps);
	free(gs);
	free(gm);
	free(ls);
}

/* generate for one batch and write its lines */
static void
batch(struct pred *p, struct lmf_item *it, int V, const char *path,
    uint64_t k)
{
	struct lmf_tensor *lt = lmf_item_find(it, "labels");
	int M = p->g.max_new_tokens, i, t, B, T, LT;
	int32_t **q, *out, *lab;
	struct lmf_batch b;
	int *ql, *nout, nl;
	char err[256];

	if (lmf_batch_from_prompts(&b, it, V, 0, err, sizeof err) < 0)
		die("'%s': batch %llu: %s", path, (unsigned long long)k, err);
	if (!lt || lt->dtype != LMF_I32 || lt->ndim != 2 ||
	    lt->shape[0] != b.B)
		die("'%s': batch %llu: no i32 (B, L) labels", path,
		    (unsigned long long)k);
	B = b.B, T = b.T, LT = (int)lt->shape[1];
	q = xcalloc((size_t)B, sizeof *q);
	ql = xcalloc((size_t)B, sizeof *ql);
	nout = xcalloc((size_t)B, sizeof *nout);
	out = xmallocarray((size_t)B * M + 1, sizeof *out);
	lab = xmallocarray((size_t)LT + 1, sizeof *lab);
	for (i = 0; i < B; i++) {
		q[i] = xmallocarray((size_t)T, sizeof **q);
		ql[i] = lmf_batch_row_tokens(&b, i, q[i]);
	}
	lmf_sample_generate(p->inf, B, (const int32_t *const *)q, ql, &p->g,
	    &p->rng, out, nout);
	for (i = 0; i < B; i++) {
		const int32_t *l = (const int32_t *)lt->data + (size_t)i * LT;
		for (nl = t = 0; t < LT; t++)
			if (l[t] != -100)
				lab[nl++] = l[t] >= 0 && l[t] < V ? l[t] : 0;
		example(p, q[i], ql[i], out + (size_t)i * M, nout[i],
		    nout[i] < M, lab, nl);
		free(q[i]);
	}
	free(q);
	free(ql);
	free(nout);
	free(out);
	free(lab);
}

/* ---- under mpirun: rank r generates the batches k with k % ranks == r,
 * rank 0 writes them all in their order ---- */

/* the batches this rank generated: their text in p->f (a memory stream)
 * and scores in p->sc, rows[] the rows of every batch of the stream */
struct share {
	char *text;
	size_t tlen;
	long *tend;             /* where each own batch's text ends */
	long *rows;             /* (every batch) its rows */
	size_t nown, nb, cap;
};

static void
share_batch(struct share *sh, struct pred *p, long B, int mine)
{
	if (sh->nb == sh->cap) {
		sh->cap = sh->cap ? 2 * sh->cap : 64;
		sh->rows = xrealloc(sh->rows, sh->cap * sizeof *sh->rows);
		sh->tend = xrealloc(sh->tend, sh->cap * sizeof *sh->tend);
	}
	sh->rows[sh->nb++] = B;
	if (mine)
		sh->tend[sh->nown++] = ftell(p->f);
}

/* this rank's batches as frames: the text's length (u64), the text,
 * then each row's LMF_SIM_N scores (f64) */
static char *
frames(struct share *sh, const struct pred *p, size_t *n)
{
	size_t i, b, row = 0, sz = 0, t0 = 0, tl;
	int W = lmf_dist_size(), R = lmf_dist_rank(), k;
	char *buf, *o;
	uint64_t u;
	long j;

	for (b = (size_t)R; b < sh->nb; b += (size_t)W)
		sz += 8 + (size_t)sh->rows[b] * LMF_SIM_N * 8;
	o = buf = xmalloc(sz + sh->tlen + 1);
	for (b = (size_t)R, i = 0; b < sh->nb; b += (size_t)W, i++) {
		tl = (size_t)sh->tend[i] - t0;
		u = tl;
		memcpy(o, &u, 8), o += 8;
		memcpy(o, sh->text + t0, tl), o += tl;
		t0 = (size_t)sh->tend[i];
		for (j = 0; j < sh->rows[b]; j++, row++)
			for (k = 0; k < LMF_SIM_N; k++, o += 8)
				memcpy(o, &p->sc[k][row], 8);
	}
	*n = (size_t)(o - buf);
	return buf;
}

/* rank 0: the frames of all ranks (len[r] bytes each) into f (if any)
 * and p->sc, batch k from rank k % ranks, in the stream's order */
static void
unframe(struct pred *p, const char *all, const size_t *len, const long *rows,
    size_t nb, FILE *f)
{
	int W = lmf_dist_size(), k;
	size_t *at = xcalloc((size_t)W, sizeof *at), b, r, n = 0;
	const char *c;
	long i;
	uint64_t u;

	for (r = 1; r < (size_t)W; r++)
		at[r] = at[r - 1] + len[r - 1];
	for (b = 0; b < nb; b++)
		n += (size_t)rows[b];
	for (k = 0; k < LMF_SIM_N; k++)
		p->sc[k] = xrealloc(p->sc[k], (n ? n : 1) * sizeof *p->sc[k]);
	p->n = 0;
	for (b = 0; b < nb; b++) {
		r = b % (size_t)W;
		c = all + at[r];
		memcpy(&u, c, 8);
		if (f && fwrite(c + 8, 1, (size_t)u, f) != (size_t)u)
			die_errno("cannot write the predictions");
		c += 8 + u;
		for (i = 0; i < rows[b]; i++, p->n++)
			for (k = 0; k < LMF_SIM_N; k++, c += 8)
				memcpy(&p->sc[k][p->n], c, 8);
		at[r] = (size_t)(c - all);
	}
	free(at);
}

/* the stream's header is a prompt batches one */
static void
check_meta(struct lmf_rd *rd, const char *path)
{
	lmf_rd_check_kind_or_die(rd, "batches");
	if (!json_is_true(json_object_get(lmf_rd_meta(rd), "predict")))
		die("'%s': not prompt batches (lmf-tokenize "
		    "--predict_with_generate)", path);
}

void
lmf_predict_check(const char *path)
{
	struct lmf_rd *rd = lmf_rd_open_or_die(path);

	check_meta(rd, path);
	lmf_rd_close(rd);
}

/* the model stream's tokenizer, else tokenizer_dir's */
static struct lmf_tok *
tokenizer(struct lmf_trainer *tr, struct lmf_llama *m)
{
	struct lmf_tok *t;
	char err[512];

	if ((t = lmf_llama_tok(m, err, sizeof err)))
		return t;
	if (tr->a.tokenizer_dir && (t = lmf_tok_load_dir(tr->a.tokenizer_dir,
	    err, sizeof err)))
		return t;
	die("predict: %s", err);
}

/* every rank's share to rank 0, written to f there in the stream's
 * order, the scores with them */
static void
gather(struct pred *p, struct share *sh, FILE *f)
{
	size_t n, *len = xcalloc((size_t)lmf_dist_size(), sizeof *len);
	char *mine, *all;

	if (fclose(p->f) != 0)
		die_errno("predict: the memory stream");
	p->f = NULL;
	mine = frames(sh, p, &n);
	all = lmf_dist_gather(mine, n, len);
	if (all)
		unframe(p, all, len, sh->rows, sh->nb, f);
	free(all), free(mine), free(len);
	free(sh->text), free(sh->tend), free(sh->rows);
}

void
lmf_predict_ready(struct lmf_trainer *tr, struct lmf_llama *m,
    const struct lmf_predict_opts *o)
{
	struct lmf_jieba *j;
	char err[1024];

	lmf_tok_free(tokenizer(tr, m));
	if (lmf_jieba_load(&j, o->jieba_dir, err, sizeof err))
		die("%s", err);
	lmf_jieba_free(j);
}

/* generate for every row of path; with split "predict" the lines go to
 * generated_predictions.jsonl; the means are logged as split's metrics
 * (final: train.h's LMF_EVAL_*) */
static void
run(struct lmf_trainer *tr, struct lmf_llama *m, const char *path,
    const struct lmf_predict_opts *o, uint64_t seed, int final)
{
	static const char *const pnames[] = { "predict_bleu-4",
		"predict_rouge-1", "predict_rouge-2", "predict_rouge-l" };
	static const char *const enames[] = { "eval_bleu-4",
		"eval_rouge-1", "eval_rouge-2", "eval_rouge-l" };
	const struct lmf_config *c = lmf_llama_config(m);
	struct lmf_rd *rd = lmf_rd_open_or_die(path);
	struct lmf_infer_layer *layers;
	struct lmf_infer_weights w;
	struct lmf_afile af = { 0 };
	struct pred p = { .g = o->g, .skip_special = o->skip_special };
	double t0 = lmf_now(), v[LMF_SIM_N];
	uint64_t rows = 0, nb = 0;
	struct lmf_item it;
	struct share sh = { 0 };
	char err[1024], *fp = NULL;
	long B;
	int k, mine;

	check_meta(rd, path);
	p.tok = tokenizer(tr, m);
	if (lmf_jieba_load(&p.j, o->jieba_dir, err, sizeof err))
		die("%s", err);
	layers = xcalloc((size_t)c->num_hidden_layers, sizeof *layers);
	if (lmf_llama_infer_weights(m, &w, layers, err, sizeof err) < 0 ||
	    !(p.inf = lmf_infer_borrow(c, &w, err, sizeof err)) ||
	    lmf_infer_set_dtype(p.inf, lmf_infer_dtype(o->infer_dtype),
	    err, sizeof err))
		die("predict: %s", err);
	stops(&p, c, lmf_rd_meta(rd));
	lmf_rng_seed(&p.rng, seed);
	if (final == LMF_EVAL_PREDICT && tr->rank == 0) {
		fp = xasprintf("%s/generated_predictions.jsonl",
		    tr->a.output_dir);
		if (lmf_afile_open(&af, fp) < 0)
			die_errno("cannot create '%s'", fp);
	}
	p.f = tr->world > 1 ? open_memstream(&sh.text, &sh.tlen) : af.f;
	if (tr->world > 1 && !p.f)
		die_errno("predict: cannot open a memory stream");
	while (lmf_rd_item_or_die(rd, &it) == 1) {
		B = (long)lmf_item_find(&it, "input_ids")->shape[0];
		mine = nb % (uint64_t)tr->world == (uint64_t)tr->rank;
		if (mine)
			batch(&p, &it, (int)c->vocab_size, path, nb);
		if (tr->world > 1)
			share_batch(&sh, &p, B, mine);
		rows += (uint64_t)B;
		nb++;
		lmf_item_free(&it);
	}
	lmf_rd_close(rd);
	if (!rows)
		die("'%s': no prompt batches", path);
	if (tr->world > 1)
		gather(&p, &sh, af.f);
	if (tr->rank != 0)
		goto out;
	if (fp && lmf_afile_commit(&af) < 0)
		die_errno("cannot write '%s'", fp);
	for (k = 0; k < LMF_SIM_N; k++)
		v[k] = lmf_np_mean(p.sc[k], p.n);
	lmf_train_log_eval(tr, final == LMF_EVAL_PREDICT ? pnames : enames, v,
	    LMF_SIM_N, rows, nb, lmf_now() - t0, final);
out:
	for (k = 0; k < LMF_SIM_N; k++)
		free(p.sc[k]);
	free(fp);
	free((void *)p.g.stop);
	lmf_infer_free(p.inf);
	free(layers);
	lmf_jieba_free(p.j);
	lmf_tok_free(p.tok);
}

void
lmf_predict_sft(struct lmf_trainer *tr, struct lmf_llama *m,
    const char *path, const struct lmf_predict_opts *o, uint64_t seed)
{
	run(tr, m, path, o, seed, LMF_EVAL_PREDICT);
}

void
lmf_predict_eval(struct lmf_trainer *tr, struct lmf_llama *m,
    const char *path, const struct lmf_predict_opts *o, uint64_t seed,
    int final)
{
	run(tr, m, path, o, seed, final);
}
