/* lmf-logps: score an examples stream (dpo or kto) with a reference model:
 * each sequence's log-probability of its response tokens, summed and
 * per-token averaged (spec 5.1, get_batch_logps), appended to its example
 * as PFXref_logps and PFXref_logps_avg; everything else passes through.
 * One forward per row (--batch_size examples padded together). It does not
 * train, pack or choose the reference: the driver gives the model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmf/dist.h"
#include "lmf/llama.h"
#include "lmf/loss.h"
#include "lmf/opt.h"
#include "lmf/pack.h"
#include "lmf/process.h"
#include "lmf/stream.h"
#include "lmf/train.h"
#include "lmf/util.h"
#include "lmf/banned.h"

#define LOGPS_MAX_BATCH 64

struct opts {
	const char *model, *adapter, *in, *out;
	int threads, batch, bf16;
	struct lmf_wropts wo;
};

/* the examples and the reference */
struct score {
	struct lmf_llama *model;
	int stage;
	long vocab;
	int32_t pad;
	float *lp;
	long cap;
	uint64_t rows;
	/* under mpirun: each example's 4 log-probs (0 for the other
	 * ranks' until summed) instead of into the items */
	int share;
	double *vals;
	uint64_t nvals;
};

static long
meta_long(json_t *m, const char *key)
{
	json_t *v = json_object_get(m, key);

	return json_is_integer(v) ? (long)json_integer_value(v) : -1;
}

static void
read_header(struct score *s, struct lmf_rd *r)
{
	json_t *m = lmf_rd_meta(r), *st = json_object_get(m, "stage");
	long V = (long)lmf_llama_config(s->model)->vocab_size, pad;

	lmf_rd_check_kind_or_die(r, "examples");
	if (!json_is_string(st))
		die("'%s' has no 'stage' in its header", lmf_rd_name(r));
	s->stage = lmf_stage_parse(json_string_value(st));
	if (s->stage != LMF_STAGE_DPO && s->stage != LMF_STAGE_KTO)
		die("'%s': stage '%s' has no reference log-probs (dpo or "
		    "kto)", lmf_rd_name(r), json_string_value(st));
	s->vocab = meta_long(m, "vocab_size");
	if (s->vocab > V)
		die("'%s': the examples' tokenizer has %ld tokens, more than "
		    "the reference model's vocabulary of %ld", lmf_rd_name(r),
		    s->vocab, V);
	s->vocab = V;
	pad = meta_long(m, "pad_token_id");
	s->pad = pad >= 0 && pad < V ? (int32_t)pad : 0;
}

/* the tensor name of sequence ids name's prefix + suffix */
static char *
ref_name(const char *ids, const char *suffix)
{
	size_t n = strlen(ids) - strlen("input_ids");

	return xasprintf("%.*sref_%s", (int)n, ids, suffix);
}

/* set (or add) a f32 scalar of example k */
static void
put_scalar(struct lmf_item *it, uint64_t k, const char *name, float v)
{
	struct lmf_tensor *t = lmf_item_find(it, name);

	if (t && (t->dtype != LMF_F32 || lmf_tensor_numel(t) != 1))
		die("example %llu: tensor '%s' is not a f32 scalar",
		    (unsigned long long)k, name);
	if (!t)
		t = lmf_item_add_tensor(it, name, LMF_F32, 0, NULL);
	*(float *)t->data = v;
}

/* the two sequences of an example: kto's, dpo's */
static const char *const seq_ids[2][2] = {
	{ "input_ids", "kl_input_ids" },
	{ "chosen_input_ids", "rejected_input_ids" } };

/* example k's log-probs v (each sequence's sum, then average) into its
 * item */
static void
put_logps(const struct score *s, struct lmf_item *it, uint64_t k,
    const double *v)
{
	char *nm;
	int i;

	for (i = 0; i < 2; i++) {
		nm = ref_name(seq_ids[s->stage == LMF_STAGE_DPO][i], "logps");
		put_scalar(it, k, nm, (float)v[2 * i]);
		free(nm);
		nm = ref_name(seq_ids[s->stage == LMF_STAGE_DPO][i],
		    "logps_avg");
		put_scalar(it, k, nm, (float)v[2 * i + 1]);
		free(nm);
	}
}

/* room for the log-probs of n examples in s->vals, zeros past those
 * there */
static void
grow_vals(struct score *s, uint64_t n)
{
	uint64_t cap = s->nvals;

	if (n <= cap)
		return;
	while (cap < n)
		cap = cap ? 2 * cap : 256;
	s->vals = xrealloc(s->vals, (size_t)cap * 4 * sizeof *s->vals);
	memset(s->vals + 4 * s->nvals, 0, (size_t)(cap - s->nvals) * 4 *
	    sizeof *s->vals);
	s->nvals = cap;
}

/* forward the sequences of examples it[0..n) as one batch (each example's
 * chosen and rejected, or target and KL, rows padded together); their
 * log-probs into the examples; k the index of it[0] */
static void
score_items(struct score *s, struct lmf_item *it, int n, uint64_t k)
{
	struct lmf_pack_seq seq[2 * LOGPS_MAX_BATCH];
	const struct lmf_pack_seq *rows[2 * LOGPS_MAX_BATCH];
	struct lmf_item bi = { 0, NULL };
	struct lmf_batch b;
	float sum[2 * LOGPS_MAX_BATCH], avg[2 * LOGPS_MAX_BATCH];
	int32_t tag;
	char err[512];
	double v[4];
	int ns = 0, e, i, c;
	long N;

	for (e = 0; e < n; e++) {
		c = lmf_pack_example(&it[e], s->stage, s->vocab, 1, seq + ns,
		    &tag, err, sizeof err);
		if (c < 0)
			die("example %llu: %s", (unsigned long long)(k + e),
			    err);
		ns += c;
	}
	for (i = 0; i < ns; i++)
		rows[i] = &seq[i];
	lmf_pack_collate(&bi, "", rows, ns, 1, 1, s->pad);
	if (lmf_batch_from_item(&b, &bi, (int)s->vocab, err, sizeof err) < 0)
		die("example %llu: %s", (unsigned long long)k, err);
	N = (long)b.B * b.T;
	if (N > s->cap) {
		free(s->lp);
		s->lp = xmallocarray((size_t)N, sizeof *s->lp);
		s->cap = N;
	}
	lmf_llama_forward(s->model, &b, 0);
	lmf_llama_logps(s->model, s->lp);
	lmf_seqlogps_forward(sum, avg, NULL, s->lp, lmf_llama_targets(s->model),
	    b.B, b.T);
	if (s->share)
		grow_vals(s, k + (uint64_t)n);
	for (e = 0; e < n; e++) {
		for (i = 0; i < 2; i++) {
			v[2 * i] = sum[2 * e + i];
			v[2 * i + 1] = avg[2 * e + i];
		}
		if (s->share)
			memcpy(s->vals + 4 * (k + (uint64_t)e), v, sizeof v);
		else
			put_logps(s, &it[e], k + (uint64_t)e, v);
	}
	s->rows += (uint64_t)ns;
	lmf_item_free(&bi);
}

/* under mpirun: rank r scores the groups of batch_size examples whose
 * place g has g % ranks == r; every rank gets every log-prob */
static void
score_share(struct score *s, const struct opts *o, struct lmf_rd *r)
{
	struct lmf_item it[LOGPS_MAX_BATCH];
	uint64_t g = 0, W = (uint64_t)lmf_dist_size();
	uint64_t R = (uint64_t)lmf_dist_rank();
	double rows;
	int i, n;

	s->share = 1;
	do {
		for (n = 0; n < o->batch && lmf_rd_item_or_die(r, &it[n]) == 1;
		    n++)
			;
		if (n > 0 && g++ % W == R)
			score_items(s, it, n, lmf_rd_items(r) - (uint64_t)n);
		for (i = 0; i < n; i++)
			lmf_item_free(&it[i]);
	} while (n == o->batch);
	grow_vals(s, lmf_rd_items(r));
	lmf_dist_sum_f64(s->vals, 4 * lmf_rd_items(r));
	rows = (double)s->rows;
	lmf_dist_sum_f64(&rows, 1);
	s->rows = (uint64_t)rows;
}

int
main(int argc, char **argv)
{
	static const struct lmf_opt_usage u = { "--model FILE "
	    "[--adapter_name_or_path FILE] [-o FILE] [--bf16 [BOOL]]\n"
	    "                 [--threads N] [-l N] [-q] [examples]",
	    "Append a reference model's log-probs to an examples stream." };
	struct opts o = { .in = "-", .out = "-", .batch = 1 };
	struct score s = { 0 };
	struct lmf_opt tab[] = {
		LMF_OPT_ROW("model", 0, LMF_OPT_STRING, &o.model, "FILE", 0,
		    0, "the reference model stream"),
		LMF_OPT_ROW("adapter_name_or_path", 0, LMF_OPT_STRING,
		    &o.adapter, "FILE", 0, 0,
		    "an adapter stream on the reference"),
		LMF_OPT_ROW(NULL, 'o', LMF_OPT_STRING, &o.out, "FILE", 0, 0,
		    "the output examples stream"),
		LMF_OPT_ROW("batch_size", 0, LMF_OPT_INT, &o.batch, "N", 1,
		    LOGPS_MAX_BATCH, "examples per forward"),
		LMF_OPT_ROW("bf16", 0, LMF_OPT_BOOL, &o.bf16, NULL, 0, 0,
		    "the projections' products in bf16, as the trainer's"),
		{ "threads", 0, LMF_OPT_INT, &o.threads, "N", 0, 4096,
		    "threads for matrix products", "0 = all cores", NULL, 0 },
		{ "level", 'l', LMF_OPT_FUNC, &o.wo.level, "N", 0, 0,
		    "zstd level of the output", "1", lmf_opt_level, 0 },
		{ "quiet", 'q', LMF_OPT_FUNC, NULL, NULL, 0, 0,
		    "no summary line", NULL, lmf_opt_quiet, 0 },
		LMF_OPT_LAST_ROWS,
	};
	struct lmf_rd *r;
	struct lmf_wr *w;
	struct lmf_item it[LOGPS_MAX_BATCH];
	json_t *meta;
	double t0 = lmf_now();
	uint64_t k;
	int i, n;

	lmf_init(argc, argv);
	o.wo = lmf_wropts_default;
	if ((i = lmf_opt_parse(tab, &u, argc, argv)) < argc)
		o.in = argv[i++];
	if (i < argc)
		die_usage("unexpected argument '%s'", argv[i]);
	if (!o.model)
		die_usage("no reference model: give --model");
	if (!strcmp(o.model, "-") && !strcmp(o.in, "-"))
		die_usage("the model and the examples cannot both come from "
		    "stdin");
	lmf_dist_start(o.threads);
	lmf_dist_tool(o.model, o.in);
	s.model = lmf_train_frozen_open(o.model, o.adapter, o.bf16);
	r = lmf_rd_open_or_die(o.in);
	read_header(&s, r);
	if (lmf_dist_size() > 1) {
		/* every rank scores its share; rank 0 reads the examples
		 * again and writes them with every log-prob */
		score_share(&s, &o, r);
		lmf_rd_close(r);
		if (lmf_dist_rank() > 0)
			goto done;
		r = lmf_rd_open_or_die(o.in);
		read_header(&s, r);
	}
	meta = json_deep_copy(lmf_rd_meta(r));
	json_object_set_new(meta, "command", json_string(lmf_cmdline()));
	json_object_set_new(meta, "ref_logps", json_true());
	json_object_set_new(meta, "ref_vocab_size", json_integer(s.vocab));
	if (!strcmp(o.out, "-"))
		lmf_stdout_binary_or_die();
	w = lmf_wr_open_or_die(o.out, meta, &o.wo);
	json_decref(meta);
	for (;;) {
		for (n = 0; n < o.batch && lmf_rd_item_or_die(r, &it[n]) == 1;
		    n++)
			;
		if (n > 0 && !s.share)
			score_items(&s, it, n, lmf_rd_items(r) - n);
		for (i = 0; i < n; i++) {
			k = lmf_rd_items(r) - (uint64_t)(n - i);
			if (s.share)
				put_logps(&s, &it[i], k, s.vals + 4 * k);
			lmf_wr_item_or_die(w, &it[i]);
			lmf_item_free(&it[i]);
		}
		if (n < o.batch)
			break;
	}
	lmf_wr_close_or_die(w);
	if (lmf_verbose > 0)
		fprintf(stderr, "%s: %llu examples, %llu rows scored in "
		    "%.1f s\n", lmf_progname(), (unsigned long long)
		    lmf_rd_items(r), (unsigned long long)s.rows,
		    lmf_now() - t0);
	lmf_rd_close(r);
done:
	lmf_llama_free(s.model);
	free(s.lp);
	free(s.vals);
	lmf_dist_finish();
	lmf_close_out();
	return 0;
}
