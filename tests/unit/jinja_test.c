/* jinja_test: the Jinja subset (jinja.h) renders what jinja2 renders, as
 * transformers' apply_chat_template sets it up: the chat templates of the
 * shared llama3 and qwen3 tokenizers on system, multi-turn, tool and
 * generation-prompt conversations, and small templates for each construct
 * (tests/golden/jinja/cases.json, written by make_jinja_golden.py with
 * jinja2). Bad templates fail with one line. Needs $TOP; the tokenizer
 * cases are skipped without ../shared. TAP output. */
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "lmf/jinja.h"
#include "lmf/util.h"
#include "tap.h"

static char *
chat_template(const char *top, const char *tok)
{
	char *path = xasprintf("%s/../shared/tokenizers/%s/"
	    "tokenizer_config.json", top, tok);
	json_t *c = json_load_file(path, JSON_DECODE_INT_AS_REAL, NULL);
	char *s = NULL;

	free(path);
	if (c && json_is_string(json_object_get(c, "chat_template")))
		s = xstrdup(json_string_value(json_object_get(c,
		    "chat_template")));
	json_decref(c);
	return s;
}

static void
golden(const char *top)
{
	char *path = xasprintf("%s/tests/golden/jinja/cases.json", top);
	json_t *cases = json_load_file(path, 0, NULL), *c;
	size_t i;
	int skipped = 0;

	ok(cases && json_array_size(cases) > 30, "%s loads", path);
	free(path);
	json_array_foreach(cases, i, c) {
		const char *name = json_string_value(json_object_get(c, "name"));
		const char *tk = json_string_value(json_object_get(c,
		    "tokenizer"));
		const char *want = json_string_value(json_object_get(c, "out"));
		char *src = tk ? chat_template(top, tk) : xstrdup(
		    json_string_value(json_object_get(c, "template")));
		char *out = NULL, err[512] = "";
		int r;

		if (!src) {
			skipped++;
			continue;
		}
		r = lmf_jinja_render_string(src, json_object_get(c, "vars"),
		    &out, err, sizeof err);
		ok(!r && !strcmp(out, want), "%s renders as jinja2", name);
		if (r)
			printf("# %s\n", err);
		else if (strcmp(out, want))
			printf("# got  %s\n# want %s\n", out, want);
		free(out);
		free(src);
	}
	if (skipped)
		printf("# %d cases skipped: no ../shared tokenizers\n",
		    skipped);
	json_decref(cases);
}

/* src fails to parse or render with a one-line err containing msg */
static void
bad(const char *src, const char *msg)
{
	char *out = NULL, err[512] = "";
	json_t *v = json_pack("{s:[{s:s}]}", "messages", "role", "system");
	int r = lmf_jinja_render_string(src, v, &out, err, sizeof err);

	ok(r == -1 && !out && strstr(err, msg) && !strchr(err, '\n'),
	    "'%.40s' fails: %s", src, err);
	json_decref(v);
	free(out);
}

static void
errors(void)
{
	char *deep = xmalloc(20000), *deep2 = xmalloc(20000);

	bad("{% for m in messages %}{{ m }}", "unclosed 'for' block");
	bad("{% if 1 %}x", "unclosed 'if' block");
	bad("{{ 'x' | frobnicate }}", "unknown filter 'frobnicate'");
	bad("{{ x is frob }}", "unknown test 'frob'");
	bad("{{ frob(1) }}", "unknown function 'frob'");
	bad("{% endif %}", "unexpected 'endif'");
	bad("{% macro m() %}{% endmacro %}", "unknown tag 'macro'");
	bad("{{ 'abc }}", "unterminated string");
	bad("{{ 1 + }}", "expected an expression");
	bad("{{ x", "unclosed '{{'");
	bad("{# x", "unclosed comment");
	bad("{% for i in range(10) %}{% for j in range(1000000) %}"
	    "{% endfor %}{% endfor %}", "loop iterations");
	bad("{% for i in range(100000000) %}{% endfor %}", "range of more");
	bad("{% for i in range(1000) %}{% for j in range(1000) %}{{ "
	    "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'"
	    " }}{% endfor %}{% endfor %}", "output longer than");
	bad("{% if messages[0].role == 'system' %}{{ raise_exception("
	    "'System role not supported') }}{% endif %}",
	    "raise_exception: System role not supported");
	bad("{{ nope.attr }}", "'nope' is undefined");
	bad("{{ 1 + 'a' }}", "unsupported operand");
	bad("{% set d = {} %}{% set d.x = 1 %}", "not a namespace");
	bad("{{ messages[0].content.upper() }}", "undefined");
	memset(deep, '(', 10000);
	strcpy(deep + 10000, "1");
	memset(deep2, 0, 1);
	{
		char *src = xasprintf("{{ %s }}", deep);

		bad(src, "nested too deeply");
		free(src);
	}
	deep2[0] = 0;
	for (int i = 0; i < 1000; i++)
		memcpy(deep2 + (size_t)i * 10, "{% if 1 %}", 11);
	bad(deep2, "nested too deeply");
	free(deep);
	free(deep2);
}

int
main(void)
{
	const char *top = getenv("TOP") ? getenv("TOP") : ".";

	golden(top);
	errors();
	return tap_done();
}
