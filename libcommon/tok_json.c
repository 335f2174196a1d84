/* tok_json.c: the two big members of tokenizer.json, model.vocab and
 * model.merges, read by a small scanner of their own, which is many times
 * faster than building them as jansson values; the rest of the text, with
 * those two values replaced by {} and [], is left to jansson. Strict on
 * the two members: anything unusual in them (an escape it does not know,
 * a lone surrogate, \u0000, a number that is not a plain integer, a merge
 * that is not "a b" or a pair of strings), text that is not UTF-8, or a
 * member repeated, and the caller falls back to jansson for the whole
 * text, which then says what is wrong. */
#include <stdlib.h>
#include <string.h>

#include "lmf/util.h"
#include "tok_priv.h"
#include "lmf/banned.h"

struct scan {
	const char *p, *e;
	struct tok_raw *r;
};

static void
ws(struct scan *s)
{
	while (s->p < s->e && (*s->p == ' ' || *s->p == '\n' ||
	    *s->p == '\r' || *s->p == '\t'))
		s->p++;
}

static int
hex4(const char *p, uint32_t *v)
{
	int i;

	*v = 0;
	for (i = 0; i < 4; i++) {
		char c = p[i];
		*v <<= 4;
		if (c >= '0' && c <= '9')
			*v |= (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			*v |= (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			*v |= (uint32_t)(c - 'A' + 10);
		else
			return -1;
	}
	return 0;
}

static void
put_utf8(struct tok_raw *r, uint32_t c)
{
	char *o = r->sbuf + r->slen;

	if (c < 0x80) {
		o[0] = (char)c;
		r->slen += 1;
	} else if (c < 0x800) {
		o[0] = (char)(0xc0 | c >> 6);
		o[1] = (char)(0x80 | (c & 0x3f));
		r->slen += 2;
	} else if (c < 0x10000) {
		o[0] = (char)(0xe0 | c >> 12);
		o[1] = (char)(0x80 | (c >> 6 & 0x3f));
		o[2] = (char)(0x80 | (c & 0x3f));
		r->slen += 3;
	} else {
		o[0] = (char)(0xf0 | c >> 18);
		o[1] = (char)(0x80 | (c >> 12 & 0x3f));
		o[2] = (char)(0x80 | (c >> 6 & 0x3f));
		o[3] = (char)(0x80 | (c & 0x3f));
		r->slen += 4;
	}
}

/* decode the string at s->p into sbuf, NUL-terminated: its offset and
 * length; -1 on anything unusual. A decoded string is never longer than
 * its source, so sbuf, as long as the text, has room. */
static int
str_decode(struct scan *s, uint32_t *off, uint32_t *len)
{
	struct tok_raw *r = s->r;
	const char *p = s->p, *q;
	uint32_t c, lo;

	if (p >= s->e || *p != '"')
		return -1;
	p++;
	*off = (uint32_t)r->slen;
	for (;;) {
		for (q = p; q < s->e && *q != '"' && *q != '\\' &&
		    (unsigned char)*q >= 0x20; q++)
			;
		memcpy(r->sbuf + r->slen, p, (size_t)(q - p));
		r->slen += (size_t)(q - p);
		if (q >= s->e || (unsigned char)*q < 0x20)
			return -1;
		if (*q == '"') {
			p = q + 1;
			break;
		}
		if (s->e - q < 2)
			return -1;
		p = q + 2;
		switch (q[1]) {
		case '"': case '\\': case '/':
			r->sbuf[r->slen++] = q[1];
			continue;
		case 'b': r->sbuf[r->slen++] = '\b'; continue;
		case 'f': r->sbuf[r->slen++] = '\f'; continue;
		case 'n': r->sbuf[r->slen++] = '\n'; continue;
		case 'r': r->sbuf[r->slen++] = '\r'; continue;
		case 't': r->sbuf[r->slen++] = '\t'; continue;
		case 'u':
			break;
		default:
			return -1;
		}
		if (s->e - q < 6 || hex4(q + 2, &c) < 0 || c == 0 ||
		    (c >= 0xdc00 && c <= 0xdfff))
			return -1;
		p = q + 6;
		if (c >= 0xd800 && c <= 0xdbff) {
			if (s->e - p < 6 || p[0] != '\\' || p[1] != 'u' ||
			    hex4(p + 2, &lo) < 0 || lo < 0xdc00 ||
			    lo > 0xdfff)
				return -1;
			c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
			p += 6;
		}
		put_utf8(r, c);
	}
	*len = (uint32_t)(r->slen - *off);
	r->sbuf[r->slen++] = 0;
	s->p = p;
	return 0;
}

/* skip one value of any kind, leniently: jansson parses it later */
static int
skip_value(struct scan *s)
{
	int depth = 0;

	do {
		ws(s);
		if (s->p >= s->e)
			return -1;
		switch (*s->p) {
		case '"':
			for (s->p++; s->p < s->e && *s->p != '"'; s->p++)
				if (*s->p == '\\')
					s->p++;
			if (s->p >= s->e)
				return -1;
			s->p++;
			break;
		case '{': case '[':
			if (++depth > 10000)
				return -1;
			s->p++;
			break;
		case '}': case ']':
			if (--depth < 0)
				return -1;
			s->p++;
			break;
		case ',': case ':':
			s->p++;
			break;
		default:
			/* a number or a literal; at least one byte, and a
			 * NUL (which strchr would find) is not a delimiter */
			do
				s->p++;
			while (s->p < s->e && (*s->p == 0 ||
			    !strchr(",:]}\"{[ \t\r\n", *s->p)));
		}
	} while (depth > 0);
	return 0;
}

static int
expect(struct scan *s, char c)
{
	ws(s);
	if (s->p >= s->e || *s->p != c)
		return -1;
	s->p++;
	return 0;
}

/* after a member: 1 for another, 0 at the closing bracket, -1 */
static int
more(struct scan *s, char close)
{
	ws(s);
	if (s->p < s->e && *s->p == ',') {
		s->p++;
		return 1;
	}
	if (s->p < s->e && *s->p == close) {
		s->p++;
		return 0;
	}
	return -1;
}

/* whether the next thing is the closing bracket (taken) */
static int
empty(struct scan *s, char close)
{
	ws(s);
	if (s->p < s->e && *s->p == close) {
		s->p++;
		return 1;
	}
	return 0;
}

static int
integer(struct scan *s, int64_t *v)
{
	const char *p = s->p;
	int neg = 0, nd = 0;

	ws(s);
	p = s->p;
	if (p < s->e && *p == '-') {
		neg = 1;
		p++;
	}
	*v = 0;
	while (p < s->e && *p >= '0' && *p <= '9') {
		if (++nd > 15 || (nd == 2 && *v == 0))
			return -1;
		*v = *v * 10 + (*p++ - '0');
	}
	if (nd == 0 || (p < s->e && (*p == '.' || *p == 'e' || *p == 'E')))
		return -1;
	if (neg)
		*v = -*v;
	s->p = p;
	return 0;
}

static int
vocab(struct scan *s)
{
	struct tok_raw *r = s->r;
	uint32_t off, len;
	int64_t id;
	int m;

	if (expect(s, '{') < 0)
		return -1;
	if (empty(s, '}'))
		return 0;
	do {
		ws(s);
		if (str_decode(s, &off, &len) < 0 || expect(s, ':') < 0 ||
		    integer(s, &id) < 0)
			return -1;
		if (r->nv == r->vcap) {
			r->vcap = r->vcap ? r->vcap * 2 : 1024;
			r->voff = xrealloc(r->voff, r->vcap * sizeof(*r->voff));
			r->vlen = xrealloc(r->vlen, r->vcap * sizeof(*r->vlen));
			r->vid = xrealloc(r->vid, r->vcap * sizeof(*r->vid));
		}
		r->voff[r->nv] = off;
		r->vlen[r->nv] = len;
		r->vid[r->nv++] = id;
	} while ((m = more(s, '}')) == 1);
	return m;
}

static void
merge_add(struct tok_raw *r, uint32_t lo, uint32_t ll, uint32_t ro,
    uint32_t rl)
{
	if (r->nm == r->mcap) {
		r->mcap = r->mcap ? r->mcap * 2 : 1024;
		r->merge = xrealloc(r->merge, r->mcap * sizeof(*r->merge));
	}
	r->merge[r->nm].loff = lo;
	r->merge[r->nm].llen = ll;
	r->merge[r->nm].roff = ro;
	r->merge[r->nm].rlen = rl;
	r->nm++;
}

static int
merges(struct scan *s)
{
	struct tok_raw *r = s->r;
	uint32_t off, len, off2, len2;
	const char *sp;
	int m;

	if (expect(s, '[') < 0)
		return -1;
	if (empty(s, ']'))
		return 0;
	do {
		ws(s);
		if (s->p < s->e && *s->p == '"') {
			if (str_decode(s, &off, &len) < 0)
				return -1;
			sp = memchr(r->sbuf + off, ' ', len);
			if (!sp || memchr(sp + 1, ' ', len - (size_t)(sp -
			    (r->sbuf + off)) - 1))
				return -1;
			len2 = (uint32_t)(sp - (r->sbuf + off));
			merge_add(r, off, len2, off + len2 + 1,
			    len - len2 - 1);
		} else {
			if (expect(s, '[') < 0)
				return -1;
			ws(s);
			if (str_decode(s, &off, &len) < 0 ||
			    expect(s, ',') < 0)
				return -1;
			ws(s);
			if (str_decode(s, &off2, &len2) < 0 ||
			    expect(s, ']') < 0)
				return -1;
			merge_add(r, off, len, off2, len2);
		}
	} while ((m = more(s, ']')) == 1);
	return m;
}

/* the key at s->p and its colon: 1 "model", 2 "vocab", 3 "merges", 0
 * another, -1 */
static int
key(struct scan *s)
{
	static const char *known[] = { "model", "vocab", "merges" };
	uint32_t off, len;
	int i, k = 0;

	ws(s);
	if (str_decode(s, &off, &len) < 0 || expect(s, ':') < 0)
		return -1;
	for (i = 0; i < 3; i++)
		if (len == strlen(known[i]) &&
		    !memcmp(s->r->sbuf + off, known[i], len))
			k = i + 1;
	s->r->slen = off;
	return k;
}

/* an object whose members are skipped, but for "model" at depth 0 and
 * "vocab" and "merges" at depth 1 */
static int
object(struct scan *s, int depth, const char *text)
{
	struct tok_raw *r = s->r;
	int k, m;

	if (expect(s, '{') < 0)
		return -1;
	if (empty(s, '}'))
		return 0;
	do {
		if ((k = key(s)) < 0)
			return -1;
		ws(s);
		if (depth == 0 && k == 1) {
			if (r->seen_model++ || object(s, 1, text) < 0)
				return -1;
		} else if (depth == 1 && k == 2) {
			if (r->vend)
				return -1;
			r->vstart = (size_t)(s->p - text);
			if (vocab(s) < 0)
				return -1;
			r->vend = (size_t)(s->p - text);
		} else if (depth == 1 && k == 3) {
			if (r->mend)
				return -1;
			r->mstart = (size_t)(s->p - text);
			if (merges(s) < 0)
				return -1;
			r->mend = (size_t)(s->p - text);
		} else if (skip_value(s) < 0)
			return -1;
	} while ((m = more(s, '}')) == 1);
	return m;
}

void
tok_raw_free(struct tok_raw *r)
{
	free(r->rest);
	free(r->sbuf);
	free(r->voff);
	free(r->vlen);
	free(r->vid);
	free(r->merge);
	memset(r, 0, sizeof(*r));
}

int
tok_raw_scan(const char *text, size_t len, struct tok_raw *r)
{
	struct scan s = { text, text + len, r };
	size_t a0, a1, b0, b1, n = 0;
	const char *ea, *eb;

	memset(r, 0, sizeof(*r));
	if (tok_utf8_valid(text, len) != len)
		return -1;
	r->sbuf = xmalloc(len + 1);
	if (object(&s, 0, text) < 0 || !r->vend || !r->mend) {
		tok_raw_free(r);
		return -1;
	}
	/* the text with the two values cut out, in the order they come */
	a0 = r->vstart; a1 = r->vend; ea = "{}";
	b0 = r->mstart; b1 = r->mend; eb = "[]";
	if (b0 < a0) {
		size_t t0 = a0, t1 = a1;
		const char *te = ea;
		a0 = b0; a1 = b1; ea = eb;
		b0 = t0; b1 = t1; eb = te;
	}
	r->rest = xmalloc(len - (a1 - a0) - (b1 - b0) + 5);
	memcpy(r->rest, text, a0);
	n = a0;
	memcpy(r->rest + n, ea, 2);
	n += 2;
	memcpy(r->rest + n, text + a1, b0 - a1);
	n += b0 - a1;
	memcpy(r->rest + n, eb, 2);
	n += 2;
	memcpy(r->rest + n, text + b1, len - b1);
	n += len - b1;
	r->rest[n] = 0;
	r->restlen = n;
	return 0;
}
