#ifndef LMF_TEMPLATE_H
#define LMF_TEMPLATE_H
/* template.h: LLaMA-Factory chat templates as data (spec 3): slots for
 * prefix, system, user, assistant, function and observation messages, the
 * default system prompt, stop words, efficient_eos, the special-token fixes
 * of spec 3.3, and the encoders (each slot tokenised on its own, without
 * the tokenizer's special tokens, spec 0.4). */
#include <stddef.h>
#include <stdint.h>

#include "lmf/dataset.h"
#include "lmf/tok.h"

/* a growing list of token ids */
struct lmf_ids {
	int32_t *v;
	size_t n, cap;
};
void lmf_ids_push(struct lmf_ids *a, int32_t id);
void lmf_ids_append(struct lmf_ids *a, const int32_t *v, size_t n);
void lmf_ids_free(struct lmf_ids *a);

struct lmf_template_opts {
	const char *default_system;  /* NULL: the template's own */
	int enable_thinking;         /* ReasoningTemplate; 1 by default */
	int preserve_thinking;       /* 0 by default */
	const char *tool_format;     /* NULL: the template's own */
};

struct lmf_template;

/* the template called name, bound to tok, whose special tokens it fixes
 * (replace_eos, missing eos, pad := eos). NULL and err on failure */
struct lmf_template *lmf_template_new(const char *name, struct lmf_tok *tok,
    const struct lmf_template_opts *o, char *err, size_t errlen);
/* spec 3.3 rule 6, no template named: parse_template of the tokenizer's
 * chat_template (lmf_template_parse), or "empty" when it has none */
struct lmf_template *lmf_template_from_tokenizer(struct lmf_tok *tok,
    const struct lmf_template_opts *o, char *err, size_t errlen);
/* LLaMA-Factory's parse_template: the slots read off the jinja template
 * src rendered on probe conversations (jinja.h) with "{{content}}" as
 * every message; prefix = decode(encode("")); ReasoningTemplate when the
 * assistant slot holds <think>; named "chat_template". NULL and err on a
 * template that does not parse or render */
struct lmf_template *lmf_template_parse(const char *src, struct lmf_tok *tok,
    const struct lmf_template_opts *o, char *err, size_t errlen);
void lmf_template_free(struct lmf_template *t);
/* the first string slot of "prefix", "system", "user" or "assistant" */
const char *lmf_template_slot(const struct lmf_template *t,
    const char *which);
const char *lmf_template_default_system(const struct lmf_template *t);
int lmf_template_reasoning(const struct lmf_template *t);
const char *lmf_template_name(const struct lmf_template *t);
int lmf_template_efficient_eos(const struct lmf_template *t);
int lmf_template_preserve_thinking(const struct lmf_template *t);
/* the template's stop words (generation ends at any of them): the i-th,
 * or NULL past the last */
const char *lmf_template_stop_word(const struct lmf_template *t, int i);
const char *lmf_template_list(void); /* "default, empty, ..." */
int lmf_template_known(const char *name); /* one of them? */

/* encode_multiturn: enc[2k] the source and enc[2k+1] the target of turn k
 * for n (even) messages; enc holds n lists (zeroed by the caller).
 * 0, or -1 with err (a function message that is not JSON, ...) */
int lmf_template_encode_multiturn(struct lmf_template *t,
    const struct lmf_msg *m, int n, const char *system, const char *tools,
    int discard_history_cot, struct lmf_ids *enc, char *err, size_t errlen);
/* encode_oneturn: prompt = all but the last message, resp = the last */
int lmf_template_encode_oneturn(struct lmf_template *t,
    const struct lmf_msg *m, int n, const char *system, const char *tools,
    struct lmf_ids *prompt, struct lmf_ids *resp, char *err, size_t errlen);

#endif
