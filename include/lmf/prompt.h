#ifndef LMF_PROMPT_H
#define LMF_PROMPT_H
/* prompt.h: one line of lmf-generate's input as the ids of a prompt.
 *
 * A line is JSON {"messages": [{"role", "content"}, ...], "system": ...}
 * or {"prompt": "...", "system": ...}, or plain text. With a template the
 * messages (or the plain line, as the user's one message) must alternate
 * user and assistant, starting and ending with user, a system message
 * allowed first only; they are encoded as one turn with an empty answer
 * (template.h), so the prompt ends where the assistant's reply begins.
 * Without one, the "prompt" string or the plain line is encoded as text,
 * special tokens allowed. */
#include <stddef.h>

#include "lmf/template.h"
#include "lmf/tok.h"

/* append the prompt of line to p; tmpl NULL: no template, tok encodes the
 * text. system is the default system message (NULL: none).
 * @return 0, or -1 with the message in err */
int lmf_prompt_encode(struct lmf_template *tmpl, struct lmf_tok *tok,
    const char *line, const char *system, struct lmf_ids *p, char *err,
    size_t errlen);
/* the messages m[0..n), user, assistant, ..., user, encoded as above;
 * m has room for n + 1 (the empty answer goes in m[n]).
 * @return 0, or -1 with the message in err */
int lmf_prompt_encode_chat(struct lmf_template *tmpl, struct lmf_msg *m,
    int n, const char *system, struct lmf_ids *p, char *err, size_t errlen);

#endif
