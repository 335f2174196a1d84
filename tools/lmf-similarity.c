/* lmf-similarity: read generated_predictions.jsonl-style lines
 * ({"predict": ..., "label": ...}) and print LLaMA-Factory's
 * ComputeSimilarity metrics (predict_bleu-4, predict_rouge-1/2/l) as
 * predict_results.json holds them, or one line of scores and jieba words
 * per example. It does not generate: lmf-sft's predict writes the file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lmf/jieba.h"
#include "lmf/opt.h"
#include "lmf/textmetric.h"
#include "lmf/util.h"
#include "lmf/banned.h"

struct opts {
	const char *jieba_dir;
	int per_example, prefix;
};

static const char *const prefixes[] = { "predict", "eval" };

static json_t *
words_json(const struct lmf_jieba *j, const char *s, size_t len)
{
	struct lmf_jieba_words w = { 0 };
	json_t *a = json_array();
	size_t i;

	lmf_jieba_cut(j, s, len, &w);
	for (i = 0; i < w.n; i++)
		json_array_append_new(a, json_stringn(s + w.w[i].off,
		    w.w[i].len));
	lmf_jieba_words_free(&w);
	return a;
}

static void
print_example(const struct lmf_jieba *j, const char *p, size_t pl,
    const char *l, size_t ll, const double raw[LMF_SIM_N])
{
	json_t *o = json_object();
	char *s;
	int k;

	for (k = 0; k < LMF_SIM_N; k++)
		json_object_set_new(o, lmf_sim_names[k], json_real(raw[k]));
	json_object_set_new(o, "predict_words", words_json(j, p, pl));
	json_object_set_new(o, "label_words", words_json(j, l, ll));
	s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER |
	    JSON_REAL_PRECISION(17));
	puts(s);
	free(s);
	json_decref(o);
}

/* the string field name of line n's object */
static const char *
field(json_t *o, const char *name, size_t n, size_t *len)
{
	json_t *v = json_object_get(o, name);

	if (!json_is_string(v))
		die("line %zu: no string \"%s\"", n, name);
	*len = json_string_length(v);
	return json_string_value(v);
}

static void
print_means(double *sc[LMF_SIM_N], size_t n, int prefix)
{
	char num[64];
	int k;

	printf("{\n");
	for (k = 0; k < LMF_SIM_N; k++) {
		lmf_pyrepr(lmf_np_mean(sc[k], n), num, sizeof num);
		printf("    \"%s_%s\": %s%s\n", prefixes[prefix],
		    lmf_sim_names[k], num, k + 1 < LMF_SIM_N ? "," : "");
	}
	printf("}\n");
}

static void
run(const struct opts *o, FILE *f, const char *path)
{
	struct lmf_jieba *j;
	char err[1024], *line = NULL;
	size_t cap = 0, n = 0, lineno = 0, nalloc = 0;
	double *sc[LMF_SIM_N] = { 0 }, raw[LMF_SIM_N], out[LMF_SIM_N];
	ssize_t len;
	int k;

	if (lmf_jieba_load(&j, o->jieba_dir, err, sizeof err))
		die("%s", err);
	while ((len = getline(&line, &cap, f)) > 0) {
		json_error_t je;
		json_t *obj;
		const char *p, *l;
		size_t pl, ll;

		lineno++;
		if (strspn(line, " \t\r\n") == (size_t)len)
			continue;
		obj = json_loadb(line, (size_t)len, JSON_ALLOW_NUL, &je);
		if (!json_is_object(obj))
			die("'%s' line %zu: not a JSON object: %s", path,
			    lineno, obj ? "another value" : je.text);
		p = field(obj, "predict", lineno, &pl);
		l = field(obj, "label", lineno, &ll);
		lmf_similarity(j, p, pl, l, ll, raw, out);
		if (o->per_example)
			print_example(j, p, pl, l, ll, raw);
		if (n == nalloc) {
			nalloc = nalloc ? 2 * nalloc : 256;
			for (k = 0; k < LMF_SIM_N; k++)
				sc[k] = xrealloc(sc[k], nalloc * sizeof *sc[k]);
		}
		for (k = 0; k < LMF_SIM_N; k++)
			sc[k][n] = out[k];
		n++;
		json_decref(obj);
	}
	if (ferror(f))
		die_errno("cannot read '%s'", path);
	if (!n)
		die("'%s': no examples", path);
	if (!o->per_example)
		print_means(sc, n, o->prefix);
	for (k = 0; k < LMF_SIM_N; k++)
		free(sc[k]);
	free(line);
	lmf_jieba_free(j);
}

int
main(int argc, char **argv)
{
	static const struct lmf_opt_usage u = {
	    "[--jieba_dir DIR] [--prefix predict|eval] [--per_example] "
	    "[FILE]",
	    "Print BLEU-4 and ROUGE-1/2/L of generated_predictions.jsonl "
	    "lines as LLaMA-Factory does." };
	struct opts o = { 0 };
	struct lmf_opt tab[] = {
		{ "jieba_dir", 0, LMF_OPT_STRING, &o.jieba_dir, "DIR", 0, 0,
		    "jieba's dict.txt and finalseg/ tables",
		    "$LMF_JIEBA_DIR, else " LMF_JIEBA_DIR, NULL, 0 },
		LMF_OPT_ROW("prefix", 0, LMF_OPT_CHOICE, &o.prefix,
		    "predict|eval", 0, 0, "the metric keys' prefix"),
		{ "per_example", 0, LMF_OPT_FUNC, &o.per_example, NULL, 0, 0,
		    "one JSON line per example: unscaled scores and words",
		    NULL, lmf_opt_set, 0 },
		LMF_OPT_LAST_ROWS,
	};
	const char *path = "-";
	FILE *f = stdin;
	int i;

	lmf_init(argc, argv);
	i = lmf_opt_parse(tab, &u, argc, argv);
	if (i < argc)
		path = argv[i++];
	if (i < argc)
		die_usage("unexpected argument '%s'", argv[i]);
	if (strcmp(path, "-") && !(f = fopen(path, "r")))
		die_errno("cannot open '%s'", path);
	run(&o, f, path);
	if (f != stdin)
		fclose(f);
	lmf_close_out();
	return 0;
}
