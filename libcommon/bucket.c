/* bucket.c: the gradient buckets of bucket.h. */
#include <stdlib.h>
#include <string.h>

#include "lmf/bucket.h"
#include "lmf/dist.h"
#include "lmf/util.h"
#include "lmf/banned.h"

/* tp's indices by .layer from the highest down, tp's order within one */
static void
backward_order(struct lmf_buckets *bs)
{
	int i, j, k;

	for (i = 0; i < bs->ntp; i++) {
		k = i;
		for (j = i; j > 0 && bs->tp[bs->order[j - 1]].layer <
		    bs->tp[k].layer; j--)
			bs->order[j] = bs->order[j - 1];
		bs->order[j] = k;
	}
}

void
lmf_buckets_plan(struct lmf_buckets *bs, struct lmf_tparam *tp, int ntp,
    double cap_mb)
{
	/* PyTorch's bucket_cap_mb counts MiB */
	double cap = cap_mb * 1024 * 1024;
	struct lmf_bucket *b = NULL;
	double bytes = 0;
	int i;

	memset(bs, 0, sizeof *bs);
	bs->tp = tp;
	bs->ntp = ntp;
	bs->order = xmallocarray((size_t)ntp, sizeof *bs->order);
	bs->b = xmallocarray((size_t)ntp, sizeof *bs->b);
	backward_order(bs);
	for (i = 0; i < ntp; i++) {
		const struct lmf_tparam *t = &tp[bs->order[i]];
		double tb = (double)t->numel * sizeof(float);

		if (!b || bytes + tb > cap) {
			b = &bs->b[bs->nb++];
			b->first = i;
			b->n = 0;
			b->off = bs->numel;
			b->numel = 0;
			bytes = 0;
		}
		b->n++;
		b->numel += t->numel;
		b->layer = t->layer;
		bytes += tb;
		bs->numel += t->numel;
	}
	bs->flat = xmallocarray(bs->numel ? bs->numel : 1, sizeof *bs->flat);
}

void
lmf_buckets_arm(struct lmf_buckets *bs, long nback)
{
	if (bs->sent)
		BUG("a step began with %d gradient buckets under way", bs->sent);
	bs->backs = 0;
	bs->nback = nback;
}

/* bucket k's gradients into flat, and their sum started */
static void
send(struct lmf_buckets *bs, int k)
{
	const struct lmf_bucket *b = &bs->b[k];
	float *p = bs->flat + b->off;
	int i;

	for (i = b->first; i < b->first + b->n; i++) {
		const struct lmf_tparam *t = &bs->tp[bs->order[i]];

		memcpy(p, t->g, t->numel * sizeof *p);
		p += t->numel;
	}
	lmf_dist_isum_f32(bs->flat + b->off, b->numel);
	bs->sent++;
}

void
lmf_buckets_ready(void *ctx, int layer)
{
	struct lmf_buckets *bs = ctx;

	if (bs->backs >= bs->nback)
		BUG("backward pass %ld of a step of %ld", bs->backs + 1,
		    bs->nback);
	if (layer < 0)
		bs->backs++;
	if (bs->backs < bs->nback - (layer < 0 ? 0 : 1))
		return;
	/* the last backward: what it finished goes */
	while (bs->sent < bs->nb && bs->b[bs->sent].layer >= layer)
		send(bs, bs->sent);
	lmf_dist_progress();
}

void
lmf_buckets_finish(struct lmf_buckets *bs)
{
	uint64_t off = 0;
	int i;

	while (bs->sent < bs->nb)
		send(bs, bs->sent);
	lmf_dist_wait();
	for (i = 0; i < bs->ntp; i++) {
		const struct lmf_tparam *t = &bs->tp[bs->order[i]];

		memcpy(t->g, bs->flat + off, t->numel * sizeof *bs->flat);
		off += t->numel;
	}
	bs->sent = 0;
	bs->nback = bs->backs = 0;
}

void
lmf_buckets_free(struct lmf_buckets *bs)
{
	free(bs->order);
	free(bs->b);
	free(bs->flat);
	memset(bs, 0, sizeof *bs);
}
