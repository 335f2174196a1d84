#ifndef LMF_JINJA_H
#define LMF_JINJA_H
/* jinja.h: a Jinja2 subset, enough for the chat templates tokenizers ship
 * (tokenizer_config.json "chat_template"), rendered as transformers'
 * apply_chat_template does (trim_blocks, lstrip_blocks, loop controls,
 * tojson as json.dumps(ensure_ascii=False)). Values are jansson json_t.
 * A template is untrusted input: parsing depth, loop iterations and the
 * output size are bounded, and every failure is one line in err. The
 * subset is described in lmf-jinja(7). */
#include <stddef.h>
#include <jansson.h>

struct lmf_jinja;

/* parse a template's source (len bytes). NULL and a one-line err (with
 * the line number) on a syntax error: an unclosed block, an unknown
 * filter, test or function, ... */
struct lmf_jinja *lmf_jinja_parse(const char *src, size_t len, char *err,
    size_t errlen);
void lmf_jinja_free(struct lmf_jinja *j);
/* render with the variables of the object vars (messages, tools,
 * add_generation_prompt, bos_token, ...). *out is allocated (free it).
 * 0, or -1 and err: raise_exception's message, an undefined attribute,
 * a runaway loop or output, a type error */
int lmf_jinja_render(const struct lmf_jinja *j, json_t *vars, char **out,
    char *err, size_t errlen);
/* parse and render in one call */
int lmf_jinja_render_string(const char *src, json_t *vars, char **out,
    char *err, size_t errlen);

#endif
