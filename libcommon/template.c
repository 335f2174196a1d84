/* template.c: LLaMA-Factory's chat templates as tables of slots, their
 * tool formats (default, qwen, mistral, llama3 calls), and the encoders of
 * Template, Llama2Template and ReasoningTemplate (spec 3.2). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "lmf/jinja.h"
#include "lmf/pyjson.h"
#include "lmf/template.h"
#include "lmf/util.h"
#include "lmf/banned.h"

enum { END, STR, BOS, EOS };
enum { CLS_PLAIN, CLS_LLAMA2, CLS_REASONING };

struct slot {
	int type;
	const char *s;
};

#define S(x) { STR, x }
#define B { BOS, NULL }
#define E { EOS, NULL }
#define MAXSLOT 4

struct tdef {
	const char *name;
	struct slot prefix[MAXSLOT], system[MAXSLOT], user[MAXSLOT],
	    assistant[MAXSLOT], function[MAXSLOT], observation[MAXSLOT];
	const char *default_system;
	const char *stop[3];
	int replace_eos, efficient_eos, cls;
	const char *tool_format;
};

#define QWEN_SLOTS \
	.system = { S("<|im_start|>system\n{{content}}<|im_end|>\n") }, \
	.user = { S("<|im_start|>user\n{{content}}<|im_end|>\n" \
	    "<|im_start|>assistant\n") }, \
	.assistant = { S("{{content}}<|im_end|>\n") }, \
	.function = { S("{{content}}<|im_end|>\n") }, \
	.observation = { S("<|im_start|>user\n<tool_response>\n{{content}}\n" \
	    "</tool_response><|im_end|>\n<|im_start|>assistant\n") }, \
	.stop = { "<|im_end|>" }, .replace_eos = 1, .tool_format = "qwen"

static const struct tdef tdefs[] = {
	{ .name = "default",
	  .user = { S("Human: {{content}}"), E, S("\nAssistant:") },
	  .assistant = { S("{{content}}"), E, S("\n") },
	  .system = { S("System: {{content}}"), E, S("\n") } },
	{ .name = "empty",
	  .assistant = { S("{{content}}") } },
	{ .name = "alpaca",
	  .user = { S("### Instruction:\n{{content}}\n\n### Response:\n") },
	  .assistant = { S("{{content}}"), E, S("\n\n") },
	  .default_system = "Below is an instruction that describes a task. "
	    "Write a response that appropriately completes the request.\n\n" },
	{ .name = "vicuna",
	  .user = { S("USER: {{content}} ASSISTANT:") },
	  .default_system = "A chat between a curious user and an artificial "
	    "intelligence assistant. The assistant gives helpful, detailed, "
	    "and polite answers to the user's questions." },
	{ .name = "llama2", .cls = CLS_LLAMA2,
	  .user = { B, S("[INST] {{content}} [/INST]") },
	  .system = { S("<<SYS>>\n{{content}}\n<</SYS>>\n\n") } },
	{ .name = "llama3",
	  .prefix = { B },
	  .system = { S("<|start_header_id|>system<|end_header_id|>\n\n"
	    "{{content}}<|eot_id|>") },
	  .user = { S("<|start_header_id|>user<|end_header_id|>\n\n"
	    "{{content}}<|eot_id|><|start_header_id|>assistant"
	    "<|end_header_id|>\n\n") },
	  .assistant = { S("{{content}}<|eot_id|>") },
	  .function = { S("{{content}}<|eot_id|>") },
	  .observation = { S("<|start_header_id|>ipython<|end_header_id|>\n\n"
	    "{{content}}<|eot_id|><|start_header_id|>assistant"
	    "<|end_header_id|>\n\n") },
	  .stop = { "<|eot_id|>", "<|eom_id|>" }, .replace_eos = 1,
	  .tool_format = "llama3" },
	{ .name = "mistral", .cls = CLS_LLAMA2,
	  .prefix = { B },
	  .user = { S("[INST] {{content}}[/INST]") },
	  .assistant = { S(" {{content}}"), E },
	  .system = { S("{{content}}\n\n") },
	  .function = { S("[TOOL_CALLS] {{content}}"), E },
	  .observation = { S("[TOOL_RESULTS] {\"content\": {{content}}}"
	    "[/TOOL_RESULTS]") },
	  .tool_format = "mistral" },
	{ .name = "qwen", QWEN_SLOTS,
	  .default_system = "You are Qwen, created by Alibaba Cloud. You are "
	    "a helpful assistant." },
	{ .name = "qwen3", QWEN_SLOTS, .cls = CLS_REASONING },
	{ .name = "qwen3_nothink", QWEN_SLOTS },
	{ .name = "chatml",
	  .system = { S("<|im_start|>system\n{{content}}<|im_end|>\n") },
	  .user = { S("<|im_start|>user\n{{content}}<|im_end|>\n"
	    "<|im_start|>assistant\n") },
	  .assistant = { S("{{content}}<|im_end|>\n") },
	  .observation = { S("<|im_start|>tool\n{{content}}<|im_end|>\n"
	    "<|im_start|>assistant\n") },
	  .stop = { "<|im_end|>", "<|im_start|>" }, .replace_eos = 1 },
	{ .name = "gemma", .cls = CLS_LLAMA2,
	  .prefix = { B },
	  .user = { S("<start_of_turn>user\n{{content}}<end_of_turn>\n"
	    "<start_of_turn>model\n") },
	  .assistant = { S("{{content}}<end_of_turn>\n") },
	  .system = { S("{{content}}\n\n") },
	  .observation = { S("<start_of_turn>tool\n{{content}}<end_of_turn>\n"
	    "<start_of_turn>model\n") },
	  .stop = { "<end_of_turn>" }, .replace_eos = 1 },
	{ .name = "phi",
	  .user = { S("<|user|>\n{{content}}<|end|>\n<|assistant|>\n") },
	  .assistant = { S("{{content}}<|end|>\n") },
	  .system = { S("<|system|>\n{{content}}<|end|>\n") },
	  .stop = { "<|end|>" }, .replace_eos = 1 },
	{ .name = "phi4",
	  .user = { S("<|im_start|>user<|im_sep|>{{content}}<|im_end|>"
	    "<|im_start|>assistant<|im_sep|>") },
	  .assistant = { S("{{content}}<|im_end|>") },
	  .system = { S("<|im_start|>system<|im_sep|>{{content}}<|im_end|>") },
	  .stop = { "<|im_end|>" }, .replace_eos = 1 },
};

#define NTDEF (sizeof tdefs / sizeof tdefs[0])

struct lmf_template {
	const struct tdef *d;
	struct lmf_tok *tok;
	struct slot user[MAXSLOT], assistant[MAXSLOT], system[MAXSLOT],
	    function[MAXSLOT], observation[MAXSLOT];
	const char *default_system;
	const char *tool_format;
	int enable_thinking, preserve_thinking;
	struct tdef *own;            /* a parsed chat_template's slots */
};

void
lmf_ids_push(struct lmf_ids *a, int32_t id)
{
	lmf_ids_append(a, &id, 1);
}

void
lmf_ids_append(struct lmf_ids *a, const int32_t *v, size_t n)
{
	if (!n)
		return;
	if (a->n + n > a->cap) {
		a->cap = (a->n + n) * 2 + 16;
		a->v = xrealloc(a->v, a->cap * sizeof *a->v);
	}
	memcpy(a->v + a->n, v, n * sizeof *v);
	a->n += n;
}

void
lmf_ids_free(struct lmf_ids *a)
{
	free(a->v);
	memset(a, 0, sizeof *a);
}

const char *
lmf_template_stop_word(const struct lmf_template *t, int i)
{
	int n = (int)(sizeof t->d->stop / sizeof t->d->stop[0]);

	return i >= 0 && i < n ? t->d->stop[i] : NULL;
}

const char *
lmf_template_list(void)
{
	static char buf[512];

	if (!buf[0])
		for (size_t i = 0; i < NTDEF; i++) {
			size_t l = strlen(buf);

			snprintf(buf + l, sizeof buf - l, "%s%s", i ? ", " : "",
			    tdefs[i].name);
		}
	return buf;
}

static void
copy_slots(struct slot *dst, const struct slot *src, const struct slot *dflt)
{
	memcpy(dst, src[0].type != END ? src : dflt, MAXSLOT * sizeof *dst);
}

static struct lmf_template *bind(const struct tdef *d, struct tdef *owned,
    struct lmf_tok *tok, const struct lmf_template_opts *o, char *err,
    size_t errlen);

int
lmf_template_known(const char *name)
{
	for (size_t i = 0; i < NTDEF; i++)
		if (!strcmp(tdefs[i].name, name))
			return 1;
	return 0;
}

struct lmf_template *
lmf_template_new(const char *name, struct lmf_tok *tok,
    const struct lmf_template_opts *o, char *err, size_t errlen)
{
	const struct tdef *d = NULL;

	for (size_t i = 0; i < NTDEF; i++)
		if (!strcmp(tdefs[i].name, name))
			d = &tdefs[i];
	if (!d) {
		lmf_seterr(err, errlen, "unknown template '%s' (%s)", name,
		    lmf_template_list());
		return NULL;
	}
	return bind(d, NULL, tok, o, err, errlen);
}

/* the template d bound to tok (owned: d itself, freed with it) */
static struct lmf_template *
bind(const struct tdef *d, struct tdef *owned, struct lmf_tok *tok,
    const struct lmf_template_opts *o, char *err, size_t errlen)
{
	static const struct slot content[MAXSLOT] = { S("{{content}}") };
	static const struct slot content_eos[MAXSLOT] = { S("{{content}}"), E };
	const char *name = d->name;
	struct lmf_template *t;

	t = xcalloc(1, sizeof *t);
	t->own = owned;
	t->d = d;
	t->tok = tok;
	copy_slots(t->user, d->user, content);
	copy_slots(t->assistant, d->assistant, d->efficient_eos ? content :
	    content_eos);
	copy_slots(t->system, d->system, content);
	copy_slots(t->function, d->function, t->assistant);
	copy_slots(t->observation, d->observation, t->user);
	t->default_system = o && o->default_system ? o->default_system :
	    d->default_system ? d->default_system : "";
	t->tool_format = o && o->tool_format ? o->tool_format :
	    d->tool_format ? d->tool_format : "default";
	if (strcmp(t->tool_format, "default") && strcmp(t->tool_format, "qwen")
	    && strcmp(t->tool_format, "mistral") && strcmp(t->tool_format,
	    "llama3")) {
		lmf_seterr(err, errlen,
		    "unknown tool_format '%s' (default, qwen, "
		    "mistral, llama3)", t->tool_format);
		lmf_template_free(t);
		return NULL;
	}
	t->enable_thinking = o ? o->enable_thinking : 1;
	t->preserve_thinking = o ? o->preserve_thinking : 0;
	/* spec 3.3: the special-token fixes */
	if (d->replace_eos && lmf_tok_set_special(tok, "eos", d->stop[0], 1)) {
		lmf_seterr(err, errlen,
		    "template '%s': cannot make '%s' the eos "
		    "token", name, d->stop[0]);
		lmf_template_free(t);
		return NULL;
	}
	/* the other stop words become additional special tokens (only
	 * those the vocabulary has: lmf adds no token there) */
	for (int i = d->replace_eos ? 1 : 0; i < 3 && d->stop[i]; i++)
		lmf_tok_set_special(tok, "additional", d->stop[i], 0);
	if (lmf_tok_eos_id(tok) < 0 && lmf_tok_set_special(tok, "eos",
	    "<|endoftext|>", 1)) {
		lmf_seterr(err, errlen, "cannot add an eos token");
		lmf_template_free(t);
		return NULL;
	}
	if (lmf_tok_pad_id(tok) < 0) {
		const char *eos = lmf_tok_id_to_token(tok, lmf_tok_eos_id(tok));

		if (!eos || lmf_tok_set_special(tok, "pad", eos, 0)) {
			lmf_seterr(err, errlen, "cannot set the pad token");
			lmf_template_free(t);
			return NULL;
		}
	}
	return t;
}

static void
free_tdef(struct tdef *d)
{
	if (!d)
		return;
	free((char *)d->prefix[0].s);
	free((char *)d->system[0].s);
	free((char *)d->user[0].s);
	free((char *)d->assistant[0].s);
	free((char *)d->default_system);
	free(d);
}

void
lmf_template_free(struct lmf_template *t)
{
	if (!t)
		return;
	free_tdef(t->own);
	free(t);
}

const char *
lmf_template_name(const struct lmf_template *t)
{
	return t->d->name;
}

int
lmf_template_efficient_eos(const struct lmf_template *t)
{
	return t->d->efficient_eos;
}

int
lmf_template_preserve_thinking(const struct lmf_template *t)
{
	return t->preserve_thinking;
}

/* ---- text helpers ---- */

/* s with the first occurrence of key replaced by val (allocated) */
static char *
replace1(const char *s, const char *key, const char *val)
{
	const char *p = strstr(s, key);
	struct lmf_buf b = { 0 };

	if (!p)
		return xstrdup(s);
	lmf_buf_add(&b, s, (size_t)(p - s));
	lmf_buf_puts(&b, val);
	lmf_buf_puts(&b, p + strlen(key));
	return b.s;
}

static int
encode_text(struct lmf_template *t, const char *s, struct lmf_ids *out,
    char *err, size_t errlen)
{
	int32_t *ids;
	size_t n;

	if (!*s)
		return 0;
	if (lmf_tok_encode(t->tok, s, strlen(s), 0, &ids, &n, err, errlen))
		return -1;
	lmf_ids_append(out, ids, n);
	free(ids);
	return 0;
}

/* a formatter's slots with content (and idx) substituted, encoded */
static int
apply(struct lmf_template *t, const struct slot *sl, const char *content,
    const char *idx, struct lmf_ids *out, char *err, size_t errlen)
{
	for (int i = 0; i < MAXSLOT && sl[i].type != END; i++) {
		int32_t id;

		if (sl[i].type == BOS || sl[i].type == EOS) {
			id = sl[i].type == BOS ? lmf_tok_bos_id(t->tok) :
			    lmf_tok_eos_id(t->tok);
			if (id >= 0)
				lmf_ids_push(out, id);
		} else {
			char *a = content ? replace1(sl[i].s, "{{content}}",
			    content) : xstrdup(sl[i].s);
			char *b = idx ? replace1(a, "{{idx}}", idx) : xstrdup(a);
			int rc = encode_text(t, b, out, err, errlen);

			free(a);
			free(b);
			if (rc)
				return -1;
		}
	}
	return 0;
}

/* ---- tools ---- */

static const char *
jstr(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	return json_is_string(v) ? json_string_value(v) : "";
}

/* a value as str.format shows it: str(), strings bare */
static void
add_plain(struct lmf_buf *b, json_t *v)
{
	char *s;

	if (!v)
		return;
	s = lmf_py_str(v);
	lmf_buf_puts(b, s);
	free(s);
}

/* Python's truth of a JSON value */
static int
py_truthy(const json_t *v)
{
	switch (v ? json_typeof(v) : JSON_NULL) {
	case JSON_OBJECT: return json_object_size(v) > 0;
	case JSON_ARRAY: return json_array_size(v) > 0;
	case JSON_STRING: return json_string_length(v) > 0;
	case JSON_INTEGER: return json_integer_value(v) != 0;
	case JSON_REAL: return json_real_value(v) != 0;
	case JSON_TRUE: return 1;
	default: return 0;
	}
}

/* ", should be one of [" ", ".join(en) "]": a list of strings, a string's
 * characters or a mapping's keys, as Python iterates them; -1 where its
 * join raises (other elements, a number or a boolean) */
static int
enum_join(struct lmf_buf *b, const json_t *en)
{
	const char *s = json_string_value(en), *k;
	size_t i, n, len;
	json_t *x;

	lmf_buf_puts(b, ", should be one of [");
	if (json_is_string(en)) {
		n = json_string_length(en);
		for (i = 0; i < n; i += len) {
			/* one UTF-8 code point: its lead byte says how long */
			unsigned char c = (unsigned char)s[i];

			len = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
			len = len > n - i ? n - i : len;
			if (i)
				lmf_buf_puts(b, ", ");
			lmf_buf_add(b, s + i, len);
		}
	} else if (json_is_object(en)) {
		i = 0;
		json_object_foreach((json_t *)en, k, x) {
			if (i++)
				lmf_buf_puts(b, ", ");
			lmf_buf_puts(b, k);
		}
	} else if (json_is_array(en)) {
		json_array_foreach(en, i, x) {
			if (!json_is_string(x))
				return -1;
			if (i)
				lmf_buf_puts(b, ", ");
			lmf_buf_puts(b, json_string_value(x));
		}
	} else {
		return -1;
	}
	lmf_buf_puts(b, "]");
	return 0;
}

/* LLaMA-Factory's DefaultToolUtils.tool_formatter: the tool list as
 * text; -1 (err set) where its Python raises (a tool or parameter that
 * is not a mapping, no name or properties, an enum of other than
 * strings, items that are not a mapping), so such a row is refused */
static int
tools_default(json_t *tools, struct lmf_buf *out, char *err, size_t errlen)
{
	struct lmf_buf text = { 0 }, names = { 0 };
	int rc = -1;

	lmf_buf_add(&text, "", 0);
	lmf_buf_add(&names, "", 0);
	for (size_t i = 0; i < json_array_size(tools); i++) {
		json_t *tool = json_array_get(tools, i), *props, *req, *k;
		const char *pname;

		if (json_is_object(tool) && !strcmp(jstr(tool, "type"),
		    "function"))
			tool = json_object_get(tool, "function");
		props = json_object_get(json_object_get(tool, "parameters"),
		    "properties");
		req = json_object_get(json_object_get(tool, "parameters"),
		    "required");
		if (!json_is_object(tool) || !json_is_object(props) ||
		    !json_is_string(json_object_get(tool, "name"))) {
			lmf_seterr(err, errlen, "tool %zu: not a mapping with a "
			    "name and parameters.properties", i);
			goto out;
		}
		lmf_buf_puts(&text, "> Tool Name: ");
		lmf_buf_puts(&text, jstr(tool, "name"));
		lmf_buf_puts(&text, "\nTool Description: ");
		add_plain(&text, json_object_get(tool, "description"));
		lmf_buf_puts(&text, "\nTool Args:\n");
		json_object_foreach(props, pname, k) {
			int required = 0;
			json_t *en, *items;

			if (!json_is_object(k)) {
				lmf_seterr(err, errlen, "tool %zu: parameter "
				    "'%s' is not a mapping", i, pname);
				goto out;
			}
			en = json_object_get(k, "enum");
			items = json_object_get(k, "items");
			/* name in parameters.get("required", []) */
			if (req && !json_is_array(req) && !json_is_string(req) &&
			    !json_is_object(req)) {
				lmf_seterr(err, errlen, "tool %zu: 'required' is "
				    "not a list", i);
				goto out;
			}
			if (json_is_string(req))
				required = strstr(json_string_value(req),
				    pname) != NULL;
			if (json_is_object(req))
				required = json_object_get(req, pname) != NULL;
			for (size_t r = 0; r < json_array_size(req); r++)
				if (!strcmp(json_string_value(json_array_get(
				    req, r)) ? json_string_value(json_array_get(
				    req, r)) : "", pname))
					required = 1;
			lmf_buf_puts(&text, "  - ");
			lmf_buf_puts(&text, pname);
			lmf_buf_puts(&text, " (");
			add_plain(&text, json_object_get(k, "type"));
			lmf_buf_puts(&text, required ? ", required): " : "): ");
			add_plain(&text, json_object_get(k, "description"));
			if (py_truthy(en) && enum_join(&text, en) < 0) {
				lmf_seterr(err, errlen, "tool %zu: '%s': an enum "
				    "of other than strings", i, pname);
				goto out;
			}
			if (py_truthy(items)) {
				if (!json_is_object(items)) {
					lmf_seterr(err, errlen, "tool %zu: '%s': "
					    "items is not a mapping", i, pname);
					goto out;
				}
				lmf_buf_puts(&text, ", where each item should be ");
				add_plain(&text, json_object_get(items, "type"));
			}
			lmf_buf_puts(&text, "\n");
		}
		lmf_buf_puts(&text, "\n");
		if (i)
			lmf_buf_puts(&names, ", ");
		lmf_buf_puts(&names, jstr(tool, "name"));
	}
	lmf_buf_puts(out, "You have access to the following tools:\n");
	lmf_buf_puts(out, text.s);
	lmf_buf_puts(out, "Use the following format if using a tool:\n```\n"
	    "Action: tool name (one of [");
	lmf_buf_puts(out, names.s);
	lmf_buf_puts(out, "])\nAction Input: the input to the tool, in a JSON format "
	    "representing the kwargs (e.g. ```{\"input\": \"hello world\", "
	    "\"num_beams\": 5}```)\n```\n");
	rc = 0;
out:
	free(text.s);
	free(names.s);
	return rc;
}

static json_t *
wrap_function(json_t *tool)
{
	if (!strcmp(jstr(tool, "type"), "function"))
		return json_incref(tool);
	return json_pack("{s:s,s:O}", "type", "function", "function", tool);
}

static int
format_tools(struct lmf_template *t, const char *tools, struct lmf_buf *out,
    char *err, size_t errlen)
{
	json_t *v = json_loads(tools, JSON_DECODE_ANY, NULL);

	if (!json_is_array(v)) {
		lmf_seterr(err, errlen, "tools are not a JSON list");
		json_decref(v);
		return -1;
	}
	lmf_buf_add(out, "", 0);
	if (!json_array_size(v)) {
		json_decref(v);
		return 0;
	}
	if (!strcmp(t->tool_format, "default")) {
		if (tools_default(v, out, err, errlen)) {
			json_decref(v);
			return -1;
		}
	} else if (!strcmp(t->tool_format, "qwen")) {
		lmf_buf_puts(out, "\n\n# Tools\n\nYou may call one or more functions to "
		    "assist with the user query.\n\nYou are provided with "
		    "function signatures within <tools></tools> XML tags:\n"
		    "<tools>");
		for (size_t i = 0; i < json_array_size(v); i++) {
			json_t *w = wrap_function(json_array_get(v, i));
			char *s = lmf_json_dumps_py(w);

			lmf_buf_puts(out, "\n");
			lmf_buf_puts(out, s);
			free(s);
			json_decref(w);
		}
		lmf_buf_puts(out, "\n</tools>\n\nFor each function call, return a json "
		    "object with function name and arguments within "
		    "<tool_call></tool_call> XML tags:\n<tool_call>\n"
		    "{\"name\": <function-name>, \"arguments\": "
		    "<args-json-object>}\n</tool_call>");
	} else if (!strcmp(t->tool_format, "mistral")) {
		json_t *a = json_array();
		char *s;

		for (size_t i = 0; i < json_array_size(v); i++)
			json_array_append_new(a, wrap_function(json_array_get(v,
			    i)));
		s = lmf_json_dumps_py(a);
		lmf_buf_puts(out, "[AVAILABLE_TOOLS] ");
		lmf_buf_puts(out, s);
		lmf_buf_puts(out, "[/AVAILABLE_TOOLS]");
		free(s);
		json_decref(a);
	} else {
		lmf_seterr(err, errlen,
		    "the %s tool prompt (it holds today's date) "
		    "is not implemented", t->tool_format);
		json_decref(v);
		return -1;
	}
	json_decref(v);
	return 0;
}

/* a function message's content as the tool format writes calls */
static int
format_function(struct lmf_template *t, const char *content, struct lmf_buf *out,
    char *err, size_t errlen)
{
	const char *t0 = strstr(content, "<think>\n"), *t1 = NULL;
	char *body;
	json_t *calls;
	const char *tf = t->tool_format;
	size_t n;

	if (t0)
		for (const char *p = strstr(t0 + 8, "\n</think>\n\n"); p;
		    p = strstr(p + 1, "\n</think>\n\n"))
			t1 = p;
	if (t0 && t1) {
		struct lmf_buf b = { 0 };

		lmf_buf_add(&b, content, (size_t)(t0 - content));
		lmf_buf_puts(&b, t1 + 11);
		body = b.s;
		lmf_buf_add(out, t0, (size_t)(t1 + 11 - t0));
	} else {
		body = xstrdup(content);
		lmf_buf_add(out, "", 0);
	}
	calls = json_loads(body, JSON_DECODE_ANY, NULL);
	free(body);
	if (!calls) {
		lmf_seterr(err, errlen, "a function message is not JSON");
		return -1;
	}
	if (!json_is_array(calls)) {
		json_t *a = json_array();

		json_array_append_new(a, calls);
		calls = a;
	}
	n = json_array_size(calls);
	for (size_t i = 0; i < n; i++) {
		json_t *c = json_array_get(calls, i);

		if (!json_is_string(json_object_get(c, "name")) ||
		    !json_object_get(c, "arguments")) {
			lmf_seterr(err, errlen,
			    "a function call without name or "
			    "arguments");
			json_decref(calls);
			return -1;
		}
	}
	if (!strcmp(tf, "default") || !strcmp(tf, "qwen")) {
		for (size_t i = 0; i < n; i++) {
			json_t *c = json_array_get(calls, i);
			char *s;

			if (i)
				lmf_buf_puts(out, "\n");
			if (!strcmp(tf, "default")) {
				s = lmf_json_dumps_py(json_object_get(c,
				    "arguments"));
				lmf_buf_puts(out, "Action: ");
				lmf_buf_puts(out, jstr(c, "name"));
				lmf_buf_puts(out, "\nAction Input: ");
			} else {
				json_t *o = json_pack("{s:O,s:O}", "name",
				    json_object_get(c, "name"), "arguments",
				    json_object_get(c, "arguments"));

				s = lmf_json_dumps_py(o);
				json_decref(o);
				lmf_buf_puts(out, "<tool_call>\n");
			}
			lmf_buf_puts(out, s);
			if (!strcmp(tf, "qwen"))
				lmf_buf_puts(out, "\n</tool_call>");
			free(s);
		}
	} else {
		const char *akey = !strcmp(tf, "llama3") ? "parameters" :
		    "arguments";
		json_t *a = json_array();
		char *s;

		for (size_t i = 0; i < n; i++) {
			json_t *c = json_array_get(calls, i);

			json_array_append_new(a, json_pack("{s:O,s:O}", "name",
			    json_object_get(c, "name"), akey,
			    json_object_get(c, "arguments")));
		}
		s = lmf_json_dumps_py(!strcmp(tf, "llama3") && n == 1 ?
		    json_array_get(a, 0) : a);
		lmf_buf_puts(out, s);
		free(s);
		json_decref(a);
	}
	json_decref(calls);
	return 0;
}

/* ---- encoders ---- */

/* Template._encode (and Llama2Template's): one id list per message */
static int
encode_messages(struct lmf_template *t, const struct lmf_msg *m, int n,
    const char *system, const char *tools, struct lmf_ids *enc, char *err,
    size_t errlen)
{
	const char *sys = system && *system ? system : t->default_system;

	for (int i = 0; i < n; i++) {
		struct lmf_ids *e = &enc[i];
		char *systext = NULL;
		char idx[24];
		int rc = 0;

		if (i == 0) {
			if (apply(t, t->d->prefix, NULL, NULL, e, err, errlen))
				return -1;
			if (*sys || (tools && *tools)) {
				struct lmf_buf s = { 0 };

				lmf_buf_add(&s, "", 0);
				lmf_buf_puts(&s, sys);
				if (tools && *tools) {
					struct lmf_buf tt = { 0 };

					if (format_tools(t, tools, &tt, err,
					    errlen)) {
						free(s.s);
						return -1;
					}
					lmf_buf_puts(&s, tt.s);
					free(tt.s);
				}
				if (t->d->cls == CLS_LLAMA2) {
					systext = replace1(t->system[0].s ?
					    t->system[0].s : "", "{{content}}",
					    s.s);
				} else if (apply(t, t->system, s.s, NULL, e,
				    err, errlen)) {
					free(s.s);
					return -1;
				}
				free(s.s);
			}
		}
		snprintf(idx, sizeof idx, "%d", i / 2);
		switch (m[i].role) {
		case LMF_ROLE_USER:
			if (systext) {
				char *c = xasprintf("%s%s", systext,
				    m[i].content);

				rc = apply(t, t->user, c, idx, e, err, errlen);
				free(c);
			} else {
				rc = apply(t, t->user, m[i].content, idx, e,
				    err, errlen);
			}
			break;
		case LMF_ROLE_ASSISTANT:
			rc = apply(t, t->assistant, m[i].content, NULL, e, err,
			    errlen);
			break;
		case LMF_ROLE_OBSERVATION:
			rc = apply(t, t->observation, m[i].content, NULL, e,
			    err, errlen);
			break;
		case LMF_ROLE_FUNCTION: {
			struct lmf_buf f = { 0 };

			rc = format_function(t, m[i].content, &f, err, errlen);
			if (!rc)
				rc = apply(t, t->function, f.s, NULL, e, err,
				    errlen);
			free(f.s);
			break;
		}
		default:
			lmf_seterr(err, errlen, "unexpected role '%s'",
			    lmf_role_name(m[i].role));
			rc = -1;
		}
		free(systext);
		if (rc)
			return -1;
	}
	return 0;
}

/* ReasoningTemplate.remove_thought */
static char *
remove_thought(const char *c)
{
	struct lmf_buf b = { 0 };
	const char *p = c, *s, *e;

	lmf_buf_add(&b, "", 0);
	while ((s = strstr(p, "<think>\n")) && (e = strstr(s + 8,
	    "\n</think>\n\n"))) {
		lmf_buf_add(&b, p, (size_t)(s - p));
		p = e + 11;
	}
	lmf_buf_puts(&b, p);
	p = b.s;
	while (*p == '\n')
		p++;
	p = xstrdup(p);
	free(b.s);
	return (char *)p;
}

static int
has_thought(const char *c)
{
	return strstr(c, "<think>") || strstr(c, "</think>");
}

static struct lmf_msg *
copy_msgs(const struct lmf_msg *m, int n)
{
	struct lmf_msg *c = xmallocarray(n ? n : 1, sizeof *c);

	for (int i = 0; i < n; i++) {
		c[i].role = m[i].role;
		c[i].content = xstrdup(m[i].content);
	}
	return c;
}

static void
free_msgs(struct lmf_msg *m, int n)
{
	for (int i = 0; i < n; i++)
		free(m[i].content);
	free(m);
}

static void
strip(struct lmf_msg *m)
{
	char *s = remove_thought(m->content);

	free(m->content);
	m->content = s;
}

int
lmf_template_encode_multiturn(struct lmf_template *t,
    const struct lmf_msg *m, int n, const char *system, const char *tools,
    int discard_history_cot, struct lmf_ids *enc, char *err, size_t errlen)
{
	struct lmf_msg *c;
	struct lmf_ids think = { 0 };
	int rc;

	if (t->d->cls != CLS_REASONING)
		return encode_messages(t, m, n, system, tools, enc, err,
		    errlen);
	c = copy_msgs(m, n);
	for (int i = 1; i < n; i += 2)
		if (!t->enable_thinking || (discard_history_cot && i < n - 1))
			strip(&c[i]);
	rc = encode_messages(t, c, n, system, tools, enc, err, errlen);
	if (!rc)
		rc = encode_text(t, "<think>\n\n</think>\n\n", &think, err,
		    errlen);
	for (int i = 0; !rc && i + 1 < n; i += 2) {
		if (discard_history_cot && i + 2 < n)
			continue;
		if (has_thought(c[i + 1].content))
			continue;
		if (!t->enable_thinking) {
			lmf_ids_append(&enc[i], think.v, think.n);
		} else {
			struct lmf_ids x = { 0 };

			lmf_ids_append(&x, think.v, think.n);
			lmf_ids_append(&x, enc[i + 1].v, enc[i + 1].n);
			lmf_ids_free(&enc[i + 1]);
			enc[i + 1] = x;
		}
	}
	lmf_ids_free(&think);
	free_msgs(c, n);
	return rc;
}

int
lmf_template_encode_oneturn(struct lmf_template *t,
    const struct lmf_msg *m, int n, const char *system, const char *tools,
    struct lmf_ids *prompt, struct lmf_ids *resp, char *err, size_t errlen)
{
	struct lmf_msg *c = copy_msgs(m, n);
	struct lmf_ids *enc = xcalloc(n, sizeof *enc);
	int rc, reasoning = t->d->cls == CLS_REASONING;

	if (reasoning) {
		if (!t->preserve_thinking)
			for (int i = 1; i < n - 2; i += 2)
				strip(&c[i]);
		if (!t->enable_thinking)
			strip(&c[n - 1]);
	}
	rc = encode_messages(t, c, n, system, tools, enc, err, errlen);
	for (int i = 0; !rc && i < n - 1; i++)
		lmf_ids_append(prompt, enc[i].v, enc[i].n);
	if (!rc && reasoning && !has_thought(c[n - 1].content)) {
		struct lmf_ids think = { 0 };

		rc = encode_text(t, "<think>\n\n</think>\n\n", &think, err,
		    errlen);
		if (!rc && !t->enable_thinking)
			lmf_ids_append(prompt, think.v, think.n);
		else if (!rc)
			lmf_ids_append(resp, think.v, think.n);
		lmf_ids_free(&think);
	}
	if (!rc)
		lmf_ids_append(resp, enc[n - 1].v, enc[n - 1].n);
	for (int i = 0; i < n; i++)
		lmf_ids_free(&enc[i]);
	free(enc);
	free_msgs(c, n);
	return rc;
}

/* ---- spec 3.3 rule 6: a template from the tokenizer's chat_template ---- */

/* s past its first n characters (code points), as Python's s[n:] */
static const char *
skip_chars(const char *s, size_t n)
{
	while (*s && n) {
		s++;
		while (((unsigned char)*s & 0xc0) == 0x80)
			s++;
		n--;
	}
	return s;
}

static size_t
nchars(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

static size_t
char_len(const char *s)
{
	size_t n = 1;

	while (s[n] && ((unsigned char)s[n] & 0xc0) == 0x80)
		n++;
	return n;
}

/* LLaMA-Factory's find_diff: the characters of long_s left over when
 * short_s is matched against it greedily */
static char *
find_diff(const char *short_s, const char *long_s)
{
	struct lmf_buf b = { 0 };

	lmf_buf_add(&b, "", 0);
	while (*short_s && *long_s) {
		size_t a = char_len(short_s), l = char_len(long_s);

		if (a == l && !memcmp(short_s, long_s, a))
			short_s += a;
		else
			lmf_buf_add(&b, long_s, l);
		long_s += l;
	}
	return b.s;
}

/* apply_chat_template(messages, tokenize=False) of pairs role, content */
static char *
render_probe(struct lmf_jinja *j, json_t *special, int gen, int n,
    const char **rc, char *err, size_t errlen)
{
	json_t *v = json_deep_copy(special), *m = json_array();
	char *out, e2[400];

	for (int i = 0; i < n; i++)
		json_array_append_new(m, json_pack("{s:s,s:s}", "role",
		    rc[2 * i], "content", rc[2 * i + 1]));
	json_object_set_new(v, "messages", m);
	json_object_set_new(v, "tools", json_null());
	json_object_set_new(v, "documents", json_null());
	json_object_set_new(v, "add_generation_prompt", json_boolean(gen));
	if (lmf_jinja_render(j, v, &out, e2, sizeof e2)) {
		lmf_seterr(err, errlen, "chat_template: %s", e2);
		out = NULL;
	}
	json_decref(v);
	return out;
}

static int
ends_with(const char *s, const char *g)
{
	size_t n = strlen(s), k = strlen(g);

	return k <= n && !strcmp(s + n - k, g);
}

/* a generation prompt the template prints whatever add_generation_prompt
 * says: the text it renders for no messages (less a leading bos_token)
 * when it also ends the rendered user-only and user+assistant (r3)
 * conversations; "" when none, or when the template refuses an empty
 * conversation */
static char *
unconditional_gen(struct lmf_jinja *j, json_t *special, const char *r3)
{
	static const char *usr[] = { "user", "{{content}}" };
	const char *bos = json_string_value(json_object_get(special,
	    "bos_token"));
	char *e, *u, *g = NULL, e2[400];

	if (!(e = render_probe(j, special, 0, 0, NULL, e2, sizeof e2)))
		return xstrdup("");
	if (!(u = render_probe(j, special, 0, 1, usr, e2, sizeof e2))) {
		free(e);
		return xstrdup("");
	}
	{
		const char *c[2] = { e, bos && *bos && !strncmp(e, bos,
		    strlen(bos)) ? e + strlen(bos) : "" };

		for (int i = 0; i < 2 && !g; i++)
			if (*c[i] && ends_with(r3, c[i]) && ends_with(u, c[i]))
				g = xstrdup(c[i]);
	}
	free(e);
	free(u);
	return g ? g : xstrdup("");
}

/* s without a trailing g, if it ends with g and keeps its {{content}} */
static char *
strip_tail(const char *s, const char *g)
{
	size_t n = strlen(s), k = strlen(g);
	char *r = xstrdup(s);

	if (k && ends_with(s, g)) {
		r[n - k] = '\0';
		if (!strstr(r, "{{content}}")) {
			free(r);
			r = xstrdup(s);
		}
	}
	return r;
}

static char *
remove_all(const char *s, const char *key)
{
	char *r = xstrdup(s), *p;
	size_t k = strlen(key);

	while ((p = strstr(r, key)))
		memmove(p, p + k, strlen(p + k) + 1);
	return r;
}

struct lmf_template *
lmf_template_parse(const char *src, struct lmf_tok *tok,
    const struct lmf_template_opts *o, char *err, size_t errlen)
{
	static const char *sys[] = { "system", "{{content}}" };
	static const char *ues[] = { "system", "", "user", "{{content}}" };
	static const char *usr[] = { "user", "{{content}}" };
	static const char *ast[] = { "user", "{{content}}", "assistant",
		"{{content}}" };
	static const char *const names[] = { "bos_token", "eos_token",
		"unk_token", "pad_token" };
	int32_t ids4[4] = { lmf_tok_bos_id(tok), lmf_tok_eos_id(tok),
		lmf_tok_unk_id(tok), lmf_tok_pad_id(tok) };
	char *r[4] = { NULL, NULL, NULL, NULL }, *prefix = NULL, *a2 = NULL;
	char *gen = NULL, *sys2 = NULL;
	struct lmf_jinja *j;
	struct lmf_template *t = NULL;
	struct tdef *d;
	json_t *special = json_object();
	int32_t *ids = NULL;
	size_t nids = 0, np;
	const char *user, *system, *asst;
	char *dflt;

	if (!(j = lmf_jinja_parse(src, strlen(src), err, errlen))) {
		char e2[512];

		snprintf(e2, sizeof e2, "chat_template: %s", err);
		lmf_seterr(err, errlen, "%s", e2);
		json_decref(special);
		return NULL;
	}
	for (int i = 0; i < 4; i++) {
		const char *s = ids4[i] >= 0 ? lmf_tok_id_to_token(tok,
		    ids4[i]) : NULL;

		if (s)
			json_object_set_new(special, names[i], json_string(s));
	}
	if (lmf_tok_encode(tok, "", 0, 1, &ids, &nids, err, errlen))
		goto out;
	prefix = lmf_tok_decode(tok, ids, nids, 0);
	np = nchars(prefix);
	if (!(r[0] = render_probe(j, special, 0, 1, sys, err, errlen)) ||
	    !(r[1] = render_probe(j, special, 1, 2, ues, err, errlen)) ||
	    !(r[2] = render_probe(j, special, 1, 1, usr, err, errlen)) ||
	    !(r[3] = render_probe(j, special, 0, 2, ast, err, errlen)))
		goto out;
	gen = unconditional_gen(j, special, r[3]);
	sys2 = strip_tail(skip_chars(r[0], np), gen);
	system = sys2;
	user = skip_chars(r[2], np);
	asst = skip_chars(r[3], np + nchars(user));
	d = xcalloc(1, sizeof *d);
	d->name = "chat_template";
	d->cls = strstr(asst, "<think>") ? CLS_REASONING : CLS_PLAIN;
	{
		char *x = remove_all(asst, "<think>");

		char *y = remove_all(x, "</think>");

		a2 = strip_tail(y, gen);
		free(x);
		free(y);
	}
	if (nchars(user) > nchars(skip_chars(r[1], np))) {
		char *sole;

		dflt = find_diff(skip_chars(r[1], np), user);
		sole = replace1(system, "{{content}}", dflt);
		user = skip_chars(user, nchars(sole));
		free(sole);
	} else
		dflt = xstrdup("");
	if (*prefix)
		d->prefix[0] = (struct slot){ STR, xstrdup(prefix) };
	d->system[0] = (struct slot){ STR, xstrdup(system) };
	d->user[0] = (struct slot){ STR, xstrdup(user) };
	{
		const char *p = a2;

		while (*p == '\n')
			p++;
		d->assistant[0] = (struct slot){ STR, xstrdup(p) };
	}
	d->default_system = dflt;
	d->tool_format = "default";
	/* function: the assistant slot; observation: the user slot */
	memcpy(d->function, d->assistant, sizeof d->function);
	memcpy(d->observation, d->user, sizeof d->observation);
	t = bind(d, d, tok, o, err, errlen);
out:
	for (int i = 0; i < 4; i++)
		free(r[i]);
	free(a2);
	free(gen);
	free(sys2);
	free(prefix);
	free(ids);
	json_decref(special);
	lmf_jinja_free(j);
	return t;
}

struct lmf_template *
lmf_template_from_tokenizer(struct lmf_tok *tok,
    const struct lmf_template_opts *o, char *err, size_t errlen)
{
	const char *src = lmf_tok_chat_template(tok);

	if (!src)
		return lmf_template_new("empty", tok, o, err, errlen);
	return lmf_template_parse(src, tok, o, err, errlen);
}

/* the slots of a formatter of t, for printing: which is "prefix",
 * "system", "user", "assistant"; NULL when it has no string slot */
const char *
lmf_template_slot(const struct lmf_template *t, const char *which)
{
	const struct slot *s = !strcmp(which, "prefix") ? t->d->prefix :
	    !strcmp(which, "system") ? t->system : !strcmp(which, "user") ?
	    t->user : t->assistant;

	for (int i = 0; i < MAXSLOT && s[i].type != END; i++)
		if (s[i].type == STR)
			return s[i].s;
	return NULL;
}

const char *
lmf_template_default_system(const struct lmf_template *t)
{
	return t->default_system;
}

int
lmf_template_reasoning(const struct lmf_template *t)
{
	return t->d->cls == CLS_REASONING;
}
