/* evaltask.c: benchmark task folders (mapping.json and the CSV layouts of
 * MMLU, C-Eval and CMMLU) and EvalTemplate's prompt text; see evaltask.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>

#include "lmf/csv.h"
#include "lmf/dist.h"
#include "lmf/evaltask.h"
#include "lmf/util.h"
#include "lmf/banned.h"

const char *const lmf_eval_categories[LMF_EVAL_NCAT] = {
	"STEM", "Social Sciences", "Humanities", "Other",
};

/* the cells pandas.read_csv reads as missing (they become "nan") */
static const char *const na_values[] = {
	"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan",
	"1.#IND", "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None",
	"n/a", "nan", "null", NULL,
};

static char *
cell(const char *s)
{
	int i;

	for (i = 0; na_values[i]; i++)
		if (!strcmp(s, na_values[i]))
			return xstrdup("nan");
	return xstrdup(s);
}

static int
subjects(struct lmf_evaltask *t, json_t *map, const char *path, char *err,
    size_t errlen)
{
	const char *k;
	json_t *v, *name, *cat;
	int c;

	t->subj = xcalloc(json_object_size(map) + 1, sizeof *t->subj);
	json_object_foreach(map, k, v) {
		name = json_object_get(v, "name");
		cat = json_object_get(v, "category");
		if (!json_is_string(name) || !json_is_string(cat)) {
			lmf_seterr(err, errlen, "'%s': subject '%s' has no "
			    "string name and category", path, k);
			return -1;
		}
		for (c = 0; c < LMF_EVAL_NCAT; c++)
			if (!strcmp(json_string_value(cat),
			    lmf_eval_categories[c]))
				break;
		if (c == LMF_EVAL_NCAT) {
			lmf_seterr(err, errlen, "'%s': subject '%s': category "
			    "'%s' is not STEM, Social Sciences, Humanities or "
			    "Other", path, k, json_string_value(cat));
			return -1;
		}
		t->subj[t->nsubj].key = xstrdup(k);
		t->subj[t->nsubj].name = xstrdup(json_string_value(name));
		t->subj[t->nsubj++].category = c;
	}
	return 0;
}

int
lmf_evaltask_open(struct lmf_evaltask *t, const char *task_dir,
    const char *task, char *err, size_t errlen)
{
	const char *us = strchr(task, '_');
	char *path;
	json_t *map;
	json_error_t je;
	int rc;

	memset(t, 0, sizeof *t);
	if (!us || us == task || strchr(us + 1, '_') || (strcmp(us + 1,
	    "test") && strcmp(us + 1, "validation") && strcmp(us + 1,
	    "train"))) {
		lmf_seterr(err, errlen, "task '%s' is not <name>_<split> with "
		    "split test, validation or train", task);
		return -1;
	}
	t->dir = xasprintf("%s/%.*s", task_dir, (int)(us - task), task);
	t->split = xstrdup(us + 1);
	path = xasprintf("%s/mapping.json", t->dir);
	if (!(map = json_load_file(path, 0, &je))) {
		lmf_seterr(err, errlen, "'%s': %s", path, je.text);
		free(path);
		return -1;
	}
	if (!json_is_object(map)) {
		lmf_seterr(err, errlen, "'%s': not a JSON object", path);
		rc = -1;
	} else {
		rc = subjects(t, map, path, err, errlen);
	}
	json_decref(map);
	free(path);
	return rc;
}

void
lmf_evaltask_free(struct lmf_evaltask *t)
{
	int i;

	for (i = 0; i < t->nsubj; i++) {
		free(t->subj[i].key);
		free(t->subj[i].name);
	}
	free(t->subj);
	free(t->dir);
	free(t->split);
	memset(t, 0, sizeof *t);
}

/* the CSV of a subject's split: MMLU's data/D/S_D.csv (no header),
 * C-Eval's D/S_D.csv or CMMLU's D/S.csv (a header); NULL if none */
static char *
find_csv(const struct lmf_evaltask *t, const char *key, const char *split,
    int *header)
{
	const char *d = !strcmp(split, "validation") ? "val" :
	    !strcmp(split, "train") ? "dev" : "test";
	char *p;

	*header = 0;
	p = xasprintf("%s/data/%s/%s_%s.csv", t->dir, d, key, d);
	if (!access(p, F_OK))
		return p;
	free(p);
	*header = 1;
	p = xasprintf("%s/%s/%s_%s.csv", t->dir, d, key, d);
	if (!access(p, F_OK))
		return p;
	free(p);
	p = xasprintf("%s/%s/%s.csv", t->dir, d, key);
	if (!access(p, F_OK))
		return p;
	free(p);
	return NULL;
}

/* col[0..5]: the columns of question, A, B, C, D, answer (-1: none) */
static int
columns(const struct lmf_csv_row *h, int header, int col[6], const char *p,
    char *err, size_t errlen)
{
	static const char *const names[6] = { "question", "A", "B", "C", "D",
		"answer" };
	int i, j;

	for (i = 0; i < 6; i++) {
		col[i] = header ? -1 : i;
		for (j = 0; header && j < h->nf; j++)
			if (!strcasecmp(h->f[j], names[i]))
				col[i] = j;
		if (i < 5 && col[i] < 0) {
			lmf_seterr(err, errlen, "'%s': the header has no "
			    "column '%s'", p, names[i]);
			return -1;
		}
	}
	return 0;
}

static int
rows(const struct lmf_csv *c, int header, const int col[6], const char *p,
    struct lmf_mcq *q, size_t *n, char *err, size_t errlen)
{
	int want = header ? c->row[0].nf : 6, i;
	size_t r;

	for (r = header; r < c->n; r++) {
		const struct lmf_csv_row *w = &c->row[r];

		if (!w->nf)
			continue;
		if (w->nf != want) {
			lmf_seterr(err, errlen, "'%s' line %zu: %d fields, "
			    "expected %d (question, A, B, C, D%s)", p, w->line,
			    w->nf, want, col[5] < 0 ? "" : ", answer");
			return -1;
		}
		q[*n].q = cell(w->f[col[0]]);
		for (i = 0; i < 4; i++)
			q[*n].ch[i] = cell(w->f[col[i + 1]]);
		q[(*n)++].answer = col[5] < 0 ? xstrdup("") :
		    cell(w->f[col[5]]);
	}
	return 0;
}

int
lmf_evaltask_read(const struct lmf_evaltask *t, int s, const char *split,
    struct lmf_mcq **q, size_t *n, char *err, size_t errlen)
{
	struct lmf_csv c = { 0 };
	int header, col[6], rc;
	char *p = find_csv(t, t->subj[s].key, split, &header);

	*q = NULL;
	*n = 0;
	if (!p) {
		lmf_seterr(err, errlen, "'%s': no %s CSV for subject '%s'",
		    t->dir, split, t->subj[s].key);
		return -1;
	}
	rc = lmf_csv_read(&c, p, err, errlen);
	if (!rc && header && !c.n) {
		lmf_seterr(err, errlen, "'%s': no header", p);
		rc = -1;
	}
	if (!rc)
		rc = columns(&c.row[0], header, col, p, err, errlen);
	if (!rc) {
		*q = xcalloc(c.n + 1, sizeof **q);
		rc = rows(&c, header, col, p, *q, n, err, errlen);
	}
	lmf_csv_free(&c);
	free(p);
	return rc;
}

void
lmf_mcq_free(struct lmf_mcq *q, size_t n)
{
	size_t i;
	int j;

	for (i = 0; i < n; i++) {
		free(q[i].q);
		for (j = 0; j < 4; j++)
			free(q[i].ch[j]);
		free(q[i].answer);
	}
	free(q);
}

char *
lmf_eval_prompt(const struct lmf_mcq *q, const char *lang)
{
	return xasprintf("%s\nA. %s\nB. %s\nC. %s\nD. %s%s", q->q, q->ch[0],
	    q->ch[1], q->ch[2], q->ch[3], strcmp(lang, "zh") ? "\nAnswer:" :
	    "\n答案：");
}

char *
lmf_eval_system(const char *name, const char *lang)
{
	if (strcmp(lang, "zh"))
		return xasprintf("The following are multiple choice questions "
		    "(with answers) about %s.\n\n", name);
	return xasprintf("以下是中国关于%s考试的单项选择题，请选出其中的正确"
	    "答案。\n\n", name);
}

void
lmf_evaltask_dist_merge(const struct lmf_evaltask *t, char **pick,
    const size_t *nq, size_t *correct)
{
	size_t n = 0, i, k;
	double *x;
	int s;

	for (s = 0; s < t->nsubj; s++)
		n += nq[s];
	x = xmallocarray(n + 1 + LMF_EVAL_NCAT, sizeof *x);
	for (s = 0, k = 0; s < t->nsubj; s++)
		for (i = 0; i < nq[s]; i++)
			x[k++] = (unsigned char)pick[s][i];
	for (i = 0; i <= LMF_EVAL_NCAT; i++)
		x[n + i] = (double)correct[i];
	lmf_dist_sum_f64(x, n + 1 + LMF_EVAL_NCAT);
	for (s = 0, k = 0; s < t->nsubj; s++)
		for (i = 0; i < nq[s]; i++)
			pick[s][i] = (char)x[k++];
	for (i = 0; i <= LMF_EVAL_NCAT; i++)
		correct[i] = (size_t)x[n + i];
	free(x);
}
