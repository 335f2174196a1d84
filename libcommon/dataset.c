/* dataset.c: LLaMA-Factory datasets into prompt/response messages: the
 * registry (dataset_info.json), JSON, JSON Lines and text files, the alpaca
 * and sharegpt converters, num_samples, max_samples and mixing. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <jansson.h>

#include "lmf/dataset.h"
#include "lmf/pyjson.h"
#include "lmf/util.h"
#include "lmf/banned.h"

/* num_samples past a dataset's rows draws with replacement; each draw is
 * an example in memory, so past MAX_OVERSAMPLE it may draw at most
 * OVERSAMPLE_RATIO times the rows (a typo of a few digits is refused
 * instead of exhausting memory) */
#define MAX_OVERSAMPLE (1 << 20)
#define OVERSAMPLE_RATIO 64

#define MAX_FILE (4ull << 30)

enum { COL_PROMPT, COL_QUERY, COL_RESPONSE, COL_HISTORY, COL_MESSAGES,
	COL_SYSTEM, COL_TOOLS, COL_CHOSEN, COL_REJECTED, COL_KTO_TAG, NCOL };
static const char *colkeys[NCOL] = { "prompt", "query", "response",
	"history", "messages", "system", "tools", "chosen", "rejected",
	"kto_tag" };
static const char *coldef[NCOL] = { "instruction", "input", "output", NULL,
	"conversations", NULL, NULL, NULL, NULL, NULL };

enum { TAG_ROLE, TAG_CONTENT, TAG_USER, TAG_ASSISTANT, TAG_OBSERVATION,
	TAG_FUNCTION, TAG_SYSTEM, NTAG };
static const char *tagkeys[NTAG] = { "role_tag", "content_tag", "user_tag",
	"assistant_tag", "observation_tag", "function_tag", "system_tag" };
static const char *tagdef[NTAG] = { "from", "value", "human", "gpt",
	"observation", "function_call", "system" };

struct attr {
	const char *name;
	const char *file;
	int sharegpt;
	int ranking;
	long long num_samples;  /* -1: unset */
	const char *col[NCOL];
	const char *tag[NTAG];
};

const char *
lmf_role_name(int role)
{
	static const char *n[] = { "user", "assistant", "system", "function",
		"observation" };

	return role >= 0 && role < 5 ? n[role] : "?";
}

int
lmf_role_parse(const char *s)
{
	int i;

	for (i = 0; i < 5; i++)
		if (!strcmp(s, lmf_role_name(i)))
			return i;
	return -1;
}

static char *
read_all(const char *path, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	size_t cap = 65536, n = 0, got;
	char *buf;

	if (!f) {
		lmf_seterr(err, errlen, "cannot open '%s': %s", path,
		    strerror(errno));
		return NULL;
	}
	buf = xmalloc(cap + 1);
	while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n > MAX_FILE) {
			lmf_seterr(err, errlen, "'%s' is too large", path);
			goto fail;
		}
		if (n == cap) {
			cap *= 2;
			buf = xrealloc(buf, cap + 1);
		}
	}
	if (ferror(f)) {
		lmf_seterr(err, errlen, "cannot read '%s': %s", path,
		    strerror(errno));
		goto fail;
	}
	fclose(f);
	buf[n] = 0;
	*len = n;
	return buf;
fail:
	fclose(f);
	free(buf);
	return NULL;
}

/* offset of the first invalid UTF-8 byte, or -1 */
static long long
utf8_bad(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned c = s[i], k, cp;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			k = 1, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			k = 2, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			k = 3, cp = c & 0x07;
		else
			return (long long)i;
		if (i + k >= n)
			return (long long)i;
		for (unsigned j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return (long long)i;
			cp = cp << 6 | (s[i + j] & 0x3f);
		}
		if ((k == 2 && (cp < 0x800 || (cp >= 0xd800 && cp < 0xe000)))
		    || (k == 3 && (cp < 0x10000 || cp > 0x10ffff)))
			return (long long)i;
		i += k + 1;
	}
	return -1;
}

static const char *
ext_of(const char *path)
{
	const char *slash = strrchr(path, '/'), *dot = strrchr(path, '.');

	if (!dot || (slash && dot < slash))
		return "";
	return dot + 1;
}

/* the loader a file goes to, as datasets' FILEEXT2TYPE maps it */
static const char *
file_type(const char *path)
{
	const char *ext = ext_of(path);

	return !strcmp(ext, "jsonl") ? "json" : !strcmp(ext, "txt") ? "text" :
	    ext;
}

/* Python's str.splitlines() separators at s; their length, or 0 */
static size_t
linebreak(const unsigned char *s, size_t left)
{
	if (s[0] == '\r')
		return left > 1 && s[1] == '\n' ? 2 : 1;
	if (s[0] == '\n' || s[0] == 0x0b || s[0] == 0x0c || (s[0] >= 0x1c
	    && s[0] <= 0x1e))
		return 1;
	if (left > 1 && s[0] == 0xc2 && s[1] == 0x85)
		return 2;
	if (left > 2 && s[0] == 0xe2 && s[1] == 0x80 && (s[2] == 0xa8
	    || s[2] == 0xa9))
		return 3;
	return 0;
}

static int
load_text(const char *path, const char *buf, size_t len, json_t *rows,
    char *err, size_t errlen)
{
	const unsigned char *s = (const unsigned char *)buf;
	long long bad = utf8_bad(s, len);
	size_t i = 0, start = 0;

	if (bad >= 0) {
		size_t line = 1;

		for (long long j = 0; j < bad; j++)
			line += s[j] == '\n';
		lmf_seterr(err, errlen,
		    "'%s' line %zu: invalid UTF-8 at byte %lld",
		    path, line, bad);
		return -1;
	}
	while (i < len) {
		size_t k = linebreak(s + i, len - i);

		if (!k) {
			i++;
			continue;
		}
		json_array_append_new(rows, json_pack("{s:s%}", "text",
		    buf + start, i - start));
		i += k;
		start = i;
	}
	if (start < len)
		json_array_append_new(rows, json_pack("{s:s%}", "text",
		    buf + start, len - start));
	return 0;
}

/* JSON's whitespace (RFC 8259) */
static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* every string of V holding U+0000 (a JSON \u0000) with each NUL as the
 * two bytes C0 80, as Java's modified UTF-8 has it: a C string then holds
 * it, and lmf_tok_encode turns it back into the NUL the tokenizers
 * library sees (it is an ordinary character there) */
static void
nul_strings(json_t *v)
{
	const char *s, *k;
	size_t n, i, o;
	json_t *e;
	char *b;

	if (json_is_array(v)) {
		json_array_foreach(v, i, e)
			nul_strings(e);
	} else if (json_is_object(v)) {
		json_object_foreach(v, k, e)
			nul_strings(e);
	} else if (json_is_string(v) && (n = json_string_length(v)) !=
	    strlen(s = json_string_value(v))) {
		b = xmalloc(2 * n + 1);
		for (i = o = 0; i < n; i++) {
			if (s[i]) {
				b[o++] = s[i];
			} else {
				b[o++] = (char)0xc0;
				b[o++] = (char)0x80;
			}
		}
		b[o] = '\0';
		json_string_setn_nocheck(v, b, o);
		free(b);
	}
}

static int
load_json(const char *path, const char *buf, size_t len, json_t *rows,
    char *err, size_t errlen)
{
	json_error_t je;
	size_t i = 0, line = 0;
	const char *nul = memchr(buf, 0, len);

	if (nul) {
		line = 1;
		for (const char *c = buf; c < nul; c++)
			line += *c == '\n';
		lmf_seterr(err, errlen, "'%s' line %zu: a NUL byte", path,
		    line);
		return -1;
	}
	while (i < len && is_space(buf[i]))
		i++;
	if (i == len) {
		lmf_seterr(err, errlen, "'%s' is empty", path);
		return -1;
	}
	if (buf[i] == '[') {
		json_t *a = json_loadb(buf, len, JSON_ALLOW_NUL, &je);

		if (!a) {
			lmf_seterr(err, errlen,
			    "'%s' line %d: %s", path, je.line,
			    je.text);
			return -1;
		}
		json_array_extend(rows, a);
		json_decref(a);
		goto check;
	}
	i = 0;
	while (i < len) {
		const char *nl = memchr(buf + i, '\n', len - i);
		size_t e = nl ? (size_t)(nl - buf) : len, j = i;
		json_t *v;

		line++;
		while (j < e && is_space(buf[j]))
			j++;
		if (j < e) {
			v = json_loadb(buf + i, e - i, JSON_ALLOW_NUL,
			    &je);
			if (!v) {
				lmf_seterr(err, errlen,
				    "'%s' line %zu: %s", path,
				    line, je.text);
				return -1;
			}
			if (!json_is_object(v)) {
				json_decref(v);
				lmf_seterr(err, errlen,
				    "'%s' line %zu: not a JSON "
				    "object", path, line);
				return -1;
			}
			json_array_append_new(rows, v);
		}
		i = e + 1;
	}
check:
	nul_strings(rows);
	for (i = 0; i < json_array_size(rows); i++)
		if (!json_is_object(json_array_get(rows, i))) {
			lmf_seterr(err, errlen, "'%s': row %zu is not a JSON "
			    "object", path, i);
			return -1;
		}
	return 0;
}

static int
load_file(const char *path, json_t *rows, char *err, size_t errlen)
{
	const char *ext = ext_of(path);
	size_t len;
	char *buf;
	int rc;

	if (strcmp(ext, "json") && strcmp(ext, "jsonl") && strcmp(ext, "txt")) {
		lmf_seterr(err, errlen, "'%s': file type '%s' is not supported "
		    "(json, jsonl, txt)", path, ext);
		return -1;
	}
	if (!(buf = read_all(path, &len, err, errlen)))
		return -1;
	if (!len) {
		lmf_seterr(err, errlen, "'%s' is empty", path);
		rc = -1;
	} else if (!strcmp(ext, "txt"))
		rc = load_text(path, buf, len, rows, err, errlen);
	else
		rc = load_json(path, buf, len, rows, err, errlen);
	free(buf);
	return rc;
}

static int
cmpstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
load_path(const char *path, json_t *rows, char *err, size_t errlen)
{
	struct stat sb;
	DIR *d;
	struct dirent *de;
	char **names = NULL;
	size_t n = 0;
	int rc = 0;

	if (stat(path, &sb) < 0) {
		lmf_seterr(err, errlen, "cannot open '%s': %s", path,
		    strerror(errno));
		return -1;
	}
	if (!S_ISDIR(sb.st_mode))
		return load_file(path, rows, err, errlen);
	if (!(d = opendir(path))) {
		lmf_seterr(err, errlen, "cannot open '%s': %s", path,
		    strerror(errno));
		return -1;
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		names = xrealloc(names, (n + 1) * sizeof *names);
		names[n++] = xasprintf("%s/%s", path, de->d_name);
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof *names, cmpstr);
	for (size_t i = 1; i < n && !rc; i++)
		if (strcmp(file_type(names[i]), file_type(names[0]))) {
			lmf_seterr(err, errlen, "'%s': files of different "
			    "types ('%s', '%s')", path, names[0], names[i]);
			rc = -1;
		}
	for (size_t i = 0; i < n && !rc; i++)
		rc = load_file(names[i], rows, err, errlen);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

static const char *
json_kind(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "a list";
	case JSON_INTEGER: case JSON_REAL: return "a number";
	case JSON_TRUE: case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	default: return "a string";
	}
}

static int
parse_attr(json_t *info, const char *name, struct attr *a, char *err,
    size_t errlen)
{
	static const char *strkeys[] = { "subset", "split", "folder" };
	json_t *e = json_object_get(info, name), *v, *cols, *tags;
	const char *fmt = "alpaca", *key = NULL, *want = "a string";
	char sub[64];

	memset(a, 0, sizeof *a);
	a->name = name;
	a->num_samples = -1;
	if (!e) {
		lmf_seterr(err, errlen,
		    "dataset '%s' is not in dataset_info.json",
		    name);
		return -1;
	}
	if (!json_is_object(e)) {
		lmf_seterr(err, errlen, "dataset '%s': its entry in "
		    "dataset_info.json is %s, not an object", name,
		    json_kind(e));
		return -1;
	}
	v = json_object_get(e, "file_name");
	if (!v || json_is_null(v)) {
		lmf_seterr(err, errlen, "dataset '%s': no file_name (hub and "
		    "script datasets are not supported)", name);
		return -1;
	}
	key = "file_name";
	if (!json_is_string(v))
		goto bad;
	a->file = json_string_value(v);
	if ((v = json_object_get(e, "formatting")) && !json_is_null(v)) {
		key = "formatting";
		if (!json_is_string(v))
			goto bad;
		fmt = json_string_value(v);
	}
	if (!strcmp(fmt, "sharegpt"))
		a->sharegpt = 1;
	else if (strcmp(fmt, "alpaca")) {
		lmf_seterr(err, errlen, "dataset '%s': formatting '%s' is not "
		    "supported (alpaca, sharegpt)", name, fmt);
		return -1;
	}
	if ((v = json_object_get(e, "ranking")) && !json_is_null(v)) {
		key = "ranking", want = "true or false";
		if (!json_is_boolean(v))
			goto bad;
		a->ranking = json_is_true(v);
	}
	if ((v = json_object_get(e, "num_samples")) && !json_is_null(v)) {
		key = "num_samples", want = "a count of rows";
		if (!json_is_integer(v) || json_integer_value(v) < 0)
			goto bad;
		a->num_samples = json_integer_value(v);
	}
	want = "a string";
	for (int i = 0; i < 3; i++)
		if ((v = json_object_get(e, key = strkeys[i])) &&
		    !json_is_null(v) && !json_is_string(v))
			goto bad;
	want = "an object";
	if ((v = cols = json_object_get(e, key = "columns")) &&
	    !json_is_object(v))
		goto bad;
	if ((v = tags = json_object_get(e, key = "tags")) && !json_is_object(v))
		goto bad;
	want = "a string";
	for (int i = 0; i < NCOL; i++) {
		a->col[i] = cols ? NULL : coldef[i];
		if (cols && (v = json_object_get(cols, colkeys[i]))) {
			snprintf(sub, sizeof sub, "columns.%s", colkeys[i]);
			key = sub;
			if (!json_is_string(v) && !json_is_null(v))
				goto bad;
			a->col[i] = json_string_value(v);
		}
	}
	for (int i = 0; i < NTAG; i++) {
		a->tag[i] = tags ? NULL : tagdef[i];
		if (tags && (v = json_object_get(tags, tagkeys[i]))) {
			snprintf(sub, sizeof sub, "tags.%s", tagkeys[i]);
			key = sub;
			if (!json_is_string(v) && !json_is_null(v))
				goto bad;
			a->tag[i] = json_string_value(v);
		}
	}
	return 0;
bad:
	if (json_is_integer(v) && !strcmp(key, "num_samples"))
		lmf_seterr(err, errlen, "dataset '%s': 'num_samples' is "
		    "negative (%lld)", name, (long long)json_integer_value(v));
	else
		lmf_seterr(err, errlen, "dataset '%s': '%s' is %s, not %s",
		    name, key, json_kind(v), want);
	return -1;
}

static void
push(struct lmf_msg **m, int *n, int role, const char *content)
{
	*m = xrealloc(*m, (*n + 1) * sizeof **m);
	(*m)[*n].role = role;
	(*m)[*n].content = xstrdup(content ? content : "");
	(*n)++;
}

static const char *
str_or_null(json_t *row, const char *col)
{
	json_t *v = col ? json_object_get(row, col) : NULL;

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static void
convert_alpaca(const struct attr *a, json_t *row, struct lmf_example *ex)
{
	json_t *h = a->col[COL_HISTORY] ? json_object_get(row,
	    a->col[COL_HISTORY]) : NULL;
	json_t *kto = a->col[COL_KTO_TAG] ? json_object_get(row,
	    a->col[COL_KTO_TAG]) : NULL;
	const char *p = str_or_null(row, a->col[COL_PROMPT]);
	const char *q = str_or_null(row, a->col[COL_QUERY]);
	const char *c = str_or_null(row, a->col[COL_CHOSEN]);
	const char *r = str_or_null(row, a->col[COL_REJECTED]);
	const char *resp = str_or_null(row, a->col[COL_RESPONSE]);
	char *joined;

	if (json_is_array(h)) {
		for (size_t i = 0; i < json_array_size(h); i++) {
			json_t *t = json_array_get(h, i);

			push(&ex->prompt, &ex->nprompt, LMF_ROLE_USER,
			    json_string_value(json_array_get(t, 0)));
			push(&ex->prompt, &ex->nprompt, LMF_ROLE_ASSISTANT,
			    json_string_value(json_array_get(t, 1)));
		}
	}
	if (p && *p && q && *q)
		joined = xasprintf("%s\n%s", p, q);
	else
		joined = xstrdup(p && *p ? p : q && *q ? q : "");
	push(&ex->prompt, &ex->nprompt, LMF_ROLE_USER, joined);
	free(joined);
	if (json_is_boolean(kto)) {
		int good = json_is_true(kto);

		push(&ex->response, &ex->nresponse, LMF_ROLE_ASSISTANT,
		    good ? resp : "");
		push(&ex->response, &ex->nresponse, LMF_ROLE_ASSISTANT,
		    good ? "" : resp);
	} else if (a->ranking && c && r) {
		push(&ex->response, &ex->nresponse, LMF_ROLE_ASSISTANT, c);
		push(&ex->response, &ex->nresponse, LMF_ROLE_ASSISTANT, r);
	} else if (resp) {
		push(&ex->response, &ex->nresponse, LMF_ROLE_ASSISTANT, resp);
	}
}

static int
tag_role(const struct attr *a, const char *tag, int even)
{
	if (!tag)
		return -1;
	if (!even && a->tag[TAG_USER] && !strcmp(tag, a->tag[TAG_USER]))
		return LMF_ROLE_USER;
	if (!even && a->tag[TAG_OBSERVATION] && !strcmp(tag,
	    a->tag[TAG_OBSERVATION]))
		return LMF_ROLE_OBSERVATION;
	if (even && a->tag[TAG_ASSISTANT] && !strcmp(tag,
	    a->tag[TAG_ASSISTANT]))
		return LMF_ROLE_ASSISTANT;
	if (even && a->tag[TAG_FUNCTION] && !strcmp(tag, a->tag[TAG_FUNCTION]))
		return LMF_ROLE_FUNCTION;
	return -1;
}

static void
convert_sharegpt(const struct attr *a, json_t *row, struct lmf_example *ex)
{
	json_t *msgs = json_object_get(row, a->col[COL_MESSAGES]);
	json_t *kto = a->col[COL_KTO_TAG] ? json_object_get(row,
	    a->col[COL_KTO_TAG]) : NULL;
	json_t *ch = a->col[COL_CHOSEN] ? json_object_get(row,
	    a->col[COL_CHOSEN]) : NULL;
	json_t *rj = a->col[COL_REJECTED] ? json_object_get(row,
	    a->col[COL_REJECTED]) : NULL;
	const char *rt = a->tag[TAG_ROLE], *ct = a->tag[TAG_CONTENT];
	struct lmf_msg *m = NULL;
	int n = 0, role;
	size_t start = 0, nm;

	if (!json_is_array(msgs)) {
		ex->broken = "messages are not a list";
		return;
	}
	nm = json_array_size(msgs);
	if (a->tag[TAG_SYSTEM] && nm && rt && str_or_null(json_array_get(msgs,
	    0), rt) && !strcmp(str_or_null(json_array_get(msgs, 0), rt),
	    a->tag[TAG_SYSTEM])) {
		free(ex->system);
		ex->system = xstrdup(ct ? str_or_null(json_array_get(msgs, 0),
		    ct) ? str_or_null(json_array_get(msgs, 0), ct) : "" : "");
		start = 1;
	}
	for (size_t i = start; i < nm; i++) {
		json_t *mi = json_array_get(msgs, i);
		const char *c = ct ? str_or_null(mi, ct) : NULL;

		role = tag_role(a, rt ? str_or_null(mi, rt) : NULL,
		    (i - start) % 2);
		if (role < 0 || !c) {
			ex->broken = role < 0 ? "invalid role tag" :
			    "message without content";
			goto out;
		}
		push(&m, &n, role, c);
	}
	if ((!a->ranking && n % 2) || (a->ranking && n % 2 == 0)) {
		ex->broken = "invalid message count";
		goto out;
	}
	if (json_is_boolean(kto)) {
		for (int i = 0; i + 1 < n; i++)
			push(&ex->prompt, &ex->nprompt, m[i].role,
			    m[i].content);
		if (!json_is_true(kto))
			push(&ex->response, &ex->nresponse,
			    LMF_ROLE_ASSISTANT, "");
		if (n)
			push(&ex->response, &ex->nresponse, m[n - 1].role,
			    m[n - 1].content);
		if (json_is_true(kto))
			push(&ex->response, &ex->nresponse,
			    LMF_ROLE_ASSISTANT, "");
	} else if (a->ranking && json_is_object(ch) && json_is_object(rj)) {
		int cr = tag_role(a, rt ? str_or_null(ch, rt) : NULL, 1);
		int rr = tag_role(a, rt ? str_or_null(rj, rt) : NULL, 1);
		const char *cc = ct ? str_or_null(ch, ct) : NULL;
		const char *rc = ct ? str_or_null(rj, ct) : NULL;

		if (cr < 0 || rr < 0 || !cc || !rc) {
			ex->broken = "invalid role tag in chosen or rejected";
			goto out;
		}
		for (int i = 0; i < n; i++)
			push(&ex->prompt, &ex->nprompt, m[i].role,
			    m[i].content);
		push(&ex->response, &ex->nresponse, cr, cc);
		push(&ex->response, &ex->nresponse, rr, rc);
	} else {
		for (int i = 0; i + 1 < n; i++)
			push(&ex->prompt, &ex->nprompt, m[i].role,
			    m[i].content);
		if (n)
			push(&ex->response, &ex->nresponse, m[n - 1].role,
			    m[n - 1].content);
	}
out:
	if (ex->broken) {
		for (int i = 0; i < ex->nprompt; i++)
			free(ex->prompt[i].content);
		for (int i = 0; i < ex->nresponse; i++)
			free(ex->response[i].content);
		free(ex->prompt);
		free(ex->response);
		ex->prompt = ex->response = NULL;
		ex->nprompt = ex->nresponse = 0;
	}
	for (int i = 0; i < n; i++)
		free(m[i].content);
	free(m);
}

/* key of obj, when present and not null, must be a string; the message
 * says where: dataset, row and, for messages, "message N: " in pre */
static int
check_text(const struct attr *a, size_t rowno, const char *pre, json_t *obj,
    const char *key, char *err, size_t errlen)
{
	json_t *v = key && json_is_object(obj) ? json_object_get(obj, key) :
	    NULL;

	if (!v || json_is_null(v) || json_is_string(v))
		return 0;
	lmf_seterr(err, errlen, "dataset '%s' row %zu: %s'%s' is %s, not a "
	    "string", a->name, rowno, pre, key, json_kind(v));
	return -1;
}

/* every value the converters read as text must be text: LLaMA-Factory
 * fails on a number or an object there, and reading it as "" would train
 * on something else than the data */
static int
check_row(const struct attr *a, json_t *row, size_t rowno, char *err,
    size_t errlen)
{
	json_t *kto = a->col[COL_KTO_TAG] ? json_object_get(row,
	    a->col[COL_KTO_TAG]) : NULL, *v, *m;
	const char *ct = a->tag[TAG_CONTENT];
	char pre[48];

	if (kto && !json_is_null(kto) && !json_is_boolean(kto)) {
		lmf_seterr(err, errlen, "dataset '%s' row %zu: '%s' is %s, "
		    "not true or false", a->name, rowno, a->col[COL_KTO_TAG],
		    json_kind(kto));
		return -1;
	}
	if (check_text(a, rowno, "", row, a->col[COL_SYSTEM], err, errlen))
		return -1;
	v = a->col[COL_TOOLS] ? json_object_get(row, a->col[COL_TOOLS]) :
	    NULL;
	if (v && (json_is_number(v) || json_is_boolean(v))) {
		lmf_seterr(err, errlen, "dataset '%s' row %zu: '%s' is %s, "
		    "not a string or a list", a->name, rowno,
		    a->col[COL_TOOLS], json_kind(v));
		return -1;
	}
	if (!a->sharegpt) {
		if (check_text(a, rowno, "", row, a->col[COL_PROMPT], err,
		    errlen) || check_text(a, rowno, "", row, a->col[COL_QUERY],
		    err, errlen))
			return -1;
		if ((!a->ranking || json_is_boolean(kto)) && check_text(a,
		    rowno, "", row, a->col[COL_RESPONSE], err, errlen))
			return -1;
		if (a->ranking && (check_text(a, rowno, "", row,
		    a->col[COL_CHOSEN], err, errlen) || check_text(a, rowno,
		    "", row, a->col[COL_REJECTED], err, errlen)))
			return -1;
		v = a->col[COL_HISTORY] ? json_object_get(row,
		    a->col[COL_HISTORY]) : NULL;
		if (!v || json_is_null(v))
			return 0;
		for (size_t i = 0; i < json_array_size(v); i++) {
			m = json_array_get(v, i);
			if (json_array_size(m) != 2 || !json_is_string(
			    json_array_get(m, 0)) || !json_is_string(
			    json_array_get(m, 1))) {
				lmf_seterr(err, errlen, "dataset '%s' row %zu: "
				    "'%s' entry %zu is not a pair of strings",
				    a->name, rowno, a->col[COL_HISTORY], i);
				return -1;
			}
		}
		if (!json_is_array(v)) {
			lmf_seterr(err, errlen, "dataset '%s' row %zu: '%s' is "
			    "%s, not a list", a->name, rowno,
			    a->col[COL_HISTORY], json_kind(v));
			return -1;
		}
		return 0;
	}
	v = json_object_get(row, a->col[COL_MESSAGES]);
	for (size_t i = 0; i < json_array_size(v); i++) {
		snprintf(pre, sizeof pre, "message %zu: ", i);
		if (check_text(a, rowno, pre, json_array_get(v, i), ct, err,
		    errlen))
			return -1;
	}
	if (a->ranking && (check_text(a, rowno, "chosen: ",
	    a->col[COL_CHOSEN] ? json_object_get(row, a->col[COL_CHOSEN]) :
	    NULL, ct, err, errlen) || check_text(a, rowno, "rejected: ",
	    a->col[COL_REJECTED] ? json_object_get(row, a->col[COL_REJECTED]) :
	    NULL, ct, err, errlen)))
		return -1;
	return 0;
}

/* a column the converter reads must exist in some row */
static int
check_columns(const struct attr *a, json_t *rows, const char *path,
    char *err, size_t errlen)
{
	for (int c = 0; c < NCOL; c++) {
		size_t i;

		if (!a->col[c] || (a->sharegpt && (c == COL_PROMPT || c ==
		    COL_QUERY || c == COL_RESPONSE || c == COL_HISTORY)) ||
		    (!a->sharegpt && c == COL_MESSAGES) || (a->ranking && c ==
		    COL_RESPONSE) || (!a->ranking && (c == COL_CHOSEN || c ==
		    COL_REJECTED)))
			continue;
		for (i = 0; i < json_array_size(rows); i++)
			if (json_object_get(json_array_get(rows, i), a->col[c]))
				break;
		if (i == json_array_size(rows) && i > 0) {
			lmf_seterr(err, errlen,
			    "dataset '%s': no column '%s' in "
			    "'%s'", a->name, a->col[c], path);
			return -1;
		}
	}
	return 0;
}

int
lmf_dataset_load(const char *dir, const char *name, long long max_samples,
    uint64_t seed, struct lmf_dataset *ds, char *err, size_t errlen)
{
	char *ipath = xasprintf("%s/dataset_info.json", dir), *buf, *path;
	json_t *info, *rows;
	json_error_t je;
	struct attr a;
	size_t len, n;
	size_t *idx;
	int rc = -1;

	memset(ds, 0, sizeof *ds);
	buf = read_all(ipath, &len, err, errlen);
	if (!buf) {
		free(ipath);
		return -1;
	}
	info = json_loadb(buf, len, 0, &je);
	free(buf);
	if (!info || !json_is_object(info)) {
		lmf_seterr(err, errlen, "'%s' line %d: %s", ipath, info ? 1 :
		    je.line, info ? "not a JSON object" : je.text);
		json_decref(info);
		free(ipath);
		return -1;
	}
	free(ipath);
	if (parse_attr(info, name, &a, err, errlen) < 0) {
		json_decref(info);
		return -1;
	}
	path = xasprintf("%s/%s", dir, a.file);
	rows = json_array();
	if (load_path(path, rows, err, errlen) < 0 ||
	    check_columns(&a, rows, path, err, errlen) < 0)
		goto out;
	n = json_array_size(rows);
	if (!n) {
		lmf_seterr(err, errlen, "dataset '%s': no rows in '%s'", name,
		    path);
		goto out;
	}
	if (a.num_samples > (long long)MAX_OVERSAMPLE &&
	    (unsigned long long)a.num_samples / OVERSAMPLE_RATIO >= n) {
		lmf_seterr(err, errlen, "dataset '%s': 'num_samples' %lld "
		    "draws more than %d times its %zu rows and more than %d "
		    "examples", name, a.num_samples, OVERSAMPLE_RATIO, n,
		    MAX_OVERSAMPLE);
		goto out;
	}
	idx = xmallocarray(n ? n : 1, sizeof *idx);
	for (size_t i = 0; i < n; i++)
		idx[i] = i;
	if (a.num_samples >= 0 && n) {
		/* a seeded permutation, then draws with replacement */
		struct lmf_rng r;
		size_t want = (size_t)a.num_samples;

		lmf_rng_seed(&r, seed);
		for (size_t i = n - 1; i > 0; i--) {
			size_t j = lmf_rng_below(&r, (uint32_t)(i + 1)), t;

			t = idx[i], idx[i] = idx[j], idx[j] = t;
		}
		if (want > n) {
			idx = xrealloc(idx, want * sizeof *idx);
			for (size_t i = n; i < want; i++)
				idx[i] = lmf_rng_below(&r, (uint32_t)n);
		}
		n = want;
	}
	if (max_samples >= 0 && (size_t)max_samples < n)
		n = (size_t)max_samples;
	ds->name = xstrdup(name);
	ds->ranking = a.ranking;
	ds->n = n;
	ds->ex = xcalloc(n ? n : 1, sizeof *ds->ex);
	for (size_t i = 0; i < n; i++) {
		json_t *row = json_array_get(rows, idx[i]);
		struct lmf_example *ex = &ds->ex[i];
		const char *s;

		ex->dataset = ds->name;
		ex->row = idx[i];
		if (check_row(&a, row, idx[i], err, errlen) < 0) {
			free(idx);
			lmf_dataset_free(ds);
			goto out;
		}
		s = str_or_null(row, a.col[COL_SYSTEM]);
		ex->system = xstrdup(s ? s : "");
		s = str_or_null(row, a.col[COL_TOOLS]);
		if (!s && a.col[COL_TOOLS] && json_object_get(row,
		    a.col[COL_TOOLS]) && !json_is_null(json_object_get(row,
		    a.col[COL_TOOLS]))) {
			ex->tools = lmf_json_dumps_py(json_object_get(row,
			    a.col[COL_TOOLS]));
		} else {
			ex->tools = xstrdup(s ? s : "");
		}
		if (a.sharegpt)
			convert_sharegpt(&a, row, ex);
		else
			convert_alpaca(&a, row, ex);
	}
	free(idx);
	rc = 0;
out:
	free(path);
	json_decref(rows);
	json_decref(info);
	return rc;
}

static void
free_example(struct lmf_example *ex)
{
	for (int i = 0; i < ex->nprompt; i++)
		free(ex->prompt[i].content);
	for (int i = 0; i < ex->nresponse; i++)
		free(ex->response[i].content);
	free(ex->prompt);
	free(ex->response);
	free(ex->system);
	free(ex->tools);
}

void
lmf_dataset_free(struct lmf_dataset *ds)
{
	for (size_t i = 0; i < ds->n; i++)
		free_example(&ds->ex[i]);
	lmf_dataset_free_shallow(ds);
}

void
lmf_dataset_free_shallow(struct lmf_dataset *ds)
{
	free(ds->ex);
	free(ds->name);
	memset(ds, 0, sizeof *ds);
}

static void
append(struct lmf_dataset *out, const struct lmf_example *ex)
{
	if ((out->n & (out->n - 1)) == 0)
		out->ex = xrealloc(out->ex, (out->n ? 2 * out->n : 1) *
		    sizeof *out->ex);
	out->ex[out->n++] = *ex;
}

int
lmf_dataset_mix(struct lmf_dataset *ds, int n, int strategy,
    const double *probs, uint64_t seed, struct lmf_dataset *out, char *err,
    size_t errlen)
{
	size_t *cur, minlen = SIZE_MAX, maxlen = 0;
	int *done, ndone = 0;

	memset(out, 0, sizeof *out);
	out->name = xstrdup(n ? ds[0].name : "");
	out->ranking = n ? ds[0].ranking : 0;
	for (int i = 0; i < n; i++) {
		minlen = ds[i].n < minlen ? ds[i].n : minlen;
		maxlen = ds[i].n > maxlen ? ds[i].n : maxlen;
	}
	if (strategy == LMF_MIX_CONCAT || n == 1) {
		for (int i = 0; i < n; i++)
			for (size_t j = 0; j < ds[i].n; j++)
				append(out, &ds[i].ex[j]);
		return 0;
	}
	if (minlen == 0) {
		lmf_seterr(err, errlen, "cannot interleave an empty dataset");
		lmf_dataset_free_shallow(out);
		return -1;
	}
	if (!probs) {
		size_t rounds = strategy == LMF_MIX_UNDER ? minlen : maxlen;

		for (size_t r = 0; r < rounds; r++)
			for (int i = 0; i < n; i++)
				append(out, &ds[i].ex[r % ds[i].n]);
		return 0;
	}
	/* seeded draws by probability, as datasets' interleave_datasets
	 * does with its own generator */
	cur = xcalloc(n, sizeof *cur);
	done = xcalloc(n, sizeof *done);
	/* a dataset of probability 0 is never drawn: counted as exhausted
	 * (interleave_over would wait for it forever, as datasets' does) */
	for (int i = 0; strategy == LMF_MIX_OVER && i < n; i++)
		if (!(probs[i] > 0)) {
			done[i] = 1;
			ndone++;
		}
	{
		struct lmf_rng r;

		lmf_rng_seed(&r, seed);
		for (;;) {
			double u = lmf_rng_uniform(&r), acc = 0;
			int k = n - 1;

			if (strategy == LMF_MIX_UNDER ? ndone > 0 : ndone == n)
				break;
			for (int i = 0; i < n; i++) {
				acc += probs[i];
				if (u < acc) {
					k = i;
					break;
				}
			}
			append(out, &ds[k].ex[cur[k]]);
			if (++cur[k] >= ds[k].n) {
				cur[k] = 0;
				if (!done[k]++)
					ndone++;
			}
		}
	}
	free(cur);
	free(done);
	return 0;
}

char *
lmf_json_dumps_py(const json_t *v)
{
	return lmf_pyjson_dumps(v, -1, 0);
}
