/* bpe_train.c: the byte-level BPE learner of bpe_train.h: words counted
 * in an open-addressing table, pairs counted afresh for every merge. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lmf/bpe_train.h"
#include "lmf/tok.h"
#include "lmf/util.h"
#include "lmf/banned.h"

static uint64_t
hash_bytes(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ULL;

	while (n--) {
		h ^= (unsigned char)*s++;
		h *= 1099511628211ULL;
	}
	return h;
}

static void
word_grow(struct lmf_bpe_train *bp)
{
	size_t ncap = bp->wcap ? bp->wcap * 2 : 4096, i, j;
	size_t *ns = xcalloc(ncap, sizeof *ns);

	for (i = 0; i < bp->nwords; i++) {
		j = hash_bytes(bp->words[i].s, bp->words[i].n) & (ncap - 1);
		while (ns[j])
			j = (j + 1) & (ncap - 1);
		ns[j] = i + 1;
	}
	free(bp->wslot);
	bp->wslot = ns;
	bp->wcap = ncap;
}

void
lmf_bpe_train_word(struct lmf_bpe_train *bp, const char *s, size_t n)
{
	size_t j;
	struct lmf_bpe_word *w;

	if (n == 0)
		return;
	if (2 * (bp->nwords + 1) > bp->wcap)
		word_grow(bp);
	j = hash_bytes(s, n) & (bp->wcap - 1);
	while (bp->wslot[j]) {
		w = &bp->words[bp->wslot[j] - 1];
		if (w->n == n && !memcmp(w->s, s, n)) {
			w->count++;
			return;
		}
		j = (j + 1) & (bp->wcap - 1);
	}
	if (bp->nwords == bp->capwords) {
		bp->capwords = bp->capwords ? bp->capwords * 2 : 1024;
		bp->words = xrealloc(bp->words, bp->capwords *
		    sizeof *bp->words);
	}
	w = &bp->words[bp->nwords];
	w->s = xmalloc(n);
	memcpy(w->s, s, n);
	w->n = n;
	w->count = 1;
	w->sym = NULL;
	w->nsym = 0;
	bp->wslot[j] = ++bp->nwords;
}

struct pair {
	uint64_t key;   /* a << 32 | b, UINT64_MAX empty */
	uint64_t count;
};

/* the most frequent adjacent pair; ties to the smaller (a, b) */
static int
best_pair(const struct lmf_bpe_train *bp, struct pair **tab, size_t *cap,
    int32_t *a, int32_t *b, uint64_t *count)
{
	size_t i, k, used = 0, need = 16;
	uint64_t key, bestc = 0, bestk = UINT64_MAX;
	struct lmf_bpe_word *w;

	for (i = 0; i < bp->nwords; i++)
		if (bp->words[i].nsym > 1)
			need += bp->words[i].nsym - 1;
	if (*cap < 2 * need) {
		while (*cap < 2 * need)
			*cap = *cap ? *cap * 2 : 4096;
		free(*tab);
		*tab = xmallocarray(*cap, sizeof **tab);
	}
	for (i = 0; i < *cap; i++)
		(*tab)[i].key = UINT64_MAX;
	for (i = 0; i < bp->nwords; i++) {
		w = &bp->words[i];
		for (k = 0; k + 1 < w->nsym; k++) {
			size_t j;

			key = (uint64_t)(uint32_t)w->sym[k] << 32 |
			    (uint32_t)w->sym[k + 1];
			j = (key * 0x9e3779b97f4a7c15ULL >> 20) & (*cap - 1);
			while ((*tab)[j].key != UINT64_MAX &&
			    (*tab)[j].key != key)
				j = (j + 1) & (*cap - 1);
			if ((*tab)[j].key == UINT64_MAX) {
				(*tab)[j].key = key;
				(*tab)[j].count = 0;
				used++;
			}
			(*tab)[j].count += w->count;
		}
	}
	for (i = 0; i < *cap; i++) {
		struct pair *p = &(*tab)[i];

		if (p->key == UINT64_MAX)
			continue;
		if (p->count > bestc || (p->count == bestc && p->key < bestk)) {
			bestc = p->count;
			bestk = p->key;
		}
	}
	if (!used)
		return 0;
	*a = (int32_t)(bestk >> 32);
	*b = (int32_t)(bestk & 0xffffffffu);
	*count = bestc;
	return 1;
}

static void
apply_merge(struct lmf_bpe_train *bp, int32_t a, int32_t b, int32_t id)
{
	size_t i, k, m;
	struct lmf_bpe_word *w;

	for (i = 0; i < bp->nwords; i++) {
		w = &bp->words[i];
		if (w->nsym < 2)
			continue;
		for (k = m = 0; k < w->nsym; m++) {
			if (k + 1 < w->nsym && w->sym[k] == a &&
			    w->sym[k + 1] == b) {
				w->sym[m] = id;
				k += 2;
			} else {
				w->sym[m] = w->sym[k++];
			}
		}
		w->nsym = m;
	}
}

static int32_t
tok_find(const struct lmf_bpe_train *bp, const char *s)
{
	size_t i;

	for (i = 0; i < bp->ntok; i++)
		if (!strcmp(bp->tok[i], s))
			return (int32_t)i;
	return -1;
}

json_t *
lmf_bpe_train_learn(struct lmf_bpe_train *bp, size_t nbpe,
    uint64_t min_freq)
{
	json_t *merges = json_array();
	struct pair *tab = NULL;
	size_t cap = 0, i, k;
	int32_t a, b, id;
	uint64_t count;
	char sym[3], *m;

	bp->tok = xmallocarray(nbpe, sizeof *bp->tok);
	for (i = 0; i < 256; i++) {
		lmf_tok_byte_symbol((int)i, sym);
		bp->tok[bp->ntok++] = xstrdup(sym);
	}
	for (i = 0; i < bp->nwords; i++) {
		bp->words[i].sym = xmallocarray(bp->words[i].n,
		    sizeof(int32_t));
		for (k = 0; k < bp->words[i].n; k++)
			bp->words[i].sym[k] = (unsigned char)bp->words[i].s[k];
		bp->words[i].nsym = bp->words[i].n;
	}
	while (bp->ntok < nbpe && best_pair(bp, &tab, &cap, &a, &b, &count)) {
		if (count < min_freq)
			break;
		m = xasprintf("%s%s", bp->tok[a], bp->tok[b]);
		if ((id = tok_find(bp, m)) < 0) {
			id = (int32_t)bp->ntok;
			bp->tok[bp->ntok++] = m;
		} else {
			free(m);
		}
		json_array_append_new(merges, json_sprintf("%s %s", bp->tok[a],
		    bp->tok[b]));
		apply_merge(bp, a, b, id);
	}
	free(tab);
	return merges;
}

void
lmf_bpe_train_free(struct lmf_bpe_train *bp)
{
	size_t i;

	for (i = 0; i < bp->nwords; i++) {
		free(bp->words[i].s);
		free(bp->words[i].sym);
	}
	for (i = 0; i < bp->ntok; i++)
		free(bp->tok[i]);
	free(bp->words);
	free(bp->wslot);
	free(bp->tok);
	memset(bp, 0, sizeof *bp);
}
