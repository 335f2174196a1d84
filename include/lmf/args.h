#ifndef LMF_ARGS_H
#define LMF_ARGS_H
/* args.h: a LLaMA-Factory training configuration (its "arguments": the
 * model, data, training, finetuning and generation keys) as lmf knows it.
 * The table of every key with its type, default and whether a tool uses
 * it; a configuration read from YAML or JSON and key=value overrides,
 * checked key by key; then resolved by LLaMA-Factory's post-processing
 * and lmf's refusals. (struct lmf_config, model.h, is a model's
 * config.json, another thing.)
 *
 * Functions that can fail return 0, or LMF_E_PARAM for a value or a
 * combination the configuration may not hold (a usage error) and
 * LMF_E_FORMAT for a file that does not parse; a one-line message, which
 * names the key and the source, goes into (err, errlen). */
#include <stddef.h>

#include <jansson.h>

enum lmf_args_type { LMF_ARG_BOOL, LMF_ARG_INT, LMF_ARG_FLOAT, LMF_ARG_STR };
enum lmf_args_use {
	LMF_ARG_USED,      /* a tool implements it */
	LMF_ARG_IGNORED,   /* accepted, no effect */
	LMF_ARG_REFUSED    /* refused unless it keeps its default */
};

struct lmf_args_key {
	const char *name;
	enum lmf_args_type type;
	const char *def;       /* NULL: null */
	enum lmf_args_use use;
	const char *choices;   /* space-separated, or NULL */
	double lo;             /* numbers: the smallest value allowed */
};

/* the source name of overrides from the command line, which (unlike a
 * file) may set a key more than once */
#define LMF_ARGS_CMDLINE "the arguments"

struct lmf_args {
	char **val;            /* per key: the value as text, NULL: null */
	int *given;            /* per key: set by a file or an override */
	const char **where;    /* per key: the source that set it (borrowed) */
	int allow_extra;       /* unknown keys are skipped, not refused */
};

/* the key table */
const struct lmf_args_key *lmf_args_keys(size_t *n); /* every key, in order */
long lmf_args_find(const char *name);       /* index of a key, or -1 */
const char *lmf_args_closest(const char *name); /* the nearest key name */
int lmf_args_boolword(const char *s); /* YAML 1.1 boolean: 1, 0, -1 neither */

/* a configuration */
void lmf_args_init(struct lmf_args *a);     /* every key at its default */
void lmf_args_free(struct lmf_args *a);
/* set key NAME to S from SRC (a name for messages, borrowed for as long as
 * a is used). S NULL, or unquoted and a null word (~, null, None, ""), is
 * null. Checks the type, the range and the choices; a refused value
 * leaves the key as it was */
int lmf_args_set(struct lmf_args *a, const char *name, const char *s,
    int quoted, const char *src, char *err, size_t errlen);
/* a whole configuration file's text, from SRC: one mapping of keys to
 * scalars or lists of scalars (comma lists) */
int lmf_args_read_yaml(struct lmf_args *a, const char *src, const char *text,
    size_t len, char *err, size_t errlen);
int lmf_args_read_json(struct lmf_args *a, const char *src, const char *text,
    size_t len, char *err, size_t errlen);
/* LLaMA-Factory's post-processing (derived defaults such as lora_alpha)
 * and lmf's refusals (unimplemented keys, impossible combinations) */
int lmf_args_resolve(struct lmf_args *a, char *err, size_t errlen);
const char *lmf_args_get(const struct lmf_args *a, const char *name); /* or NULL */
/* how lmf treats key K, a key with no effect here that the configuration
 * gives: one line of text (static), or NULL for any other key */
const char *lmf_args_note(const struct lmf_args *a, size_t k);
/* the resolved values as a JSON object, typed per key; the caller
 * owns it */
json_t *lmf_args_to_json(const struct lmf_args *a);

#endif
