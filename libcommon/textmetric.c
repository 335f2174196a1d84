/* textmetric.c: BLEU-4 and ROUGE-1/2/L as LLaMA-Factory's
 * ComputeSimilarity computes them (textmetric.h), with nltk's and
 * rouge_chinese's arithmetic in the same order so that the doubles agree. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmf/textmetric.h"
#include "lmf/util.h"
#include "lmf/banned.h"

const char *const lmf_sim_names[LMF_SIM_N] = {
	"bleu-4", "rouge-1", "rouge-2", "rouge-l",
};

/* the code points of UTF-8 text (an invalid byte is one of its own) */
static uint32_t *
decode(const char *s, size_t len, size_t *n)
{
	uint32_t *cp = xmallocarray(len + 1, sizeof *cp);
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, k, need;

	*n = 0;
	while (i < len) {
		uint32_t c = p[i];
		need = c >= 0xf0 && c < 0xf5 ? 3 : c >= 0xe0 && c < 0xf0 ? 2 :
		    c >= 0xc2 && c < 0xe0 ? 1 : 0;
		if (c >= 0x80 && !need) {
			cp[(*n)++] = 0xdc00 | c;   /* surrogateescape-like */
			i++;
			continue;
		}
		c &= need == 3 ? 0x07 : need == 2 ? 0x0f : need ? 0x1f : 0x7f;
		for (k = 1; k <= need; k++) {
			if (i + k >= len || (p[i + k] & 0xc0) != 0x80)
				break;
			c = c << 6 | (p[i + k] & 0x3f);
		}
		if (k <= need) {
			cp[(*n)++] = 0xdc00 | p[i];
			i++;
			continue;
		}
		cp[(*n)++] = c;
		i += need + 1;
	}
	return cp;
}

/* math.fsum: exact partial sums (Shewchuk), then the correctly rounded
 * total */
static double
fsum(const double *v, int n)
{
	double p[64], x, y, hi = 0, lo = 0, t;
	int np = 0, i, j, k;

	for (k = 0; k < n; k++) {
		x = v[k];
		for (i = 0, j = 0; j < np; j++) {
			y = p[j];
			if (fabs(x) < fabs(y))
				t = x, x = y, y = t;
			hi = x + y;
			lo = y - (hi - x);
			if (lo != 0)
				p[i++] = lo;
			x = hi;
		}
		np = i;
		p[np++] = x;
	}
	if (!np)
		return 0;
	hi = p[--np];
	lo = 0;
	while (np > 0) {
		x = hi;
		y = p[--np];
		hi = x + y;
		lo = y - (hi - x);
		if (lo != 0)
			break;
	}
	if (np > 0 && ((lo < 0 && p[np - 1] < 0) || (lo > 0 &&
	    p[np - 1] > 0))) {
		y = lo * 2;
		x = hi + y;
		if (y == x - hi)
			hi = x;
	}
	return hi;
}

/* an n-gram of code points (n <= 4, each below 2^21) as a sortable key */
struct gram {
	uint64_t hi;
	uint32_t lo;
};

static int
gramcmp(const void *a, const void *b)
{
	const struct gram *x = a, *y = b;

	if (x->hi != y->hi)
		return x->hi < y->hi ? -1 : 1;
	return (x->lo > y->lo) - (x->lo < y->lo);
}

/* the n-grams of t, sorted; their number */
static size_t
ngrams(const uint32_t *t, size_t tn, size_t n, struct gram **out)
{
	size_t i, k, m = tn >= n ? tn - n + 1 : 0;
	struct gram *g = xmallocarray(m + 1, sizeof *g);

	for (i = 0; i < m; i++) {
		uint32_t c[4] = { 0, 0, 0, 0 };
		for (k = 0; k < n; k++)
			c[k] = t[i + k] & 0x1fffff;
		g[i].hi = (uint64_t)c[0] << 42 | (uint64_t)c[1] << 21 | c[2];
		g[i].lo = c[3];
	}
	qsort(g, m, sizeof *g, gramcmp);
	*out = g;
	return m;
}

/* the clipped count: sum over distinct n-grams of min(count in h, in r) */
static long long
clipped(const uint32_t *h, size_t hn, const uint32_t *r, size_t rn, size_t n)
{
	struct gram *a, *b;
	size_t na = ngrams(h, hn, n, &a), nb = ngrams(r, rn, n, &b), i = 0,
	    j = 0;
	long long num = 0;

	while (i < na && j < nb) {
		int c = gramcmp(&a[i], &b[j]);
		if (c < 0) {
			i++;
		} else if (c > 0) {
			j++;
		} else {
			size_t ci = 0, cj = 0;
			struct gram g = a[i];
			while (i < na && !gramcmp(&a[i], &g))
				i++, ci++;
			while (j < nb && !gramcmp(&b[j], &g))
				j++, cj++;
			num += (long long)(ci < cj ? ci : cj);
		}
	}
	free(a);
	free(b);
	return num;
}

double
lmf_bleu4_chars(const char *pred, size_t plen, const char *label,
    size_t llen)
{
	size_t hn, rn, n;
	uint32_t *h = decode(pred, plen, &hn), *r = decode(label, llen, &rn);
	long long num[5], den[5];
	double logp[4], bp, score;
	int k = 1;

	for (n = 1; n <= 4; n++) {
		num[n] = clipped(h, hn, r, rn, n);
		den[n] = hn >= n ? (long long)(hn - n + 1) : 0;
		if (den[n] < 1)
			den[n] = 1;
	}
	free(h);
	free(r);
	if (num[1] == 0)
		return 0;
	/* method3: the k-th zero precision becomes 1 / (2^k den) */
	for (n = 1; n <= 4; n++) {
		double p;
		if (num[n] == 0)
			p = 1.0 / (double)((1LL << k++) * den[n]);
		else
			p = (double)num[n] / (double)den[n];
		logp[n - 1] = 0.25 * log(p);
	}
	if (hn > rn)
		bp = 1;
	else
		bp = exp(1 - (double)rn / (double)hn);
	score = bp * exp(fsum(logp, 4));
	return score;
}

/* ---- ROUGE ---- */

static int
is_space(uint32_t c)
{
	return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) ||
	    c == 0x85 || c == 0xa0 || c == 0x1680 ||
	    (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 ||
	    c == 0x202f || c == 0x205f || c == 0x3000;
}

static int
is_term(uint32_t c)   /* [。！？\?] */
{
	return c == 0x3002 || c == 0xff01 || c == 0xff1f || c == '?';
}

static int
is_quote(uint32_t c)  /* [”’] */
{
	return c == 0x201d || c == 0x2019;
}

struct cps {
	uint32_t *c;
	size_t n;
};

/* one pass of re.sub(PAT, r"\1\n\2", s) where PAT is a prefix of w
 * characters (test head) and one next character (test next) */
static void
sub_pass(struct cps *s, int kind)
{
	uint32_t *o = xmallocarray(2 * s->n + 1, sizeof *o);
	size_t i = 0, m = 0, w, k;

	while (i < s->n) {
		int hit = 0;
		w = kind == 0 ? 1 : kind == 1 ? 6 : 2;
		if (kind == 0) {
			hit = is_term(s->c[i]);
		} else if (kind == 1 || kind == 2) {
			uint32_t d = kind == 1 ? '.' : 0x2026;
			for (k = 0; k < w && i + k < s->n && s->c[i + k] == d;
			    k++)
				;
			hit = k == w;
		} else {
			hit = i + 1 < s->n && is_term(s->c[i]) &&
			    is_quote(s->c[i + 1]);
		}
		if (hit && i + w < s->n && (kind == 3 ?
		    !(is_term(s->c[i + w]) || s->c[i + w] == 0xff0c) :
		    !is_quote(s->c[i + w]))) {
			for (k = 0; k < w; k++)
				o[m++] = s->c[i + k];
			o[m++] = '\n';
			o[m++] = s->c[i + w];
			i += w + 1;
		} else {
			o[m++] = s->c[i++];
		}
	}
	free(s->c);
	s->c = o;
	s->n = m;
}

/* words: each a range into one code point array */
struct words {
	const uint32_t *base;
	size_t *a, *b, n, cap;
	int *id;
};

static void
word_add(struct words *w, size_t a, size_t b)
{
	if (w->n == w->cap) {
		w->cap = w->cap ? 2 * w->cap : 64;
		w->a = xrealloc(w->a, w->cap * sizeof *w->a);
		w->b = xrealloc(w->b, w->cap * sizeof *w->b);
	}
	w->a[w->n] = a;
	w->b[w->n++] = b;
}

/* rouge_chinese: cut_sent, keep sentences of len > 0, " ".join(s.split())
 * each, then split(" ") and flatten */
static void
rouge_words(const char *text, struct cps *s, struct words *w)
{
	size_t i, st, e;
	int kind;

	s->c = decode(text, strlen(text), &s->n);
	for (kind = 0; kind < 4; kind++)
		sub_pass(s, kind);
	while (s->n && is_space(s->c[s->n - 1]))
		s->n--;
	memset(w, 0, sizeof *w);
	w->base = s->c;
	for (st = 0; st <= s->n; st = e + 1) {
		int any = 0;
		for (e = st; e < s->n && s->c[e] != '\n'; e++)
			;
		if (e == st)
			continue;
		for (i = st; i < e; ) {
			size_t a;
			while (i < e && is_space(s->c[i]))
				i++;
			if (i == e)
				break;
			for (a = i; i < e && !is_space(s->c[i]); i++)
				;
			word_add(w, a, i);
			any = 1;
		}
		if (!any)
			word_add(w, st, st);  /* one empty word */
	}
}

struct wref {
	const uint32_t *p;
	size_t len;
	int *id;
};

static int
wrefcmp(const void *a, const void *b)
{
	const struct wref *x = a, *y = b;
	size_t k;

	for (k = 0; k < x->len && k < y->len; k++)
		if (x->p[k] != y->p[k])
			return x->p[k] < y->p[k] ? -1 : 1;
	return (x->len > y->len) - (x->len < y->len);
}

/* ids such that equal words have equal ids across both lists */
static void
intern(struct words *h, struct words *r)
{
	size_t n = h->n + r->n, i, k = 0;
	struct wref *v = xmallocarray(n + 1, sizeof *v);
	struct words *l[2] = { h, r };
	int id = -1, s;

	for (s = 0; s < 2; s++) {
		l[s]->id = xmallocarray(l[s]->n + 1, sizeof *l[s]->id);
		for (i = 0; i < l[s]->n; i++, k++) {
			v[k].p = l[s]->base + l[s]->a[i];
			v[k].len = l[s]->b[i] - l[s]->a[i];
			v[k].id = &l[s]->id[i];
		}
	}
	qsort(v, n, sizeof *v, wrefcmp);
	for (i = 0; i < n; i++) {
		if (!i || wrefcmp(&v[i - 1], &v[i]))
			id++;
		*v[i].id = id;
	}
	free(v);
}

static int
u64cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* the distinct n-grams (n 1 or 2) of w, sorted; their count */
static size_t
grams(const struct words *w, int n, uint64_t **out)
{
	size_t k, m = 0, u = 0;
	uint64_t *g = xmallocarray(w->n + 1, sizeof *g);

	for (k = 0; k + n <= w->n; k++)
		g[m++] = n == 1 ? (uint64_t)w->id[k] :
		    (uint64_t)w->id[k] << 32 | (uint32_t)w->id[k + 1];
	qsort(g, m, sizeof *g, u64cmp);
	for (k = 0; k < m; k++)
		if (!u || g[u - 1] != g[k])
			g[u++] = g[k];
	*out = g;
	return u;
}

static double
f1(double p, double r)
{
	return 2.0 * ((p * r) / (p + r + 1e-8));
}

static double
rouge_n(const struct words *h, const struct words *r, int n)
{
	uint64_t *a, *b;
	size_t na = grams(h, n, &a), nb = grams(r, n, &b), i = 0, j = 0,
	    ov = 0;
	double p, rc;

	while (i < na && j < nb) {
		if (a[i] == b[j])
			ov++, i++, j++;
		else if (a[i] < b[j])
			i++;
		else
			j++;
	}
	free(a);
	free(b);
	p = na ? (double)ov / (double)na : 0.0;
	rc = nb ? (double)ov / (double)nb : 0.0;
	return f1(p, rc);
}

static double
rouge_l(const struct words *h, const struct words *r)
{
	size_t *prev = xcalloc(r->n + 1, sizeof *prev);
	size_t *cur = xcalloc(r->n + 1, sizeof *cur), *t, i, j, lcs;
	double p, rc;

	for (i = 1; i <= h->n; i++) {
		for (j = 1; j <= r->n; j++)
			cur[j] = h->id[i - 1] == r->id[j - 1] ? prev[j - 1] + 1 :
			    prev[j] > cur[j - 1] ? prev[j] : cur[j - 1];
		t = prev, prev = cur, cur = t;
	}
	lcs = prev[r->n];
	free(prev);
	free(cur);
	p = h->n ? (double)lcs / (double)h->n : 0.0;
	rc = r->n ? (double)lcs / (double)r->n : 0.0;
	return f1(p, rc);
}

static int
blank(const char *s)
{
	size_t n, i;
	uint32_t *c = decode(s, strlen(s), &n);

	for (i = 0; i < n && is_space(c[i]); i++)
		;
	free(c);
	return i == n;
}

void
lmf_rouge_f(const char *hyp, const char *ref, double f[3])
{
	struct cps hs, rs;
	struct words hw, rw;

	f[0] = f[1] = f[2] = 0;
	if (blank(hyp) || blank(ref))
		return;
	rouge_words(hyp, &hs, &hw);
	rouge_words(ref, &rs, &rw);
	intern(&hw, &rw);
	f[0] = rouge_n(&hw, &rw, 1);
	f[1] = rouge_n(&hw, &rw, 2);
	f[2] = rouge_l(&hw, &rw);
	free(hw.a), free(hw.b), free(hw.id), free(hs.c);
	free(rw.a), free(rw.b), free(rw.id), free(rs.c);
}

char *
lmf_jieba_join(const struct lmf_jieba *j, const char *s, size_t len)
{
	struct lmf_jieba_words w = { 0 };
	struct lmf_buf b = { 0 };
	size_t i;

	lmf_jieba_cut(j, s, len, &w);
	for (i = 0; i < w.n; i++) {
		if (i)
			lmf_buf_add(&b, " ", 1);
		lmf_buf_add(&b, s + w.w[i].off, w.w[i].len);
	}
	lmf_buf_add(&b, "", 1);
	lmf_jieba_words_free(&w);
	return b.s;
}

double
lmf_pyround(double x, int nd)
{
	char buf[400];

	if (!isfinite(x) || fabs(x) > 1e300)
		return x;
	snprintf(buf, sizeof buf, "%.*f", nd, x);
	return strtod(buf, NULL);
}

void
lmf_similarity(const struct lmf_jieba *j, const char *pred, size_t plen,
    const char *label, size_t llen, double raw[LMF_SIM_N],
    double out[LMF_SIM_N])
{
	double v[LMF_SIM_N], f[3];
	char *h = lmf_jieba_join(j, pred, plen), *r = lmf_jieba_join(j, label,
	    llen);
	int k;

	lmf_rouge_f(h, r, f);
	free(h);
	free(r);
	v[LMF_SIM_BLEU4] = lmf_bleu4_chars(pred, plen, label, llen);
	v[LMF_SIM_ROUGE1] = f[0];
	v[LMF_SIM_ROUGE2] = f[1];
	v[LMF_SIM_ROUGEL] = f[2];
	for (k = 0; k < LMF_SIM_N; k++) {
		if (raw)
			raw[k] = v[k];
		out[k] = lmf_pyround(v[k] * 100, 4);
	}
}

static double
pairwise(const double *a, size_t n)
{
	double r[8], res;
	size_t i, k;

	if (n < 8) {
		res = 0.;
		for (i = 0; i < n; i++)
			res += a[i];
		return res;
	}
	if (n <= 128) {
		for (k = 0; k < 8; k++)
			r[k] = a[k];
		for (i = 8; i < n - n % 8; i += 8)
			for (k = 0; k < 8; k++)
				r[k] += a[i + k];
		res = ((r[0] + r[1]) + (r[2] + r[3])) +
		    ((r[4] + r[5]) + (r[6] + r[7]));
		for (; i < n; i++)
			res += a[i];
		return res;
	}
	i = n / 2;
	i -= i % 8;
	return pairwise(a, i) + pairwise(a + i, n - i);
}

double
lmf_np_mean(const double *x, size_t n)
{
	if (!n)
		return NAN;
	return pairwise(x, n) / (double)n;
}

void
lmf_pyrepr(double x, char *buf, size_t len)
{
	char e[40], d[24];
	int p, ex, nd, k, m = 0;
	char *q;

	if (isnan(x)) {
		snprintf(buf, len, "NaN");
		return;
	}
	if (isinf(x)) {
		snprintf(buf, len, x > 0 ? "Infinity" : "-Infinity");
		return;
	}
	if (x == 0) {
		snprintf(buf, len, signbit(x) ? "-0.0" : "0.0");
		return;
	}
	for (p = 0; p < 17; p++) {
		snprintf(e, sizeof e, "%.*e", p, x);
		if (strtod(e, NULL) == x)
			break;
	}
	q = e;
	if (*q == '-')
		buf[m++] = '-', q++;
	for (nd = 0; *q && *q != 'e'; q++)
		if (*q != '.')
			d[nd++] = *q;
	d[nd] = '\0';
	ex = (int)strtol(q + 1, NULL, 10);
	if (ex >= -5 + 1 && ex < 16) {
		char t[64];
		int tn = 0;
		if (ex < 0) {
			tn += snprintf(t, sizeof t, "0.");
			for (k = 0; k < -ex - 1; k++)
				t[tn++] = '0';
			for (k = 0; k < nd; k++)
				t[tn++] = d[k];
		} else {
			for (k = 0; k <= ex; k++)
				t[tn++] = k < nd ? d[k] : '0';
			t[tn++] = '.';
			if (nd > ex + 1)
				for (k = ex + 1; k < nd; k++)
					t[tn++] = d[k];
			else
				t[tn++] = '0';
		}
		t[tn] = '\0';
		snprintf(buf + m, len - m, "%s", t);
	} else {
		snprintf(buf + m, len - m, "%c%s%.*s%se%c%02d", d[0],
		    nd > 1 ? "." : "", nd - 1, d + 1, "", ex < 0 ? '-' : '+',
		    abs(ex));
	}
}
