#ifndef LMF_EVALTASK_H
#define LMF_EVALTASK_H
/* evaltask.h: LLaMA-Factory's multiple-choice benchmarks (MMLU, C-Eval,
 * CMMLU; spec 8.1): a task folder task_dir/<name>/ with mapping.json and
 * the CSVs of one of three layouts, read split by split; and the prompt
 * text of an example in the en or zh template (EvalTemplate). */
#include <stddef.h>

/* the categories in the order the scores are printed (after Average) */
#define LMF_EVAL_NCAT 4
extern const char *const lmf_eval_categories[LMF_EVAL_NCAT];

/* one question: the question, choices A..D and the gold letter ("" when
 * the CSV has no answer column) */
struct lmf_mcq {
	char *q, *ch[4], *answer;
};

struct lmf_subject {
	char *key;          /* mapping.json's key: the CSV file name part */
	char *name;         /* display name, for the system line */
	int category;       /* index into lmf_eval_categories */
};

struct lmf_evaltask {
	char *dir;          /* task_dir/<name> */
	char *split;        /* "test", "validation" or "train" */
	struct lmf_subject *subj;
	int nsubj;
};

/* open task "<name>_<split>" under task_dir: split the name at '_', read
 * mapping.json (subjects in file order). 0, or -1 with err */
int lmf_evaltask_open(struct lmf_evaltask *t, const char *task_dir,
    const char *task, char *err, size_t errlen);
void lmf_evaltask_free(struct lmf_evaltask *t);
/* the questions of subject s in split ("test", "validation", "train" =
 * the dev pool): *q (allocated) and *n. 0, or -1 with err (no CSV, a row
 * without question, A, B, C and D) */
int lmf_evaltask_read(const struct lmf_evaltask *t, int s, const char *split,
    struct lmf_mcq **q, size_t *n, char *err, size_t errlen);
void lmf_mcq_free(struct lmf_mcq *q, size_t n);

/* EvalTemplate: the user text of an example (question, "\nA. ...", ...,
 * then "\nAnswer:" or "\n答案："), allocated; and the system line for a
 * subject's display name. lang is "en" or "zh" */
char *lmf_eval_prompt(const struct lmf_mcq *q, const char *lang);
char *lmf_eval_system(const char *name, const char *lang);

/* under mpirun: each subject's picks (each question's pick is one
 * rank's, 0 on the others) and the correct counts (overall, then per
 * category) summed over the ranks, on every rank */
void lmf_evaltask_dist_merge(const struct lmf_evaltask *t, char **pick,
    const size_t *nq, size_t *correct);

#endif
