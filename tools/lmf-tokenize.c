/* lmf-tokenize: turn LLaMA-Factory datasets into the examples stream, as
 * LLaMA-Factory's data pipeline does for each stage: dataset_info.json,
 * the alpaca and sharegpt formats, a chat template, token ids and labels.
 * It does not shuffle, split, pad or pack SFT examples (lmf-pack does),
 * and reads no hub datasets. --encode and --decode expose the tokenizer. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "lmf/dataset.h"
#include "lmf/process.h"
#include "lmf/stream.h"
#include "lmf/template.h"
#include "lmf/tok.h"
#include "lmf/util.h"
#include "lmf/banned.h"

#define MAX_DATASETS 64
#define MAX_LINE (256u << 20)

static struct opts {
	int stage;
	const char *dataset;
	const char *dataset_dir;
	const char *template;
	long cutoff_len;
	long long max_samples;
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
} o = { .stage = -1, .dataset_dir = "data", .cutoff_len = 2048,
	.max_samples = -1, .packing = -1, .seed = 42, .enable_thinking = 1,
	.out = "-" };

static struct lmf_tok *
load_tokenizer(void)
{
	char err[512] = "";
	struct lmf_tok *t;

	if (o.tokenizer) {
		t = lmf_tok_load_dir(o.tokenizer, err, sizeof err);
	} else {
		struct lmf_rd *r = lmf_rd_open_or_die(o.model);
		struct lmf_item it;

		if (!lmf_rd_item_or_die(r, &it))
			die("'%s' holds no tokenizer", o.model);
		t = lmf_tok_load_item(&it, err, sizeof err);
		lmf_item_free(&it);
		lmf_rd_close(r);
	}
	if (!t)
		die("%s", err);
	return t;
}

/* ---- --encode, --decode: JSON Lines in, JSON Lines out ---- */

static void
debug_line(struct lmf_tok *tok, const char *name, size_t lineno, char *line,
    size_t len)
{
	json_error_t je;
	json_t *v = json_loadb(line, len, 0, &je), *x;
	char err[256];

	if (!v || !json_is_object(v))
		die("'%s' line %zu: %s", name, lineno, v ? "not a JSON object" :
		    je.text);
	if (o.encode) {
		int32_t *ids;
		size_t n;
		int special = 1;

		x = json_object_get(v, "text");
		if (!json_is_string(x))
			die("'%s' line %zu: no \"text\" string", name, lineno);
		if ((x = json_object_get(v, "add_special_tokens")))
			special = json_is_true(x);
		x = json_object_get(v, "text");
		if (lmf_tok_encode(tok, json_string_value(x),
		    json_string_length(x), special, &ids, &n, err, sizeof err))
			die("'%s' line %zu: %s", name, lineno, err);
		fputs("{\"ids\": [", stdout);
		for (size_t i = 0; i < n; i++)
			printf(i ? ", %d" : "%d", (int)ids[i]);
		fputs("]}\n", stdout);
		free(ids);
	} else {
		json_t *a = json_object_get(v, "ids"), *out, *s;
		int32_t *ids;
		size_t n = json_array_size(a);
		int skipsp = json_is_true(json_object_get(v,
		    "skip_special_tokens"));
		char *text, *dump;

		if (!json_is_array(a))
			die("'%s' line %zu: no \"ids\" list", name, lineno);
		ids = xmallocarray(n ? n : 1, sizeof *ids);
		for (size_t i = 0; i < n; i++) {
			json_t *e = json_array_get(a, i);

			if (!json_is_integer(e) || json_integer_value(e) < 0 ||
			    json_integer_value(e) >= lmf_tok_vocab_size(tok))
				die("'%s' line %zu: id %zu is not a token id",
				    name, lineno, i);
			ids[i] = (int32_t)json_integer_value(e);
		}
		text = lmf_tok_decode(tok, ids, n, skipsp);
		if (!(s = json_string(text)))
			die("'%s' line %zu: the decoded text is not UTF-8",
			    name, lineno);
		out = json_object();
		json_object_set_new(out, "text", s);
		dump = json_dumps(out, JSON_COMPACT);
		puts(dump);
		free(dump);
		free(text);
		free(ids);
		json_decref(out);
	}
	json_decref(v);
}

static void
debug_file(struct lmf_tok *tok, const char *path)
{
	FILE *f = strcmp(path, "-") ? xfopen(path, "rb") : stdin;
	const char *name = strcmp(path, "-") ? path : "<stdin>";
	char *line = NULL;
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
		debug_line(tok, name, lineno, line, (size_t)len);
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
split_names(char *s, char **names)
{
	int n = 0;

	for (char *p = s, *c; p; p = c) {
		if ((c = strchr(p, ',')))
			*c++ = 0;
		while (*p == ' ')
			p++;
		if (!*p)
			die_usage("--dataset: an empty name in '%s'",
			    o.dataset);
		if (n == MAX_DATASETS)
			die_usage("--dataset: more than %d names",
			    MAX_DATASETS);
		names[n++] = p;
	}
	return n;
}

static void
parse_probs(double *p, int n)
{
	char *s = xstrdup(o.probs), *c;
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
tokenize(struct lmf_tok *tok)
{
	struct lmf_template_opts to = { o.default_system, o.enable_thinking, 0,
		o.tool_format };
	struct lmf_dataset ds[MAX_DATASETS], mixed;
	struct lmf_process_opts po = { 0 };
	struct lmf_process_stats st;
	struct lmf_template *t;
	char *names[MAX_DATASETS], *list = xstrdup(o.dataset);
	double probs[MAX_DATASETS];
	int n = split_names(list, names);
	json_t *meta, *dsn;
	struct lmf_wr *w;
	char err[512] = "";
	int pairwise = o.stage == LMF_STAGE_RM || o.stage == LMF_STAGE_DPO;

	if (o.probs)
		parse_probs(probs, n);
	if (!(t = lmf_template_new(o.template, tok, &to, err, sizeof err)))
		die("%s", err);
	if (o.train_on_prompt && lmf_template_efficient_eos(t))
		die_usage("--train_on_prompt does not go with template '%s' "
		    "(efficient_eos)", o.template);
	dsn = json_array();
	for (int i = 0; i < n; i++) {
		if (lmf_dataset_load(o.dataset_dir, names[i], o.max_samples,
		    o.seed, &ds[i], err, sizeof err))
			die("%s", err);
		if (ds[i].ranking != pairwise)
			die("dataset '%s' is not applicable to stage %s "
			    "(ranking is %s)", names[i],
			    lmf_stage_name(o.stage), ds[i].ranking ? "true" :
			    "false");
		json_array_append_new(dsn, json_string(names[i]));
	}
	if (lmf_dataset_mix(ds, n, o.mix, o.probs ? probs : NULL, o.seed,
	    &mixed, err, sizeof err))
		die("%s", err);
	meta = json_pack("{s:s,s:s,s:s,s:I,s:i,s:i,s:i,s:i,s:b,s:b,s:o}",
	    "kind", "examples", "stage", lmf_stage_name(o.stage),
	    "template", o.template, "cutoff_len", (json_int_t)o.cutoff_len,
	    "pad_token_id", lmf_tok_pad_id(tok),
	    "eos_token_id", lmf_tok_eos_id(tok),
	    "bos_token_id", lmf_tok_bos_id(tok),
	    "vocab_size", lmf_tok_vocab_size(tok),
	    "packing", o.packing, "neat_packing", o.neat_packing,
	    "datasets", dsn);
	if (o.predict)
		json_object_set_new(meta, "predict", json_true());
	if (o.train_on_prompt)
		json_object_set_new(meta, "train_on_prompt", json_true());
	if (o.mask_history)
		json_object_set_new(meta, "mask_history", json_true());
	w = lmf_wr_open_or_die(o.out, meta, &o.wo);
	json_decref(meta);
	po.stage = o.stage;
	po.cutoff_len = o.stage == LMF_STAGE_SFT && o.packing && !o.predict ?
	    o.cutoff_len - 1 : o.cutoff_len;
	po.packing = o.packing;
	po.train_on_prompt = o.train_on_prompt;
	po.mask_history = o.mask_history;
	po.unsupervised = o.predict;
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
usage(FILE *f)
{
	fprintf(f,
	    "usage: lmf-tokenize --stage pt|sft|rm|dpo|kto|ppo --dataset "
	    "name[,name...]\n"
	    "       (--tokenizer dir | --model file) [--template name] "
	    "[--dataset_dir dir]\n"
	    "       [--cutoff_len n] [--max_samples n] [--train_on_prompt "
	    "[bool]]\n"
	    "       [--mask_history [bool]] [--packing [bool]] "
	    "[--neat_packing [bool]]\n"
	    "       [--predict_with_generate [bool]] [--mix_strategy s] "
	    "[--interleave_probs p,...]\n"
	    "       [--seed n] [--default_system text] [--enable_thinking "
	    "bool]\n"
	    "       [--tool_format name] [-l n] [-q] [-o file]\n"
	    "       lmf-tokenize --encode | --decode (--tokenizer dir | "
	    "--model file) [file...]\n"
	    "  --stage s              pt, sft, rm, dpo, kto or ppo\n"
	    "  --dataset names        datasets of dataset_info.json, "
	    "comma-separated\n"
	    "  --dataset_dir dir      where dataset_info.json is (default "
	    "data)\n"
	    "  --tokenizer dir        tokenizer.json (+ "
	    "tokenizer_config.json) in dir\n"
	    "  --model file           the tokenizer of a model stream "
	    "(lmf-load)\n"
	    "  --template name        chat template (default empty)\n"
	    "  --cutoff_len n         tokens per example or block "
	    "(default 2048)\n"
	    "  --max_samples n        first n rows of each dataset\n"
	    "  --train_on_prompt      sft: labels on prompts too\n"
	    "  --mask_history         sft: labels on the last turn only\n"
	    "  --packing [bool]       pt: blocks (default true); sft: "
	    "budget cutoff_len - 1\n"
	    "  --neat_packing         sft: packing without cross-attention "
	    "(lmf-pack)\n"
	    "  --predict_with_generate  sft: prompts and reference answers\n"
	    "  --mix_strategy s       concat, interleave_under or "
	    "interleave_over\n"
	    "  --interleave_probs p   sampling probabilities, one per "
	    "dataset\n"
	    "  --seed n               for num_samples and interleaving "
	    "(default 42)\n"
	    "  --default_system text  replace the template's system "
	    "prompt\n"
	    "  --enable_thinking bool qwen3: empty thoughts trained (true) "
	    "or not\n"
	    "  --tool_format name     default, qwen, mistral or llama3\n"
	    "  --encode               JSON Lines {\"text\"} to {\"ids\"}\n"
	    "  --decode               JSON Lines {\"ids\"} to {\"text\"}\n"
	    "  -o file                output (default stdout)\n"
	    "  -l, --level n          zstd level, 0 = raw (default 1)\n"
	    "  -q                     no progress line\n"
	    "  -h                     this help\n"
	    "  -V                     version\n");
}

int
main(int argc, char **argv)
{
	enum { O_STAGE = 256, O_DATASET, O_DIR, O_TEMPLATE, O_CUTOFF, O_MAXS,
		O_TOP, O_MASK, O_PACK, O_NEAT, O_PRED, O_MIX, O_PROBS, O_SEED,
		O_TOK, O_MODEL, O_SYS, O_THINK, O_TOOL, O_ENC, O_DEC };
	static const struct option lopts[] = {
		{ "stage", required_argument, NULL, O_STAGE },
		{ "dataset", required_argument, NULL, O_DATASET },
		{ "dataset_dir", required_argument, NULL, O_DIR },
		{ "template", required_argument, NULL, O_TEMPLATE },
		{ "cutoff_len", required_argument, NULL, O_CUTOFF },
		{ "max_samples", required_argument, NULL, O_MAXS },
		{ "train_on_prompt", optional_argument, NULL, O_TOP },
		{ "mask_history", optional_argument, NULL, O_MASK },
		{ "packing", optional_argument, NULL, O_PACK },
		{ "neat_packing", optional_argument, NULL, O_NEAT },
		{ "predict_with_generate", optional_argument, NULL, O_PRED },
		{ "mix_strategy", required_argument, NULL, O_MIX },
		{ "interleave_probs", required_argument, NULL, O_PROBS },
		{ "seed", required_argument, NULL, O_SEED },
		{ "tokenizer", required_argument, NULL, O_TOK },
		{ "model", required_argument, NULL, O_MODEL },
		{ "default_system", required_argument, NULL, O_SYS },
		{ "enable_thinking", required_argument, NULL, O_THINK },
		{ "tool_format", required_argument, NULL, O_TOOL },
		{ "encode", no_argument, NULL, O_ENC },
		{ "decode", no_argument, NULL, O_DEC },
		{ "level", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct lmf_tok *tok;
	int c, mixset = 0;

	lmf_init(argc, argv);
	o.wo = lmf_wropts_default;
	while ((c = lmf_getopt(argc, argv, "o:l:qhV", lopts)) != -1) {
		switch (c) {
		case O_STAGE:
			if ((o.stage = lmf_stage_parse(optarg)) < 0)
				die_usage("--stage: unknown stage '%s' (pt, "
				    "sft, rm, dpo, kto, ppo)", optarg);
			break;
		case O_DATASET: o.dataset = optarg; break;
		case O_DIR: o.dataset_dir = optarg; break;
		case O_TEMPLATE: o.template = optarg; break;
		case O_CUTOFF:
			o.cutoff_len = (long)lmf_parse_int("--cutoff_len",
			    optarg, 1, 1 << 30);
			break;
		case O_MAXS:
			o.max_samples = lmf_parse_int("--max_samples", optarg,
			    0, INT64_MAX);
			break;
		case O_TOP:
			o.train_on_prompt = lmf_opt_bool("--train_on_prompt", argc,
			    argv);
			break;
		case O_MASK:
			o.mask_history = lmf_opt_bool("--mask_history", argc, argv);
			break;
		case O_PACK:
			o.packing = lmf_opt_bool("--packing", argc, argv);
			break;
		case O_NEAT:
			o.neat_packing = lmf_opt_bool("--neat_packing", argc, argv);
			break;
		case O_PRED:
			o.predict = lmf_opt_bool("--predict_with_generate", argc,
			    argv);
			break;
		case O_MIX:
			mixset = 1;
			if (!strcmp(optarg, "concat"))
				o.mix = LMF_MIX_CONCAT;
			else if (!strcmp(optarg, "interleave_under"))
				o.mix = LMF_MIX_UNDER;
			else if (!strcmp(optarg, "interleave_over"))
				o.mix = LMF_MIX_OVER;
			else
				die_usage("--mix_strategy: unknown strategy "
				    "'%s' (concat, interleave_under, "
				    "interleave_over)", optarg);
			break;
		case O_PROBS: o.probs = optarg; break;
		case O_SEED:
			o.seed = (uint64_t)lmf_parse_int("--seed", optarg, 0,
			    INT64_MAX);
			break;
		case O_TOK: o.tokenizer = optarg; break;
		case O_MODEL: o.model = optarg; break;
		case O_SYS: o.default_system = optarg; break;
		case O_THINK:
			o.enable_thinking = lmf_parse_bool("--enable_thinking",
			    optarg);
			break;
		case O_TOOL: o.tool_format = optarg; break;
		case O_ENC: o.encode = 1; break;
		case O_DEC: o.decode = 1; break;
		case 'o': o.out = optarg; break;
		case 'l': o.wo.level = lmf_parse_level(optarg); break;
		case 'q': lmf_verbose = 0; break;
		case 'h': lmf_help_exit(usage);
		case 'V': lmf_version_exit();
		default: BUG("option %d", c);
		}
	}
	(void)mixset;
	if (!o.tokenizer == !o.model)
		die_usage("give one of --tokenizer and --model");
	if (o.encode && o.decode)
		die_usage("--encode and --decode exclude each other");
	if (o.encode || o.decode) {
		if (o.dataset || o.stage >= 0)
			die_usage("--encode and --decode take no dataset");
		tok = load_tokenizer();
		if (optind == argc)
			debug_file(tok, "-");
		for (int i = optind; i < argc; i++)
			debug_file(tok, argv[i]);
		lmf_tok_free(tok);
		lmf_close_out();
		return 0;
	}
	if (optind < argc)
		die_usage("unexpected argument '%s'", argv[optind]);
	if (o.stage < 0)
		die_usage("--stage is required");
	if (!o.dataset)
		die_usage("--dataset is required");
	if (!o.template)
		o.template = "empty";
	if (o.packing < 0)
		o.packing = o.stage == LMF_STAGE_PT;
	if (o.neat_packing)
		o.packing = 1;
	if (o.stage != LMF_STAGE_SFT && (o.neat_packing || o.train_on_prompt
	    || o.mask_history || o.predict))
		die_usage("--neat_packing, --train_on_prompt, --mask_history "
		    "and --predict_with_generate are for --stage sft");
	if (o.packing && o.stage != LMF_STAGE_PT && o.stage != LMF_STAGE_SFT)
		die_usage("--packing is for --stage pt and sft");
	if (o.packing && o.stage == LMF_STAGE_SFT && o.cutoff_len < 2)
		die_usage("--packing needs a --cutoff_len of at least 2");
	if (o.probs && o.mix == LMF_MIX_CONCAT)
		die_usage("--interleave_probs needs an interleave "
		    "--mix_strategy");
	if (!strcmp(o.out, "-"))
		lmf_stdout_binary_or_die();
	tok = load_tokenizer();
	tokenize(tok);
	lmf_tok_free(tok);
	lmf_close_out();
	return 0;
}
