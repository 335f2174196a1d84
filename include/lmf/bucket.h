#ifndef LMF_BUCKET_H
#define LMF_BUCKET_H
/* bucket.h: the gradients of a data-parallel step summed over the ranks
 * in buckets, as PyTorch's DistributedDataParallel does: the trainable
 * tensors in the order the backward makes their gradients final (the
 * head first, the last block, ..., the first block, the embeddings),
 * cut into buckets of about ddp_bucket_cap_mb MiB (a tensor is never
 * split; one larger than that is a bucket of its own). During the last
 * backward of a rank's step each bucket is sent (lmf_dist_isum_f32) as
 * soon as its gradients are final, in the same order on every rank;
 * lmf_buckets_finish sends what is left (all of it on a rank that had
 * no micro-batch) and waits for every sum before the step goes on. */
#include <stdint.h>

#include "lmf/llama.h"

struct lmf_bucket {
	int first, n;        /* its tensors: order[first .. first + n) */
	int layer;           /* ready when the backward reached it: the
	                        smallest .layer of its tensors */
	uint64_t off, numel; /* its floats in flat */
};

struct lmf_buckets {
	struct lmf_tparam *tp;
	int ntp;
	int *order;          /* (ntp) tp indices, the backward's order */
	struct lmf_bucket *b;
	int nb;
	float *flat;         /* (numel) the gradients packed, bucket order */
	uint64_t numel;
	int sent;            /* buckets sent this step */
	long backs, nback;   /* backward passes ended; this step's */
};

/* cut tp into buckets of at most cap_mb MiB (> 0) */
void lmf_buckets_plan(struct lmf_buckets *bs, struct lmf_tparam *tp,
    int ntp, double cap_mb);
/* a step begins whose nback backward passes (this rank's micro-batches,
 * maybe 0) add to the zeroed gradients */
void lmf_buckets_arm(struct lmf_buckets *bs, long nback);
/* lmf_llama_on_grads' callback (ctx the struct lmf_buckets): in the
 * step's last backward, send the buckets that became final, and move the
 * sums under way on */
void lmf_buckets_ready(void *ctx, int layer);
/* send the buckets not sent yet, wait for every sum, and put the sums
 * back into the gradients */
void lmf_buckets_finish(struct lmf_buckets *bs);
void lmf_buckets_free(struct lmf_buckets *bs);

#endif
