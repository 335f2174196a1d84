/* jieba.c: jieba.cut(text, HMM=True) in C (jieba.h), on jieba's own
 * dictionary and HMM tables read at run time. The order of every
 * comparison and sum follows jieba 0.42.1 so that ties and roundings fall
 * as in Python: a route ties to the longer word, a Viterbi state to the
 * later letter of BEMS. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmf/jieba.h"
#include "lmf/util.h"
#include "lmf/banned.h"

#define MIN_FLOAT (-3.14e100)   /* finalseg's log 0 */

enum { ST_B, ST_E, ST_M, ST_S, NST };  /* in the letters' order */

struct entry {
	const char *key;
	uint32_t len;
	long long freq;         /* 0: only a prefix of words */
};

struct emit {
	uint32_t cp;
	double lp;
};

struct lmf_jieba {
	char *dict;             /* dict.txt, the keys point into it */
	struct entry *ent;
	size_t nent, capent;
	uint32_t *slot;         /* 1 + index into ent, 0 empty */
	size_t nslot;           /* a power of two */
	double logtotal;
	double start[NST], trans[NST][NST];
	struct emit *emit[NST];
	size_t nemit[NST];
};

/* ---- the prefix dictionary: an open-addressed hash of byte strings ---- */

static uint64_t
hash(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ULL;

	while (n--)
		h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
	return h;
}

static struct entry *
find(const struct lmf_jieba *j, const char *s, size_t n)
{
	size_t m = j->nslot - 1, i;

	if (!j->nslot)
		return NULL;
	for (i = hash(s, n) & m; j->slot[i]; i = (i + 1) & m) {
		struct entry *e = &j->ent[j->slot[i] - 1];
		if (e->len == n && !memcmp(e->key, s, n))
			return e;
	}
	return NULL;
}

static void
grow(struct lmf_jieba *j)
{
	size_t k, m;

	free(j->slot);
	j->nslot = j->nslot ? 2 * j->nslot : 1 << 20;
	j->slot = xcalloc(j->nslot, sizeof *j->slot);
	m = j->nslot - 1;
	for (k = 0; k < j->nent; k++) {
		size_t i = hash(j->ent[k].key, j->ent[k].len) & m;
		while (j->slot[i])
			i = (i + 1) & m;
		j->slot[i] = (uint32_t)k + 1;
	}
}

static struct entry *
insert(struct lmf_jieba *j, const char *s, size_t n, long long freq)
{
	struct entry *e = find(j, s, n);

	if (e)
		return e;
	if (2 * (j->nent + 1) > j->nslot)
		grow(j);
	if (j->nent == j->capent) {
		j->capent = j->capent ? 2 * j->capent : 1 << 16;
		j->ent = xrealloc(j->ent, j->capent * sizeof *j->ent);
	}
	e = &j->ent[j->nent++];
	e->key = s;
	e->len = (uint32_t)n;
	e->freq = freq;
	{
		size_t m = j->nslot - 1, i = hash(s, n) & m;
		while (j->slot[i])
			i = (i + 1) & m;
		j->slot[i] = (uint32_t)j->nent;
	}
	return e;
}

/* the code point at s (n bytes left), its length in *len; an invalid
 * byte is one character */
static uint32_t
utf8(const unsigned char *s, size_t n, size_t *len)
{
	uint32_t c = s[0];
	size_t k, need;

	*len = 1;
	if (c < 0x80)
		return c;
	if (c >= 0xc2 && c < 0xe0)
		need = 1, c &= 0x1f;
	else if (c >= 0xe0 && c < 0xf0)
		need = 2, c &= 0x0f;
	else if (c >= 0xf0 && c < 0xf5)
		need = 3, c &= 0x07;
	else
		return 0xfffd;
	if (n <= need)
		return 0xfffd;
	for (k = 1; k <= need; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return 0xfffd;
		c = c << 6 | (s[k] & 0x3f);
	}
	if ((need == 2 && c < 0x800) || (need == 3 && (c < 0x10000 ||
	    c > 0x10ffff)) || (c >= 0xd800 && c < 0xe000))
		return 0xfffd;
	*len = need + 1;
	return c;
}

/* gen_pfdict: "word freq [tag]" per line; every prefix of a word is
 * entered with frequency 0 unless it is a word; the total counts every
 * line, a repeated word too */
static int
load_dict(struct lmf_jieba *j, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	size_t len = 0, cap = 1 << 22, r, line = 0;
	char *p, *end;
	long long total = 0;

	if (!f) {
		lmf_seterr(err, errlen, "cannot open '%s': %s", path,
		    strerror(errno));
		return -1;
	}
	j->dict = xmalloc(cap);
	while ((r = fread(j->dict + len, 1, cap - len - 1, f)) > 0)
		if ((len += r) == cap - 1)
			j->dict = xrealloc(j->dict, cap *= 2);
	if (ferror(f)) {
		fclose(f);
		lmf_seterr(err, errlen, "cannot read '%s'", path);
		return -1;
	}
	fclose(f);
	j->dict[len] = '\0';
	for (p = j->dict; p < j->dict + len; p = end + 1) {
		char *w, *q, *fe;
		long long freq;
		size_t wl, k, cl;
		struct entry *e;

		line++;
		end = memchr(p, '\n', j->dict + len - p);
		if (!end)
			end = j->dict + len;
		for (w = p; w < end && *w && strchr(" \t\r\f\v", *w); w++)
			;
		for (q = end; q > w && q[-1] &&
		    strchr(" \t\r\f\v", q[-1]); q--)
			;
		fe = memchr(w, ' ', q - w);
		if (!fe || fe == w) {
			lmf_seterr(err, errlen, "invalid dictionary entry in "
			    "'%s' at line %zu", path, line);
			return -1;
		}
		wl = fe - w;
		errno = 0;
		freq = strtoll(fe + 1, &q, 10);
		if (q == fe + 1 || (*q != ' ' && q != end && *q != '\r') ||
		    errno || freq < 0) {
			lmf_seterr(err, errlen, "invalid frequency in '%s' at "
			    "line %zu", path, line);
			return -1;
		}
		e = insert(j, w, wl, freq);
		e->freq = freq;
		total += freq;
		for (k = 0; k < wl; k += cl) {
			utf8((unsigned char *)w + k, wl - k, &cl);
			insert(j, w, k + cl, 0);
		}
	}
	if (total <= 0) {
		lmf_seterr(err, errlen, "'%s': no words", path);
		return -1;
	}
	j->logtotal = log((double)total);
	return 0;
}

/* ---- the HMM tables: P={...} Python literals of one or two levels ---- */

struct lit {
	const char *s, *p, *path;
	struct lmf_jieba *j;
	int table;              /* 0 start, 1 trans, 2 emit */
	size_t cap[NST];
};

static void
skip(struct lit *l)
{
	while (*l->p && strchr(" \t\r\n,", *l->p))
		l->p++;
}

/* a quoted key of one character: its code point, or -1 */
static long
key(struct lit *l)
{
	char q = *l->p;
	long c;
	size_t n;

	if (q != '\'' && q != '"')
		return -1;
	l->p++;
	if (*l->p == '\\') {
		int k, nd = l->p[1] == 'u' ? 4 : l->p[1] == 'U' ? 8 :
		    l->p[1] == 'x' ? 2 : 0;
		if (!l->p[1])
			return -1;
		if (!nd) {
			c = (unsigned char)l->p[1];
			l->p += 2;
		} else {
			for (c = 0, k = 0; k < nd; k++) {
				int v = lmf_hexval((unsigned char)l->p[2 + k]);
				if (v < 0)
					return -1;
				c = c * 16 + v;
			}
			l->p += 2 + nd;
		}
	} else {
		if (!*l->p)
			return -1;
		c = utf8((const unsigned char *)l->p, strlen(l->p), &n);
		l->p += n;
	}
	if (*l->p++ != q)
		return -1;
	return c;
}

static int
state(long c)
{
	return c == 'B' ? ST_B : c == 'E' ? ST_E : c == 'M' ? ST_M :
	    c == 'S' ? ST_S : -1;
}

static int
value(struct lit *l, double *v)
{
	char *e;

	*v = strtod(l->p, &e);
	if (e == l->p)
		return -1;
	l->p = e;
	return 0;
}

static int
put(struct lit *l, int s1, long k2, double v)
{
	struct lmf_jieba *j = l->j;
	int s2;

	if (l->table == 0) {
		j->start[s1] = v;
		return 0;
	}
	if (l->table == 1) {
		if ((s2 = state(k2)) < 0)
			return -1;
		j->trans[s1][s2] = v;
		return 0;
	}
	if (j->nemit[s1] == l->cap[s1]) {
		l->cap[s1] = l->cap[s1] ? 2 * l->cap[s1] : 4096;
		j->emit[s1] = xrealloc(j->emit[s1],
		    l->cap[s1] * sizeof *j->emit[s1]);
	}
	j->emit[s1][j->nemit[s1]].cp = (uint32_t)k2;
	j->emit[s1][j->nemit[s1]++].lp = v;
	return 0;
}

static int
parse_lit(struct lit *l)
{
	const char *p = strstr(l->s, "P=");
	int s1;
	long k2;
	double v;

	if (!p || !(p = strchr(p, '{')))
		return -1;
	l->p = p + 1;
	for (skip(l); *l->p != '}'; skip(l)) {
		if ((s1 = state(key(l))) < 0)
			return -1;
		skip(l);
		if (*l->p++ != ':')
			return -1;
		skip(l);
		if (l->table == 0) {
			if (value(l, &v) || put(l, s1, 0, v))
				return -1;
			continue;
		}
		if (*l->p++ != '{')
			return -1;
		for (skip(l); *l->p != '}'; skip(l)) {
			if ((k2 = key(l)) < 0)
				return -1;
			skip(l);
			if (*l->p++ != ':')
				return -1;
			skip(l);
			if (value(l, &v) || put(l, s1, k2, v))
				return -1;
		}
		l->p++;
	}
	return 0;
}

static int
emitcmp(const void *a, const void *b)
{
	const struct emit *x = a, *y = b;

	return (x->cp > y->cp) - (x->cp < y->cp);
}

static int
load_table(struct lmf_jieba *j, const char *dir, const char *name, int table,
    char *err, size_t errlen)
{
	char *path = xasprintf("%s/finalseg/%s", dir, name);
	FILE *f = fopen(path, "rb");
	struct lit l = { 0 };
	size_t len, line = 1;
	const char *q;
	char *text;
	int s;

	if (!f) {
		lmf_seterr(err, errlen, "cannot open '%s': %s", path,
		    strerror(errno));
		free(path);
		return -1;
	}
	fclose(f);
	text = lmf_read_file_or_die(path, &len, 1 << 26);
	l.s = text;
	l.j = j;
	l.table = table;
	l.path = path;
	for (s = 0; s < NST; s++)
		if (table == 0)
			j->start[s] = MIN_FLOAT;
		else if (table == 1)
			for (int t = 0; t < NST; t++)
				j->trans[s][t] = MIN_FLOAT;
	if (parse_lit(&l)) {
		for (q = text; l.p && q < l.p; q++)
			line += *q == '\n';
		lmf_seterr(err, errlen, "'%s': not a table of jieba's HMM "
		    "at line %zu", path, line);
		free(text);
		free(path);
		return -1;
	}
	if (table == 2)
		for (s = 0; s < NST; s++)
			qsort(j->emit[s], j->nemit[s], sizeof *j->emit[s],
			    emitcmp);
	free(text);
	free(path);
	return 0;
}

int
lmf_jieba_load(struct lmf_jieba **jp, const char *dir, char *err,
    size_t errlen)
{
	struct lmf_jieba *j = xcalloc(1, sizeof *j);
	char *path;
	int r;

	if (!dir)
		dir = getenv("LMF_JIEBA_DIR");
	if (!dir || !*dir)
		dir = LMF_JIEBA_DIR;
	path = xasprintf("%s/dict.txt", dir);
	r = load_dict(j, path, err, errlen);
	free(path);
	if (!r)
		r = load_table(j, dir, "prob_start.py", 0, err, errlen);
	if (!r)
		r = load_table(j, dir, "prob_trans.py", 1, err, errlen);
	if (!r)
		r = load_table(j, dir, "prob_emit.py", 2, err, errlen);
	if (r) {
		lmf_jieba_free(j);
		return -1;
	}
	*jp = j;
	return 0;
}

void
lmf_jieba_free(struct lmf_jieba *j)
{
	int s;

	if (!j)
		return;
	for (s = 0; s < NST; s++)
		free(j->emit[s]);
	free(j->slot);
	free(j->ent);
	free(j->dict);
	free(j);
}

void
lmf_jieba_words_free(struct lmf_jieba_words *w)
{
	free(w->w);
	memset(w, 0, sizeof *w);
}

/* ---- cutting ---- */

/* a text decoded: n code points, character i is bytes off[i]..off[i+1]
 * of s */
struct text {
	const char *s;
	uint32_t *cp;
	size_t *off;
	size_t n;
};

static void
out(struct lmf_jieba_words *w, const struct text *t, size_t a, size_t b)
{
	if (a >= b)
		return;
	if (w->n == w->cap) {
		w->cap = w->cap ? 2 * w->cap : 64;
		w->w = xrealloc(w->w, w->cap * sizeof *w->w);
	}
	w->w[w->n].off = t->off[a];
	w->w[w->n++].len = t->off[b] - t->off[a];
}

static int
is_han(uint32_t c)
{
	return c >= 0x4e00 && c <= 0x9fd5;
}

static int
is_alnum(uint32_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

/* re_han_default: [\u4E00-\u9FD5a-zA-Z0-9+#&\._%\-] */
static int
in_block(uint32_t c)
{
	return is_han(c) || is_alnum(c) || (c < 0x80 && strchr("+#&._%-",
	    (int)c) && c);
}

static double
emit_lp(const struct lmf_jieba *j, int s, uint32_t c)
{
	size_t lo = 0, hi = j->nemit[s];

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (j->emit[s][mid].cp < c)
			lo = mid + 1;
		else if (j->emit[s][mid].cp > c)
			hi = mid;
		else
			return j->emit[s][mid].lp;
	}
	return MIN_FLOAT;
}

/* finalseg.__cut: Viterbi over BMES on the Han run a..b */
static void
hmm_cut(const struct lmf_jieba *j, const struct text *t, size_t a, size_t b,
    struct lmf_jieba_words *w)
{
	static const int prev[NST][2] = {
		[ST_B] = { ST_E, ST_S }, [ST_M] = { ST_M, ST_B },
		[ST_S] = { ST_S, ST_E }, [ST_E] = { ST_B, ST_M },
	};
	size_t n = b - a, i, begin = 0, nexti = 0;
	double (*V)[NST] = xmallocarray(n, sizeof *V);
	unsigned char (*bp)[NST] = xmallocarray(n, sizeof *bp);
	unsigned char *path = xmalloc(n);
	int y, k, s;

	for (y = 0; y < NST; y++)
		V[0][y] = j->start[y] + emit_lp(j, y, t->cp[a]);
	for (i = 1; i < n; i++)
		for (y = 0; y < NST; y++) {
			double em = emit_lp(j, y, t->cp[a + i]), best = 0;
			int arg = -1;
			for (k = 0; k < 2; k++) {
				int y0 = prev[y][k];
				double p = V[i - 1][y0] + j->trans[y0][y] + em;
				if (arg < 0 || p > best || (p == best &&
				    y0 > arg))
					best = p, arg = y0;
			}
			V[i][y] = best;
			bp[i][y] = (unsigned char)arg;
		}
	s = V[n - 1][ST_S] >= V[n - 1][ST_E] ? ST_S : ST_E;
	for (i = n; i-- > 0;) {
		path[i] = (unsigned char)s;
		if (i)
			s = bp[i][s];
	}
	for (i = 0; i < n; i++) {
		if (path[i] == ST_B) {
			begin = i;
		} else if (path[i] == ST_E) {
			out(w, t, a + begin, a + i + 1);
			nexti = i + 1;
		} else if (path[i] == ST_S) {
			out(w, t, a + i, a + i + 1);
			nexti = i + 1;
		}
	}
	if (nexti < n)
		out(w, t, a + nexti, b);
	free(V);
	free(bp);
	free(path);
}

/* finalseg.cut: Han runs by the HMM; elsewhere re_skip's matches
 * ([a-zA-Z0-9]+(?:\.\d+)?%?) and the text between them, whole */
static void
finalseg_cut(const struct lmf_jieba *j, const struct text *t, size_t a,
    size_t b, struct lmf_jieba_words *w)
{
	size_t i = a, e, gap;

	while (i < b) {
		if (is_han(t->cp[i])) {
			for (e = i; e < b && is_han(t->cp[e]); e++)
				;
			hmm_cut(j, t, i, e, w);
			i = e;
			continue;
		}
		for (gap = i; i < b && !is_han(t->cp[i]); ) {
			if (!is_alnum(t->cp[i])) {
				i++;
				continue;
			}
			out(w, t, gap, i);
			for (e = i; e < b && is_alnum(t->cp[e]); e++)
				;
			if (e + 1 < b && t->cp[e] == '.' &&
			    t->cp[e + 1] >= '0' && t->cp[e + 1] <= '9')
				for (e += 1; e < b && t->cp[e] >= '0' &&
				    t->cp[e] <= '9'; e++)
					;
			if (e < b && t->cp[e] == '%')
				e++;
			out(w, t, i, e);
			gap = i = e;
		}
		out(w, t, gap, i);
	}
}

static long long
freq(const struct lmf_jieba *j, const struct text *t, size_t a, size_t b)
{
	const struct entry *e = find(j, t->s + t->off[a], t->off[b] - t->off[a]);

	return e ? e->freq : -1;
}

/* the unknown run a..b of single characters (__cut_DAG's buf) */
static void
flush_buf(const struct lmf_jieba *j, const struct text *t, size_t a,
    size_t b, struct lmf_jieba_words *w)
{
	size_t i;

	if (b - a == 1)
		out(w, t, a, b);
	else if (freq(j, t, a, b) <= 0)
		finalseg_cut(j, t, a, b, w);
	else
		for (i = a; i < b; i++)
			out(w, t, i, i + 1);
}

/* __cut_DAG on the block a..b */
static void
dag_cut(const struct lmf_jieba *j, const struct text *t, size_t a, size_t b,
    struct lmf_jieba_words *w)
{
	size_t n = b - a, k, i, x, buf;
	double *rp = xmallocarray(n + 1, sizeof *rp);
	size_t *rx = xmallocarray(n + 1, sizeof *rx);

	rp[n] = 0;
	rx[n] = 0;
	for (k = n; k-- > 0;) {
		int any = 0;
		const struct entry *e;
		double best = 0;
		size_t arg = k;

		/* the DAG's ends of words from k, then the best route */
		for (i = k; i < n; i++) {
			e = find(j, t->s + t->off[a + k],
			    t->off[a + i + 1] - t->off[a + k]);
			if (!e)
				break;
			if (e->freq > 0) {
				double p = log((double)e->freq) - j->logtotal +
				    rp[i + 1];
				if (!any || p > best || (p == best && i > arg))
					best = p, arg = i;
				any = 1;
			}
		}
		if (!any) {
			best = log(1.0) - j->logtotal + rp[k + 1];
			arg = k;
		}
		rp[k] = best;
		rx[k] = arg;
	}
	for (x = 0, buf = 0; x < n; ) {
		size_t y = rx[x] + 1;
		if (y - x == 1) {
			x = y;
			continue;
		}
		if (buf < x)
			flush_buf(j, t, a + buf, a + x, w);
		out(w, t, a + x, a + y);
		buf = x = y;
	}
	if (buf < n)
		flush_buf(j, t, a + buf, a + n, w);
	free(rp);
	free(rx);
}

void
lmf_jieba_cut(const struct lmf_jieba *j, const char *s, size_t len,
    struct lmf_jieba_words *w)
{
	struct text t = { s, NULL, NULL, 0 };
	size_t i, e, cl;

	t.cp = xmallocarray(len + 1, sizeof *t.cp);
	t.off = xmallocarray(len + 1, sizeof *t.off);
	for (i = 0; i < len; i += cl) {
		t.off[t.n] = i;
		t.cp[t.n++] = utf8((const unsigned char *)s + i, len - i, &cl);
	}
	t.off[t.n] = len;
	for (i = 0; i < t.n; ) {
		if (in_block(t.cp[i])) {
			for (e = i; e < t.n && in_block(t.cp[e]); e++)
				;
			dag_cut(j, &t, i, e, w);
			i = e;
		} else if (t.cp[i] == '\r' && i + 1 < t.n &&
		    t.cp[i + 1] == '\n') {
			out(w, &t, i, i + 2);
			i += 2;
		} else {
			out(w, &t, i, i + 1);
			i++;
		}
	}
	free(t.cp);
	free(t.off);
}
