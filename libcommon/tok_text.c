/* tok_text.c: the text stages of a tokenizer.json around its model:
 * normalizers (NFC/NFD/NFKC/NFKD via utf8proc, Prepend, Replace, Strip,
 * Sequence), pre-tokenizers (Split with PCRE2 standing in for Oniguruma,
 * ByteLevel, Metaspace, Digits, WhitespaceSplit, Sequence) and decoders
 * (ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip, Sequence),
 * each behaving as the `tokenizers` library's component of the same name.
 * Anything else is refused by name when loaded. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pcre2.h>
#include <utf8proc.h>

#include "lmf/util.h"
#include "tok_priv.h"
#include "lmf/banned.h"

/* Unicode White_Space, which is what Oniguruma's \s and Rust's
 * char::is_whitespace mean (PCRE2's \s lacks U+0085) */
#define WS_CLASS "\\t\\n\\x0B\\f\\r \\x{85}\\x{A0}\\x{1680}" \
	"\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}"
#define GPT2_RE "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+" \
	"| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"

/* ---- buffers ---- */

void
tok_buf_reserve(struct tbuf *b, size_t n)
{
	if (b->n + n + 1 <= b->cap)
		return;
	while (b->n + n + 1 > b->cap)
		b->cap = b->cap ? b->cap * 2 : 256;
	b->p = xrealloc(b->p, b->cap);
}

void
tok_buf_put(struct tbuf *b, const void *s, size_t n)
{
	tok_buf_reserve(b, n);
	if (n)
		memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = 0;
}

void
tok_buf_putc(struct tbuf *b, int c)
{
	char ch = (char)c;

	tok_buf_put(b, &ch, 1);
}

void
tok_splits_add(struct tsplits *s, const char *p, size_t n)
{
	if (n == 0)
		return;
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->off = xrealloc(s->off, s->cap * sizeof(size_t));
		s->len = xrealloc(s->len, s->cap * sizeof(size_t));
		s->src = xrealloc(s->src, s->cap * sizeof(size_t));
	}
	s->src[s->n] = s->cbase;
	if (s->cs && p >= s->cs && p <= s->cs + s->cslen)
		s->src[s->n] += (size_t)(p - s->cs);
	s->off[s->n] = s->b.n;
	s->len[s->n] = n;
	s->n++;
	tok_buf_put(&s->b, p, n);
}

void
tok_splits_clear(struct tsplits *s)
{
	s->n = 0;
	s->b.n = 0;
}

void
tok_splits_free(struct tsplits *s)
{
	free(s->b.p);
	free(s->off);
	free(s->len);
	free(s->src);
	memset(s, 0, sizeof(*s));
}

/* ---- UTF-8 ---- */

int
tok_utf8_len(unsigned char c)
{
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return 2;
	if (c >= 0xe0 && c <= 0xef)
		return 3;
	if (c >= 0xf0 && c <= 0xf4)
		return 4;
	return 0;
}

/* length of the valid sequence at s (1-4), or 0 when invalid; *bad is
 * then the length of the maximal invalid subpart */
static size_t
utf8_seq(const unsigned char *s, size_t n, size_t *bad)
{
	size_t l = (size_t)tok_utf8_len(s[0]), i;
	unsigned char lo = 0x80, hi = 0xbf;

	*bad = 1;
	if (l == 1)
		return 1;
	if (l == 0)
		return 0;
	if (s[0] == 0xe0)
		lo = 0xa0;
	else if (s[0] == 0xed)
		hi = 0x9f;
	else if (s[0] == 0xf0)
		lo = 0x90;
	else if (s[0] == 0xf4)
		hi = 0x8f;
	for (i = 1; i < l; i++) {
		if (i >= n || s[i] < lo || s[i] > hi) {
			*bad = i;
			return 0;
		}
		lo = 0x80;
		hi = 0xbf;
	}
	return l;
}

size_t
tok_utf8_valid(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, bad, l;

	while (i < n) {
		if (u[i] < 0x80) {
			i++;
			continue;
		}
		l = utf8_seq(u + i, n - i, &bad);
		if (!l)
			return i;
		i += l;
	}
	return n;
}

void
tok_utf8_lossy(const char *s, size_t n, struct tbuf *out)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, bad, l;

	while (i < n) {
		l = utf8_seq(u + i, n - i, &bad);
		if (l) {
			tok_buf_put(out, s + i, l);
			i += l;
		} else {
			tok_buf_put(out, "\xef\xbf\xbd", 3);
			i += bad;
		}
	}
}

static int32_t
utf8_decode(const char *s, size_t n, size_t *len)
{
	utf8proc_int32_t c;
	utf8proc_ssize_t r = utf8proc_iterate((const utf8proc_uint8_t *)s,
	    (utf8proc_ssize_t)n, &c);

	if (r <= 0) {
		*len = 1;
		return -1;
	}
	*len = (size_t)r;
	return c;
}

static int
is_white(int32_t c)
{
	return (c >= 9 && c <= 13) || c == ' ' || c == 0x85 || c == 0xa0 ||
	    c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 ||
	    c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

static int
is_numeric(int32_t c)
{
	utf8proc_category_t k = utf8proc_category(c);

	return k == UTF8PROC_CATEGORY_ND || k == UTF8PROC_CATEGORY_NL ||
	    k == UTF8PROC_CATEGORY_NO;
}

/* ---- regexes: PCRE2 with Oniguruma's \s ---- */

struct tre {
	pcre2_code *re;
	pcre2_match_data *md;
};

/* rewrite \s and \S to the White_Space class; -1 when \S is in a class */
static int
rewrite_ws(const char *pat, size_t n, struct tbuf *out)
{
	size_t i;
	int incls = 0, first = 0;

	for (i = 0; i < n; i++) {
		char c = pat[i];
		if (c == '\\' && i + 1 < n) {
			char d = pat[++i];
			if (d == 's') {
				if (incls)
					tok_buf_put(out, WS_CLASS,
					    strlen(WS_CLASS));
				else {
					tok_buf_putc(out, '[');
					tok_buf_put(out, WS_CLASS,
					    strlen(WS_CLASS));
					tok_buf_putc(out, ']');
				}
			} else if (d == 'S') {
				if (incls)
					return -1;
				tok_buf_put(out, "[^", 2);
				tok_buf_put(out, WS_CLASS, strlen(WS_CLASS));
				tok_buf_putc(out, ']');
			} else {
				tok_buf_putc(out, '\\');
				tok_buf_putc(out, d);
			}
			first = 0;
			continue;
		}
		if (!incls && c == '[') {
			incls = 1;
			first = 1;
			tok_buf_putc(out, c);
			if (i + 1 < n && pat[i + 1] == '^')
				tok_buf_putc(out, pat[++i]);
			continue;
		}
		if (incls && c == ']' && !first)
			incls = 0;
		first = 0;
		tok_buf_putc(out, c);
	}
	return 0;
}

static struct tre *
re_compile(const char *pat, size_t n, int literal, char *err, size_t errlen)
{
	struct tbuf b = {0};
	struct tre *r;
	int ec;
	PCRE2_SIZE eo;
	uint32_t opt = PCRE2_UTF | PCRE2_UCP;

	if (literal) {
		tok_buf_put(&b, pat, n);
		opt = PCRE2_UTF | PCRE2_LITERAL;
	} else if (rewrite_ws(pat, n, &b) < 0) {
		lmf_seterr(err, errlen, "regex '%.60s': \\S in a class not "
		    "implemented", pat);
		free(b.p);
		return NULL;
	}
	tok_buf_reserve(&b, 0);
	r = xcalloc(1, sizeof(*r));
	r->re = pcre2_compile((PCRE2_SPTR)b.p, b.n, opt, &ec, &eo, NULL);
	free(b.p);
	if (!r->re) {
		PCRE2_UCHAR msg[120];
		pcre2_get_error_message(ec, msg, sizeof(msg));
		lmf_seterr(err, errlen, "regex '%.60s': %s", pat, (char *)msg);
		free(r);
		return NULL;
	}
	pcre2_jit_compile(r->re, PCRE2_JIT_COMPLETE);
	r->md = pcre2_match_data_create_from_pattern(r->re, NULL);
	return r;
}

static void
re_free(struct tre *r)
{
	if (!r)
		return;
	pcre2_match_data_free(r->md);
	pcre2_code_free(r->re);
	free(r);
}

/* next match at or after *pos: 1 and [*ms, *me), or 0 */
static int
re_next(struct tre *r, const char *s, size_t n, size_t pos, size_t *ms,
    size_t *me)
{
	int rc;
	PCRE2_SIZE *ov;

	if (pos > n)
		return 0;
	rc = pcre2_match(r->re, (PCRE2_SPTR)s, n, pos, PCRE2_NO_UTF_CHECK,
	    r->md, NULL);
	if (rc < 0)
		return 0;
	ov = pcre2_get_ovector_pointer(r->md);
	*ms = ov[0];
	*me = ov[1];
	return 1;
}

/* ---- pattern (String or Regex) shared by Split and Replace ---- */

static struct tre *
pattern_load(json_t *p, const char *what, char *err, size_t errlen)
{
	json_t *s = json_object_get(p, "String"), *r = json_object_get(p,
	    "Regex");

	if (json_is_string(s))
		return re_compile(json_string_value(s), json_string_length(s),
		    1, err, errlen);
	if (json_is_string(r))
		return re_compile(json_string_value(r), json_string_length(r),
		    0, err, errlen);
	lmf_seterr(err, errlen, "%s without a String or Regex pattern", what);
	return NULL;
}

static void
replace_all(struct tre *r, const char *with, size_t wl, const char *s,
    size_t n, struct tbuf *out)
{
	size_t pos = 0, ms, me;

	while (pos <= n && re_next(r, s, n, pos, &ms, &me)) {
		tok_buf_put(out, s + pos, ms - pos);
		tok_buf_put(out, with, wl);
		if (me == ms) {
			size_t l;
			if (ms >= n) {
				pos = n + 1;
				break;
			}
			utf8_decode(s + ms, n - ms, &l);
			tok_buf_put(out, s + ms, l);
			me = ms + l;
		}
		pos = me;
	}
	if (pos <= n)
		tok_buf_put(out, s + pos, n - pos);
}

/* ---- normalizers ---- */

enum { N_SEQ, N_NFC, N_NFD, N_NFKC, N_NFKD, N_PREPEND, N_REPLACE, N_STRIP };

struct tnorm {
	int kind;
	struct tnorm **sub;
	size_t nsub;
	char *str;          /* Prepend's, Replace's content */
	size_t slen;
	struct tre *re;
	int left, right;
};

void
tok_norm_free(struct tnorm *n)
{
	size_t i;

	if (!n)
		return;
	for (i = 0; i < n->nsub; i++)
		tok_norm_free(n->sub[i]);
	free(n->sub);
	free(n->str);
	re_free(n->re);
	free(n);
}

struct tnorm *
tok_norm_load(json_t *j, char *err, size_t errlen)
{
	const char *type = json_string_value(json_object_get(j, "type"));
	struct tnorm *n;
	json_t *v;

	if (!type) {
		lmf_seterr(err, errlen, "normalizer without a type");
		return NULL;
	}
	n = xcalloc(1, sizeof(*n));
	if (!strcmp(type, "Sequence")) {
		json_t *a = json_object_get(j, "normalizers");
		size_t i;
		n->kind = N_SEQ;
		if (!json_is_array(a)) {
			lmf_seterr(err, errlen, "normalizer Sequence without "
			    "normalizers");
			goto fail;
		}
		n->sub = xcalloc(json_array_size(a) + 1, sizeof(*n->sub));
		for (i = 0; i < json_array_size(a); i++) {
			n->sub[i] = tok_norm_load(json_array_get(a, i), err,
			    errlen);
			if (!n->sub[i])
				goto fail;
			n->nsub++;
		}
	} else if (!strcmp(type, "NFC")) {
		n->kind = N_NFC;
	} else if (!strcmp(type, "NFD")) {
		n->kind = N_NFD;
	} else if (!strcmp(type, "NFKC")) {
		n->kind = N_NFKC;
	} else if (!strcmp(type, "NFKD")) {
		n->kind = N_NFKD;
	} else if (!strcmp(type, "Prepend")) {
		n->kind = N_PREPEND;
		v = json_object_get(j, "prepend");
		if (!json_is_string(v)) {
			lmf_seterr(err, errlen, "normalizer Prepend without "
			    "prepend");
			goto fail;
		}
		n->str = xstrndup(json_string_value(v), json_string_length(v));
		n->slen = json_string_length(v);
	} else if (!strcmp(type, "Replace")) {
		n->kind = N_REPLACE;
		v = json_object_get(j, "content");
		if (!json_is_string(v)) {
			lmf_seterr(err, errlen, "normalizer Replace without "
			    "content");
			goto fail;
		}
		n->str = xstrndup(json_string_value(v), json_string_length(v));
		n->slen = json_string_length(v);
		n->re = pattern_load(json_object_get(j, "pattern"),
		    "normalizer Replace", err, errlen);
		if (!n->re)
			goto fail;
	} else if (!strcmp(type, "Strip")) {
		n->kind = N_STRIP;
		n->left = json_is_true(json_object_get(j, "strip_left"));
		n->right = json_is_true(json_object_get(j, "strip_right"));
	} else {
		lmf_seterr(err, errlen, "normalizer %.40s not implemented",
		    type);
		goto fail;
	}
	return n;
fail:
	tok_norm_free(n);
	return NULL;
}

/* a code point that NFC leaves alone whatever surrounds it: canonical
 * combining class 0, no canonical decomposition, never the second of a
 * composition pair (utf8proc marks those with comb_index bit 15), not a
 * conjoining Hangul jamo (composed by rule) */
static int
nfc_stable(int32_t c)
{
	const utf8proc_property_t *p;

	if (c < 0x300)
		return 1;
	if (c >= 0x1100 && c <= 0x11ff)
		return 0;
	p = utf8proc_get_property(c);
	if (p->combining_class != 0)
		return 0;
	if (p->decomp_type == 0 && p->decomp_seqindex != UINT16_MAX)
		return 0;
	return p->comb_index == UINT16_MAX || !(p->comb_index & 0x8000);
}

/* whether nfc_stable can trust this utf8proc's tables: its verdict on a
 * few known code points (1 yes, 0 no, -1 not checked yet) */
static int nfc_trusted = -1;

static int
nfc_check_tables(void)
{
	static const int32_t yes[] = { 0x41, 0x391, 0x4e2d, 0x2019, 0xac00 };
	static const int32_t no[] = { 0x301, 0x3af, 0xb3e, 0x102e, 0x1161,
	    0x11a8, 0x2000, 0x212b, 0x3099 };
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		if (!nfc_stable(yes[i]))
			return 0;
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (nfc_stable(no[i]))
			return 0;
	return 1;
}

static void
nfc_map(const char *s, size_t len, struct tbuf *out)
{
	utf8proc_uint8_t *dst = NULL;
	utf8proc_ssize_t r;

	r = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)len,
	    &dst, (utf8proc_option_t)(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
	if (r < 0)
		tok_buf_put(out, s, len);
	else
		tok_buf_put(out, dst, (size_t)r);
	free(dst);
}

/* NFC with a quick check: a stable code point is a boundary that nothing
 * crosses, so only the stretches around unstable ones, from the stable
 * code point before to the one after, go through utf8proc */
static void
nfc_apply(const char *s, size_t len, struct tbuf *out)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, l, done = 0, stable = 0;

	if (nfc_trusted < 0)
		nfc_trusted = nfc_check_tables();
	if (!nfc_trusted) {
		nfc_map(s, len, out);
		return;
	}
	while (i < len) {
		if (u[i] < 0xcc) {
			/* below U+0300: ASCII or a two-byte lead under 0xcc */
			stable = i;
			i += u[i] < 0x80 ? 1 : 2;
			continue;
		}
		if (nfc_stable(utf8_decode(s + i, len - i, &l))) {
			stable = i;
			i += l;
			continue;
		}
		/* [stable, the next stable code point) */
		for (i += l; i < len; i += l)
			if (u[i] < 0xcc || nfc_stable(utf8_decode(s + i,
			    len - i, &l)))
				break;
		if (i > len)
			i = len;
		tok_buf_put(out, s + done, stable - done);
		nfc_map(s + stable, i - stable, out);
		done = stable = i;
	}
	tok_buf_put(out, s + done, len - done);
}

static void
norm_one(const struct tnorm *n, const char *s, size_t len, struct tbuf *out)
{
	utf8proc_uint8_t *dst = NULL;
	utf8proc_ssize_t r;
	size_t i, a, b, l;
	int opt = UTF8PROC_STABLE;

	out->n = 0;
	tok_buf_reserve(out, 0);
	out->p[0] = 0;
	switch (n->kind) {
	case N_NFC:
	case N_NFD:
	case N_NFKC:
	case N_NFKD:
		for (i = 0; i < len && (unsigned char)s[i] < 0x80; i++)
			;
		if (i == len) {
			tok_buf_put(out, s, len);
			return;
		}
		if (n->kind == N_NFC) {
			nfc_apply(s, len, out);
			return;
		}
		if (n->kind == N_NFC || n->kind == N_NFKC)
			opt |= UTF8PROC_COMPOSE;
		else
			opt |= UTF8PROC_DECOMPOSE;
		if (n->kind == N_NFKC || n->kind == N_NFKD)
			opt |= UTF8PROC_COMPAT;
		r = utf8proc_map((const utf8proc_uint8_t *)s,
		    (utf8proc_ssize_t)len, &dst, (utf8proc_option_t)opt);
		if (r < 0)
			tok_buf_put(out, s, len);
		else
			tok_buf_put(out, dst, (size_t)r);
		free(dst);
		return;
	case N_PREPEND:
		if (len)
			tok_buf_put(out, n->str, n->slen);
		tok_buf_put(out, s, len);
		return;
	case N_REPLACE:
		replace_all(n->re, n->str, n->slen, s, len, out);
		return;
	case N_STRIP:
		a = 0;
		b = len;
		while (n->left && a < b) {
			int32_t c = utf8_decode(s + a, b - a, &l);
			if (!is_white(c))
				break;
			a += l;
		}
		while (n->right && b > a) {
			size_t k = b - 1;
			while (k > a && ((unsigned char)s[k] & 0xc0) == 0x80)
				k--;
			if (!is_white(utf8_decode(s + k, b - k, &l)))
				break;
			b = k;
		}
		tok_buf_put(out, s + a, b - a);
		return;
	}
}

void
tok_norm_apply(const struct tnorm *n, const char *s, size_t len,
    struct tbuf *out)
{
	static _Thread_local struct tbuf scratch;
	struct tbuf a, t;
	size_t i;

	if (n->kind != N_SEQ) {
		norm_one(n, s, len, out);
		return;
	}
	out->n = 0;
	tok_buf_put(out, s, len);
	/* the scratch buffer is kept between calls; a nested sequence has
	 * its own */
	a = scratch;
	memset(&scratch, 0, sizeof(scratch));
	for (i = 0; i < n->nsub; i++) {
		tok_norm_apply(n->sub[i], out->p, out->n, &a);
		t = *out;
		*out = a;
		a = t;
	}
	if (scratch.p)
		free(a.p);
	else
		scratch = a;
}

/* ---- pre-tokenizers ---- */

enum { P_SEQ, P_SPLIT, P_BYTELEVEL, P_METASPACE, P_DIGITS, P_WSPLIT };
enum { B_REMOVED, B_ISOLATED, B_PREV, B_NEXT, B_CONTIG };

struct tpre {
	int kind;
	struct tpre **sub;
	size_t nsub;
	struct tre *re;
	int behavior, invert;
	int prefix_space;     /* ByteLevel add_prefix_space */
	int prepend;          /* Metaspace: 0 never, 1 first, 2 always */
	int split;            /* Metaspace split; Digits individual */
	char rep[8];          /* Metaspace replacement */
	size_t replen;
};

static char bl_enc[256][3]; /* byte -> its ByteLevel char, UTF-8 */
static unsigned char bl_enclen[256];
static int16_t bl_dec[324];  /* ByteLevel char code point -> byte */

static void
bytelevel_init(void)
{
	int b, n = 0;

	if (bl_enclen[0])
		return;
	for (b = 0; b < 324; b++)
		bl_dec[b] = -1;
	for (b = 0; b < 256; b++) {
		int cp;
		if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) ||
		    b >= 174)
			cp = b;
		else
			cp = 256 + n++;
		bl_dec[cp] = (int16_t)b;
		if (cp < 0x80) {
			bl_enc[b][0] = (char)cp;
			bl_enclen[b] = 1;
		} else {
			bl_enc[b][0] = (char)(0xc0 | cp >> 6);
			bl_enc[b][1] = (char)(0x80 | (cp & 0x3f));
			bl_enclen[b] = 2;
		}
	}
}

void
lmf_tok_byte_symbol(int b, char out[3])
{
	bytelevel_init();
	memcpy(out, bl_enc[b & 0xff], 3);
}

void
tok_pre_free(struct tpre *p)
{
	size_t i;

	if (!p)
		return;
	for (i = 0; i < p->nsub; i++)
		tok_pre_free(p->sub[i]);
	free(p->sub);
	re_free(p->re);
	free(p);
}

static int
prepend_scheme(json_t *j, int *out, char *err, size_t errlen)
{
	json_t *ps = json_object_get(j, "prepend_scheme");
	const char *s = json_string_value(ps);

	if (!ps) {
		*out = json_is_false(json_object_get(j, "add_prefix_space")) ?
		    0 : 2;
		return 0;
	}
	if (s && !strcmp(s, "always"))
		*out = 2;
	else if (s && !strcmp(s, "first"))
		*out = 1;
	else if (s && !strcmp(s, "never"))
		*out = 0;
	else {
		lmf_seterr(err, errlen, "Metaspace prepend_scheme not known");
		return -1;
	}
	return 0;
}

static int
replacement(json_t *j, char *rep, size_t *replen, char *err, size_t errlen)
{
	json_t *r = json_object_get(j, "replacement");
	size_t l;

	if (!json_is_string(r) || json_string_length(r) == 0 ||
	    json_string_length(r) > 4) {
		lmf_seterr(err, errlen, "Metaspace without a one-character "
		    "replacement");
		return -1;
	}
	utf8_decode(json_string_value(r), json_string_length(r), &l);
	if (l != json_string_length(r)) {
		lmf_seterr(err, errlen, "Metaspace replacement is not one "
		    "character");
		return -1;
	}
	memcpy(rep, json_string_value(r), l);
	rep[l] = 0;
	*replen = l;
	return 0;
}

struct tpre *
tok_pre_load(json_t *j, char *err, size_t errlen)
{
	const char *type = json_string_value(json_object_get(j, "type"));
	struct tpre *p;

	bytelevel_init();
	if (!type) {
		lmf_seterr(err, errlen, "pre_tokenizer without a type");
		return NULL;
	}
	p = xcalloc(1, sizeof(*p));
	if (!strcmp(type, "Sequence")) {
		json_t *a = json_object_get(j, "pretokenizers");
		size_t i;
		p->kind = P_SEQ;
		if (!json_is_array(a)) {
			lmf_seterr(err, errlen, "pre_tokenizer Sequence without "
			    "pretokenizers");
			goto fail;
		}
		p->sub = xcalloc(json_array_size(a) + 1, sizeof(*p->sub));
		for (i = 0; i < json_array_size(a); i++) {
			p->sub[i] = tok_pre_load(json_array_get(a, i), err,
			    errlen);
			if (!p->sub[i])
				goto fail;
			p->nsub++;
		}
	} else if (!strcmp(type, "Split")) {
		const char *b = json_string_value(json_object_get(j,
		    "behavior"));
		p->kind = P_SPLIT;
		if (!b)
			b = "";
		if (!strcmp(b, "Removed"))
			p->behavior = B_REMOVED;
		else if (!strcmp(b, "Isolated"))
			p->behavior = B_ISOLATED;
		else if (!strcmp(b, "MergedWithPrevious"))
			p->behavior = B_PREV;
		else if (!strcmp(b, "MergedWithNext"))
			p->behavior = B_NEXT;
		else if (!strcmp(b, "Contiguous"))
			p->behavior = B_CONTIG;
		else {
			lmf_seterr(err, errlen, "Split behavior '%.30s' not "
			    "known", b);
			goto fail;
		}
		p->invert = json_is_true(json_object_get(j, "invert"));
		p->re = pattern_load(json_object_get(j, "pattern"),
		    "pre_tokenizer Split", err, errlen);
		if (!p->re)
			goto fail;
	} else if (!strcmp(type, "ByteLevel")) {
		json_t *ur = json_object_get(j, "use_regex");
		p->kind = P_BYTELEVEL;
		p->prefix_space = json_is_true(json_object_get(j,
		    "add_prefix_space"));
		if (!ur || json_is_true(ur)) {
			p->re = re_compile(GPT2_RE, strlen(GPT2_RE), 0, err,
			    errlen);
			if (!p->re)
				goto fail;
		}
	} else if (!strcmp(type, "Metaspace")) {
		json_t *sp = json_object_get(j, "split");
		p->kind = P_METASPACE;
		if (replacement(j, p->rep, &p->replen, err, errlen) < 0 ||
		    prepend_scheme(j, &p->prepend, err, errlen) < 0)
			goto fail;
		p->split = !sp || json_is_true(sp);
	} else if (!strcmp(type, "Digits")) {
		p->kind = P_DIGITS;
		p->split = json_is_true(json_object_get(j,
		    "individual_digits"));
	} else if (!strcmp(type, "WhitespaceSplit")) {
		p->kind = P_WSPLIT;
	} else {
		lmf_seterr(err, errlen, "pre_tokenizer %.40s not implemented",
		    type);
		goto fail;
	}
	return p;
fail:
	tok_pre_free(p);
	return NULL;
}

/* the pieces of s: [start, end) and whether each is a match */
struct pieces {
	size_t *a, *b;
	char *m;
	size_t n, cap;
};

static void
pieces_add(struct pieces *pc, size_t a, size_t b, int m)
{
	if (pc->n == pc->cap) {
		pc->cap = pc->cap ? pc->cap * 2 : 64;
		pc->a = xrealloc(pc->a, pc->cap * sizeof(size_t));
		pc->b = xrealloc(pc->b, pc->cap * sizeof(size_t));
		pc->m = xrealloc(pc->m, pc->cap);
	}
	pc->a[pc->n] = a;
	pc->b[pc->n] = b;
	pc->m[pc->n] = (char)m;
	pc->n++;
}

/* apply a split behavior to the pieces, adding the results to out */
static void
split_behave(struct pieces *pc, int behavior, int invert, const char *s,
    struct tsplits *out)
{
	size_t i, k = 0, n = pc->n;
	int prev = 0;

	if (invert)
		for (i = 0; i < n; i++)
			pc->m[i] = !pc->m[i];
	switch (behavior) {
	case B_REMOVED:
		for (i = 0; i < n; i++)
			if (!pc->m[i])
				tok_splits_add(out, s + pc->a[i],
				    pc->b[i] - pc->a[i]);
		return;
	case B_ISOLATED:
		for (i = 0; i < n; i++)
			tok_splits_add(out, s + pc->a[i], pc->b[i] - pc->a[i]);
		return;
	case B_PREV:
	case B_CONTIG:
		k = 0;
		for (i = 0; i < n; i++) {
			int join = behavior == B_PREV ?
			    pc->m[i] && !prev : pc->m[i] == prev;
			if (join && k > 0)
				pc->b[k - 1] = pc->b[i];
			else {
				pc->a[k] = pc->a[i];
				pc->b[k] = pc->b[i];
				k++;
			}
			prev = pc->m[i];
		}
		break;
	case B_NEXT:
		k = n;
		for (i = n; i-- > 0;) {
			int join = pc->m[i] && !prev;
			if (join && k < n)
				pc->a[k] = pc->a[i];
			else {
				k--;
				pc->a[k] = pc->a[i];
				pc->b[k] = pc->b[i];
			}
			prev = pc->m[i];
		}
		for (i = k; i < n; i++)
			tok_splits_add(out, s + pc->a[i], pc->b[i] - pc->a[i]);
		return;
	}
	for (i = 0; i < k; i++)
		tok_splits_add(out, s + pc->a[i], pc->b[i] - pc->a[i]);
}

static void
regex_pieces(struct tre *re, const char *s, size_t n, struct pieces *pc)
{
	size_t pos = 0, last = 0, ms, me, l;

	pc->n = 0;
	while (pos <= n && re_next(re, s, n, pos, &ms, &me)) {
		if (ms > last)
			pieces_add(pc, last, ms, 0);
		if (me > ms)
			pieces_add(pc, ms, me, 1);
		last = me;
		if (me == ms) {
			if (ms >= n)
				break;
			utf8_decode(s + ms, n - ms, &l);
			pos = ms + l;
		} else
			pos = me;
	}
	if (last < n)
		pieces_add(pc, last, n, 0);
}

/* pieces where each char for which pred holds is a match */
static void
char_pieces(const char *s, size_t n, int (*pred)(int32_t), int each,
    struct pieces *pc)
{
	size_t i = 0, l, start = 0;
	int cur = -1;

	pc->n = 0;
	while (i < n) {
		int m = pred(utf8_decode(s + i, n - i, &l));
		if (cur >= 0 && (m != cur || (m && each))) {
			pieces_add(pc, start, i, cur);
			start = i;
		}
		cur = m;
		i += l;
	}
	if (cur >= 0)
		pieces_add(pc, start, n, cur);
}

/* add s as one split, each byte as its ByteLevel character, written
 * straight into out's buffer */
static void
bytelevel_add(struct tsplits *out, const char *s, size_t n)
{
	struct tbuf *b = &out->b;
	size_t i, start = b->n;

	if (n == 0)
		return;
	if (out->n == out->cap) {
		out->cap = out->cap ? out->cap * 2 : 64;
		out->off = xrealloc(out->off, out->cap * sizeof(size_t));
		out->len = xrealloc(out->len, out->cap * sizeof(size_t));
		out->src = xrealloc(out->src, out->cap * sizeof(size_t));
	}
	tok_buf_reserve(b, 2 * n);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		b->p[b->n] = bl_enc[c][0];
		b->p[b->n + 1] = bl_enc[c][1];
		b->n += bl_enclen[c];
	}
	b->p[b->n] = 0;
	out->src[out->n] = out->cbase;
	out->off[out->n] = start;
	out->len[out->n] = b->n - start;
	out->n++;
}

static void
pre_one(const struct tpre *p, const char *s, size_t n, size_t base,
    size_t first_span, struct tsplits *out, struct pieces *pc,
    struct tbuf *t)
{
	static _Thread_local struct tbuf u;
	size_t i, pos;
	int first = base < first_span;

	out->cs = s;
	out->cslen = n;
	out->cbase = base;
	switch (p->kind) {
	case P_SPLIT:
		regex_pieces(p->re, s, n, pc);
		split_behave(pc, p->behavior, p->invert, s, out);
		return;
	case P_DIGITS:
		char_pieces(s, n, is_numeric, p->split, pc);
		split_behave(pc, p->split ? B_ISOLATED : B_CONTIG, 0, s, out);
		return;
	case P_WSPLIT:
		char_pieces(s, n, is_white, 0, pc);
		split_behave(pc, B_REMOVED, 0, s, out);
		return;
	case P_BYTELEVEL:
		if (!p->re && !(p->prefix_space && (n == 0 || s[0] != ' '))) {
			bytelevel_add(out, s, n);
			return;
		}
		t->n = 0;
		if (p->prefix_space && (n == 0 || s[0] != ' '))
			tok_buf_putc(t, ' ');
		tok_buf_put(t, s, n);
		if (p->re)
			regex_pieces(p->re, t->p, t->n, pc);
		else {
			pc->n = 0;
			pieces_add(pc, 0, t->n, 0);
		}
		for (i = 0; i < pc->n; i++) {
			size_t k;
			u.n = 0;
			for (k = pc->a[i]; k < pc->b[i]; k++) {
				unsigned char c = (unsigned char)t->p[k];
				tok_buf_put(&u, bl_enc[c], bl_enclen[c]);
			}
			tok_splits_add(out, u.p, u.n);
		}
		return;
	case P_METASPACE:
		t->n = 0;
		if ((p->prepend == 2 || (p->prepend == 1 && first)) &&
		    !(n > 0 && s[0] == ' ') &&
		    !(n >= p->replen && !memcmp(s, p->rep, p->replen)))
			tok_buf_put(t, p->rep, p->replen);
		for (i = 0; i < n; i++) {
			if (s[i] == ' ')
				tok_buf_put(t, p->rep, p->replen);
			else
				tok_buf_putc(t, s[i]);
		}
		if (!p->split) {
			tok_splits_add(out, t->p, t->n);
			return;
		}
		pc->n = 0;
		pos = 0;
		for (i = 0; i + p->replen <= t->n; ) {
			if (!memcmp(t->p + i, p->rep, p->replen)) {
				if (i > pos)
					pieces_add(pc, pos, i, 0);
				pieces_add(pc, i, i + p->replen, 1);
				i += p->replen;
				pos = i;
			} else
				i++;
		}
		if (pos < t->n)
			pieces_add(pc, pos, t->n, 0);
		split_behave(pc, B_NEXT, 0, t->p, out);
		return;
	}
}

void
tok_pre_apply(const struct tpre *p, const char *s, size_t len,
    size_t first_span, struct tsplits *out, struct tsplits *tmp)
{
	static _Thread_local struct pieces pc;  /* scratch, reused */
	static _Thread_local struct tbuf t;
	struct tsplits cur = *tmp, nxt;
	size_t i, k;

	tok_splits_clear(out);
	out->cs = s;
	out->cslen = len;
	out->cbase = 0;
	if (!p) {
		tok_splits_add(out, s, len);
		return;
	}
	if (p->kind != P_SEQ) {
		pre_one(p, s, len, 0, first_span, out, &pc, &t);
		return;
	}
	/* a sequence: each stage splits every piece further, from cur into
	 * nxt; the three lists' buffers are kept between calls */
	tok_splits_clear(&cur);
	cur.cs = s;
	cur.cslen = len;
	cur.cbase = 0;
	tok_splits_add(&cur, s, len);
	nxt = *out;
	for (k = 0; k < p->nsub; k++) {
		struct tsplits sw;
		tok_splits_clear(&nxt);
		for (i = 0; i < cur.n; i++)
			pre_one(p->sub[k], cur.b.p + cur.off[i], cur.len[i],
			    cur.src[i], first_span, &nxt, &pc, &t);
		sw = cur;
		cur = nxt;
		nxt = sw;
	}
	*out = cur;
	*tmp = nxt;
}
/* ---- decoders ---- */

enum { D_SEQ, D_BYTELEVEL, D_METASPACE, D_REPLACE, D_BYTEFALLBACK, D_FUSE,
	D_STRIP };

struct tdec {
	int kind;
	struct tdec **sub;
	size_t nsub;
	struct tre *re;
	char *str;
	size_t slen;
	char rep[8];
	size_t replen;
	int prepend;
	int32_t content;
	long start, stop;
};

void
tok_dec_free(struct tdec *d)
{
	size_t i;

	if (!d)
		return;
	for (i = 0; i < d->nsub; i++)
		tok_dec_free(d->sub[i]);
	free(d->sub);
	re_free(d->re);
	free(d->str);
	free(d);
}

struct tdec *
tok_dec_load(json_t *j, char *err, size_t errlen)
{
	const char *type = json_string_value(json_object_get(j, "type"));
	struct tdec *d;
	json_t *v;

	bytelevel_init();
	if (!type) {
		lmf_seterr(err, errlen, "decoder without a type");
		return NULL;
	}
	d = xcalloc(1, sizeof(*d));
	if (!strcmp(type, "Sequence")) {
		json_t *a = json_object_get(j, "decoders");
		size_t i;
		d->kind = D_SEQ;
		if (!json_is_array(a)) {
			lmf_seterr(err, errlen, "decoder Sequence without "
			    "decoders");
			goto fail;
		}
		d->sub = xcalloc(json_array_size(a) + 1, sizeof(*d->sub));
		for (i = 0; i < json_array_size(a); i++) {
			d->sub[i] = tok_dec_load(json_array_get(a, i), err,
			    errlen);
			if (!d->sub[i])
				goto fail;
			d->nsub++;
		}
	} else if (!strcmp(type, "ByteLevel")) {
		d->kind = D_BYTELEVEL;
	} else if (!strcmp(type, "Metaspace")) {
		d->kind = D_METASPACE;
		if (replacement(j, d->rep, &d->replen, err, errlen) < 0 ||
		    prepend_scheme(j, &d->prepend, err, errlen) < 0)
			goto fail;
	} else if (!strcmp(type, "Replace")) {
		d->kind = D_REPLACE;
		v = json_object_get(j, "content");
		if (!json_is_string(v)) {
			lmf_seterr(err, errlen, "decoder Replace without "
			    "content");
			goto fail;
		}
		d->str = xstrndup(json_string_value(v), json_string_length(v));
		d->slen = json_string_length(v);
		d->re = pattern_load(json_object_get(j, "pattern"),
		    "decoder Replace", err, errlen);
		if (!d->re)
			goto fail;
	} else if (!strcmp(type, "ByteFallback")) {
		d->kind = D_BYTEFALLBACK;
	} else if (!strcmp(type, "Fuse")) {
		d->kind = D_FUSE;
	} else if (!strcmp(type, "Strip")) {
		const char *c;
		size_t l;
		d->kind = D_STRIP;
		v = json_object_get(j, "content");
		c = json_string_value(v);
		if (!c || !*c) {
			lmf_seterr(err, errlen, "decoder Strip without content");
			goto fail;
		}
		d->content = utf8_decode(c, json_string_length(v), &l);
		d->start = (long)json_integer_value(json_object_get(j,
		    "start"));
		d->stop = (long)json_integer_value(json_object_get(j, "stop"));
	} else {
		lmf_seterr(err, errlen, "decoder %.40s not implemented", type);
		goto fail;
	}
	return d;
fail:
	tok_dec_free(d);
	return NULL;
}

/* a token list: strings owned by the list */
struct tlist {
	char **s;
	size_t *l;
	size_t n, cap;
};

static void
tlist_add(struct tlist *t, char *s, size_t l)
{
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		t->s = xrealloc(t->s, t->cap * sizeof(char *));
		t->l = xrealloc(t->l, t->cap * sizeof(size_t));
	}
	t->s[t->n] = s;
	t->l[t->n] = l;
	t->n++;
}

static void
tlist_free(struct tlist *t)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		free(t->s[i]);
	free(t->s);
	free(t->l);
	memset(t, 0, sizeof(*t));
}

static void
tlist_addbuf(struct tlist *t, struct tbuf *b)
{
	tlist_add(t, b->p ? b->p : xstrdup(""), b->n);
	memset(b, 0, sizeof(*b));
}

static void
flush_bytes(struct tlist *out, struct tbuf *bytes)
{
	size_t i;

	if (!bytes->n)
		return;
	if (tok_utf8_valid(bytes->p, bytes->n) == bytes->n)
		tlist_add(out, xstrndup(bytes->p, bytes->n), bytes->n);
	else
		for (i = 0; i < bytes->n; i++)
			tlist_add(out, xstrdup("\xef\xbf\xbd"), 3);
	bytes->n = 0;
}

static void
dec_chain(const struct tdec *d, struct tlist *in, struct tlist *out)
{
	struct tbuf b = {0}, bytes = {0};
	size_t i, k, l;

	switch (d->kind) {
	case D_SEQ:
		for (i = 0; i < d->nsub; i++) {
			struct tlist t = {0};
			dec_chain(d->sub[i], in, &t);
			tlist_free(in);
			*in = t;
		}
		*out = *in;
		memset(in, 0, sizeof(*in));
		return;
	case D_BYTELEVEL:
		for (i = 0; i < in->n; i++) {
			size_t start = bytes.n;
			int ok = 1;
			for (k = 0; k < in->l[i]; k += l) {
				int32_t c = utf8_decode(in->s[i] + k,
				    in->l[i] - k, &l);
				if (c < 0 || c >= 324 || bl_dec[c] < 0) {
					ok = 0;
					break;
				}
				tok_buf_putc(&bytes, bl_dec[c]);
			}
			if (!ok) {
				bytes.n = start;
				tok_buf_put(&bytes, in->s[i], in->l[i]);
			}
		}
		tok_utf8_lossy(bytes.p, bytes.n, &b);
		tlist_addbuf(out, &b);
		break;
	case D_METASPACE:
		for (i = 0; i < in->n; i++) {
			for (k = 0; k < in->l[i]; ) {
				if (in->l[i] - k >= d->replen &&
				    !memcmp(in->s[i] + k, d->rep, d->replen)) {
					if (!(i == 0 && k == 0 && d->prepend))
						tok_buf_putc(&b, ' ');
					k += d->replen;
				} else if (i == 0 && k == 0 && d->prepend &&
				    in->s[i][k] == ' ') {
					k++;
				} else
					tok_buf_putc(&b, in->s[i][k++]);
			}
			tlist_addbuf(out, &b);
		}
		break;
	case D_REPLACE:
		for (i = 0; i < in->n; i++) {
			b.n = 0;
			replace_all(d->re, d->str, d->slen, in->s[i],
			    in->l[i], &b);
			tlist_addbuf(out, &b);
		}
		break;
	case D_BYTEFALLBACK:
		for (i = 0; i < in->n; i++) {
			const char *s = in->s[i];
			int h1, h2;
			if (in->l[i] == 6 && !memcmp(s, "<0x", 3) &&
			    s[5] == '>' && (h1 = lmf_hexval(s[3])) >= 0 &&
			    (h2 = lmf_hexval(s[4])) >= 0) {
				tok_buf_putc(&bytes, h1 * 16 + h2);
				continue;
			}
			flush_bytes(out, &bytes);
			tlist_add(out, xstrndup(s, in->l[i]), in->l[i]);
		}
		flush_bytes(out, &bytes);
		break;
	case D_FUSE:
		for (i = 0; i < in->n; i++)
			tok_buf_put(&b, in->s[i], in->l[i]);
		tlist_addbuf(out, &b);
		break;
	case D_STRIP:
		for (i = 0; i < in->n; i++) {
			size_t a = 0, e = in->l[i];
			long c;
			for (c = 0; c < d->start && a < e; c++) {
				if (utf8_decode(in->s[i] + a, e - a, &l) !=
				    d->content)
					break;
				a += l;
			}
			for (c = 0; c < d->stop && e > a; c++) {
				size_t q = e - 1;
				while (q > a && ((unsigned char)in->s[i][q] &
				    0xc0) == 0x80)
					q--;
				if (utf8_decode(in->s[i] + q, e - q, &l) !=
				    d->content)
					break;
				e = q;
			}
			tlist_add(out, xstrndup(in->s[i] + a, e - a), e - a);
		}
		break;
	}
	free(b.p);
	free(bytes.p);
}

char *
tok_dec_apply(const struct tdec *d, char **toks, size_t n)
{
	struct tlist in = {0}, out = {0};
	struct tbuf b = {0};
	size_t i;

	if (!d) {
		for (i = 0; i < n; i++) {
			if (i)
				tok_buf_putc(&b, ' ');
			tok_buf_put(&b, toks[i], strlen(toks[i]));
		}
		tok_buf_reserve(&b, 0);
		b.p[b.n] = 0;
		return b.p;
	}
	for (i = 0; i < n; i++)
		tlist_add(&in, xstrdup(toks[i]), strlen(toks[i]));
	dec_chain(d, &in, &out);
	for (i = 0; i < out.n; i++)
		tok_buf_put(&b, out.s[i], out.l[i]);
	tok_buf_reserve(&b, 0);
	b.p[b.n] = 0;
	tlist_free(&in);
	tlist_free(&out);
	return b.p;
}
