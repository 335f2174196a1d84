#ifndef LMF_PACK_H
#define LMF_PACK_H
/* pack.h: packing sequences into rows of a fixed capacity, the way
 * LLaMA-Factory's PackedSupervisedDatasetProcessor does (spec 4.3), and
 * its collators' right padding of rows into a batch. */
#include <stddef.h>
#include <stdint.h>

#include "lmf/stream.h"

#define LMF_IGNORE_INDEX (-100)  /* a label not trained on, as kernels.h */

/* a sequence of ids and labels; pos and seg only in packed rows */
struct lmf_pack_seq {
	int32_t *ids, *labels, *pos, *seg;
	long len, llen;   /* of ids (and pos, seg), of labels */
};

/* an item of an examples stream (lmf-tokenize(1)) of stage (enum
 * lmf_stage): its sequences into s, one, or two for rm and dpo (chosen,
 * rejected) and kto (target, kl), pointing into its tensors, and kto's
 * tag. The tensors must be i32 [n], ids in [0, vocab) (vocab <= 0: not
 * checked), labels too or -100, and labels as long as the ids when
 * aligned; kto_tags one value, 0 or 1.
 * @return the number of sequences, or LMF_E_* with err ("no tensor 'x'") */
int lmf_pack_example(struct lmf_item *it, int stage, long vocab,
    int aligned, struct lmf_pack_seq *s, int32_t *tag, char *err,
    size_t errlen);
/* 1 if name is one of the tensors lmf_pack_example reads for stage */
int lmf_pack_known(int stage, const char *name);

/* greedy_knapsack over n lengths (each 0..cap): sort ascending; fill one
 * bin at a time, each time taking the largest remaining length that still
 * fits, until none fits. Among equal lengths the example taken first is
 * the one with the highest index (LLaMA-Factory's length2indexes pop(),
 * LIFO). order (n entries) gets the example indexes, bin after bin, in
 * the order they are concatenated; start (n + 1 entries) the offset of
 * each bin in order, with start[nbins] = n.
 * @return the number of bins, or -1 if a length is negative or past cap */
int lmf_pack_greedy_knapsack(const int *len, int n, int cap, int *order,
    int *start);

/* the knapsack over ex[0..n) into rows of cap + 1 tokens: the examples
 * of a row concatenated, then padded with pad (labels -100) to cap + 1,
 * so at least one pad; pos restarts at 0 with each example and is 0 on
 * padding, seg is 1 (neat: 1, 2, ... per example, 0 on padding). Examples
 * longer than cap are left out and counted in *ndropped. rows (n entries)
 * get allocated arrays.
 * @return the number of rows */
long lmf_pack_rows(const struct lmf_pack_seq *ex, long n, long cap,
    int neat, int32_t pad, struct lmf_pack_seq *rows, long *ndropped);
/* frees the arrays of a row lmf_pack_rows made */
void lmf_pack_seq_free(struct lmf_pack_seq *s);

/* the collator: rows s[0..B) right padded together into it as tensors
 * PFXinput_ids, PFXattention_mask (1, or seg), PFXlabels (and
 * PFXposition_ids when s[0] has pos), i32 (B, T): T the longest row
 * rounded up to a multiple, the labels' length T when aligned, else
 * their own longest rounded up; ids padded with pad, labels with -100 */
void lmf_pack_collate(struct lmf_item *it, const char *pfx,
    const struct lmf_pack_seq *const *s, long B, long multiple,
    int aligned, int32_t pad);

#endif
