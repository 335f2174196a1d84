/* tok_bpe.c: the BPE model of tokenizer.json: vocab and merge ranks in
 * open-addressing hash maps, a word merged with a binary heap of candidate
 * pairs (lowest rank first, then leftmost, as the `tokenizers` library
 * does), byte_fallback, unk with fuse_unk, ignore_merges, and a cache of
 * word -> ids for repeated pre-tokens. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmf/util.h"
#include "tok_priv.h"
#include "lmf/banned.h"

#define CACHE_MAX_WORD 96
#define CACHE_MAX_ENTRIES (1 << 17)
#define META "\xe2\x96\x81"   /* U+2581, SentencePiece's space */

struct merge_slot {
	uint64_t key;   /* left << 32 | right, +1 so 0 is empty */
	int32_t rank;
	int32_t id;
};

struct bpe {
	struct tmap vocab;
	char **id2tok;     /* by id, NULL for holes */
	int32_t size;      /* max id + 1 */
	struct merge_slot *merges;
	size_t mcap;
	int32_t unk;       /* -1 none */
	int byte_fallback, fuse_unk, ignore_merges;
	int cut;           /* words may be cut before each U+2581 run */
	int32_t byte_id[256];
	/* the cache: word -> offset into cids (count first) */
	struct tmap cache;
	int32_t *cids;
	size_t ncids, capcids;
};

uint64_t
tok_hash(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t h = 0xcbf29ce484222325ULL;

	while (n >= 8) {
		uint64_t v;
		memcpy(&v, s, 8);
		h = (h ^ v) * 0x100000001b3ULL;
		h ^= h >> 29;
		s += 8;
		n -= 8;
	}
	while (n--)
		h = (h ^ *s++) * 0x100000001b3ULL;
	h ^= h >> 32;
	h *= 0x9e3779b97f4a7c15ULL;
	return h ^ (h >> 29);
}

void
tok_map_init(struct tmap *m, size_t hint)
{
	size_t cap = 16;

	while (cap < hint * 2)
		cap <<= 1;
	memset(m, 0, sizeof(*m));
	m->cap = cap;
	m->slot = xcalloc(cap, sizeof(*m->slot));
}

void
tok_map_free(struct tmap *m)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		free(m->key[i]);
	free(m->key);
	free(m->klen);
	free(m->val);
	free(m->slot);
	memset(m, 0, sizeof(*m));
}

int32_t
tok_map_get(const struct tmap *m, const char *k, size_t n)
{
	uint64_t h = tok_hash(k, n), tag = h >> 32 << 32, s;
	size_t mask = m->cap - 1, i = h & mask;

	while ((s = m->slot[i])) {
		if ((s & ~0xffffffffULL) == tag) {
			uint32_t x = (uint32_t)s - 1;
			if (m->klen[x] == n && memcmp(m->key[x], k, n) == 0)
				return m->val[x];
		}
		i = (i + 1) & mask;
	}
	return -1;
}

static void
map_grow(struct tmap *m)
{
	size_t cap = m->cap * 2, mask = cap - 1, k, i;
	uint64_t h;

	free(m->slot);
	m->slot = xcalloc(cap, sizeof(*m->slot));
	m->cap = cap;
	for (k = 0; k < m->n; k++) {
		h = tok_hash(m->key[k], m->klen[k]);
		i = h & mask;
		while (m->slot[i])
			i = (i + 1) & mask;
		m->slot[i] = (h >> 32 << 32) | (k + 1);
	}
}

void
tok_map_set(struct tmap *m, const char *k, size_t n, int32_t v)
{
	uint64_t h, tag, s;
	size_t mask, i;

	if ((m->n + 1) * 2 > m->cap)
		map_grow(m);
	mask = m->cap - 1;
	h = tok_hash(k, n);
	tag = h >> 32 << 32;
	i = h & mask;
	while ((s = m->slot[i])) {
		uint32_t x = (uint32_t)s - 1;
		if ((s & ~0xffffffffULL) == tag && m->klen[x] == n &&
		    memcmp(m->key[x], k, n) == 0) {
			m->val[x] = v;
			return;
		}
		i = (i + 1) & mask;
	}
	if (m->n == m->kcap) {
		m->kcap = m->kcap ? m->kcap * 2 : 64;
		m->key = xrealloc(m->key, m->kcap * sizeof(*m->key));
		m->klen = xrealloc(m->klen, m->kcap * sizeof(*m->klen));
		m->val = xrealloc(m->val, m->kcap * sizeof(*m->val));
	}
	m->key[m->n] = xstrndup(k, n);
	m->klen[m->n] = (uint32_t)n;
	m->val[m->n] = v;
	m->slot[i] = tag | (uint64_t)++m->n;
}

static uint64_t
mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return x;
}

static const struct merge_slot *
merge_get(const struct bpe *b, int32_t l, int32_t r)
{
	uint64_t key = ((uint64_t)(uint32_t)l << 32 | (uint32_t)r) + 1;
	size_t mask = b->mcap - 1, i = mix64(key) & mask;

	while (b->merges[i].key) {
		if (b->merges[i].key == key)
			return &b->merges[i];
		i = (i + 1) & mask;
	}
	return NULL;
}

static void
merge_put(struct bpe *b, int32_t l, int32_t r, int32_t rank, int32_t id)
{
	uint64_t key = ((uint64_t)(uint32_t)l << 32 | (uint32_t)r) + 1;
	size_t mask = b->mcap - 1, i = mix64(key) & mask;

	while (b->merges[i].key) {
		if (b->merges[i].key == key)
			return; /* the first (lowest) rank wins */
		i = (i + 1) & mask;
	}
	b->merges[i].key = key;
	b->merges[i].rank = rank;
	b->merges[i].id = id;
}

static int
opt_nonempty_string(json_t *model, const char *key)
{
	json_t *v = json_object_get(model, key);

	return v && json_is_string(v) && json_string_length(v) > 0;
}

static int
vocab_add(struct bpe *b, const char *k, size_t n, int64_t id, int32_t *maxid,
    char *err, size_t errlen)
{
	if (id < 0 || id > 0x7fffffff - 1) {
		lmf_seterr(err, errlen, "vocab entry '%.40s' has a bad id", k);
		return -1;
	}
	tok_map_set(&b->vocab, k, n, (int32_t)id);
	if (id > *maxid)
		*maxid = (int32_t)id;
	return 0;
}

static int
merge_add(struct bpe *b, size_t i, const char *l, size_t ll, const char *r,
    size_t rl, struct tbuf *cat, int *nocut, char *err, size_t errlen)
{
	int32_t li, ri, ni;

	li = tok_map_get(&b->vocab, l, ll);
	ri = tok_map_get(&b->vocab, r, rl);
	cat->n = 0;
	tok_buf_put(cat, l, ll);
	tok_buf_put(cat, r, rl);
	ni = tok_map_get(&b->vocab, cat->p, cat->n);
	if (li < 0 || ri < 0 || ni < 0) {
		lmf_seterr(err, errlen, "merge %zu uses a token not in the vocab",
		    i);
		return -1;
	}
	merge_put(b, li, ri, (int32_t)i, ni);
	if (rl >= 3 && !memcmp(r, META, 3) && (ll < 3 ||
	    memcmp(l + ll - 3, META, 3)))
		*nocut = 1;
	return 0;
}

/* the merges of the model's JSON */
static int
merges_json(struct bpe *b, json_t *merges, struct tbuf *cat, int *nocut,
    char *err, size_t errlen)
{
	size_t i, nm = json_array_size(merges);

	for (i = 0; i < nm; i++) {
		json_t *m = json_array_get(merges, i);
		const char *l, *r;
		size_t ll, rl;
		if (json_is_string(m)) {
			const char *s = json_string_value(m);
			const char *sp = strchr(s, ' ');
			if (!sp || strchr(sp + 1, ' ')) {
				lmf_seterr(err, errlen, "merge %zu is not 'a b'",
				    i);
				return -1;
			}
			l = s;
			ll = (size_t)(sp - s);
			r = sp + 1;
			rl = strlen(r);
		} else if (json_is_array(m) && json_array_size(m) == 2 &&
		    json_is_string(json_array_get(m, 0)) &&
		    json_is_string(json_array_get(m, 1))) {
			l = json_string_value(json_array_get(m, 0));
			ll = json_string_length(json_array_get(m, 0));
			r = json_string_value(json_array_get(m, 1));
			rl = json_string_length(json_array_get(m, 1));
		} else {
			lmf_seterr(err, errlen, "merge %zu is neither 'a b' nor "
			    "a pair", i);
			return -1;
		}
		if (merge_add(b, i, l, ll, r, rl, cat, nocut, err, errlen))
			return -1;
	}
	return 0;
}

static void
merges_alloc(struct bpe *b, size_t nm)
{
	size_t cap = 16;

	while (cap < nm * 2 + 2)
		cap <<= 1;
	b->mcap = cap;
	b->merges = xcalloc(cap, sizeof(*b->merges));
}

struct bpe *
tok_bpe_load(json_t *model, const struct tok_raw *raw, char *err,
    size_t errlen)
{
	json_t *vocab = json_object_get(model, "vocab");
	json_t *merges = json_object_get(model, "merges");
	struct tbuf cat = {0};
	json_t *v, *d;
	struct bpe *b;
	const char *k;
	size_t i;
	int32_t maxid = -1;
	int nocut = 0;

	if (!json_is_object(vocab) || !json_is_array(merges)) {
		lmf_seterr(err, errlen, "BPE model without vocab or merges");
		return NULL;
	}
	if (opt_nonempty_string(model, "continuing_subword_prefix") ||
	    opt_nonempty_string(model, "end_of_word_suffix")) {
		lmf_seterr(err, errlen, "BPE continuing_subword_prefix or "
		    "end_of_word_suffix not implemented");
		return NULL;
	}
	d = json_object_get(model, "dropout");
	if (d && !json_is_null(d) && !(json_is_number(d) &&
	    json_number_value(d) == 0)) {
		lmf_seterr(err, errlen, "BPE dropout not implemented");
		return NULL;
	}
	b = xcalloc(1, sizeof(*b));
	if (raw) {
		tok_map_init(&b->vocab, raw->nv);
		for (i = 0; i < raw->nv; i++)
			if (vocab_add(b, raw->sbuf + raw->voff[i],
			    raw->vlen[i], raw->vid[i], &maxid, err, errlen))
				goto fail;
	} else {
		tok_map_init(&b->vocab, json_object_size(vocab));
		json_object_foreach(vocab, k, v) {
			if (!json_is_integer(v)) {
				lmf_seterr(err, errlen, "vocab entry '%.40s' "
				    "has a bad id", k);
				goto fail;
			}
			if (vocab_add(b, k, strlen(k), json_integer_value(v),
			    &maxid, err, errlen))
				goto fail;
		}
	}
	/* the ids that remain (a repeated key keeps its last) */
	maxid = -1;
	for (i = 0; i < b->vocab.n; i++)
		if (b->vocab.val[i] > maxid)
			maxid = b->vocab.val[i];
	if (maxid >= (1 << 26)) {
		lmf_seterr(err, errlen, "vocab id %d too large", maxid);
		goto fail;
	}
	b->size = maxid + 1;
	b->id2tok = xcalloc((size_t)b->size + 1, sizeof(char *));
	for (i = 0; i < b->vocab.n; i++)
		b->id2tok[b->vocab.val[i]] = b->vocab.key[i];
	if (raw) {
		merges_alloc(b, raw->nm);
		for (i = 0; i < raw->nm; i++) {
			const struct tok_raw_merge *m = &raw->merge[i];
			if (merge_add(b, i, raw->sbuf + m->loff, m->llen,
			    raw->sbuf + m->roff, m->rlen, &cat, &nocut, err,
			    errlen))
				goto fail;
		}
	} else {
		merges_alloc(b, json_array_size(merges));
		if (merges_json(b, merges, &cat, &nocut, err, errlen))
			goto fail;
	}
	free(cat.p);
	cat.p = NULL;
	b->unk = -1;
	v = json_object_get(model, "unk_token");
	if (json_is_string(v)) {
		b->unk = tok_map_get(&b->vocab, json_string_value(v),
		    json_string_length(v));
		if (b->unk < 0) {
			lmf_seterr(err, errlen, "unk_token '%.40s' not in the "
			    "vocab", json_string_value(v));
			goto fail;
		}
	}
	b->byte_fallback = json_is_true(json_object_get(model,
	    "byte_fallback"));
	b->fuse_unk = json_is_true(json_object_get(model, "fuse_unk"));
	b->ignore_merges = json_is_true(json_object_get(model,
	    "ignore_merges"));
	for (i = 0; i < 256; i++) {
		char nm2[8];
		snprintf(nm2, sizeof(nm2), "<0x%02X>", (unsigned)i);
		b->byte_id[i] = tok_map_get(&b->vocab, nm2, 6);
	}
	/* SentencePiece-style: no merge joins a piece ending in another
	 * character to one beginning with U+2581, so a word cut before each
	 * run of U+2581 merges to the same ids, piece by piece (cached) */
	b->cut = !nocut && !b->ignore_merges &&
	    tok_map_get(&b->vocab, META, 3) >= 0;
	tok_map_init(&b->cache, 1024);
	return b;
fail:
	free(cat.p);
	tok_bpe_free(b);
	return NULL;
}

void
tok_bpe_free(struct bpe *b)
{
	if (!b)
		return;
	tok_map_free(&b->vocab);
	tok_map_free(&b->cache);
	free(b->id2tok);
	free(b->merges);
	free(b->cids);
	free(b);
}

int32_t
tok_bpe_token_to_id(const struct bpe *b, const char *s, size_t n)
{
	return tok_map_get(&b->vocab, s, n);
}

const char *
tok_bpe_id_to_token(const struct bpe *b, int32_t id)
{
	if (id < 0 || id >= b->size)
		return NULL;
	return b->id2tok[id];
}

int32_t
tok_bpe_size(const struct bpe *b)
{
	return b->size;
}

static void
push_id(int32_t **ids, size_t *n, size_t *cap, int32_t id)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		*ids = xrealloc(*ids, *cap * sizeof(**ids));
	}
	(*ids)[(*n)++] = id;
}

/* the heap of candidate merges, lowest (rank, position) first; a
 * candidate is stale once the symbol at pos or its right neighbour has
 * changed: a symbol only grows, so its ids never come back */
struct cand {
	uint64_t key;   /* rank << 32 | pos */
	int32_t lid, rid, nid;
};

static void
sift_down(struct cand *h, size_t n, size_t i, struct cand c)
{
	for (;;) {
		size_t l = 2 * i + 1, m;
		if (l >= n)
			break;
		m = l + (l + 1 < n && h[l + 1].key < h[l].key);
		if (h[m].key >= c.key)
			break;
		h[i] = h[m];
		i = m;
	}
	h[i] = c;
}

static void
heap_push(struct cand *h, size_t *n, struct cand c)
{
	size_t i = (*n)++;

	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (c.key >= h[p].key)
			break;
		h[i] = h[p];
		i = p;
	}
	h[i] = c;
}

static struct cand
heap_pop(struct cand *h, size_t *n)
{
	struct cand top = h[0];

	if (--*n)
		sift_down(h, *n, 0, h[*n]);
	return top;
}

/* the candidate for the pair (l, r): 1, or 0 when they do not merge */
static int
pair(const struct bpe *b, const int32_t *sid, int32_t l, int32_t r,
    struct cand *c)
{
	const struct merge_slot *m;

	if (l < 0 || r < 0)
		return 0;
	m = merge_get(b, sid[l], sid[r]);
	if (!m)
		return 0;
	c->key = (uint64_t)(uint32_t)m->rank << 32 | (uint32_t)l;
	c->lid = sid[l];
	c->rid = sid[r];
	c->nid = m->id;
	return 1;
}

static void
try_pair(const struct bpe *b, struct cand *h, size_t *nh, const int32_t *sid,
    int32_t l, int32_t r)
{
	struct cand c;

	if (pair(b, sid, l, r, &c))
		heap_push(h, nh, c);
}

/* merge the word w into ids appended to out */
static void
bpe_merge(struct bpe *b, const char *w, size_t n, int32_t **out,
    size_t *nout, size_t *capout)
{
	int32_t *sid, *prev, *next;
	struct cand *h;
	size_t ns = 0, nh = 0, i = 0, hcap;
	int last_unk = 0;
	int32_t k;

	sid = xmallocarray(n + 1, sizeof(int32_t) * 3);
	prev = sid + n + 1;
	next = prev + n + 1;
	while (i < n) {
		size_t cl = (size_t)tok_utf8_len((unsigned char)w[i]);
		int32_t id;
		if (cl == 0 || i + cl > n)
			cl = 1;
		id = tok_map_get(&b->vocab, w + i, cl);
		if (id >= 0) {
			sid[ns++] = id;
			last_unk = 0;
		} else {
			size_t j;
			int ok = b->byte_fallback;
			for (j = 0; ok && j < cl; j++)
				ok = b->byte_id[(unsigned char)w[i + j]] >= 0;
			if (ok) {
				for (j = 0; j < cl; j++)
					sid[ns++] = b->byte_id[
					    (unsigned char)w[i + j]];
				last_unk = 0;
			} else if (b->unk >= 0) {
				if (!(b->fuse_unk && last_unk))
					sid[ns++] = b->unk;
				last_unk = 1;
			}
		}
		i += cl;
	}
	for (k = 0; k < (int32_t)ns; k++) {
		prev[k] = k - 1;
		next[k] = k + 1 < (int32_t)ns ? k + 1 : -1;
	}
	hcap = 2 * ns + 4;
	h = xmallocarray(hcap * 2, sizeof(*h));
	/* the first candidates in position order, made a heap at once */
	for (k = 0; k + 1 < (int32_t)ns; k++)
		nh += (size_t)pair(b, sid, k, k + 1, &h[nh]);
	for (i = nh / 2; i-- > 0;)
		sift_down(h, nh, i, h[i]);
	while (nh) {
		struct cand c = heap_pop(h, &nh);
		int32_t pos = (int32_t)(uint32_t)c.key, r = next[pos];
		if (sid[pos] != c.lid || r < 0 || sid[r] != c.rid)
			continue;
		sid[pos] = c.nid;
		next[pos] = next[r];
		if (next[r] >= 0)
			prev[next[r]] = pos;
		sid[r] = -1;
		next[r] = -2;
		if (nh + 2 >= hcap * 2) {
			hcap *= 2;
			h = xrealloc(h, hcap * 2 * sizeof(*h));
		}
		try_pair(b, h, &nh, sid, prev[pos], pos);
		try_pair(b, h, &nh, sid, pos, next[pos]);
	}
	for (k = ns ? 0 : -1; k >= 0; k = next[k])
		push_id(out, nout, capout, sid[k]);
	free(h);
	free(sid);
}

/* the ids of one word through the cache */
static void
bpe_cached(struct bpe *b, const char *w, size_t n, int32_t **ids,
    size_t *nids, size_t *cap)
{
	int32_t off;
	size_t before = *nids, cnt;

	if (n <= CACHE_MAX_WORD) {
		off = tok_map_get(&b->cache, w, n);
		if (off >= 0) {
			cnt = (size_t)b->cids[off];
			if (*nids + cnt > *cap) {
				*cap = (*nids + cnt) * 2;
				*ids = xrealloc(*ids, *cap * sizeof(**ids));
			}
			if (cnt)    /* *ids may still be NULL */
				memcpy(*ids + *nids, b->cids + off + 1,
				    cnt * sizeof(int32_t));
			*nids += cnt;
			return;
		}
	}
	bpe_merge(b, w, n, ids, nids, cap);
	if (n > CACHE_MAX_WORD)
		return;
	if (b->cache.n >= CACHE_MAX_ENTRIES) {
		tok_map_free(&b->cache);
		tok_map_init(&b->cache, 1024);
		b->ncids = 0;
	}
	cnt = *nids - before;
	if (b->ncids + cnt + 1 > b->capcids) {
		b->capcids = (b->capcids + cnt + 1) * 2;
		b->cids = xrealloc(b->cids, b->capcids * sizeof(int32_t));
	}
	off = (int32_t)b->ncids;
	b->cids[b->ncids++] = (int32_t)cnt;
	if (cnt)            /* a word of no ids: *ids may still be NULL */
		memcpy(b->cids + b->ncids, *ids + before,
		    cnt * sizeof(int32_t));
	b->ncids += cnt;
	tok_map_set(&b->cache, w, n, off);
}

void
tok_bpe_word(struct bpe *b, const char *w, size_t n, int32_t **ids,
    size_t *nids, size_t *cap)
{
	const char *p, *e = w + n, *seg = w;

	if (n == 0)
		return;
	if (b->ignore_merges) {
		int32_t id = tok_map_get(&b->vocab, w, n);
		if (id >= 0) {
			push_id(ids, nids, cap, id);
			return;
		}
	}
	if (!b->cut) {
		bpe_cached(b, w, n, ids, nids, cap);
		return;
	}
	/* cut before each U+2581 that follows another character */
	for (p = w + 1; p + 3 <= e; p++) {
		p = memchr(p, 0xe2, (size_t)(e - p));
		if (!p || p + 3 > e)
			break;
		if (memcmp(p, META, 3) || (p - w >= 3 &&
		    !memcmp(p - 3, META, 3)))
			continue;
		bpe_cached(b, seg, (size_t)(p - seg), ids, nids, cap);
		seg = p;
		p += 2;
	}
	bpe_cached(b, seg, (size_t)(e - seg), ids, nids, cap);
}
