#ifndef LMF_PACK_H
#define LMF_PACK_H
/* pack.h: packing sequences into rows of a fixed capacity, the way
 * LLaMA-Factory's PackedSupervisedDatasetProcessor does (spec 4.3). */

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

#endif
