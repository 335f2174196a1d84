/* lmf-generate: continue prompts with a model stream (and an adapter merged
 * at load), greedy or sampled as Hugging Face's generate does (repetition
 * penalty, temperature, top-k, top-p), with a key/value cache, a batch of
 * prompts at a time. Prompts are raw text, chat messages through a
 * template, or token ids. It prints text, JSON Lines or ids; it does not
 * beam-search and does not score (lmf-eval does). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lmf/gemm.h"
#include "lmf/infer.h"
#include "lmf/sample.h"
#include "lmf/stream.h"
#include "lmf/template.h"
#include "lmf/tok.h"
#include "lmf/util.h"
#include "lmf/banned.h"

enum { OUT_TEXT, OUT_JSONL, OUT_IDS };

static struct opts {
	const char *model, *adapter, *template, *input, *system;
	char **prompt_ids;
	int nprompt_ids;
	int do_sample, top_k, max_new_tokens, batch, threads, skip_special;
	int multiturn, out;
	double temperature, top_p, rep;
	uint64_t seed;
} o = { .model = NULL, .input = "-", .do_sample = 1, .top_k = 50,
	.max_new_tokens = 1024, .batch = 1, .skip_special = 1,
	.temperature = 0.95, .top_p = 0.7, .rep = 1.0, .seed = 42 };

static struct lmf_infer *model;
static struct lmf_tok *tok;
static struct lmf_template *tmpl;
static struct lmf_rng rng;
static int V;
static int32_t *stop;        /* ids that end a response */
static int nstop;

/* one prompt and what was generated for it */
struct job {
	struct lmf_ids prompt, out;
	char *text;              /* the prompt as given, for jsonl */
};

/* ---- prompts ---- */

static void
parse_ids(const char *s, struct lmf_ids *ids)
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

static int
role_of(const char *s)
{
	if (!strcmp(s, "user"))
		return LMF_ROLE_USER;
	if (!strcmp(s, "assistant"))
		return LMF_ROLE_ASSISTANT;
	if (!strcmp(s, "system"))
		return LMF_ROLE_SYSTEM;
	return -1;
}

/* encode messages (user, assistant, ..., user) + an empty answer */
static void
encode_chat(struct lmf_msg *m, int n, const char *system, struct lmf_ids *p,
    size_t lineno)
{
	struct lmf_ids resp = { 0 };
	char err[256];
	int i;

	for (i = 0; i < n; i++)
		if (m[i].role != (i % 2 ? LMF_ROLE_ASSISTANT : LMF_ROLE_USER))
			die("prompt line %zu: messages must alternate user and "
			    "assistant, starting and ending with user", lineno);
	if (!(n % 2))
		die("prompt line %zu: the last message is not the user's",
		    lineno);
	m[n].role = LMF_ROLE_ASSISTANT;
	m[n].content = "";
	if (lmf_template_encode_oneturn(tmpl, m, n + 1, system, "", p, &resp,
	    err, sizeof err))
		die("prompt line %zu: %s", lineno, err);
	lmf_ids_free(&resp);
}

static void
encode_text(const char *s, struct lmf_ids *p, size_t lineno)
{
	int32_t *ids;
	size_t n;
	char err[256];

	if (lmf_tok_encode(tok, s, strlen(s), 1, &ids, &n, err, sizeof err))
		die("prompt line %zu: %s", lineno, err);
	lmf_ids_append(p, ids, n);
	free(ids);
}

/* a line of input: JSON {"messages": [...], "system": ...} or {"prompt":
 * ...}, or plain text */
static void
encode_line(char *line, struct lmf_ids *p, size_t lineno)
{
	json_t *j = NULL, *msgs, *e;
	json_error_t je;
	struct lmf_msg *m;
	const char *system = o.system ? o.system : "", *s;
	size_t i, k = 0;

	if (line[0] == '{' && !(j = json_loads(line, 0, &je)))
		die("prompt line %zu: %s", lineno, je.text);
	if (j && (s = json_string_value(json_object_get(j, "system"))))
		system = s;
	if (!tmpl) {
		s = j ? json_string_value(json_object_get(j, "prompt")) : line;
		if (!s)
			die("prompt line %zu: no \"prompt\" string", lineno);
		encode_text(s, p, lineno);
		json_decref(j);
		return;
	}
	msgs = j ? json_object_get(j, "messages") : NULL;
	if (j && !json_is_array(msgs))
		die("prompt line %zu: no \"messages\" list", lineno);
	m = xcalloc((msgs ? json_array_size(msgs) : 1) + 1, sizeof *m);
	if (!msgs) {
		m[0].role = LMF_ROLE_USER;
		m[0].content = line;
		k = 1;
	}
	for (i = 0; msgs && i < json_array_size(msgs); i++) {
		e = json_array_get(msgs, i);
		s = json_string_value(json_object_get(e, "role"));
		m[k].content = (char *)json_string_value(json_object_get(e,
		    "content"));
		if (!s || role_of(s) < 0 || !m[k].content)
			die("prompt line %zu: message %zu is not {\"role\": "
			    "user|assistant|system, \"content\": string}",
			    lineno, i + 1);
		if (role_of(s) == LMF_ROLE_SYSTEM) {
			if (k)
				die("prompt line %zu: a system message after "
				    "the first", lineno);
			system = m[k].content;
			continue;
		}
		m[k++].role = role_of(s);
	}
	encode_chat(m, (int)k, system, p, lineno);
	free(m);
	json_decref(j);
}

static int
is_stop(int32_t t)
{
	int i;

	for (i = 0; i < nstop; i++)
		if (stop[i] == t)
			return 1;
	return 0;
}

/* ---- generation ---- */

static void
generate(struct job *jobs, int n)
{
	struct lmf_gen_opts go = { .s = { .do_sample = o.do_sample,
		.temperature = o.temperature, .top_k = o.top_k,
		.top_p = o.top_p, .repetition_penalty = o.rep },
		.max_new_tokens = o.max_new_tokens, .stop = stop,
		.nstop = nstop };
	const int32_t **p = xcalloc((size_t)n, sizeof *p);
	int *plen = xcalloc((size_t)n, sizeof *plen);
	int *nout = xcalloc((size_t)n, sizeof *nout);
	int32_t *out = xmallocarray((size_t)n * o.max_new_tokens + 1,
	    sizeof *out);
	int i;

	for (i = 0; i < n; i++) {
		p[i] = jobs[i].prompt.v;
		plen[i] = (int)jobs[i].prompt.n;
	}
	lmf_sample_generate(model, n, p, plen, &go, &rng, out, nout);
	for (i = 0; i < n; i++)
		lmf_ids_append(&jobs[i].out, out + (size_t)i *
		    o.max_new_tokens, (size_t)nout[i]);
	free(p);
	free(plen);
	free(nout);
	free(out);
}

static char *
decode(const struct lmf_ids *ids)
{
	return lmf_tok_decode(tok, ids->v, ids->n, o.skip_special);
}

static void
print_job(struct job *j)
{
	json_t *out, *a;
	char *s;
	size_t k;

	if (o.out == OUT_IDS || !tok) {
		for (k = 0; k < j->out.n; k++)
			printf("%s%d", k ? "," : "", (int)j->out.v[k]);
		putchar('\n');
	} else if (o.out == OUT_TEXT) {
		s = decode(&j->out);
		printf("%s%s\n", o.multiturn && isatty(1) ? "Assistant: " : "",
		    s);
		free(s);
	} else {
		a = json_array();
		for (k = 0; k < j->out.n; k++)
			json_array_append_new(a, json_integer(j->out.v[k]));
		s = decode(&j->out);
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
run_batch(struct job *jobs, int n)
{
	int i;

	if (!n)
		return;
	generate(jobs, n);
	for (i = 0; i < n; i++) {
		print_job(&jobs[i]);
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
run_multiturn(FILE *in)
{
	struct lmf_msg *m = NULL;
	struct job j = { 0 };
	char *line = NULL, *s;
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
		encode_chat(m, n, o.system ? o.system : "", &j.prompt,
		    lineno);
		generate(&j, 1);
		s = decode(&j.out);
		m[n].role = LMF_ROLE_ASSISTANT;
		m[n++].content = s;
		print_job(&j);
		lmf_ids_free(&j.prompt);
		lmf_ids_free(&j.out);
	}
	for (i = 0; i < n; i++)
		free(m[i].content);
	free(m);
	free(line);
}

static void
run_lines(FILE *in)
{
	struct job *jobs = xcalloc((size_t)o.batch, sizeof *jobs);
	char *line = NULL;
	size_t cap = 0, lineno = 0;
	int n = 0;

	while (getline(&line, &cap, in) >= 0) {
		lineno++;
		chomp(line);
		encode_line(line, &jobs[n].prompt, lineno);
		if (!jobs[n].prompt.n)
			die("prompt line %zu: no tokens", lineno);
		jobs[n++].text = xstrdup(line);
		if (n == o.batch) {
			run_batch(jobs, n);
			n = 0;
		}
	}
	if (ferror(in))
		die_errno("cannot read '%s'", o.input);
	run_batch(jobs, n);
	free(jobs);
	free(line);
}

static void
setup_stops(void)
{
	const struct lmf_config *c = lmf_infer_config(model);
	int i;

	const char *w;

	stop = xcalloc((size_t)c->n_eos + 8, sizeof *stop);
	for (i = 0; i < c->n_eos; i++)
		if (c->eos_token_ids[i] >= 0 && c->eos_token_ids[i] < V)
			stop[nstop++] = (int32_t)c->eos_token_ids[i];
	if (tok && lmf_tok_eos_id(tok) >= 0 && !is_stop(lmf_tok_eos_id(tok)))
		stop[nstop++] = lmf_tok_eos_id(tok);
	/* the template's stop words, each one token (spec 3.3 adds them as
	 * special tokens) */
	for (i = 0; tmpl && tok && (w = lmf_template_stop_word(tmpl, i)); i++) {
		int32_t id = lmf_tok_token_to_id(tok, w);

		if (id >= 0 && id < V && !is_stop(id) && nstop < c->n_eos + 8)
			stop[nstop++] = id;
	}
}

static void
load(void)
{
	struct lmf_rd *r = lmf_rd_open_or_die(o.model), *ra = NULL;
	struct lmf_template_opts to = { .enable_thinking = 1 };
	char err[256];

	if (o.adapter)
		ra = lmf_rd_open_or_die(o.adapter);
	if (!(model = lmf_infer_open(r, ra, err, sizeof err)))
		die("%s", err);
	lmf_rd_close(r);
	if (ra)
		lmf_rd_close(ra);
	V = (int)lmf_infer_config(model)->vocab_size;
	if (lmf_item_find(lmf_infer_item(model), "tokenizer.json") &&
	    !(tok = lmf_tok_load_item(lmf_infer_item(model), err, sizeof err)))
		die("%s", err);
	if (!tok && !o.nprompt_ids)
		die("'%s' holds no tokenizer: give --prompt_ids", o.model);
	if (o.template && !(tmpl = lmf_template_new(o.template, tok, &to, err,
	    sizeof err)))
		die("%s", err);
	setup_stops();
}

static void
usage(FILE *f)
{
	fputs(
"usage: lmf-generate --model FILE [--adapter_name_or_path FILE]\n"
"                    [--template NAME [--multiturn]] [--prompt_ids IDS]\n"
"                    [--output_format text|jsonl|ids] [options] [FILE]\n"
"Continue each prompt of FILE (default stdin; a line each) with a model.\n"
"  --model FILE               model stream (lmf-load)\n"
"  --adapter_name_or_path F   adapter stream, merged at load\n"
"  --template NAME            lines are chat messages: plain text (one\n"
"                             user turn) or {\"messages\": [...]}; without\n"
"                             it, plain text or {\"prompt\": \"...\"}\n"
"  --multiturn                lines are turns of one conversation;\n"
"                             'clear' forgets it, 'exit' ends\n"
"  --default_system TEXT      system prompt for the template\n"
"  --prompt_ids IDS           one prompt of ids '1,2,3' (repeatable);\n"
"                             FILE is not read\n"
"  --output_format F          text (default), jsonl or ids\n"
"  --do_sample BOOL (true)    --temperature X (0.95; 0 = greedy)\n"
"  --top_k N (50; 0 = off)    --top_p X (0.7)\n"
"  --repetition_penalty X (1.0)  --max_new_tokens N (1024)\n"
"  --skip_special_tokens BOOL (true)\n"
"  --batch_size N (1)         prompts generated together\n"
"  --seed N (42)              --threads N (0 = all cores)\n"
"  -h                         this help\n"
"  -V                         version\n", f);
}

int
main(int argc, char **argv)
{
	enum { O_MODEL = 256, O_ADAPTER, O_TEMPLATE, O_MULTI, O_SYSTEM,
		O_IDS, O_OUT, O_SAMPLE, O_TEMP, O_TOPK, O_TOPP, O_REP, O_MAX,
		O_SKIP, O_BATCH, O_SEED, O_THREADS };
	static const struct option lo[] = {
		{ "model", required_argument, NULL, O_MODEL },
		{ "adapter_name_or_path", required_argument, NULL, O_ADAPTER },
		{ "template", required_argument, NULL, O_TEMPLATE },
		{ "multiturn", no_argument, NULL, O_MULTI },
		{ "default_system", required_argument, NULL, O_SYSTEM },
		{ "prompt_ids", required_argument, NULL, O_IDS },
		{ "output_format", required_argument, NULL, O_OUT },
		{ "do_sample", optional_argument, NULL, O_SAMPLE },
		{ "temperature", required_argument, NULL, O_TEMP },
		{ "top_k", required_argument, NULL, O_TOPK },
		{ "top_p", required_argument, NULL, O_TOPP },
		{ "repetition_penalty", required_argument, NULL, O_REP },
		{ "max_new_tokens", required_argument, NULL, O_MAX },
		{ "skip_special_tokens", optional_argument, NULL, O_SKIP },
		{ "batch_size", required_argument, NULL, O_BATCH },
		{ "seed", required_argument, NULL, O_SEED },
		{ "threads", required_argument, NULL, O_THREADS },
		{ NULL, 0, NULL, 0 },
	};
	FILE *in;
	int c, i;

	lmf_init(argc, argv);
	while ((c = lmf_getopt(argc, argv, "hV", lo)) != -1) {
		switch (c) {
		case O_MODEL: o.model = optarg; break;
		case O_ADAPTER: o.adapter = optarg; break;
		case O_TEMPLATE: o.template = optarg; break;
		case O_MULTI: o.multiturn = 1; break;
		case O_SYSTEM: o.system = optarg; break;
		case O_IDS:
			o.prompt_ids = xrealloc(o.prompt_ids, (size_t)
			    (o.nprompt_ids + 1) * sizeof *o.prompt_ids);
			o.prompt_ids[o.nprompt_ids++] = optarg;
			break;
		case O_OUT:
			if (!strcmp(optarg, "text"))
				o.out = OUT_TEXT;
			else if (!strcmp(optarg, "jsonl"))
				o.out = OUT_JSONL;
			else if (!strcmp(optarg, "ids"))
				o.out = OUT_IDS;
			else
				die_usage("--output_format '%s': not text, "
				    "jsonl or ids", optarg);
			break;
		case O_SAMPLE:
			o.do_sample = lmf_opt_bool("--do_sample", argc, argv);
			break;
		case O_TEMP:
			o.temperature = lmf_parse_float("--temperature",
			    optarg, 0, 1e6);
			break;
		case O_TOPK:
			o.top_k = (int)lmf_parse_int("--top_k", optarg, 0,
			    1 << 30);
			break;
		case O_TOPP:
			o.top_p = lmf_parse_float("--top_p", optarg, 0, 1);
			if (!(o.top_p > 0))
				die_usage("--top_p '%s': not above 0", optarg);
			break;
		case O_REP:
			o.rep = lmf_parse_float("--repetition_penalty", optarg,
			    0, 1e6);
			if (!(o.rep > 0))
				die_usage("--repetition_penalty '%s': not "
				    "above 0", optarg);
			break;
		case O_MAX:
			o.max_new_tokens = (int)lmf_parse_int(
			    "--max_new_tokens", optarg, 0, 1 << 20);
			break;
		case O_SKIP:
			o.skip_special = lmf_opt_bool("--skip_special_tokens",
			    argc, argv);
			break;
		case O_BATCH:
			o.batch = (int)lmf_parse_int("--batch_size", optarg, 1,
			    4096);
			break;
		case O_SEED:
			o.seed = (uint64_t)lmf_parse_int("--seed", optarg, 0,
			    INT64_MAX);
			break;
		case O_THREADS:
			o.threads = (int)lmf_parse_int("--threads", optarg, 0,
			    4096);
			break;
		case 'h': lmf_help_exit(usage);
		case 'V': lmf_version_exit();
		default: lmf_usage_exit(usage);
		}
	}
	if (optind < argc)
		o.input = argv[optind++];
	if (optind < argc)
		die_usage("unexpected argument '%s'", argv[optind]);
	if (!o.model)
		die_usage("no --model given");
	if (o.nprompt_ids && (o.template || o.multiturn))
		die_usage("--prompt_ids does not go with --template");
	if (o.multiturn && !o.template)
		die_usage("--multiturn needs --template");
	if (!strcmp(o.model, "-") && !o.nprompt_ids && !strcmp(o.input, "-"))
		die_usage("the model and the prompts cannot both be stdin");
	if (o.temperature == 0)
		o.do_sample = 0;
	lmf_gemm_init(o.threads);
	lmf_rng_seed(&rng, o.seed);
	load();
	if (o.nprompt_ids) {
		struct job *jobs = xcalloc((size_t)o.batch, sizeof *jobs);
		int n = 0;

		for (i = 0; i < o.nprompt_ids; i++) {
			parse_ids(o.prompt_ids[i], &jobs[n].prompt);
			jobs[n++].text = xstrdup(o.prompt_ids[i]);
			if (n == o.batch) {
				run_batch(jobs, n);
				n = 0;
			}
		}
		run_batch(jobs, n);
		free(jobs);
	} else {
		in = strcmp(o.input, "-") ? xfopen(o.input, "r") : stdin;
		if (o.multiturn)
			run_multiturn(in);
		else
			run_lines(in);
		if (in != stdin)
			fclose(in);
	}
	lmf_infer_free(model);
	lmf_template_free(tmpl);
	lmf_tok_free(tok);
	free(stop);
	free(o.prompt_ids);
	lmf_close_out();
	return 0;
}
