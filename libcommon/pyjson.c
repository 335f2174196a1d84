/* pyjson.c: JSON text as Python's json module writes it (pyjson.h). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "lmf/pyjson.h"
#include "lmf/util.h"
#include "lmf/banned.h"

size_t
lmf_pyjson_repr(char *buf, double d)
{
	char digs[40], m[24];
	int p, e10, nd = 0, pos = 0, i;
	char *c;

	if (isnan(d) || isinf(d))
		return (size_t)snprintf(buf, 32, "%s", isnan(d) ? "NaN" :
		    d > 0 ? "Infinity" : "-Infinity");
	/* the shortest %e that reads back, as repr's dtoa mode 0 */
	for (p = 1; p <= 17; p++) {
		snprintf(digs, sizeof digs, "%.*e", p - 1, d);
		if (strtod(digs, NULL) == d)
			break;
	}
	c = strchr(digs, 'e');
	e10 = (int)strtol(c + 1, NULL, 10);
	*c = '\0';
	for (c = digs; *c; c++)
		if (*c >= '0' && *c <= '9')
			m[nd++] = *c;
	while (nd > 1 && m[nd - 1] == '0')
		nd--;
	if (signbit(d))
		buf[pos++] = '-';
	if (e10 < -4 || e10 >= 16) {
		buf[pos++] = m[0];
		if (nd > 1) {
			buf[pos++] = '.';
			for (i = 1; i < nd; i++)
				buf[pos++] = m[i];
		}
		pos += snprintf(buf + pos, 32 - (size_t)pos, "e%c%02d",
		    e10 < 0 ? '-' : '+', abs(e10));
		return (size_t)pos;
	}
	if (e10 < 0) {
		buf[pos++] = '0';
		buf[pos++] = '.';
		for (i = -1; i > e10; i--)
			buf[pos++] = '0';
		for (i = 0; i < nd; i++)
			buf[pos++] = m[i];
	} else {
		for (i = 0; i <= e10; i++)
			buf[pos++] = i < nd ? m[i] : '0';
		buf[pos++] = '.';
		if (nd > e10 + 1)
			for (i = e10 + 1; i < nd; i++)
				buf[pos++] = m[i];
		else
			buf[pos++] = '0';
	}
	buf[pos] = '\0';
	return (size_t)pos;
}

static void
put_u(struct lmf_buf *b, unsigned u)
{
	char esc[16];

	snprintf(esc, sizeof esc, "\\u%04x", u);
	lmf_buf_puts(b, esc);
}

/* the code point of the UTF-8 sequence at s (n bytes left), its length in
 * *len; an invalid byte is taken as itself */
static uint32_t
utf8_next(const unsigned char *s, size_t n, size_t *len)
{
	size_t k = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc0 ? 2 : 1;
	uint32_t cp = k == 1 ? s[0] : s[0] & (0x7f >> k);
	size_t i;

	if (k > n) {
		*len = 1;
		return s[0];
	}
	for (i = 1; i < k; i++)
		cp = cp << 6 | (s[i] & 0x3f);
	*len = k;
	return cp;
}

static void
put_string(struct lmf_buf *b, const char *s, size_t n, int ascii)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i, len;
	uint32_t cp;

	lmf_buf_add(b, "\"", 1);
	for (i = 0; i < n; i += len) {
		len = 1;
		switch (u[i]) {
		case '"': lmf_buf_puts(b, "\\\""); continue;
		case '\\': lmf_buf_puts(b, "\\\\"); continue;
		case '\n': lmf_buf_puts(b, "\\n"); continue;
		case '\r': lmf_buf_puts(b, "\\r"); continue;
		case '\t': lmf_buf_puts(b, "\\t"); continue;
		case '\b': lmf_buf_puts(b, "\\b"); continue;
		case '\f': lmf_buf_puts(b, "\\f"); continue;
		}
		if (u[i] < 0x20) {
			put_u(b, u[i]);
		} else if (u[i] < 0x80 || !ascii) {
			lmf_buf_add(b, s + i, 1);
		} else if ((cp = utf8_next(u + i, n - i, &len)) >= 0x10000) {
			cp -= 0x10000;
			put_u(b, 0xd800 | (cp >> 10));
			put_u(b, 0xdc00 | (cp & 0x3ff));
		} else {
			put_u(b, cp);
		}
	}
	lmf_buf_add(b, "\"", 1);
}

static int
cmp_key(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void
newline(struct lmf_buf *b, int indent, int level)
{
	int i;

	lmf_buf_add(b, "\n", 1);
	for (i = 0; i < indent * level; i++)
		lmf_buf_add(b, " ", 1);
}

static void
dump(struct lmf_buf *b, const json_t *v, int indent, int flags, int level)
{
	const char *sep = indent < 0 ? ", " : ",";
	char num[32];
	size_t i, n;

	if (!v) {
		lmf_buf_puts(b, "null");
		return;
	}
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		const char **keys, *k;
		json_t *x;

		if (!(n = json_object_size(v))) {
			lmf_buf_puts(b, "{}");
			break;
		}
		keys = xmallocarray(n, sizeof *keys);
		i = 0;
		json_object_foreach((json_t *)v, k, x)
			keys[i++] = k;
		if (flags & LMF_PYJSON_SORT_KEYS)
			qsort(keys, n, sizeof *keys, cmp_key);
		lmf_buf_puts(b, "{");
		for (i = 0; i < n; i++) {
			if (i)
				lmf_buf_puts(b, sep);
			if (indent >= 0)
				newline(b, indent, level + 1);
			put_string(b, keys[i], strlen(keys[i]),
			    flags & LMF_PYJSON_ASCII);
			lmf_buf_puts(b, ": ");
			dump(b, json_object_get(v, keys[i]), indent, flags,
			    level + 1);
		}
		if (indent >= 0)
			newline(b, indent, level);
		lmf_buf_puts(b, "}");
		free(keys);
		break;
	}
	case JSON_ARRAY:
		if (!(n = json_array_size(v))) {
			lmf_buf_puts(b, "[]");
			break;
		}
		lmf_buf_puts(b, "[");
		for (i = 0; i < n; i++) {
			if (i)
				lmf_buf_puts(b, sep);
			if (indent >= 0)
				newline(b, indent, level + 1);
			dump(b, json_array_get(v, i), indent, flags,
			    level + 1);
		}
		if (indent >= 0)
			newline(b, indent, level);
		lmf_buf_puts(b, "]");
		break;
	case JSON_STRING:
		put_string(b, json_string_value(v), json_string_length(v),
		    flags & LMF_PYJSON_ASCII);
		break;
	case JSON_INTEGER:
		snprintf(num, sizeof num, "%lld",
		    (long long)json_integer_value(v));
		lmf_buf_puts(b, num);
		break;
	case JSON_REAL:
		lmf_pyjson_repr(num, json_real_value(v));
		lmf_buf_puts(b, num);
		break;
	case JSON_TRUE: lmf_buf_puts(b, "true"); break;
	case JSON_FALSE: lmf_buf_puts(b, "false"); break;
	default: lmf_buf_puts(b, "null"); break;
	}
}

char *
lmf_pyjson_dumps(const json_t *v, int indent, int flags)
{
	struct lmf_buf b = { 0 };

	lmf_buf_add(&b, "", 0);
	dump(&b, v, indent, flags, 0);
	return b.s;
}

/* ---- str() of what json.loads returns (pyjson.h) ---- */

/* does Python's repr escape code point cp (str.isprintable() false: the
 * categories Cc, Cf, Cs, Co, Cn, Zl, Zp and Zs but the space)? Unicode's
 * tables as utf8proc has them, which may be a version apart from the
 * Python's */
static int
py_unprintable(uint32_t cp)
{
	utf8proc_category_t c;

	if (cp == ' ')
		return 0;
	c = utf8proc_category((utf8proc_int32_t)cp);
	return c == UTF8PROC_CATEGORY_CC || c == UTF8PROC_CATEGORY_CF ||
	    c == UTF8PROC_CATEGORY_CS || c == UTF8PROC_CATEGORY_CO ||
	    c == UTF8PROC_CATEGORY_CN || c == UTF8PROC_CATEGORY_ZL ||
	    c == UTF8PROC_CATEGORY_ZP || c == UTF8PROC_CATEGORY_ZS;
}

/* repr(s): single quotes unless s holds ' and no " */
static void
py_repr_str(struct lmf_buf *b, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	char q = memchr(s, '\'', n) && !memchr(s, '"', n) ? '"' : '\'';
	char esc[16];
	size_t i, len;
	uint32_t cp;

	lmf_buf_add(b, &q, 1);
	for (i = 0; i < n; i += len) {
		len = 1;
		if (u[i] == '\\' || u[i] == (unsigned char)q) {
			lmf_buf_add(b, "\\", 1);
			lmf_buf_add(b, s + i, 1);
			continue;
		}
		switch (u[i]) {
		case '\n': lmf_buf_puts(b, "\\n"); continue;
		case '\r': lmf_buf_puts(b, "\\r"); continue;
		case '\t': lmf_buf_puts(b, "\\t"); continue;
		}
		cp = u[i] < 0x80 ? u[i] : utf8_next(u + i, n - i, &len);
		if (!py_unprintable(cp)) {
			lmf_buf_add(b, s + i, len);
			continue;
		}
		snprintf(esc, sizeof esc, cp < 0x100 ? "\\x%02x" : cp < 0x10000 ?
		    "\\u%04x" : "\\U%08x", (unsigned)cp);
		lmf_buf_puts(b, esc);
	}
	lmf_buf_add(b, &q, 1);
}

static void
py_repr(struct lmf_buf *b, const json_t *v)
{
	char num[40];
	const char *k;
	json_t *x;
	size_t i;
	int first = 1;

	switch (json_typeof(v)) {
	case JSON_STRING:
		py_repr_str(b, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		lmf_buf_puts(b, num);
		break;
	case JSON_REAL:
		if (isnan(json_real_value(v)) || isinf(json_real_value(v)))
			lmf_buf_puts(b, isnan(json_real_value(v)) ? "nan" :
			    json_real_value(v) > 0 ? "inf" : "-inf");
		else {
			lmf_pyjson_repr(num, json_real_value(v));
			lmf_buf_puts(b, num);
		}
		break;
	case JSON_TRUE:
		lmf_buf_puts(b, "True");
		break;
	case JSON_FALSE:
		lmf_buf_puts(b, "False");
		break;
	case JSON_NULL:
		lmf_buf_puts(b, "None");
		break;
	case JSON_ARRAY:
		lmf_buf_add(b, "[", 1);
		json_array_foreach(v, i, x) {
			if (i)
				lmf_buf_puts(b, ", ");
			py_repr(b, x);
		}
		lmf_buf_add(b, "]", 1);
		break;
	case JSON_OBJECT:
		lmf_buf_add(b, "{", 1);
		json_object_foreach((json_t *)v, k, x) {
			if (!first)
				lmf_buf_puts(b, ", ");
			first = 0;
			py_repr_str(b, k, strlen(k));
			lmf_buf_puts(b, ": ");
			py_repr(b, x);
		}
		lmf_buf_add(b, "}", 1);
		break;
	}
}

char *
lmf_py_str(const json_t *v)
{
	struct lmf_buf b = { 0 };

	lmf_buf_add(&b, "", 0);
	if (json_is_string(v))
		lmf_buf_add(&b, json_string_value(v), json_string_length(v));
	else
		py_repr(&b, v);
	return b.s;
}
