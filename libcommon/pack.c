/* pack.c: greedy knapsack packing (spec 4.3) */
#include <stdlib.h>
#include <string.h>

#include "lmf/pack.h"
#include "lmf/util.h"
#include "lmf/banned.h"

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
