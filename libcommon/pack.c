/* pack.c: the examples stream's sequences, greedy knapsack packing (spec
 * 4.3) and the collators' padding */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmf/pack.h"
#include "lmf/process.h"
#include "lmf/util.h"
#include "lmf/banned.h"

#define MAX_ROW (1 << 30)

static const char *names[2][2][2] = {   /* [pairwise][seq][ids|labels] */
	{ { "input_ids", "labels" }, { "kl_input_ids", "kl_labels" } },
	{ { "chosen_input_ids", "chosen_labels" },
	  { "rejected_input_ids", "rejected_labels" } },
};

static int
nseqs(int stage)
{
	return stage == LMF_STAGE_RM || stage == LMF_STAGE_DPO ||
	    stage == LMF_STAGE_KTO ? 2 : 1;
}

int
lmf_pack_known(int stage, const char *name)
{
	int i, j, pw = stage == LMF_STAGE_RM || stage == LMF_STAGE_DPO;

	for (i = 0; i < nseqs(stage); i++)
		for (j = 0; j < 2; j++)
			if (!strcmp(name, names[pw][i][j]))
				return 1;
	return stage == LMF_STAGE_KTO && !strcmp(name, "kto_tags");
}

static int
need(struct lmf_item *it, const char *name, struct lmf_tensor **tp,
    char *err, size_t errlen)
{
	struct lmf_tensor *t = *tp = lmf_item_find(it, name);
	char buf[64];

	if (!t)
		return snprintf(err, errlen, "no tensor '%s'", name),
		    LMF_E_FORMAT;
	if (t->dtype != LMF_I32)
		return snprintf(err, errlen, "tensor '%s' is %s, not i32",
		    name, lmf_dtype_name(t->dtype) ?
		    lmf_dtype_name(t->dtype) : "?"), LMF_E_DTYPE;
	if (t->ndim != 1 && strcmp(name, "kto_tags"))
		return snprintf(err, errlen, "tensor '%s' has shape %s, not "
		    "[n]", name, lmf_shape_str(t, buf, sizeof buf)),
		    LMF_E_SHAPE;
	if (lmf_tensor_numel(t) >= MAX_ROW)
		return snprintf(err, errlen, "tensor '%s' is too long", name),
		    LMF_E_LIMIT;
	return 0;
}

static int
check_ids(const struct lmf_tensor *t, int labels, long vocab, char *err,
    size_t errlen)
{
	const int32_t *v = t->data;
	uint64_t i, n = lmf_tensor_numel(t);

	for (i = 0; i < n; i++) {
		if (labels && v[i] == LMF_IGNORE_INDEX)
			continue;
		if (v[i] < 0 || (vocab > 0 && v[i] >= vocab))
			return snprintf(err, errlen, "tensor '%s' has %s %ld "
			    "at %lu, outside the vocabulary of %ld", t->name,
			    labels ? "label" : "id", (long)v[i],
			    (unsigned long)i, vocab), LMF_E_FORMAT;
	}
	return 0;
}

int
lmf_pack_example(struct lmf_item *it, int stage, long vocab, int aligned,
    struct lmf_pack_seq *s, int32_t *tag, char *err, size_t errlen)
{
	int i, rc, n = nseqs(stage);
	int pw = stage == LMF_STAGE_RM || stage == LMF_STAGE_DPO;
	struct lmf_tensor *x, *y;

	for (i = 0; i < n; i++) {
		if ((rc = need(it, names[pw][i][0], &x, err, errlen)) < 0 ||
		    (rc = need(it, names[pw][i][1], &y, err, errlen)) < 0 ||
		    (rc = check_ids(x, 0, vocab, err, errlen)) < 0 ||
		    (rc = check_ids(y, 1, vocab, err, errlen)) < 0)
			return rc;
		memset(&s[i], 0, sizeof s[i]);
		s[i].ids = x->data;
		s[i].labels = y->data;
		s[i].len = x->shape[0];
		s[i].llen = y->shape[0];
		if (aligned && x->shape[0] != y->shape[0])
			return snprintf(err, errlen, "'%s' has %ld tokens but "
			    "'%s' %ld", x->name, (long)x->shape[0], y->name,
			    (long)y->shape[0]), LMF_E_SHAPE;
	}
	if (stage != LMF_STAGE_KTO)
		return n;
	if ((rc = need(it, "kto_tags", &x, err, errlen)) < 0)
		return rc;
	if (lmf_tensor_numel(x) != 1)
		return snprintf(err, errlen, "'kto_tags' is not one value"),
		    LMF_E_SHAPE;
	*tag = *(int32_t *)x->data;
	if (*tag != 0 && *tag != 1)
		return snprintf(err, errlen, "'kto_tags' is %ld, not 0 or 1",
		    (long)*tag), LMF_E_FORMAT;
	return n;
}

struct lenidx {
	int len, idx;
};

static int
cmp_lenidx(const void *a, const void *b)
{
	const struct lenidx *x = a, *y = b;

	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return (x->idx > y->idx) - (x->idx < y->idx);
}

/* bisect_right: the first position whose length is past v */
static int
bisect(const struct lenidx *a, int n, int v)
{
	int lo = 0, hi = n;

	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;

		if (a[mid].len <= v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int
lmf_pack_greedy_knapsack(const int *len, int n, int cap, int *order,
    int *start)
{
	struct lenidx *a;
	int i, m = n, k = 0, nbins = 0;

	for (i = 0; i < n; i++)
		if (len[i] < 0 || len[i] > cap)
			return -1;
	a = xmallocarray(n ? n : 1, sizeof *a);
	for (i = 0; i < n; i++)
		a[i] = (struct lenidx){ len[i], i };
	/* sorted by length, then index: the last of a run of equal lengths
	 * is the highest index still waiting, the one pop() would give */
	qsort(a, n, sizeof *a, cmp_lenidx);
	while (m > 0) {
		int rem = cap;

		start[nbins++] = k;
		for (;;) {
			int j = bisect(a, m, rem) - 1;

			if (j < 0)
				break;
			rem -= a[j].len;
			order[k++] = a[j].idx;
			memmove(a + j, a + j + 1, (size_t)(m - j - 1) * sizeof *a);
			m--;
		}
	}
	start[nbins] = k;
	free(a);
	return nbins;
}

long
lmf_pack_rows(const struct lmf_pack_seq *ex, long n, long cap, int neat,
    int32_t pad, struct lmf_pack_seq *rows, long *ndropped)
{
	int *len = xmallocarray(n + 1, sizeof *len);
	int *order = xmallocarray(n + 1, sizeof *order);
	int *start = xmallocarray(n + 2, sizeof *start);
	long *idx = xmallocarray(n + 1, sizeof *idx);
	long i, k, m = 0, T = cap + 1;
	int b, j, nb;

	for (i = 0; i < n; i++) {
		if (ex[i].len > cap) {
			(*ndropped)++;
			continue;
		}
		len[m] = (int)ex[i].len;
		idx[m++] = i;
	}
	nb = lmf_pack_greedy_knapsack(len, (int)m, (int)cap, order, start);
	if (nb < 0)
		BUG("knapsack refused its lengths");
	for (b = 0; b < nb; b++) {
		struct lmf_pack_seq *s = &rows[b];

		s->ids = xmallocarray(T, sizeof(int32_t));
		s->labels = xmallocarray(T, sizeof(int32_t));
		s->pos = xmallocarray(T, sizeof(int32_t));
		s->seg = xmallocarray(T, sizeof(int32_t));
		s->len = 0;
		for (j = start[b]; j < start[b + 1]; j++) {
			const struct lmf_pack_seq *e = &ex[idx[order[j]]];

			memcpy(s->ids + s->len, e->ids,
			    e->len * sizeof(int32_t));
			memcpy(s->labels + s->len, e->labels,
			    e->len * sizeof(int32_t));
			for (k = 0; k < e->len; k++) {
				s->pos[s->len + k] = (int32_t)k;
				s->seg[s->len + k] = neat ?
				    j - start[b] + 1 : 1;
			}
			s->len += e->len;
		}
		for (k = s->len; k < T; k++) {
			s->ids[k] = pad;
			s->labels[k] = LMF_IGNORE_INDEX;
			s->pos[k] = 0;
			s->seg[k] = neat ? 0 : 1;
		}
		s->len = s->llen = T;
	}
	free(len);
	free(order);
	free(start);
	free(idx);
	return nb;
}

static long
round_up(long n, long multiple)
{
	return (n + multiple - 1) / multiple * multiple;
}

static int32_t *
add_rows(struct lmf_item *it, const char *pfx, const char *name, long B,
    long T)
{
	char nm[64];

	snprintf(nm, sizeof nm, "%s%s", pfx, name);
	return lmf_item_add_tensor(it, nm, LMF_I32, 2,
	    (int64_t[]){ B, T })->data;
}

void
lmf_pack_collate(struct lmf_item *it, const char *pfx,
    const struct lmf_pack_seq *const *s, long B, long multiple,
    int aligned, int32_t pad)
{
	long b, t, T = 0, L = 0;
	int32_t *ids, *mask, *lab, *pos = NULL;

	for (b = 0; b < B; b++) {
		T = s[b]->len > T ? s[b]->len : T;
		L = s[b]->llen > L ? s[b]->llen : L;
	}
	T = round_up(T, multiple);
	L = aligned ? T : round_up(L, multiple);
	ids = add_rows(it, pfx, "input_ids", B, T);
	mask = add_rows(it, pfx, "attention_mask", B, T);
	lab = add_rows(it, pfx, "labels", B, L);
	if (s[0]->pos)
		pos = add_rows(it, pfx, "position_ids", B, T);
	for (b = 0; b < B; b++) {
		for (t = 0; t < T; t++) {
			int in = t < s[b]->len;

			ids[b * T + t] = in ? s[b]->ids[t] : pad;
			mask[b * T + t] = !in ? 0 :
			    s[b]->seg ? s[b]->seg[t] : 1;
			if (pos)
				pos[b * T + t] = in ? s[b]->pos[t] : 0;
		}
		for (t = 0; t < L; t++)
			lab[b * L + t] = t < s[b]->llen ? s[b]->labels[t] :
			    LMF_IGNORE_INDEX;
	}
}

void
lmf_pack_seq_free(struct lmf_pack_seq *s)
{
	free(s->ids);
	free(s->labels);
	free(s->pos);
	free(s->seg);
}
