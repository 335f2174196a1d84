/* prompt.c: a line of lmf-generate's input as prompt ids (prompt.h). */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmf/prompt.h"
#include "lmf/util.h"
#include "lmf/banned.h"

static int fail(char *err, size_t errlen, const char *fmt, ...)
    LMF_PRINTF(3, 4);

static int
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

int
lmf_prompt_encode_chat(struct lmf_template *tmpl, struct lmf_msg *m, int n,
    const char *system, struct lmf_ids *p, char *err, size_t errlen)
{
	struct lmf_ids resp = { 0 };
	int i, rc;

	for (i = 0; i < n; i++)
		if (m[i].role != (i % 2 ? LMF_ROLE_ASSISTANT : LMF_ROLE_USER))
			return fail(err, errlen, "messages must alternate user "
			    "and assistant, starting and ending with user");
	if (!(n % 2))
		return fail(err, errlen, "the last message is not the user's");
	m[n].role = LMF_ROLE_ASSISTANT;
	m[n].content = "";
	rc = lmf_template_encode_oneturn(tmpl, m, n + 1, system, "", p, &resp,
	    err, errlen) ? -1 : 0;
	lmf_ids_free(&resp);
	return rc;
}

static int
encode_text(struct lmf_tok *tok, const char *s, struct lmf_ids *p,
    char *err, size_t errlen)
{
	int32_t *ids;
	size_t n;

	if (lmf_tok_encode(tok, s, strlen(s), 1, &ids, &n, err, errlen))
		return -1;
	lmf_ids_append(p, ids, n);
	free(ids);
	return 0;
}

/* message i of msgs into m[*k], or the system message into *system */
static int
one_message(json_t *e, size_t i, struct lmf_msg *m, int *k,
    const char **system, char *err, size_t errlen)
{
	const char *s = json_string_value(json_object_get(e, "role"));
	int r = s ? lmf_role_parse(s) : -1;

	m[*k].content = (char *)json_string_value(json_object_get(e,
	    "content"));
	if ((r != LMF_ROLE_USER && r != LMF_ROLE_ASSISTANT &&
	    r != LMF_ROLE_SYSTEM) || !m[*k].content)
		return fail(err, errlen, "message %zu is not {\"role\": "
		    "user|assistant|system, \"content\": string}", i + 1);
	if (r == LMF_ROLE_SYSTEM) {
		if (*k)
			return fail(err, errlen, "a system message after the "
			    "first");
		*system = m[*k].content;
		return 0;
	}
	m[(*k)++].role = r;
	return 0;
}

static int
encode_messages(struct lmf_template *tmpl, const char *line, json_t *j,
    const char *system, struct lmf_ids *p, char *err, size_t errlen)
{
	json_t *msgs = j ? json_object_get(j, "messages") : NULL;
	struct lmf_msg *m;
	size_t i;
	int k = 0, rc = 0;

	if (j && !json_is_array(msgs))
		return fail(err, errlen, "no \"messages\" list");
	m = xcalloc((msgs ? json_array_size(msgs) : 1) + 1, sizeof *m);
	if (!msgs) {
		m[0].role = LMF_ROLE_USER;
		m[0].content = (char *)line;
		k = 1;
	}
	for (i = 0; msgs && i < json_array_size(msgs) && !rc; i++)
		rc = one_message(json_array_get(msgs, i), i, m, &k, &system,
		    err, errlen);
	if (!rc)
		rc = lmf_prompt_encode_chat(tmpl, m, k, system, p, err, errlen);
	free(m);
	return rc;
}

int
lmf_prompt_encode(struct lmf_template *tmpl, struct lmf_tok *tok,
    const char *line, const char *system, struct lmf_ids *p, char *err,
    size_t errlen)
{
	json_t *j = NULL;
	json_error_t je;
	const char *s;
	int rc;

	if (!system)
		system = "";
	if (line[0] == '{' && !(j = json_loads(line, 0, &je)))
		return fail(err, errlen, "%s", je.text);
	if (j && (s = json_string_value(json_object_get(j, "system"))))
		system = s;
	if (tmpl) {
		rc = encode_messages(tmpl, line, j, system, p, err, errlen);
	} else {
		s = j ? json_string_value(json_object_get(j, "prompt")) : line;
		rc = s ? encode_text(tok, s, p, err, errlen) :
		    fail(err, errlen, "no \"prompt\" string");
	}
	json_decref(j);
	return rc;
}
