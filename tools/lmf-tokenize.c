/* lmf-tokenize: turn LLaMA-Factory datasets into the examples stream, as
 * LLaMA-Factory's data pipeline does for each stage: dataset_info.json,
 * the alpaca and sharegpt formats, a chat template, token ids and labels.
 * It does not shuffle, split, pad or pack SFT examples (lmf-pack does),
 * and reads no hub datasets. --encode and --decode expose the tokenizer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "lmf/dataset.h"
#include "lmf/opt.h"
#include "lmf/process.h"
#include "lmf/stream.h"
#include "lmf/template.h"
#include "lmf/tok.h"
#include "lmf/util.h"
#include "lmf/banned.h"

#define MAX_DATASETS 64
#define MAX_LINE (256u << 20)

struct opts {
	int stage;
	const char *dataset;
	const char *dataset_dir;
	const char *template;
	long cutoff_len;
	long max_samples;
	int train_on_prompt, mask_history, packing, neat_packing, predict;
	int mix;
	const char *probs;
	uint64_t seed;
	const char *tokenizer, *model;
	const char *default_system, *tool_format;
	int enable_thinking;
	const char *out;
	int encode, decode;
	struct lmf_wropts wo;
};

static struct lmf_tok *
load_tokenizer(const struct opts *o)
{
	char err[512] = "";
	struct lmf_tok *t;

	if (o->tokenizer) {
		t = lmf_tok_load_dir(o->tokenizer, err, sizeof err);
	} else {
		struct lmf_rd *r = lmf_rd_open_or_die(o->model);
		struct lmf_item it;

		if (!lmf_rd_item_or_die(r, &it))
			die("'%s' holds no tokenizer", o->model);
		t = lmf_tok_load_item(&it, err, sizeof err);
		lmf_item_free(&it);
		lmf_rd_close(r);
	}
	if (!t)
		die("%s", err);
	return t;
}

/* the vocab_size of the model the tokens are for: the --model stream's
 * config, or DIR/config.json beside the tokenizer; 0 when unknown */
static long long
model_vocab(const struct opts *o)
{
	json_t *c = NULL, *v;
	long long n = 0;

	if (o->model) {
		struct lmf_rd *r = lmf_rd_open_or_die(o->model);

		v = json_object_get(json_object_get(lmf_rd_meta(r), "config"),
		    "vocab_size");
		n = json_is_integer(v) ? (long long)json_integer_value(v) : 0;
		lmf_rd_close(r);
		return n;
	}
	{
		char *path = xasprintf("%s/config.json", o->tokenizer);

		c = json_load_file(path, 0, NULL);
		free(path);
	}
	v = json_object_get(c, "vocab_size");
	n = json_is_integer(v) ? (long long)json_integer_value(v) : 0;
	json_decref(c);
	return n;
}

/* LLaMA-Factory adds a template's new eos / stop words to the tokenizer
 * and, with resize_vocab, grows the embeddings; lmf does not resize, so a
 * token the template adds past the model's rows is refused here */
static void
check_added(const struct opts *o, const struct lmf_template *t,
    struct lmf_tok *tok, int32_t before)
{
	long long nv;
	int32_t id;

	if (lmf_tok_vocab_size(tok) <= before || (nv = model_vocab(o)) <= 0 ||
	    lmf_tok_vocab_size(tok) <= nv)
		return;
	id = before > nv ? before : (int32_t)nv;
	die("template '%s' adds '%s' to the tokenizer as token %d, past the "
	    "model's vocab_size %lld (resize_vocab is not implemented): use "
	    "a template whose tokens the tokenizer has", lmf_template_name(t),
	    lmf_tok_id_to_token(tok, id), (int)id, nv);
}

/* ---- --encode, --decode: JSON Lines in, JSON Lines out ---- */

static void
debug_file(struct lmf_tok *tok, int decode, const char *path)
{
	FILE *f = strcmp(path, "-") ? xfopen(path, "rb") : stdin;
	const char *name = strcmp(path, "-") ? path : "<stdin>";
	char *line = NULL, err[512];
	size_t cap = 0, lineno = 0;
	ssize_t len;

	while ((len = getline(&line, &cap, f)) >= 0) {
		lineno++;
		if ((size_t)len > MAX_LINE)
			die("'%s' line %zu: longer than %u bytes", name, lineno,
			    MAX_LINE);
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] ==
		    '\r'))
			line[--len] = 0;
		if (len == 0)
			continue;
		if (lmf_tok_json_line(tok, decode, line, (size_t)len, stdout,
		    err, sizeof err))
			die("'%s' line %zu: %s", name, lineno, err);
	}
	if (ferror(f))
		die_errno("cannot read '%s'", name);
	free(line);
	if (f != stdin)
		fclose(f);
}

/* ---- the examples stream ---- */

static void
emit(void *ctx, const struct lmf_item *it)
{
	lmf_wr_item_or_die(ctx, it);
}

static int
split_names(const struct opts *o, char *s, char **names)
{
	int n = 0;

	for (char *p = s, *c; p; p = c) {
		if ((c = strchr(p, ',')))
			*c++ = 0;
		while (*p == ' ')
			p++;
		if (!*p)
			die_usage("--dataset: an empty name in '%s'",
			    o->dataset);
		if (n == MAX_DATASETS)
			die_usage("--dataset: more than %d names",
			    MAX_DATASETS);
		names[n++] = p;
	}
	return n;
}

static void
parse_probs(const struct opts *o, double *p, int n)
{
	char *s = xstrdup(o->probs), *c;
	int k = 0;
	double sum = 0;

	for (char *q = s; q; q = c) {
		if ((c = strchr(q, ',')))
			*c++ = 0;
		if (k == n)
			die_usage("--interleave_probs: %d values for %d "
			    "datasets", k + 1, n);
		p[k] = lmf_parse_float("--interleave_probs", q, 0, 1);
		sum += p[k++];
	}
	if (k != n)
		die_usage("--interleave_probs: %d values for %d datasets", k,
		    n);
	if (sum < 0.999999 || sum > 1.000001)
		die_usage("--interleave_probs: the values add up to %g, not 1",
		    sum);
	free(s);
}

static void
tokenize(const struct opts *o, struct lmf_tok *tok)
{
	struct lmf_template_opts to = { o->default_system, o->enable_thinking, 0,
		o->tool_format };
	struct lmf_dataset ds[MAX_DATASETS], mixed;
	struct lmf_process_opts po = { 0 };
	struct lmf_process_stats st;
	struct lmf_template *t;
	char *names[MAX_DATASETS], *list = xstrdup(o->dataset);
	double probs[MAX_DATASETS];
	int n = split_names(o, list, names);
	json_t *meta, *dsn;
	struct lmf_wr *w;
	char err[512] = "";
	int pairwise = o->stage == LMF_STAGE_RM || o->stage == LMF_STAGE_DPO;
	int32_t before = lmf_tok_vocab_size(tok);

	if (o->probs)
		parse_probs(o, probs, n);
	if (!(t = o->template ? lmf_template_new(o->template, tok, &to, err,
	    sizeof err) : lmf_template_from_tokenizer(tok, &to, err,
	    sizeof err)))
		die("%s", err);
	check_added(o, t, tok, before);
	if (!o->template && lmf_verbose > 0)
		warn("no --template: %s", lmf_tok_chat_template(tok) ?
		    "parsing the tokenizer's chat_template" :
		    "the tokenizer has no chat_template, using 'empty'");
	if (o->train_on_prompt && lmf_template_efficient_eos(t))
		die_usage("--train_on_prompt does not go with template '%s' "
		    "(efficient_eos)", lmf_template_name(t));
	dsn = json_array();
	for (int i = 0; i < n; i++) {
		if (lmf_dataset_load(o->dataset_dir, names[i], o->max_samples,
		    o->seed, &ds[i], err, sizeof err))
			die("%s", err);
		if (ds[i].ranking != pairwise)
			die("dataset '%s' is not applicable to stage %s "
			    "(ranking is %s)", names[i],
			    lmf_stage_name(o->stage), ds[i].ranking ? "true" :
			    "false");
		json_array_append_new(dsn, json_string(names[i]));
	}
	if (lmf_dataset_mix(ds, n, o->mix, o->probs ? probs : NULL, o->seed,
	    &mixed, err, sizeof err))
		die("%s", err);
	meta = json_pack("{s:s,s:s,s:s,s:I,s:i,s:i,s:i,s:i,s:b,s:b,s:o}",
	    "kind", "examples", "stage", lmf_stage_name(o->stage),
	    "template", lmf_template_name(t), "cutoff_len", (json_int_t)o->cutoff_len,
	    "pad_token_id", lmf_tok_pad_id(tok),
	    "eos_token_id", lmf_tok_eos_id(tok),
	    "bos_token_id", lmf_tok_bos_id(tok),
	    "vocab_size", lmf_tok_vocab_size(tok),
	    "packing", o->packing, "neat_packing", o->neat_packing,
	    "datasets", dsn);
	{
		const int32_t *x;
		size_t nx = lmf_tok_additional_ids(tok, &x);
		json_t *a = json_array();

		for (size_t i = 0; i < nx; i++)
			json_array_append_new(a, json_integer(x[i]));
		if (nx)   /* generation stops at them too (spec 3.3) */
			json_object_set_new(meta,
			    "additional_special_tokens_ids", a);
		else
			json_decref(a);
	}
	if (o->predict)
		json_object_set_new(meta, "predict", json_true());
	if (o->train_on_prompt)
		json_object_set_new(meta, "train_on_prompt", json_true());
	if (o->mask_history)
		json_object_set_new(meta, "mask_history", json_true());
	w = lmf_wr_open_or_die(o->out, meta, &o->wo);
	json_decref(meta);
	po.stage = o->stage;
	po.cutoff_len = o->stage == LMF_STAGE_SFT && o->packing && !o->predict ?
	    o->cutoff_len - 1 : o->cutoff_len;
	po.packing = o->packing;
	po.train_on_prompt = o->train_on_prompt;
	po.mask_history = o->mask_history;
	po.unsupervised = o->predict;
	if (lmf_process(t, tok, &po, &mixed, emit, w, &st, err, sizeof err)) {
		lmf_wr_abort(w);
		die("%s", err);
	}
	if (!st.nout) {
		lmf_wr_abort(w);
		die("no examples: %zu row%s, %zu skipped%s%s", st.nin,
		    st.nin == 1 ? "" : "s", st.nskipped, st.nreasons ? ": " :
		    "", st.nreasons ? st.reason[0] : "");
	}
	lmf_wr_close_or_die(w);
	if (st.nskipped)
		warn("skipped %zu invalid example%s: %s%s%s%s%s%s", st.nskipped,
		    st.nskipped > 1 ? "s" : "", st.reason[0],
		    st.nreasons > 1 ? "; " : "", st.nreasons > 1 ?
		    st.reason[1] : "", st.nreasons > 2 ? "; " : "",
		    st.nreasons > 2 ? st.reason[2] : "",
		    st.nskipped > (size_t)st.nreasons ? "; ..." : "");
	if (st.one_kto_tag)
		warn("your dataset only has one preference type");
	if (lmf_verbose > 0)
		fprintf(stderr, "%s: %zu rows, %zu examples written, %zu "
		    "skipped\n", lmf_progname(), st.nin, st.nout, st.nskipped);
	lmf_dataset_free_shallow(&mixed);
	for (int i = 0; i < n; i++)
		lmf_dataset_free(&ds[i]);
	lmf_template_free(t);
	free(list);
}

static void
opt_stage(const struct lmf_opt *op, const char *v)
{
	if ((*(int *)op->p = lmf_stage_parse(v)) < 0)
		die_usage("--stage: unknown stage '%s' (pt, sft, rm, dpo, kto, "
		    "ppo)", v);
}

static void
opt_mix(const struct lmf_opt *op, const char *v)
{
	static const char *names[] = { "concat", "interleave_under",
		"interleave_over" };
	int i;

	for (i = 0; i < 3 && strcmp(v, names[i]); i++)
		;
	if (i == 3)
		die_usage("--mix_strategy: unknown strategy '%s' (concat, "
		    "interleave_under, interleave_over)", v);
	*(int *)op->p = i == 0 ? LMF_MIX_CONCAT : i == 1 ? LMF_MIX_UNDER :
	    LMF_MIX_OVER;
}

static void
opt_thinking(const struct lmf_opt *op, const char *v)
{
	*(int *)op->p = lmf_parse_bool("--enable_thinking", v);
}

/* the checks across options, and the defaults that depend on the stage */
static void
check_args(struct opts *o)
{
	if (o->stage < 0)
		die_usage("--stage is required");
	if (!o->dataset)
		die_usage("--dataset is required");
	if (o->packing < 0)
		o->packing = o->stage == LMF_STAGE_PT;
	if (o->neat_packing)
		o->packing = 1;
	if (o->stage != LMF_STAGE_SFT && (o->neat_packing ||
	    o->train_on_prompt || o->mask_history || o->predict))
		die_usage("--neat_packing, --train_on_prompt, --mask_history "
		    "and --predict_with_generate are for --stage sft");
	if (o->packing && o->stage != LMF_STAGE_PT &&
	    o->stage != LMF_STAGE_SFT)
		die_usage("--packing is for --stage pt and sft");
	if (o->packing && o->stage == LMF_STAGE_SFT && o->cutoff_len < 2)
		die_usage("--packing needs a --cutoff_len of at least 2");
	if (o->probs && o->mix == LMF_MIX_CONCAT)
		die_usage("--interleave_probs needs an interleave "
		    "--mix_strategy");
}

/* --encode, --decode: each FILE (stdin without one) to stdout */
static void
debug(const struct opts *o, int nfile, char **file)
{
	struct lmf_tok *tok;

	if (o->dataset || o->stage >= 0)
		die_usage("--encode and --decode take no dataset");
	tok = load_tokenizer(o);
	if (nfile == 0)
		debug_file(tok, o->decode, "-");
	for (int i = 0; i < nfile; i++)
		debug_file(tok, o->decode, file[i]);
	lmf_tok_free(tok);
}

int
main(int argc, char **argv)
{
	static const struct lmf_opt_usage us = { "--stage "
	    "pt|sft|rm|dpo|kto|ppo --dataset NAME[,NAME...]\n"
	    "       (--tokenizer DIR | --model FILE) [--template NAME] "
	    "[--dataset_dir DIR]\n"
	    "       [--cutoff_len N] [--max_samples N] "
	    "[--train_on_prompt [BOOL]]\n"
	    "       [--mask_history [BOOL]] [--packing [BOOL]] "
	    "[--neat_packing [BOOL]]\n"
	    "       [--predict_with_generate [BOOL]] [--mix_strategy S]\n"
	    "       [--interleave_probs P,...] [--seed N] "
	    "[--default_system TEXT]\n"
	    "       [--enable_thinking BOOL] [--tool_format NAME] [-l N] [-q] "
	    "[-o FILE]\n"
	    "       lmf-tokenize --encode | --decode (--tokenizer DIR | "
	    "--model FILE) [FILE...]",
	    "Turn LLaMA-Factory datasets into the examples stream." };
	struct opts o = { .stage = -1, .dataset_dir = "data",
		.cutoff_len = 2048, .max_samples = -1, .packing = -1,
		.seed = 42, .enable_thinking = 1, .out = "-" };
#define S LMF_OPT_STRING
#define B LMF_OPT_BOOL
#define F LMF_OPT_FUNC
	struct lmf_opt tab[] = {
		{ "stage", 0, F, &o.stage, "S", 0, 0,
		    "pt, sft, rm, dpo, kto or ppo", NULL, opt_stage, 0 },
		LMF_OPT_ROW("dataset", 0, S, &o.dataset, "NAMES", 0, 0,
		    "datasets of dataset_info.json, comma-separated"),
		LMF_OPT_ROW("dataset_dir", 0, S, &o.dataset_dir, "DIR", 0, 0,
		    "where dataset_info.json is"),
		LMF_OPT_ROW("template", 0, S, &o.template, "NAME", 0, 0,
		    "chat template"),
		LMF_OPT_ROW("cutoff_len", 0, LMF_OPT_LONG, &o.cutoff_len, "N",
		    1, 1 << 30, "tokens per example or block"),
		{ "max_samples", 0, LMF_OPT_LONG, &o.max_samples, "N", 0,
		    (double)INT64_MAX, "first N rows of each dataset", "all",
		    NULL, 0 },
		LMF_OPT_ROW("train_on_prompt", 0, B, &o.train_on_prompt, NULL,
		    0, 0, "sft: labels on prompts too"),
		LMF_OPT_ROW("mask_history", 0, B, &o.mask_history, NULL, 0, 0,
		    "sft: labels on the last turn only"),
		{ "packing", 0, B, &o.packing, NULL, 0, 0,
		    "pt: blocks; sft: budget cutoff_len - 1",
		    "true for pt, else false", NULL, 0 },
		LMF_OPT_ROW("neat_packing", 0, B, &o.neat_packing, NULL, 0, 0,
		    "sft: packing without cross-attention (lmf-pack)"),
		LMF_OPT_ROW("predict_with_generate", 0, B, &o.predict, NULL, 0,
		    0, "sft: prompts and reference answers"),
		{ "mix_strategy", 0, F, &o.mix, "S", 0, 0,
		    "concat, interleave_under or interleave_over", "concat",
		    opt_mix, 0 },
		LMF_OPT_ROW("interleave_probs", 0, S, &o.probs, "P,...", 0, 0,
		    "sampling probabilities, one per dataset"),
		LMF_OPT_ROW("seed", 0, LMF_OPT_U64, &o.seed, "N", 0,
		    (double)INT64_MAX, "for num_samples and interleaving"),
		LMF_OPT_ROW("tokenizer", 0, S, &o.tokenizer, "DIR", 0, 0,
		    "tokenizer.json (+ tokenizer_config.json) in DIR"),
		LMF_OPT_ROW("model", 0, S, &o.model, "FILE", 0, 0,
		    "the tokenizer of a model stream (lmf-load)"),
		LMF_OPT_ROW("default_system", 0, S, &o.default_system, "TEXT",
		    0, 0, "replace the template's system prompt"),
		{ "enable_thinking", 0, F, &o.enable_thinking, "BOOL", 0, 0,
		    "qwen3: empty thoughts trained (true) or not", "true",
		    opt_thinking, 0 },
		LMF_OPT_ROW("tool_format", 0, S, &o.tool_format, "NAME", 0, 0,
		    "default, qwen, mistral or llama3"),
		{ "encode", 0, F, &o.encode, NULL, 0, 0,
		    "JSON Lines {\"text\"} to {\"ids\"}", NULL, lmf_opt_set, 0 },
		{ "decode", 0, F, &o.decode, NULL, 0, 0,
		    "JSON Lines {\"ids\"} to {\"text\"}", NULL, lmf_opt_set, 0 },
		{ NULL, 'o', S, &o.out, "FILE", 0, 0, "write to FILE",
		    "stdout", NULL, 0 },
		{ "level", 'l', F, &o.wo.level, "N", 0, 0,
		    "zstd level, 0 for raw", "1", lmf_opt_level, 0 },
		{ NULL, 'q', F, NULL, NULL, 0, 0, "no progress line", NULL,
		    lmf_opt_quiet, 0 },
		LMF_OPT_LAST_ROWS,
	};
#undef S
#undef B
#undef F
	struct lmf_tok *tok;
	int i;

	lmf_init(argc, argv);
	o.wo = lmf_wropts_default;
	i = lmf_opt_parse(tab, &us, argc, argv);
	if (!o.tokenizer == !o.model)
		die_usage("give one of --tokenizer and --model");
	if (o.encode && o.decode)
		die_usage("--encode and --decode exclude each other");
	if (o.encode || o.decode) {
		debug(&o, argc - i, argv + i);
		lmf_close_out();
		return 0;
	}
	if (i < argc)
		die_usage("unexpected argument '%s'", argv[i]);
	check_args(&o);
	if (!strcmp(o.out, "-"))
		lmf_stdout_binary_or_die();
	tok = load_tokenizer(&o);
	tokenize(&o, tok);
	lmf_tok_free(tok);
	lmf_close_out();
	return 0;
}
