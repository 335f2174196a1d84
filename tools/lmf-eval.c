/* lmf-eval: LLaMA-Factory's MMLU / C-Eval / CMMLU evaluation (spec 8.1): for
 * every question of a task's split, n_shot examples of the subject's dev
 * pool (in LLaMA-Factory's order) and the question go through the chat
 * template; the answer is the letter among A, B, C, D whose token has the
 * largest logit at the prompt's last position. It prints the average and
 * per-category accuracy and writes save_dir/results.json and results.log.
 * It does not generate text and does not train. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lmf/dist.h"
#include "lmf/evaltask.h"
#include "lmf/infer.h"
#include "lmf/nprand.h"
#include "lmf/opt.h"
#include "lmf/stream.h"
#include "lmf/template.h"
#include "lmf/tok.h"
#include "lmf/util.h"
#include "lmf/banned.h"

struct opts {
	const char *model, *adapter, *template, *task, *task_dir, *save_dir;
	const char *dump_ids, *dump_prompts;
	int lang, n_shot, batch, threads;
	uint64_t seed;
};

/* the run */
struct ev {
	struct opts o;
	const char *lang;        /* "en" or "zh" */
	struct lmf_infer *model;
	struct lmf_tok *tok;
	struct lmf_template *tmpl;
	struct lmf_np_mt np;     /* NumPy's global RandomState */
	struct lmf_afile dump;   /* --dump_ids (f NULL: none) */
	struct lmf_afile pdump;  /* --dump_prompts (written atomically) */
	int32_t choice[4];       /* the ids of A, B, C, D */
	int V;
	int rank, world;         /* under mpirun (dist.h) */
	long group;              /* scoring groups so far, every subject */
	size_t correct[1 + LMF_EVAL_NCAT], total[1 + LMF_EVAL_NCAT];
};

static void
load(struct ev *e)
{
	const struct opts *o = &e->o;
	struct lmf_rd *r = lmf_rd_open_or_die(o->model), *ra = NULL;
	struct lmf_template_opts to = { .enable_thinking = 1 };
	static const char *const abcd[4] = { "A", "B", "C", "D" };
	char err[256];
	int32_t *ids;
	size_t n;
	int i;

	if (o->adapter)
		ra = lmf_rd_open_or_die(o->adapter);
	if (!(e->model = lmf_infer_open(r, ra, err, sizeof err)))
		die("%s", err);
	lmf_rd_close(r);
	if (ra)
		lmf_rd_close(ra);
	e->V = (int)lmf_infer_config(e->model)->vocab_size;
	if (!lmf_item_find(lmf_infer_item(e->model), "tokenizer.json"))
		die("'%s' holds no tokenizer", o->model);
	if (!(e->tok = lmf_tok_load_item(lmf_infer_item(e->model), err,
	    sizeof err)))
		die("%s", err);
	if (!(e->tmpl = lmf_template_new(o->template, e->tok, &to, err,
	    sizeof err)))
		die("%s", err);
	for (i = 0; i < 4; i++) {
		if (lmf_tok_encode(e->tok, abcd[i], 1, 0, &ids, &n, err,
		    sizeof err) < 0 || !n)
			die("cannot encode '%s'", abcd[i]);
		e->choice[i] = ids[n - 1];
		if (e->choice[i] >= e->V)
			die("the id of '%s' (%d) is past the model's "
			    "vocabulary (%d)", abcd[i], (int)e->choice[i],
			    e->V);
		free(ids);
	}
}

/* --dump_prompts: {"subject", "index", "shots" (the dev rows, in
 * order), "messages" (before the template; the last is the gold answer,
 * which the prompt leaves out)} as one JSON line */
static void
dump_prompt(struct ev *e, const char *key, size_t idx, const size_t *perm,
    size_t k, const struct lmf_msg *m, int n)
{
	json_t *j = json_pack("{s:s, s:I, s:[], s:[]}", "subject", key,
	    "index", (json_int_t)idx, "shots", "messages");
	char *t;
	size_t i;

	for (i = 0; i < k; i++)
		json_array_append_new(json_object_get(j, "shots"),
		    json_integer((json_int_t)perm[i]));
	for (i = 0; i < (size_t)n; i++)
		json_array_append_new(json_object_get(j, "messages"),
		    json_pack("{s:s, s:s}", "role", m[i].role ==
		    LMF_ROLE_USER ? "user" : "assistant", "content",
		    m[i].content));
	t = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!t)
		die("subject '%s': question %zu is not valid UTF-8", key, idx);
	fprintf(e->pdump.f, "%s\n", t);
	free(t);
	json_decref(j);
}

/* the prompt ids of question q (index idx) with k shots of the dev pool
 * (perm's first k), as Evaluator.eval and EvalTemplate.format_example
 * make them */
static void
encode(struct ev *e, const struct lmf_subject *s, const struct lmf_mcq *q,
    size_t idx, const struct lmf_mcq *dev, const size_t *perm, size_t k,
    struct lmf_ids *out)
{
	struct lmf_msg *m = xcalloc(2 * k + 2, sizeof *m);
	struct lmf_ids resp = { 0 };
	char err[256], *sys, *first;
	size_t i;
	int n = 0;

	for (i = 0; i <= k; i++) {
		const struct lmf_mcq *x = i < k ? &dev[perm[i]] : q;

		m[n].role = LMF_ROLE_USER;
		m[n++].content = lmf_eval_prompt(x, e->lang);
		m[n].role = LMF_ROLE_ASSISTANT;
		m[n++].content = xstrdup(x->answer);
	}
	sys = lmf_eval_system(s->name, e->lang);
	first = xasprintf("%s%s", sys, m[0].content);
	free(m[0].content);
	m[0].content = first;
	if (e->pdump.f)
		dump_prompt(e, s->key, idx, perm, k, m, n);
	if (lmf_template_encode_oneturn(e->tmpl, m, n, NULL, NULL, out, &resp,
	    err, sizeof err) < 0)
		die("subject '%s': %s", s->key, err);
	if (!out->n)
		die("subject '%s': an empty prompt", s->key);
	lmf_ids_free(&resp);
	for (i = 0; i < (size_t)n; i++)
		free(m[i].content);
	free(m);
	free(sys);
}

/* the letters chosen for n prompts: one forward over all their tokens,
 * each row's last token at the end so that the last n logits are theirs */
static void
score(struct ev *e, struct lmf_ids *p, int n, char *pick)
{
	size_t tot = 0, maxT = 0, k;
	int *row, i, c, best;
	int32_t *tok;
	float *lg = xmallocarray((size_t)n * e->V, sizeof *lg);

	for (i = 0; i < n; i++) {
		tot += p[i].n;
		maxT = p[i].n > maxT ? p[i].n : maxT;
	}
	row = xmallocarray(tot, sizeof *row);
	tok = xmallocarray(tot, sizeof *tok);
	tot = 0;
	for (i = 0; i < n; i++)
		for (k = 0; k + 1 < p[i].n; k++, tot++) {
			row[tot] = i;
			tok[tot] = p[i].v[k];
		}
	for (i = 0; i < n; i++, tot++) {
		row[tot] = i;
		tok[tot] = p[i].v[p[i].n - 1];
	}
	lmf_infer_reset(e->model, n, (int)maxT);
	if (lmf_infer_forward(e->model, (int)tot, row, tok, lg, n) < 0)
		BUG("a row longer than its reset");
	for (i = 0; i < n; i++) {
		const float *l = lg + (size_t)i * e->V;

		for (best = 0, c = 1; c < 4; c++)
			if (l[e->choice[c]] > l[e->choice[best]])
				best = c;
		pick[i] = (char)('A' + best);
	}
	free(lg);
	free(row);
	free(tok);
}

/* every id below V; --dump_ids: "subject index id,id,..." */
static void
check_ids(const struct ev *e, const struct lmf_ids *p, const char *key,
    size_t i)
{
	size_t k;

	for (k = 0; k < p->n; k++)
		if (p->v[k] < 0 || p->v[k] >= e->V)
			die("subject '%s': token id %d is past the model's "
			    "vocabulary (%d)", key, (int)p->v[k], e->V);
	if (!e->dump.f)
		return;
	fprintf(e->dump.f, "%s %zu ", key, i);
	for (k = 0; k < p->n; k++)
		fprintf(e->dump.f, "%s%d", k ? "," : "", (int)p->v[k]);
	fputc('\n', e->dump.f);
}

/* one subject: its letters (allocated, one per question) into *out */
static size_t
subject(struct ev *e, const struct lmf_evaltask *t, int s, char **out)
{
	const struct lmf_subject *sb = &t->subj[s];
	struct lmf_mcq *q, *dev;
	size_t nq, nd, i, j, k, *perm;
	struct lmf_ids *p = xcalloc((size_t)e->o.batch, sizeof *p);
	char err[512], *pick;
	int b = 0, cat, mine;

	if (lmf_evaltask_read(t, s, t->split, &q, &nq, err, sizeof err) ||
	    lmf_evaltask_read(t, s, "train", &dev, &nd, err, sizeof err))
		die("%s", err);
	perm = xcalloc(nd + 1, sizeof *perm);
	pick = xcalloc(nq + 1, 1);
	k = (size_t)e->o.n_shot < nd ? (size_t)e->o.n_shot : nd;
	for (i = j = 0; i < nq; i++) {
		/* every rank draws every permutation; a group of questions
		 * is scored by rank group % ranks, the others' picks 0 */
		lmf_np_permutation(lmf_np_shuffle_seed(&e->np), nd, perm);
		mine = e->group % e->world == e->rank;
		if (mine) {
			encode(e, sb, &q[i], i, dev, perm, k, &p[b]);
			check_ids(e, &p[b], sb->key, i);
		}
		if (++b == e->o.batch || i + 1 == nq) {
			if (mine)
				score(e, p, b, pick + j);
			for (; b > 0; b--, j++)
				lmf_ids_free(&p[j % e->o.batch]);
			memset(p, 0, (size_t)e->o.batch * sizeof *p);
			e->group++;
		}
	}
	for (i = 0; i < nq; i++)
		for (cat = 0; cat <= 1; cat++) {
			int c = cat ? 1 + sb->category : 0;

			e->total[c]++;
			e->correct[c] += pick[i] == q[i].answer[0] &&
			    !q[i].answer[1];
		}
	if (lmf_verbose)
		fprintf(stderr, "%s: subject %s: %zu questions\n",
		    lmf_progname(), sb->key, nq);
	lmf_mcq_free(q, nq);
	lmf_mcq_free(dev, nd);
	free(perm);
	free(p);
	*out = pick;
	return nq;
}

/* the score text: Average, then each category with questions */
static char *
report(const struct ev *e)
{
	struct lmf_buf b = { 0 };
	char line[128];
	int c;

	lmf_buf_add(&b, "", 0);
	for (c = 0; c <= LMF_EVAL_NCAT; c++) {
		if (!e->total[c])
			continue;
		snprintf(line, sizeof line, "%s%15s: %.2f", b.n ? "\n" : "",
		    c ? lmf_eval_categories[c - 1] : "Average",
		    100.0 * ((double)e->correct[c] / (double)e->total[c]));
		lmf_buf_puts(&b, line);
	}
	return b.s;
}

static void
put_str(FILE *f, const char *s)
{
	json_t *j = json_string(s);
	char *t = json_dumps(j, JSON_ENCODE_ANY | JSON_ENSURE_ASCII);

	fputs(t, f);
	free(t);
	json_decref(j);
}

/* json.dump(results, indent=2): {subject: {"0": "A", ...}} */
static void
write_json(FILE *f, const struct lmf_evaltask *t, char **pick, size_t *nq)
{
	size_t i;
	int s;

	fputs(t->nsubj ? "{" : "{}", f);
	for (s = 0; s < t->nsubj; s++) {
		fputs(s ? ",\n  " : "\n  ", f);
		put_str(f, t->subj[s].key);
		fputs(nq[s] ? ": {" : ": {}", f);
		for (i = 0; i < nq[s]; i++)
			fprintf(f, "%s    \"%zu\": \"%c\"", i ? ",\n" : "\n",
			    i, pick[s][i]);
		if (nq[s])
			fputs("\n  }", f);
	}
	if (t->nsubj)
		fputs("\n}", f);
}

static void
write_file(const char *dir, const char *name, const char *text,
    const struct lmf_evaltask *t, char **pick, size_t *nq)
{
	struct lmf_afile a;
	char *p = xasprintf("%s/%s", dir, name);

	if (lmf_afile_open(&a, p) < 0)
		die_errno("cannot create '%s'", p);
	if (text)
		fputs(text, a.f);
	else
		write_json(a.f, t, pick, nq);
	if (lmf_afile_commit(&a) < 0)
		die_errno("cannot write '%s'", p);
	free(p);
}

/* os.makedirs(save_dir, exist_ok=False) */
static void
make_dir(const char *dir)
{
	char *p = xstrdup(dir), *s;

	for (s = p + 1; (s = strchr(s, '/')); s++) {
		*s = '\0';
		if (mkdir(p, 0777) < 0 && errno != EEXIST)
			die_errno("cannot create '%s'", p);
		*s = '/';
	}
	if (mkdir(dir, 0777) < 0)
		die_errno("cannot create save_dir '%s'", dir);
	free(p);
}

static void
run(struct ev *e)
{
	struct lmf_evaltask t;
	char err[512], **pick, *text;
	size_t *nq;
	int s;

	if (lmf_evaltask_open(&t, e->o.task_dir, e->o.task, err, sizeof err))
		die("%s", err);
	load(e);
	lmf_np_mt_seed(&e->np, (uint32_t)e->o.seed);
	pick = xcalloc((size_t)t.nsubj + 1, sizeof *pick);
	nq = xcalloc((size_t)t.nsubj + 1, sizeof *nq);
	if (e->o.dump_ids)
		lmf_afile_open_or_die(&e->dump, e->o.dump_ids);
	if (e->o.dump_prompts)
		lmf_afile_open_or_die(&e->pdump, e->o.dump_prompts);
	for (s = 0; s < t.nsubj; s++)
		nq[s] = subject(e, &t, s, &pick[s]);
	if (e->dump.f)
		lmf_afile_commit_or_die(&e->dump);
	if (e->pdump.f)
		lmf_afile_commit_or_die(&e->pdump);
	if (e->world > 1)
		lmf_evaltask_dist_merge(&t, pick, nq, e->correct);
	text = report(e);
	if (e->rank == 0)
		puts(text);
	if (e->o.save_dir && e->rank == 0) {
		make_dir(e->o.save_dir);
		write_file(e->o.save_dir, "results.json", NULL, &t, pick, nq);
		write_file(e->o.save_dir, "results.log", text, &t, pick, nq);
	}
	for (s = 0; s < t.nsubj; s++)
		free(pick[s]);
	free(pick);
	free(nq);
	free(text);
	lmf_evaltask_free(&t);
	lmf_template_free(e->tmpl);
	lmf_tok_free(e->tok);
	lmf_infer_free(e->model);
}

static void
check_args(struct ev *e)
{
	const struct opts *o = &e->o;
	struct stat st;

	if (!o->model)
		die_usage("no --model given");
	if (!o->task)
		die_usage("no --task given");
	if (!o->template)
		die_usage("no --template given");
	if (o->dump_ids && o->dump_prompts &&
	    lmf_same_file(o->dump_ids, o->dump_prompts))
		die_usage("--dump_ids and --dump_prompts are one file");
	if (o->save_dir && !stat(o->save_dir, &st))
		die_usage("--save_dir '%s' already exists, use another one",
		    o->save_dir);
	e->lang = o->lang ? "zh" : "en";
}

/* under mpirun: scoring groups split over the ranks; rank 0 writes */
static void
dist_setup(struct ev *e)
{
	lmf_dist_start(e->o.threads);
	e->world = lmf_dist_tool(e->o.model, e->o.adapter);
	e->rank = lmf_dist_rank();
	if (e->world > 1 && e->o.dump_ids)
		die_usage("--dump_ids runs on one process only");
}

int
main(int argc, char **argv)
{
	static const struct lmf_opt_usage u = { "--model FILE "
	    "[--adapter_name_or_path FILE] --template NAME\n"
	    "                --task NAME_SPLIT [--task_dir DIR] "
	    "[--lang en|zh] [--n_shot N]\n"
	    "                [--save_dir DIR] [options]",
	    "Score a model on a multiple-choice benchmark task (MMLU, C-Eval, "
	    "CMMLU)." };
	struct ev e = { .o = { .task_dir = "evaluation", .n_shot = 5,
		.batch = 4, .seed = 42 } };
	struct opts *o = &e.o;
#define S LMF_OPT_STRING
#define I LMF_OPT_INT
	struct lmf_opt tab[] = {
		LMF_OPT_ROW("model", 0, S, &o->model, "FILE", 0, 0,
		    "model stream (lmf-load) with its tokenizer"),
		LMF_OPT_ROW("adapter_name_or_path", 0, S, &o->adapter, "FILE",
		    0, 0, "adapter stream, merged at load"),
		LMF_OPT_ROW("template", 0, S, &o->template, "NAME", 0, 0,
		    "chat template of the prompts"),
		LMF_OPT_ROW("task", 0, S, &o->task, "NAME_SPLIT", 0, 0,
		    "e.g. mmlu_test, ceval_validation, cmmlu_test"),
		LMF_OPT_ROW("task_dir", 0, S, &o->task_dir, "DIR", 0, 0,
		    "the folder holding the task's folder"),
		LMF_OPT_ROW("lang", 0, LMF_OPT_CHOICE, &o->lang, "en|zh", 0, 0,
		    "language of the prompt"),
		LMF_OPT_ROW("n_shot", 0, I, &o->n_shot, "N", 0, 1 << 20,
		    "examples of the dev pool before each question"),
		LMF_OPT_ROW("batch_size", 0, I, &o->batch, "N", 1, 4096,
		    "questions scored together"),
		LMF_OPT_ROW("seed", 0, LMF_OPT_U64, &o->seed, "N", 0,
		    4294967295.0, "NumPy's seed, which orders the shots"),
		LMF_OPT_ROW("save_dir", 0, S, &o->save_dir, "DIR", 0, 0,
		    "write results.json and results.log there (a new "
		    "folder)"),
		LMF_OPT_ROW("dump_ids", 0, S, &o->dump_ids, "FILE", 0, 0,
		    "write each prompt's token ids there"),
		LMF_OPT_ROW("dump_prompts", 0, S, &o->dump_prompts, "FILE", 0,
		    0, "write each prompt's messages there (JSON lines)"),
		{ "threads", 0, I, &o->threads, "N", 0, 4096,
		    "threads for matrix products", "0 = all cores", NULL, 0 },
		{ "quiet", 'q', LMF_OPT_FUNC, NULL, NULL, 0, 0,
		    "no progress lines", NULL, lmf_opt_quiet, 0 },
		LMF_OPT_LAST_ROWS,
	};
#undef S
#undef I
	int i;

	lmf_init(argc, argv);
	i = lmf_opt_parse(tab, &u, argc, argv);
	if (i < argc)
		die_usage("unexpected argument '%s'", argv[i]);
	check_args(&e);
	dist_setup(&e);
	run(&e);
	lmf_dist_finish();
	lmf_close_out();
	return 0;
}
