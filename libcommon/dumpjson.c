/* dumpjson.c: the JSON Lines form of an lmf stream (lmf-dump(1)): each
 * element as text and back, the codecs, and the reader from the form to a
 * stream; at the end, the pieces of the text form. The reader is a small
 * JSON parser of its own, so that numbers keep every bit (-0, big i64) and
 * a tensor's data goes to the writer in chunks instead of as a tree of
 * JSON values. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lmf/dumpjson.h"
#include "lmf/util.h"
#include "lmf/banned.h"

#define TOKMAX 400            /* characters of one number */
#define OBUF (1u << 16)       /* payload bytes gathered before a write */
#define MAXDEPTH 64
#define VALMAX LMF_DUMPJSON_VALMAX

static char errmsg[600];

const char *
lmf_dumpjson_errmsg(void)
{
	return errmsg;
}

/* ------------------------------------------------------------- elements */

/* exponent and mantissa bits of the float dtypes */
static int
float_bits(int dtype, int *ebits, int *mbits)
{
	switch (dtype) {
	case LMF_F32: *ebits = 8; *mbits = 23; return 32;
	case LMF_F64: *ebits = 11; *mbits = 52; return 64;
	case LMF_F16: *ebits = 5; *mbits = 10; return 16;
	case LMF_BF16: *ebits = 8; *mbits = 7; return 16;
	}
	*ebits = *mbits = 0;
	return 0;
}

static uint64_t
get_bits(int dtype, const unsigned char *b)
{
	switch (lmf_dtype_size(dtype)) {
	case 1: return b[0];
	case 2: return lmf_get_u16(b);
	case 4: return lmf_get_u32(b);
	}
	return lmf_get_u64(b);
}

static void
put_bits(int dtype, unsigned char *b, uint64_t v)
{
	switch (lmf_dtype_size(dtype)) {
	case 1: b[0] = (unsigned char)v; break;
	case 2: lmf_put_u16(b, (uint16_t)v); break;
	case 4: lmf_put_u32(b, (uint32_t)v); break;
	default: lmf_put_u64(b, v); break;
	}
}

/* a finite decimal into the bits of a float dtype; -1 if it overflows */
static int
parse_float(int dtype, const char *s, uint64_t *bits)
{
	float f;
	uint32_t u;
	uint16_t h;

	if (dtype == LMF_F64) {
		double d = strtod(s, NULL);
		uint64_t v;

		if (isinf(d))
			return -1;
		memcpy(&v, &d, 8);
		*bits = v;
		return 0;
	}
	f = strtof(s, NULL);
	if (isinf(f))
		return -1;
	if (dtype == LMF_F32) {
		memcpy(&u, &f, 4);
		*bits = u;
		return 0;
	}
	h = dtype == LMF_F16 ? lmf_f32_to_f16(f) : lmf_f32_to_bf16(f);
	if ((dtype == LMF_F16 && (h & 0x7c00) == 0x7c00) ||
	    (dtype == LMF_BF16 && (h & 0x7f80) == 0x7f80))
		return -1;
	*bits = h;
	return 0;
}

static size_t
fmt_float(char *buf, int dtype, uint64_t bits, int json)
{
	int e, m, w = float_bits(dtype, &e, &m), prec, lo, hi;
	uint64_t man = bits & ((1ull << m) - 1);
	unsigned expo = (unsigned)(bits >> m) & ((1u << e) - 1);
	int neg = (int)(bits >> (w - 1)) & 1;
	const char *q = json ? "\"" : "";
	double v;
	uint64_t back;

	if (expo == (1u << e) - 1) {
		if (!man)
			return (size_t)snprintf(buf, VALMAX, "%s%sinf%s", q,
			    neg ? "-" : "", q);
		if (man == 1ull << (m - 1))
			return (size_t)snprintf(buf, VALMAX, "%s%snan%s", q,
			    neg ? "-" : "", q);
		return (size_t)snprintf(buf, VALMAX, "%snan:0x%0*llx%s", q,
		    w / 4, (unsigned long long)bits, q);
	}
	if (!expo && !man)
		return (size_t)snprintf(buf, VALMAX, "%s",
		    neg ? "-0.0" : "0");
	switch (dtype) {
	case LMF_F64: memcpy(&v, &bits, 8); lo = 15; hi = 17; break;
	case LMF_F32: {
		uint32_t u = (uint32_t)bits;
		float f;

		memcpy(&f, &u, 4);
		v = f;
		lo = 6;
		hi = 9;
		break;
	}
	case LMF_F16: v = lmf_f16_to_f32((uint16_t)bits); lo = 3; hi = 5; break;
	default: v = lmf_bf16_to_f32((uint16_t)bits); lo = 3; hi = 4; break;
	}
	if (!expo)
		lo = 1; /* a subnormal has few digits to show */
	for (prec = lo; prec <= hi; prec++) {
		snprintf(buf, VALMAX, "%.*g", prec, v);
		if (!parse_float(dtype, buf, &back) && back == bits)
			return strlen(buf);
	}
	/* the exact value: reads back to the same bits in every dtype */
	return (size_t)snprintf(buf, VALMAX, "%.17g", v);
}

size_t
lmf_dumpjson_fmt(char *buf, int dtype, const void *p, int json)
{
	const unsigned char *b = p;

	switch (dtype) {
	case LMF_F32: case LMF_F64: case LMF_F16: case LMF_BF16:
		return fmt_float(buf, dtype, get_bits(dtype, b), json);
	case LMF_I8:
		return (size_t)snprintf(buf, VALMAX, "%d",
		    (int)(int8_t)b[0]);
	case LMF_I16:
		return (size_t)snprintf(buf, VALMAX, "%d",
		    (int)(int16_t)lmf_get_u16(b));
	case LMF_I32:
		return (size_t)snprintf(buf, VALMAX, "%ld",
		    (long)(int32_t)lmf_get_u32(b));
	case LMF_I64:
		return (size_t)snprintf(buf, VALMAX, "%lld",
		    (long long)(int64_t)lmf_get_u64(b));
	case LMF_U8:
		return (size_t)snprintf(buf, VALMAX, "%u", b[0]);
	case LMF_BOOL:
		if (b[0] <= 1)
			return (size_t)snprintf(buf, VALMAX, "%s",
			    b[0] ? "true" : "false");
		return (size_t)snprintf(buf, VALMAX, "%u", b[0]);
	}
	BUG("format of dtype %d", dtype);
}

/* ------------------------------------------------------------- codecs */

/* length of the valid UTF-8 sequence at s (n bytes left), or 0 */
static size_t
utf8_seq(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len, i;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c < 0xc2 || c > 0xf4)
		return 0;
	len = c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
	if (n < len)
		return 0;
	cp = c & (0x3f >> (len - 1));
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

int
lmf_dumpjson_utf8_ok(const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t i = 0, k;

	while (i < n) {
		if (!s[i] || !(k = utf8_seq(s + i, n - i)))
			return 0;
		i += k;
	}
	return 1;
}

void
lmf_dumpjson_put_string(FILE *f, const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t i;

	putc('"', f);
	for (i = 0; i < n; i++) {
		unsigned c = s[i];

		switch (c) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\t': fputs("\\t", f); break;
		case '\r': fputs("\\r", f); break;
		default:
			if (c < 0x20)
				fprintf(f, "\\u%04x", c);
			else
				putc((int)c, f);
		}
	}
	putc('"', f);
}

void
lmf_dumpjson_put_tag(FILE *f, const char *tag)
{
	int i;

	putc('"', f);
	for (i = 0; i < 4; i++) {
		unsigned c = (unsigned char)tag[i];

		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
			putc((int)c, f);
		else
			fprintf(f, "\\u%04x", c);
	}
	putc('"', f);
}

void
lmf_dumpjson_put_hex(FILE *f, const void *p, size_t n)
{
	static const char hx[] = "0123456789abcdef";
	const unsigned char *s = p;
	size_t i;

	for (i = 0; i < n; i++) {
		putc(hx[s[i] >> 4], f);
		putc(hx[s[i] & 15], f);
	}
}

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void
lmf_dumpjson_put_base64(FILE *f, const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t i;

	for (i = 0; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 |
		    s[i + 2];

		putc(b64[v >> 18], f);
		putc(b64[(v >> 12) & 63], f);
		putc(b64[(v >> 6) & 63], f);
		putc(b64[v & 63], f);
	}
	if (n - i == 1) {
		putc(b64[s[i] >> 2], f);
		putc(b64[(s[i] & 3) << 4], f);
		fputs("==", f);
	} else if (n - i == 2) {
		putc(b64[s[i] >> 2], f);
		putc(b64[(s[i] & 3) << 4 | s[i + 1] >> 4], f);
		putc(b64[(s[i + 1] & 15) << 2], f);
		putc('=', f);
	}
}

static int
b64val(int c)
{
	const char *p = c ? strchr(b64, c) : NULL;

	return p ? (int)(p - b64) : -1;
}

/* strict base64 of n characters into out; the byte count, or -1 */
static long long
b64_decode(const char *s, size_t n, unsigned char *out)
{
	size_t i, o = 0;

	if (n % 4)
		return -1;
	for (i = 0; i < n; i += 4) {
		int a = b64val(s[i]), b = b64val(s[i + 1]);
		int c = s[i + 2] == '=' ? -2 : b64val(s[i + 2]);
		int d = s[i + 3] == '=' ? -2 : b64val(s[i + 3]);
		int last = i + 4 == n;

		if (a < 0 || b < 0 || c == -1 || d == -1 ||
		    (c == -2 && d != -2) || ((c == -2 || d == -2) && !last))
			return -1;
		out[o++] = (unsigned char)(a << 2 | b >> 4);
		if (c == -2) {
			if (b & 15)
				return -1;
			break;
		}
		out[o++] = (unsigned char)((b & 15) << 4 | c >> 2);
		if (d == -2) {
			if (c & 3)
				return -1;
			break;
		}
		out[o++] = (unsigned char)((c & 3) << 6 | d);
	}
	return (long long)o;
}

/* ------------------------------------------------------------- parser */

struct jp {
	jmp_buf jb;
	int err;
	char *line;          /* the current line, and getline's buffer */
	size_t linecap;
	unsigned long lineno;
	const char *p, *end; /* cursor in the line */
	const char *what;    /* "tensor 'x'" while one is parsed */
	char whatbuf[96];
	char *sbuf;          /* the last string read, NUL-terminated */
	size_t slen, scap;
	unsigned char *obuf; /* payload bytes not yet written */
	size_t olen;
	unsigned char *rbuf; /* a record's payload */
	struct lmf_wr *w;
	uint64_t items;
	int state;           /* 0 header due, 1 body, 2 after the end */
	char name[LMF_MAX_NAME + 1];
};

LMF_NORETURN static void
vfail(struct jp *j, int err, const char *fmt, va_list ap)
{
	int n;

	n = j->lineno ? snprintf(errmsg, sizeof errmsg, "line %lu: %s%s",
	    j->lineno, j->what ? j->what : "", j->what ? ": " : "") : 0;
	if (n >= 0 && (size_t)n < sizeof errmsg)
		lmf_vseterr(errmsg + n, sizeof errmsg - (size_t)n, fmt, ap);
	j->err = err;
	longjmp(j->jb, 1);
}

/* stop the parse: an error of code err, said by fmt */
LMF_PRINTF(3, 4) LMF_NORETURN static void
fail(struct jp *j, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(j, err, fmt, ap);
}

/* the same for the common case, an error of format */
LMF_PRINTF(2, 3) LMF_NORETURN static void
bad(struct jp *j, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(j, LMF_E_FORMAT, fmt, ap);
}

static int
jpeek(struct jp *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' ||
	    *j->p == '\r' || *j->p == '\n'))
		j->p++;
	return j->p < j->end ? (unsigned char)*j->p : -1;
}

LMF_NORETURN static void
unexpected(struct jp *j, const char *want)
{
	int c = jpeek(j);

	if (c < 0)
		bad(j, "malformed JSON: line ends where %s is due", want);
	if (c < 0x20 || c >= 0x7f)
		bad(j, "malformed JSON: byte 0x%02x at column %ld where %s is "
		    "due", (unsigned)c, (long)(j->p - j->line) + 1, want);
	bad(j, "malformed JSON: '%c' at column %ld where %s is due", c,
	    (long)(j->p - j->line) + 1, want);
}

static void
jexpect(struct jp *j, int c, const char *want)
{
	if (jpeek(j) != c)
		unexpected(j, want);
	j->p++;
}

static void
sput(struct jp *j, const void *s, size_t n)
{
	if (j->slen + n + 1 > j->scap) {
		j->scap = (j->slen + n + 1) * 2;
		j->sbuf = xrealloc(j->sbuf, j->scap);
	}
	memcpy(j->sbuf + j->slen, s, n);
	j->slen += n;
	j->sbuf[j->slen] = 0;
}

static unsigned
hex4(struct jp *j)
{
	unsigned v = 0;
	int i, d;

	for (i = 0; i < 4; i++) {
		if (j->p >= j->end ||
		    (d = lmf_hexval((unsigned char)*j->p)) < 0)
			bad(j, "malformed JSON: bad \\u escape at "
			    "column %ld", (long)(j->p - j->line) + 1);
		v = v << 4 | (unsigned)d;
		j->p++;
	}
	return v;
}

/* the code point of a \\u escape (the cursor after the u), as UTF-8 */
static void
uescape(struct jp *j)
{
	const char *msg = "malformed JSON: lone surrogate at column %ld";
	unsigned cp = hex4(j), lo;
	unsigned char u[4];
	size_t k, i;

	if (cp >= 0xdc00 && cp <= 0xdfff)
		bad(j, msg, (long)(j->p - j->line) - 5);
	if (cp >= 0xd800 && cp <= 0xdbff) {
		if (j->end - j->p < 2 || j->p[0] != '\\' || j->p[1] != 'u')
			bad(j, msg, (long)(j->p - j->line) - 5);
		j->p += 2;
		lo = hex4(j);
		if (lo < 0xdc00 || lo > 0xdfff)
			bad(j, msg, (long)(j->p - j->line) - 5);
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
	}
	k = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
	if (k == 1) {
		u[0] = (unsigned char)cp;
	} else {
		for (i = k - 1; i > 0; i--, cp >>= 6)
			u[i] = (unsigned char)(0x80 | (cp & 0x3f));
		u[0] = (unsigned char)((0xf00u >> k) | cp);
	}
	sput(j, u, k);
}

/* a JSON string at the cursor into sbuf/slen */
static void
jstr(struct jp *j)
{
	const char *msg = "malformed JSON: %s at column %ld";

	if (jpeek(j) != '"')
		unexpected(j, "a string");
	j->p++;
	j->slen = 0;
	sput(j, "", 0);
	for (;;) {
		const char *run = j->p;
		unsigned char c;

		while (j->p < j->end && *j->p != '"' && *j->p != '\\' &&
		    (unsigned char)*j->p >= 0x20 && (unsigned char)*j->p < 0x80)
			j->p++;
		sput(j, run, (size_t)(j->p - run));
		if (j->p >= j->end)
			bad(j, "malformed JSON: unterminated string");
		c = (unsigned char)*j->p;
		if (c == '"') {
			j->p++;
			return;
		}
		if (c < 0x20)
			bad(j, msg, "control character in a string",
			    (long)(j->p - j->line) + 1);
		if (c >= 0x80) {
			size_t k = utf8_seq((const unsigned char *)j->p,
			    (size_t)(j->end - j->p));

			if (!k)
				bad(j, msg, "invalid UTF-8",
				    (long)(j->p - j->line) + 1);
			sput(j, j->p, k);
			j->p += k;
			continue;
		}
		/* an escape */
		if (++j->p >= j->end)
			bad(j, "malformed JSON: unterminated string");
		c = (unsigned char)*j->p++;
		switch (c) {
		case '"': case '\\': case '/': sput(j, &c, 1); break;
		case 'b': sput(j, "\b", 1); break;
		case 'f': sput(j, "\f", 1); break;
		case 'n': sput(j, "\n", 1); break;
		case 'r': sput(j, "\r", 1); break;
		case 't': sput(j, "\t", 1); break;
		case 'u': uescape(j); break;
		default:
			bad(j, msg, "bad escape",
			    (long)(j->p - j->line));
		}
	}
}

static int
isdig(const char *p, const char *end)
{
	return p < end && *p >= '0' && *p <= '9';
}

/* a JSON number at the cursor: its length (the cursor stays) */
static size_t
jnum(struct jp *j, int *isint)
{
	const char *s = j->p, *e = j->end;

	*isint = 1;
	if (s < e && *s == '-')
		s++;
	if (!isdig(s, e))
		unexpected(j, "a value");
	if (*s == '0')
		s++;
	else
		while (isdig(s, e))
			s++;
	if (s < e && *s == '.') {
		*isint = 0;
		if (!isdig(++s, e))
			unexpected(j, "a number");
		while (isdig(s, e))
			s++;
	}
	if (s < e && (*s == 'e' || *s == 'E')) {
		*isint = 0;
		s++;
		if (s < e && (*s == '+' || *s == '-'))
			s++;
		if (!isdig(s, e))
			unexpected(j, "a number");
		while (isdig(s, e))
			s++;
	}
	if ((size_t)(s - j->p) > TOKMAX)
		fail(j, LMF_E_LIMIT, "number of %ld characters",
		    (long)(s - j->p));
	return (size_t)(s - j->p);
}

static void
jlit(struct jp *j, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n))
		unexpected(j, "a value");
	j->p += n;
}

static void
jskip(struct jp *j, int depth)
{
	int c = jpeek(j), isint;

	if (depth > MAXDEPTH)
		fail(j, LMF_E_LIMIT, "JSON nested deeper than %d", MAXDEPTH);
	switch (c) {
	case '"':
		jstr(j);
		return;
	case '{':
		j->p++;
		if (jpeek(j) == '}') {
			j->p++;
			return;
		}
		for (;;) {
			jstr(j);
			jexpect(j, ':', "':'");
			jskip(j, depth + 1);
			if (jpeek(j) == '}')
				break;
			jexpect(j, ',', "',' or '}'");
		}
		j->p++;
		return;
	case '[':
		j->p++;
		if (jpeek(j) == ']') {
			j->p++;
			return;
		}
		for (;;) {
			jskip(j, depth + 1);
			if (jpeek(j) == ']')
				break;
			jexpect(j, ',', "',' or ']'");
		}
		j->p++;
		return;
	case 't': jlit(j, "true"); return;
	case 'f': jlit(j, "false"); return;
	case 'n': jlit(j, "null"); return;
	}
	j->p += jnum(j, &isint);
}

struct field {
	const char *key;
	const char *at;  /* where its value starts, or NULL if absent */
};

/* an object whose keys must be among f; note where each value is */
static void
jfields(struct jp *j, struct field *f, int nf, const char *what)
{
	int i;

	for (i = 0; i < nf; i++)
		f[i].at = NULL;
	if (jpeek(j) != '{')
		unexpected(j, what);
	j->p++;
	if (jpeek(j) == '}') {
		j->p++;
		return;
	}
	for (;;) {
		jstr(j);
		for (i = 0; i < nf; i++)
			if (strlen(f[i].key) == j->slen &&
			    !strcmp(f[i].key, j->sbuf))
				break;
		if (i == nf)
			bad(j, "unknown field \"%.40s\" in %s",
			    j->sbuf, what);
		if (f[i].at)
			bad(j, "duplicate field \"%s\" in %s",
			    f[i].key, what);
		jexpect(j, ':', "':'");
		jpeek(j);
		f[i].at = j->p;
		jskip(j, 1);
		if (jpeek(j) == '}')
			break;
		jexpect(j, ',', "',' or '}'");
	}
	j->p++;
}

static long long
jint(struct jp *j, const char *at, const char *field)
{
	char tok[TOKMAX + 1];
	size_t n;
	int isint;
	long long v;

	j->p = at;
	if (jpeek(j) != '-' && !isdig(j->p, j->end))
		bad(j, "\"%s\" is not an integer", field);
	n = jnum(j, &isint);
	memcpy(tok, j->p, n);
	tok[n] = 0;
	errno = 0;
	v = strtoll(tok, NULL, 10);
	if (!isint || errno)
		bad(j, "\"%s\" of %s is not an integer", field, tok);
	j->p += n;
	return v;
}

static void
flush(struct jp *j)
{
	if (j->olen && lmf_wr_payload(j->w, j->obuf, j->olen) < 0)
		fail(j, LMF_E_IO, "%s", lmf_wr_errmsg(j->w));
	j->olen = 0;
}

static int
is_float(int dtype)
{
	return dtype == LMF_F32 || dtype == LMF_F64 || dtype == LMF_F16 ||
	    dtype == LMF_BF16;
}

/* "nan", "-inf", "nan:0x7fc00001", ... into the bits of a float dtype */
static void
special(struct jp *j, int dtype, uint64_t *bits)
{
	int e, m, w = float_bits(dtype, &e, &m);
	uint64_t expo = ((1ull << e) - 1) << m, sign = 1ull << (w - 1);
	const char *s = j->sbuf;
	char *end;

	if (!strcmp(s, "nan") || !strcmp(s, "-nan")) {
		*bits = expo | 1ull << (m - 1) | (*s == '-' ? sign : 0);
		return;
	}
	if (!strcmp(s, "inf") || !strcmp(s, "-inf")) {
		*bits = expo | (*s == '-' ? sign : 0);
		return;
	}
	if (!strncmp(s, "nan:0x", 6) && lmf_hexval((unsigned char)s[6]) >= 0) {
		errno = 0;
		*bits = strtoull(s + 6, &end, 16);
		if (!errno && !*end && (w == 64 || *bits >> w == 0) &&
		    (*bits & expo) == expo && (*bits & ((1ull << m) - 1)))
			return;
	}
	bad(j, "\"%.40s\" is not a %s value", s,
	    lmf_dtype_name(dtype));
}

/* one element at the cursor into out, as dtype */
static void
put_elem(struct jp *j, int dtype, unsigned char *out)
{
	char tok[TOKMAX + 1];
	const char *dn = lmf_dtype_name(dtype);
	int c = jpeek(j), isint;
	uint64_t bits;
	long long v, lo, hi;
	size_t n;

	if (c == '"') {
		if (!is_float(dtype))
			bad(j, "a string where a number (%s) is due", dn);
		jstr(j);
		special(j, dtype, &bits);
		put_bits(dtype, out, bits);
		return;
	}
	if (c == 't' || c == 'f') {
		jlit(j, c == 't' ? "true" : "false");
		if (dtype != LMF_BOOL)
			bad(j, "%s where a %s value is due",
			    c == 't' ? "true" : "false", dn);
		out[0] = c == 't';
		return;
	}
	n = jnum(j, &isint);
	memcpy(tok, j->p, n);
	tok[n] = 0;
	j->p += n;
	if (is_float(dtype)) {
		if (parse_float(dtype, tok, &bits) < 0)
			bad(j, "value %s does not fit %s", tok, dn);
		put_bits(dtype, out, bits);
		return;
	}
	if (!isint)
		bad(j, "%s is not an integer (%s)", tok, dn);
	switch (dtype) {
	case LMF_I8: lo = INT8_MIN; hi = INT8_MAX; break;
	case LMF_I16: lo = INT16_MIN; hi = INT16_MAX; break;
	case LMF_I32: lo = INT32_MIN; hi = INT32_MAX; break;
	case LMF_I64: lo = INT64_MIN; hi = INT64_MAX; break;
	default: lo = 0; hi = 255; break;
	}
	errno = 0;
	v = strtoll(tok, NULL, 10);
	if (errno || v < lo || v > hi)
		bad(j, "value %s does not fit %s", tok, dn);
	put_bits(dtype, out, (uint64_t)v);
}

/* a (nested) array of elements, flattened, to the writer */
static void
jdata(struct jp *j, int dtype, uint64_t numel, uint64_t *count, int depth)
{
	size_t dsize = lmf_dtype_size(dtype);

	if (depth > MAXDEPTH)
		fail(j, LMF_E_LIMIT, "data nested deeper than %d", MAXDEPTH);
	jexpect(j, '[', "'[' (the data array)");
	if (jpeek(j) == ']') {
		j->p++;
		return;
	}
	for (;;) {
		if (jpeek(j) == '[') {
			jdata(j, dtype, numel, count, depth + 1);
		} else {
			if (*count == numel)
				fail(j, LMF_E_SHAPE, "more than the %llu "
				    "values its shape holds",
				    (unsigned long long)numel);
			put_elem(j, dtype, j->obuf + j->olen);
			j->olen += dsize;
			++*count;
			if (j->olen + 8 > OBUF)
				flush(j);
		}
		if (jpeek(j) == ']')
			break;
		jexpect(j, ',', "',' or ']'");
	}
	j->p++;
}

static void
record(struct jp *j, const char *tagat, const char *b64at)
{
	char tag[4];
	size_t i = 0, n = 0;
	long long len;

	if (!tagat || !b64at)
		bad(j, "a record needs \"record\" and \"base64\"");
	j->p = tagat;
	jstr(j);
	while (i < j->slen) {
		const unsigned char *s = (const unsigned char *)j->sbuf + i;

		if (n == 4 || s[0] >= 0xc4)
			bad(j, "record tag \"%.40s\" is not 4 bytes",
			    j->sbuf);
		tag[n++] = s[0] < 0x80 ? (char)s[0] :
		    (char)((s[0] & 0x1f) << 6 | (s[1] & 0x3f));
		i += s[0] < 0x80 ? 1 : 2;
	}
	if (n != 4)
		bad(j, "record tag \"%.40s\" is not 4 bytes", j->sbuf);
	j->p = b64at;
	jstr(j);
	free(j->rbuf);
	j->rbuf = xmalloc(j->slen / 4 * 3 + 1);
	if ((len = b64_decode(j->sbuf, j->slen, j->rbuf)) < 0)
		bad(j, "record \"%.4s\": malformed base64", tag);
	if (lmf_wr_other(j->w, tag, j->rbuf, (uint64_t)len) < 0)
		bad(j, "%s", lmf_wr_errmsg(j->w));
}

enum { T_NAME, T_NAMEHEX, T_DTYPE, T_SHAPE, T_DATA, T_TEXT, T_HEX, T_RECORD,
	T_BASE64, T_N };
static const char *tfields[T_N] = { "name", "namehex", "dtype", "shape",
	"data", "text", "hex", "record", "base64" };

static void
tensor(struct jp *j, struct field *f)
{
	int64_t shape[LMF_MAX_DIMS];
	uint64_t numel = 1, count = 0, nbytes;
	int ndim = 0, dtype, i;
	size_t dsize, k;

	if (!f[T_NAME].at == !f[T_NAMEHEX].at)
		bad(j, "a tensor needs one of \"name\" or "
		    "\"namehex\"");
	j->p = f[T_NAME].at ? f[T_NAME].at : f[T_NAMEHEX].at;
	jstr(j);
	if (f[T_NAMEHEX].at) {
		if (j->slen % 2 || j->slen > 2 * LMF_MAX_NAME)
			bad(j, "\"namehex\" is not a name in hex");
		for (k = 0; k < j->slen; k += 2) {
			int hi = lmf_hexval(j->sbuf[k]);
			int lo = lmf_hexval(j->sbuf[k + 1]);

			if (hi < 0 || lo < 0)
				bad(j, "\"namehex\" is not hex");
			j->name[k / 2] = (char)(hi << 4 | lo);
		}
		j->slen /= 2;
	} else {
		if (j->slen > LMF_MAX_NAME)
			fail(j, LMF_E_LIMIT, "tensor name of %zu bytes (limit "
			    "%d)", j->slen, LMF_MAX_NAME);
		memcpy(j->name, j->sbuf, j->slen);
	}
	j->name[j->slen] = 0;
	if (!j->slen || memchr(j->name, 0, j->slen))
		bad(j, "tensor name is empty or holds a NUL");
	snprintf(j->whatbuf, sizeof j->whatbuf, "tensor '%.60s'", j->name);
	j->what = j->whatbuf;
	if (!f[T_DTYPE].at || !f[T_SHAPE].at)
		bad(j, "missing field \"%s\"",
		    f[T_DTYPE].at ? "shape" : "dtype");
	j->p = f[T_DTYPE].at;
	jstr(j);
	if ((dtype = lmf_dtype_parse(j->sbuf)) < 0)
		fail(j, LMF_E_DTYPE, "unknown dtype \"%.20s\"", j->sbuf);
	dsize = lmf_dtype_size(dtype);
	j->p = f[T_SHAPE].at;
	jexpect(j, '[', "'[' (the shape)");
	while (jpeek(j) != ']') {
		long long d;

		if (ndim && jpeek(j) == ',')
			j->p++;
		if (ndim == LMF_MAX_DIMS)
			fail(j, LMF_E_LIMIT, "more than %d dims", LMF_MAX_DIMS);
		d = jint(j, j->p, "shape");
		if (d < 0 || (uint64_t)d > LMF_MAX_TENSOR_BYTES ||
		    (d && numel > LMF_MAX_TENSOR_BYTES / (uint64_t)d))
			fail(j, LMF_E_LIMIT, "shape past the 2^40-byte limit");
		numel *= (uint64_t)d;
		shape[ndim++] = d;
		if (jpeek(j) != ',' && jpeek(j) != ']')
			unexpected(j, "',' or ']'");
	}
	if (numel > LMF_MAX_TENSOR_BYTES / dsize)
		fail(j, LMF_E_LIMIT, "shape past the 2^40-byte limit");
	nbytes = numel * dsize;
	if (!!f[T_DATA].at + !!f[T_TEXT].at + !!f[T_HEX].at != 1)
		bad(j, "a tensor needs one of \"data\", \"text\" or "
		    "\"hex\"");
	if (f[T_TEXT].at && dtype != LMF_U8)
		fail(j, LMF_E_DTYPE, "\"text\" is for u8 tensors, not %s",
		    lmf_dtype_name(dtype));
	if (lmf_wr_tensor_begin(j->w, j->name, dtype, ndim, shape) < 0)
		bad(j, "%s", lmf_wr_errmsg(j->w));
	if (f[T_DATA].at) {
		j->p = f[T_DATA].at;
		jdata(j, dtype, numel, &count, 0);
		flush(j);
		if (count != numel)
			fail(j, LMF_E_SHAPE, "%llu values where its shape "
			    "holds %llu", (unsigned long long)count,
			    (unsigned long long)numel);
	} else if (f[T_TEXT].at) {
		j->p = f[T_TEXT].at;
		jstr(j);
		if (j->slen != nbytes)
			fail(j, LMF_E_SHAPE, "text of %zu bytes where its "
			    "shape holds %llu", j->slen,
			    (unsigned long long)nbytes);
		if (nbytes && lmf_wr_payload(j->w, j->sbuf, j->slen) < 0)
			fail(j, LMF_E_IO, "%s", lmf_wr_errmsg(j->w));
	} else {
		j->p = f[T_HEX].at;
		jstr(j);
		if (j->slen != 2 * nbytes)
			fail(j, LMF_E_SHAPE, "hex of %zu digits where its "
			    "shape holds %llu bytes", j->slen,
			    (unsigned long long)nbytes);
		for (k = 0; k < j->slen; k += 2) {
			int hi = lmf_hexval(j->sbuf[k]);
			int lo = lmf_hexval(j->sbuf[k + 1]);

			if (hi < 0 || lo < 0)
				bad(j, "\"hex\" holds a non-hex digit");
			j->obuf[j->olen++] = (unsigned char)(hi << 4 | lo);
			if (j->olen == OBUF)
				flush(j);
		}
		flush(j);
	}
	for (i = T_RECORD; i < T_N; i++)
		if (f[i].at)
			bad(j, "field \"%s\" in a tensor", tfields[i]);
	j->what = NULL;
}

static void
item(struct jp *j, const char *numat, const char *tensat)
{
	struct field f[T_N];
	uint32_t n = 0;
	long long num;
	int i, pass;

	num = jint(j, numat, "item");
	if (num < 0 || (uint64_t)num != j->items)
		bad(j, "item %lld where item %llu is due", num,
		    (unsigned long long)j->items);
	for (i = 0; i < T_N; i++)
		f[i].key = tfields[i];
	/* the first pass counts the tensors, the second writes them */
	for (pass = 0; pass < 2; pass++) {
		j->p = tensat;
		jexpect(j, '[', "'[' (the tensors array)");
		while (jpeek(j) != ']') {
			const char *after;

			jfields(j, f, T_N, "a tensor");
			after = j->p;
			if (pass == 0 && !f[T_RECORD].at &&
			    n++ == LMF_MAX_ITEM_TENSORS)
				fail(j, LMF_E_LIMIT, "item of more than %u "
				    "tensors", LMF_MAX_ITEM_TENSORS);
			if (pass == 1 && f[T_RECORD].at) {
				for (i = 0; i < T_RECORD; i++)
					if (f[i].at)
						bad(j, "field \"%s\" in a "
						    "record", tfields[i]);
				record(j, f[T_RECORD].at, f[T_BASE64].at);
			} else if (pass == 1) {
				tensor(j, f);
			}
			j->p = after;
			if (jpeek(j) != ']')
				jexpect(j, ',', "',' or ']'");
		}
		if (pass == 0 && lmf_wr_item(j->w, n) < 0)
			bad(j, "%s", lmf_wr_errmsg(j->w));
	}
	j->items++;
}

enum { L_LMF, L_META, L_ITEM, L_TENSORS, L_RECORD, L_BASE64, L_END, L_N };

static void
header(struct jp *j, struct field *f, struct lmf_wr *(*open)(json_t *, void *),
    void *arg)
{
	json_error_t e;
	json_t *meta;
	long long v;
	const char *why = NULL;

	v = jint(j, f[L_LMF].at, "lmf");
	if (v != 1)
		fail(j, LMF_E_VERSION, "JSON form version %lld (this build "
		    "reads 1)", v);
	j->p = f[L_META].at;
	jskip(j, 1);
	meta = json_loadb(f[L_META].at, (size_t)(j->p - f[L_META].at),
	    JSON_REJECT_DUPLICATES, &e);
	if (!meta)
		bad(j, "meta: %s", e.text);
	if (!json_is_object(meta))
		why = "\"meta\" is not an object";
	else if (!json_is_string(json_object_get(meta, "kind")))
		why = "\"meta\" has no \"kind\" string";
	if (why) {
		json_decref(meta);
		bad(j, "%s", why);
	}
	j->w = open(meta, arg);
	json_decref(meta);
}

static void
one_line(struct jp *j, struct lmf_wr *(*open)(json_t *, void *), void *arg)
{
	static const char *keys[L_N] = { "lmf", "meta", "item", "tensors",
		"record", "base64", "end" };
	struct field f[L_N];
	unsigned have = 0;
	int i;

	for (i = 0; i < L_N; i++)
		f[i].key = keys[i];
	jfields(j, f, L_N, "a line");
	if (jpeek(j) >= 0)
		unexpected(j, "the end of the line");
	for (i = 0; i < L_N; i++)
		if (f[i].at)
			have |= 1u << i;
	if (j->state == 2)
		bad(j, "a line after the end line");
	if (j->state == 0) {
		if (have != (1u << L_LMF | 1u << L_META))
			bad(j, "the first line must be "
			    "{\"lmf\":1,\"meta\":{...}}");
		header(j, f, open, arg);
		j->state = 1;
	} else if (have == (1u << L_ITEM | 1u << L_TENSORS)) {
		item(j, f[L_ITEM].at, f[L_TENSORS].at);
	} else if (have == (1u << L_RECORD | 1u << L_BASE64)) {
		record(j, f[L_RECORD].at, f[L_BASE64].at);
	} else if (have == 1u << L_END) {
		long long n = jint(j, f[L_END].at, "end");

		if (n < 0 || (uint64_t)n != j->items)
			bad(j, "end line counts %lld items, %llu were "
			    "given", n, (unsigned long long)j->items);
		j->state = 2;
	} else if (have & (1u << L_LMF | 1u << L_META)) {
		bad(j, "a second header line");
	} else {
		bad(j, "a line must be an item (\"item\", \"tensors\"), a "
		    "record (\"record\", \"base64\") or the end (\"end\")");
	}
}

int
lmf_dumpjson_undump(FILE *in, struct lmf_wr *(*open)(json_t *, void *),
    void *arg, struct lmf_wr **wp)
{
	struct jp *j = xcalloc(1, sizeof *j);
	ssize_t n;
	int rc = 0;

	j->obuf = xmalloc(OBUF);
	*wp = NULL;
	errmsg[0] = 0;
	if (setjmp(j->jb)) {
		rc = j->err;
		if (j->w)
			lmf_wr_abort(j->w);
		goto out;
	}
	while ((n = getline(&j->line, &j->linecap, in)) >= 0) {
		j->lineno++;
		j->p = j->line;
		j->end = j->line + n;
		if (memchr(j->line, 0, (size_t)n))
			bad(j, "NUL byte in the line");
		if (jpeek(j) < 0)
			continue;
		one_line(j, open, arg);
	}
	n = (ssize_t)j->lineno;
	j->lineno = 0;
	if (ferror(in))
		fail(j, LMF_E_IO, "read error: %s", strerror(errno));
	if (j->state == 0)
		fail(j, LMF_E_TRUNCATED, "no header line: the input is empty");
	if (j->state == 1)
		fail(j, LMF_E_TRUNCATED, "the input ends after line %ld "
		    "without an end line", (long)n);
	*wp = j->w;
out:
	free(j->line);
	free(j->sbuf);
	free(j->obuf);
	free(j->rbuf);
	free(j);
	return rc;
}

/* ---- the text form ---- */

void
lmf_dumpjson_put_name(FILE *f, const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t n = strlen(s), i;
	int plain = lmf_dumpjson_utf8_ok(s, n);

	for (i = 0; i < n && plain; i++)
		plain = u[i] > 0x20 && u[i] != 0x7f && u[i] != '"' &&
		    u[i] != '\\';
	if (plain) {
		fputs(s, f);
		return;
	}
	putc('"', f);
	for (i = 0; i < n; i++) {
		size_t k = 0;

		if (u[i] >= 0x80)
			for (k = 4; k > 1; k--)
				if (i + k <= n &&
				    lmf_dumpjson_utf8_ok(u + i, k))
					break;
		if (k > 1) {
			fwrite(u + i, 1, k, f);
			i += k - 1;
		} else if (u[i] == '"' || u[i] == '\\') {
			fprintf(f, "\\%c", u[i]);
		} else if (u[i] < 0x20 || u[i] >= 0x7f) {
			fprintf(f, "\\x%02x", u[i]);
		} else {
			putc(u[i], f);
		}
	}
	putc('"', f);
}

void
lmf_dumpjson_put_meta(FILE *f, json_t *meta, size_t abbrev)
{
	const char **keys = xmallocarray(json_object_size(meta) + 1,
	    sizeof *keys);
	const char *k;
	json_t *v;
	size_t n = 0, i, j;

	json_object_foreach(meta, k, v)
		keys[n++] = k;
	for (i = 1; i < n; i++)
		for (j = i; j > 0 && strcmp(keys[j - 1], keys[j]) > 0; j--) {
			k = keys[j];
			keys[j] = keys[j - 1];
			keys[j - 1] = k;
		}
	fputs("meta:\n", f);
	for (i = 0; i < n; i++) {
		char *js = json_dumps(json_object_get(meta, keys[i]),
		    JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
		size_t len = js ? strlen(js) : 0, cut = len;

		if (!js)
			die("out of memory printing the meta");
		if (abbrev && len > abbrev) {
			cut = abbrev;
			while (cut && ((unsigned char)js[cut] & 0xc0) == 0x80)
				cut--;
		}
		fprintf(f, "  %s: %.*s", keys[i], (int)cut, js);
		if (cut < len)
			fprintf(f, "... (%zu bytes)", len);
		putc('\n', f);
		free(js);
	}
	free(keys);
}

static int
dump_is_float(int dtype)
{
	return dtype == LMF_F32 || dtype == LMF_F64 || dtype == LMF_F16 ||
	    dtype == LMF_BF16;
}

void
lmf_dumpjson_stat_add(struct lmf_dumpjson_stats *s, int dtype,
    const unsigned char *p)
{
	double v;
	int64_t iv;

	switch (dtype) {
	case LMF_F32: {
		uint32_t u = lmf_get_u32(p);
		float f;

		memcpy(&f, &u, 4);
		v = f;
		break;
	}
	case LMF_F64: {
		uint64_t u = lmf_get_u64(p);

		memcpy(&v, &u, 8);
		break;
	}
	case LMF_F16: v = lmf_f16_to_f32(lmf_get_u16(p)); break;
	case LMF_BF16: v = lmf_bf16_to_f32(lmf_get_u16(p)); break;
	case LMF_I8: iv = (int8_t)p[0]; goto integer;
	case LMF_I16: iv = (int16_t)lmf_get_u16(p); goto integer;
	case LMF_I32: iv = (int32_t)lmf_get_u32(p); goto integer;
	case LMF_I64: iv = (int64_t)lmf_get_u64(p); goto integer;
	default: iv = p[0]; goto integer;
	}
	if (isnan(v)) {
		s->nan++;
		return;
	}
	if (isinf(v)) {
		s->inf++;
		return;
	}
	if (!s->finite || v < s->min)
		s->min = v;
	if (!s->finite || v > s->max)
		s->max = v;
	s->finite++;
	s->sum += v;
	return;
integer:
	if (!s->finite || iv < s->imin)
		s->imin = iv;
	if (!s->finite || iv > s->imax)
		s->imax = iv;
	s->finite++;
	s->sum += (double)iv;
}

void
lmf_dumpjson_stat_print(FILE *f, const struct lmf_dumpjson_stats *s,
    int dtype)
{
	if (!dump_is_float(dtype)) {
		if (s->finite)
			fprintf(f, " min %lld max %lld mean %.6g",
			    (long long)s->imin, (long long)s->imax,
			    s->sum / (double)s->finite);
		return;
	}
	if (s->finite)
		fprintf(f, " min %.6g max %.6g mean %.6g", s->min, s->max,
		    s->sum / (double)s->finite);
	else
		fprintf(f, " min - max - mean -");
	fprintf(f, " nan %llu inf %llu", (unsigned long long)s->nan,
	    (unsigned long long)s->inf);
}

void
lmf_dumpjson_put_round(FILE *f, double x, int digits)
{
	char buf[LMF_DUMPJSON_VALMAX];
	double d;

	snprintf(buf, sizeof buf, "%.*f", digits, x);
	d = strtod(buf, NULL);
	lmf_dumpjson_fmt(buf, LMF_F64, &d, 1);
	fputs(buf, f);
	if (!strpbrk(buf, ".en"))
		fputs(".0", f);
}
