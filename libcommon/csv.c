/* csv.c: RFC 4180 records as Python's csv.reader (default dialect) reads
 * them; see csv.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmf/csv.h"
#include "lmf/util.h"
#include "lmf/banned.h"

struct field {
	char *s;
	size_t n, cap;
};

static void
fadd(struct field *f, char ch)
{
	if (f->n + 2 > f->cap) {
		f->cap = f->cap ? 2 * f->cap : 32;
		f->s = xrealloc(f->s, f->cap);
	}
	f->s[f->n++] = ch;
	f->s[f->n] = '\0';
}

static void
end_field(struct lmf_csv_row *r, struct field *f)
{
	r->f = xrealloc(r->f, (size_t)(r->nf + 1) * sizeof *r->f);
	r->f[r->nf++] = f->s ? f->s : xstrdup("");
	memset(f, 0, sizeof *f);
}

static struct lmf_csv_row *
new_row(struct lmf_csv *c, size_t line)
{
	struct lmf_csv_row *r;

	c->row = xrealloc(c->row, (c->n + 1) * sizeof *c->row);
	r = &c->row[c->n++];
	memset(r, 0, sizeof *r);
	r->line = line;
	return r;
}

/* one record from p; returns the position after it, or NULL with err */
static const char *
parse_record(struct lmf_csv *c, const char *p, const char *end,
    size_t *line, char *err, size_t errlen)
{
	struct lmf_csv_row *r = new_row(c, *line);
	struct field f = { 0 };
	size_t start = *line;
	int quoted = 0, inq = 0, any = 0;

	for (; p < end; p++) {
		if (!*p) {
			snprintf(err, errlen, "line %zu: a NUL byte", *line);
			free(f.s);
			return NULL;
		}
		if (inq) {
			if (*p == '"' && p + 1 < end && p[1] == '"')
				fadd(&f, *p++);
			else if (*p == '"')
				inq = 0;
			else {
				if (*p == '\n')
					(*line)++;
				fadd(&f, *p);
			}
			continue;
		}
		if (*p == '\r' || *p == '\n')
			break;
		any = 1;
		if (*p == ',') {
			end_field(r, &f);
			quoted = 0;
		} else if (*p == '"' && !f.n && !quoted) {
			quoted = inq = 1;
			fadd(&f, 'x');
			f.n = 0;
			f.s[0] = '\0';
		} else {
			fadd(&f, *p);
		}
	}
	if (inq) {
		snprintf(err, errlen, "line %zu: a quoted field never ends",
		    start);
		free(f.s);
		return NULL;
	}
	if (any)
		end_field(r, &f);
	if (p < end && *p == '\r' && p + 1 < end && p[1] == '\n')
		p++;
	if (p < end)
		p++;
	(*line)++;
	return p;
}

int
lmf_csv_parse(struct lmf_csv *c, const char *text, size_t len, char *err,
    size_t errlen)
{
	const char *p = text, *end = text + len;
	size_t line = 1;

	while (p < end)
		if (!(p = parse_record(c, p, end, &line, err, errlen)))
			return -1;
	return 0;
}

int
lmf_csv_read(struct lmf_csv *c, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL, e2[200];
	size_t n = 0, cap = 0, k;
	int rc;

	if (!f) {
		snprintf(err, errlen, "cannot open '%s': %s", path,
		    strerror(errno));
		return -1;
	}
	do {
		if (n + 65536 > cap)
			buf = xrealloc(buf, cap = 2 * cap + 65536);
		k = fread(buf + n, 1, cap - n, f);
		n += k;
	} while (k);
	rc = ferror(f);
	fclose(f);
	if (rc) {
		snprintf(err, errlen, "cannot read '%s'", path);
		free(buf);
		return -1;
	}
	k = n >= 3 && !memcmp(buf, "\xef\xbb\xbf", 3) ? 3 : 0;
	rc = lmf_csv_parse(c, buf + k, n - k, e2, sizeof e2);
	if (rc)
		snprintf(err, errlen, "'%s': %s", path, e2);
	free(buf);
	return rc;
}

void
lmf_csv_free(struct lmf_csv *c)
{
	size_t i;
	int j;

	for (i = 0; i < c->n; i++) {
		for (j = 0; j < c->row[i].nf; j++)
			free(c->row[i].f[j]);
		free(c->row[i].f);
	}
	free(c->row);
	memset(c, 0, sizeof *c);
}
