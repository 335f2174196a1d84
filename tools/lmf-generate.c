/* lmf-generate: continue prompts with a model stream (and an adapter merged
 * at load), greedy or sampled as Hugging Face's generate does (repetition
 * penalty, temperature, top-k, top-p), with a key/value cache, a batch of
 * prompts at a time. Prompts are raw text, chat messages through a
 * template, or token ids. It prints text, JSON Lines or ids; it does not
 * beam-search and does not score (lmf-eval does). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lmf/gemm.h"
#include "lmf/infer.h"
#include "lmf/opt.h"
#include "lmf/prompt.h"
#include "lmf/sample.h"
#include "lmf/stream.h"
#include "lmf/template.h"
#include "lmf/tok.h"
#include "lmf/util.h"
#include "lmf/banned.h"

enum { OUT_TEXT, OUT_JSONL, OUT_IDS };

struct opts {
	const char *model, *adapter, *template, *input, *system;
	char **prompt_ids;
	int nprompt_ids;
	int do_sample, top_k, max_new_tokens, batch, threads, skip_special;
	int multiturn, out, dtype;
	double temperature, top_p, rep;
	uint64_t seed;
};

/* the run: the options, the model and what goes with it */
struct gen {
	struct opts o;
	struct lmf_infer *model;
	struct lmf_tok *tok;
	struct lmf_template *tmpl;
	struct lmf_rng rng;
	int V;
	int32_t *stop;           /* ids that end a response */
	int nstop;
};

/* one prompt and what was generated for it */
struct job {
	struct lmf_ids prompt, out;
	char *text;              /* the prompt as given, for jsonl */
};

/* ---- prompts ---- */

static void
parse_ids(const char *s, int V, struct lmf_ids *ids)
{
	const char *p = s;
	char *end;
	long long v;

	while (*p) {
		v = strtoll(p, &end, 10);
		if (end == p || v < 0 || v >= V || (*end && *end != ','))
			die_usage("--prompt_ids '%s': not a list of ids below "
			    "%d", s, V);
		lmf_ids_push(ids, (int32_t)v);
		p = *end ? end + 1 : end;
	}
	if (!ids->n)
		die_usage("--prompt_ids '%s': no ids", s);
}

/* a line of input, encoded as prompt.h says */
static void
encode_line(struct gen *g, char *line, struct lmf_ids *p, size_t lineno)
{
	char err[512];

	if (lmf_prompt_encode(g->tmpl, g->tok, line, g->o.system, p, err,
	    sizeof err) < 0)
		die("prompt line %zu: %s", lineno, err);
}

/* ---- generation ---- */

static void
generate(struct gen *g, struct job *jobs, int n)
{
	const struct opts *o = &g->o;
	struct lmf_gen_opts go = { .s = { .do_sample = o->do_sample,
		.temperature = o->temperature, .top_k = o->top_k,
		.top_p = o->top_p, .repetition_penalty = o->rep },
		.max_new_tokens = o->max_new_tokens, .stop = g->stop,
		.nstop = g->nstop };
	const int32_t **p = xcalloc((size_t)n, sizeof *p);
	int *plen = xcalloc((size_t)n, sizeof *plen);
	int *nout = xcalloc((size_t)n, sizeof *nout);
	int32_t *out = xmallocarray((size_t)n * o->max_new_tokens + 1,
	    sizeof *out);
	int i;

	for (i = 0; i < n; i++) {
		p[i] = jobs[i].prompt.v;
		plen[i] = (int)jobs[i].prompt.n;
	}
	lmf_sample_generate(g->model, n, p, plen, &go, &g->rng, out, nout);
	for (i = 0; i < n; i++)
		lmf_ids_append(&jobs[i].out, out + (size_t)i *
		    o->max_new_tokens, (size_t)nout[i]);
	free(p);
	free(plen);
	free(nout);
	free(out);
}

static char *
decode(const struct gen *g, const struct lmf_ids *ids)
{
	return lmf_tok_decode(g->tok, ids->v, ids->n, g->o.skip_special);
}

static void
print_job(const struct gen *g, struct job *j)
{
	json_t *out, *a;
	char *s;
	size_t k;

	if (g->o.out == OUT_IDS || !g->tok) {
		for (k = 0; k < j->out.n; k++)
			printf("%s%d", k ? "," : "", (int)j->out.v[k]);
		putchar('\n');
	} else if (g->o.out == OUT_TEXT) {
		s = decode(g, &j->out);
		printf("%s%s\n", g->o.multiturn && isatty(1) ?
		    "Assistant: " : "", s);
		free(s);
	} else {
		a = json_array();
		for (k = 0; k < j->out.n; k++)
			json_array_append_new(a, json_integer(j->out.v[k]));
		s = decode(g, &j->out);
		out = json_pack("{s:s, s:s, s:o}", "prompt", j->text ?
		    j->text : "", "predict", s, "ids", a);
		free(s);
		s = json_dumps(out, JSON_COMPACT | JSON_ENSURE_ASCII);
		puts(s);
		free(s);
		json_decref(out);
	}
	fflush(stdout);
}

static void
run_batch(struct gen *g, struct job *jobs, int n)
{
	int i;

	if (!n)
		return;
	generate(g, jobs, n);
	for (i = 0; i < n; i++) {
		print_job(g, &jobs[i]);
		lmf_ids_free(&jobs[i].prompt);
		lmf_ids_free(&jobs[i].out);
		free(jobs[i].text);
		memset(&jobs[i], 0, sizeof jobs[i]);
	}
}

static void
chomp(char *s)
{
	size_t n = strlen(s);

	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
}

/* one conversation, a user turn per line; "clear" and "exit" */
static void
run_multiturn(struct gen *g, FILE *in)
{
	struct lmf_msg *m = NULL;
	struct job j = { 0 };
	char *line = NULL, *s, err[512];
	size_t cap = 0, lineno = 0;
	int n = 0, i, tty = isatty(0);

	for (;;) {
		if (tty)
			fputs("User: ", stderr);
		if (getline(&line, &cap, in) < 0)
			break;
		lineno++;
		chomp(line);
		if (!strcmp(line, "exit"))
			break;
		if (!strcmp(line, "clear")) {
			for (i = 0; i < n; i++)
				free(m[i].content);
			n = 0;
			if (tty)
				fputs("History has been removed.\n", stderr);
			continue;
		}
		m = xrealloc(m, (size_t)(n + 3) * sizeof *m);
		m[n].role = LMF_ROLE_USER;
		m[n++].content = xstrdup(line);
		if (lmf_prompt_encode_chat(g->tmpl, m, n, g->o.system ?
		    g->o.system : "", &j.prompt, err, sizeof err) < 0)
			die("prompt line %zu: %s", lineno, err);
		generate(g, &j, 1);
		s = decode(g, &j.out);
		m[n].role = LMF_ROLE_ASSISTANT;
		m[n++].content = s;
		print_job(g, &j);
		lmf_ids_free(&j.prompt);
		lmf_ids_free(&j.out);
	}
	for (i = 0; i < n; i++)
		free(m[i].content);
	free(m);
	free(line);
}

static void
run_lines(struct gen *g, FILE *in)
{
	struct job *jobs = xcalloc((size_t)g->o.batch, sizeof *jobs);
	char *line = NULL;
	size_t cap = 0, lineno = 0;
	int n = 0;

	while (getline(&line, &cap, in) >= 0) {
		lineno++;
		chomp(line);
		encode_line(g, line, &jobs[n].prompt, lineno);
		if (!jobs[n].prompt.n)
			die("prompt line %zu: no tokens", lineno);
		jobs[n++].text = xstrdup(line);
		if (n == g->o.batch) {
			run_batch(g, jobs, n);
			n = 0;
		}
	}
	if (ferror(in))
		die_errno("cannot read '%s'", g->o.input);
	run_batch(g, jobs, n);
	free(jobs);
	free(line);
}

static void
load(struct gen *g)
{
	const struct opts *o = &g->o;
	struct lmf_rd *r = lmf_rd_open_or_die(o->model), *ra = NULL;
	struct lmf_template_opts to = { .enable_thinking = 1 };
	char err[256];

	if (o->adapter)
		ra = lmf_rd_open_or_die(o->adapter);
	if (!(g->model = lmf_infer_open_dtype(r, ra,
	    lmf_infer_dtype(o->dtype), err, sizeof err)))
		die("%s", err);
	lmf_rd_close(r);
	if (ra)
		lmf_rd_close(ra);
	g->V = (int)lmf_infer_config(g->model)->vocab_size;
	if (lmf_item_find(lmf_infer_item(g->model), "tokenizer.json") &&
	    !(g->tok = lmf_tok_load_item(lmf_infer_item(g->model), err,
	    sizeof err)))
		die("%s", err);
	if (!g->tok && !o->nprompt_ids)
		die("'%s' holds no tokenizer: give --prompt_ids", o->model);
	if (o->template && !(g->tmpl = lmf_template_new(o->template, g->tok,
	    &to, err, sizeof err)))
		die("%s", err);
	g->nstop = lmf_sample_stop_ids(lmf_infer_config(g->model), g->tok,
	    g->tmpl, &g->stop);
}

static void
run_ids(struct gen *g)
{
	struct job *jobs = xcalloc((size_t)g->o.batch, sizeof *jobs);
	int i, n = 0;

	for (i = 0; i < g->o.nprompt_ids; i++) {
		parse_ids(g->o.prompt_ids[i], g->V, &jobs[n].prompt);
		jobs[n++].text = xstrdup(g->o.prompt_ids[i]);
		if (n == g->o.batch) {
			run_batch(g, jobs, n);
			n = 0;
		}
	}
	run_batch(g, jobs, n);
	free(jobs);
}

static void
opt_flag(const struct lmf_opt *op, const char *v)
{
	*(int *)op->p = 1;
}

static void
opt_ids(const struct lmf_opt *op, const char *v)
{
	struct opts *o = op->p;

	o->prompt_ids = xrealloc(o->prompt_ids, (size_t)(o->nprompt_ids + 1) *
	    sizeof *o->prompt_ids);
	o->prompt_ids[o->nprompt_ids++] = (char *)v;
}

static void
check_args(struct opts *o)
{
	if (!o->model)
		die_usage("no --model given");
	if (!(o->top_p > 0))
		die_usage("--top_p: %g is out of range (0, 1]", o->top_p);
	if (!(o->rep > 0))
		die_usage("--repetition_penalty: %g is not above 0", o->rep);
	if (o->nprompt_ids && (o->template || o->multiturn))
		die_usage("--prompt_ids does not go with --template");
	if (o->multiturn && !o->template)
		die_usage("--multiturn needs --template");
	if (!strcmp(o->model, "-") && !o->nprompt_ids &&
	    !strcmp(o->input, "-"))
		die_usage("the model and the prompts cannot both be stdin");
	if (o->temperature == 0)
		o->do_sample = 0;
}

int
main(int argc, char **argv)
{
	static const struct lmf_opt_usage u = { "--model FILE "
	    "[--adapter_name_or_path FILE]\n"
	    "                    [--template NAME [--multiturn]] "
	    "[--prompt_ids IDS]\n"
	    "                    [--output_format text|jsonl|ids] [options] "
	    "[FILE]",
	    "Continue each prompt of FILE (default stdin; a line each) with a "
	    "model." };
	struct gen g = { .o = { .input = "-", .do_sample = 1, .top_k = 50,
		.max_new_tokens = 1024, .batch = 1, .skip_special = 1,
		.temperature = 0.95, .top_p = 0.7, .rep = 1.0, .seed = 42 } };
	struct opts *o = &g.o;
#define S LMF_OPT_STRING
#define F LMF_OPT_FLOAT
	struct lmf_opt tab[] = {
		LMF_OPT_ROW("model", 0, S, &o->model, "FILE", 0, 0,
		    "model stream (lmf-load)"),
		LMF_OPT_ROW("adapter_name_or_path", 0, S, &o->adapter, "FILE",
		    0, 0, "adapter stream, merged at load"),
		LMF_OPT_ROW("template", 0, S, &o->template, "NAME", 0, 0,
		    "lines are chat messages for the template"),
		{ "multiturn", 0, LMF_OPT_FUNC, &o->multiturn, NULL, 0, 0,
		    "lines are the turns of one conversation",
		    NULL, opt_flag, 0 },
		LMF_OPT_ROW("default_system", 0, S, &o->system, "TEXT", 0, 0,
		    "system prompt for the template"),
		{ "prompt_ids", 0, LMF_OPT_FUNC, o, "IDS", 0, 0,
		    "a prompt of ids '1,2,3' (repeatable)",
		    NULL, opt_ids, 0 },
		LMF_OPT_ROW("output_format", 0, LMF_OPT_CHOICE, &o->out,
		    "text|jsonl|ids", 0, 0, "how each answer is printed"),
		LMF_OPT_ROW("infer_dtype", 0, LMF_OPT_CHOICE, &o->dtype,
		    LMF_INFER_DTYPES, 0, 0,
		    "weights of the products; auto = float32"),
		LMF_OPT_ROW("do_sample", 0, LMF_OPT_BOOL, &o->do_sample, NULL,
		    0, 0, "sample, or decode greedily"),
		LMF_OPT_ROW("temperature", 0, F, &o->temperature, "X", 0, 1e6,
		    "0 = greedy"),
		LMF_OPT_ROW("top_k", 0, LMF_OPT_INT, &o->top_k, "N", 0,
		    1 << 30, "keep the N most likely; 0 = all"),
		LMF_OPT_ROW("top_p", 0, F, &o->top_p, "X", 0, 1,
		    "nucleus sampling, in (0, 1]"),
		LMF_OPT_ROW("repetition_penalty", 0, F, &o->rep, "X", 0, 1e6,
		    "above 0; 1 = none"),
		LMF_OPT_ROW("max_new_tokens", 0, LMF_OPT_INT,
		    &o->max_new_tokens, "N", 0, 1 << 20,
		    "the most new tokens per prompt"),
		LMF_OPT_ROW("skip_special_tokens", 0, LMF_OPT_BOOL,
		    &o->skip_special, NULL, 0, 0,
		    "leave special tokens out of text"),
		LMF_OPT_ROW("batch_size", 0, LMF_OPT_INT, &o->batch, "N", 1,
		    4096, "prompts generated together"),
		LMF_OPT_ROW("seed", 0, LMF_OPT_U64, &o->seed, "N", 0,
		    (double)INT64_MAX, "seed of the sampling RNG"),
		{ "threads", 0, LMF_OPT_INT, &o->threads, "N", 0, 4096,
		    "threads for matrix products", "0 = all cores", NULL, 0 },
		{ "quiet", 'q', LMF_OPT_FUNC, NULL, NULL, 0, 0,
		    "no notes on stderr", NULL, lmf_opt_quiet, 0 },
		LMF_OPT_LAST_ROWS,
	};
#undef S
#undef F
	FILE *in;
	int i;

	lmf_init(argc, argv);
	i = lmf_opt_parse(tab, &u, argc, argv);
	if (i < argc)
		o->input = argv[i++];
	if (i < argc)
		die_usage("unexpected argument '%s'", argv[i]);
	check_args(o);
	lmf_gemm_init(o->threads);
	lmf_rng_seed(&g.rng, o->seed);
	load(&g);
	if (o->nprompt_ids) {
		run_ids(&g);
	} else {
		in = strcmp(o->input, "-") ? xfopen(o->input, "r") : stdin;
		if (o->multiturn)
			run_multiturn(&g, in);
		else
			run_lines(&g, in);
		if (in != stdin)
			fclose(in);
	}
	lmf_infer_free(g.model);
	lmf_template_free(g.tmpl);
	lmf_tok_free(g.tok);
	free(g.stop);
	free(o->prompt_ids);
	lmf_close_out();
	return 0;
}
