#ifndef LMF_DATASET_H
#define LMF_DATASET_H
/* dataset.h: LLaMA-Factory datasets: dataset_info.json, JSON / JSON Lines /
 * text files, the alpaca and sharegpt converters (spec 2.3, 2.4) into
 * prompt/response messages, max_samples, and the mix strategies (2.10). */
#include <stddef.h>
#include <stdint.h>

enum lmf_role {
	LMF_ROLE_USER,
	LMF_ROLE_ASSISTANT,
	LMF_ROLE_SYSTEM,
	LMF_ROLE_FUNCTION,
	LMF_ROLE_OBSERVATION,
};

struct lmf_msg {
	int role;          /* enum lmf_role */
	char *content;
};

/* one row in the standard form; broken rows have no messages at all */
struct lmf_example {
	struct lmf_msg *prompt;
	int nprompt;
	struct lmf_msg *response;
	int nresponse;
	char *system;      /* "" when absent */
	char *tools;       /* "" when absent */
	const char *dataset; /* its dataset's name (borrowed) */
	size_t row;        /* row number in its dataset, from 0 */
	const char *broken; /* why the converter dropped its messages, or NULL */
};

struct lmf_dataset {
	char *name;
	int ranking;
	struct lmf_example *ex;
	size_t n;
};

enum lmf_mix {
	LMF_MIX_CONCAT,
	LMF_MIX_UNDER,     /* interleave_under: stop at the first exhausted */
	LMF_MIX_OVER,      /* interleave_over: stop when all were exhausted */
};

/* load dataset name from dir/dataset_info.json; max_samples < 0: all.
 * 0, or -1 with a one-line message in err */
int lmf_dataset_load(const char *dir, const char *name, long long max_samples,
    uint64_t seed, struct lmf_dataset *ds, char *err, size_t errlen);
/* mix n datasets into out (examples shallow-copied; free the inputs with
 * lmf_dataset_free only after out is no longer needed, then free out with
 * lmf_dataset_free_shallow). probs NULL: round robin. 0, or -1 and err */
int lmf_dataset_mix(struct lmf_dataset *ds, int n, int strategy,
    const double *probs, uint64_t seed, struct lmf_dataset *out, char *err,
    size_t errlen);
void lmf_dataset_free(struct lmf_dataset *ds);
void lmf_dataset_free_shallow(struct lmf_dataset *ds);
const char *lmf_role_name(int role);  /* "user", ... */
int lmf_role_parse(const char *s);     /* its inverse; -1: not a role */

/* Python's json.dumps(v, ensure_ascii=False) of a jansson value, as the
 * templates' tool formatters need it (allocated) */
struct json_t;
char *lmf_json_dumps_py(const struct json_t *v);

#endif
