#ifndef LMF_NPRAND_H
#define LMF_NPRAND_H
/* nprand.h: the few pieces of NumPy's random numbers that fix
 * LLaMA-Factory's few-shot order (spec 8.3): the legacy global
 * RandomState (MT19937 seeded as np.random.seed(s) seeds it), and
 * np.random.default_rng(seed).permutation(n) (SeedSequence, PCG64,
 * Generator.shuffle's bounded draws); and Hugging Face datasets' seed for
 * a Dataset.shuffle() without one. */
#include <stddef.h>
#include <stdint.h>

struct lmf_np_mt {
	uint32_t key[624];
	int pos;
};

void lmf_np_mt_seed(struct lmf_np_mt *m, uint32_t seed); /* np.random.seed */
uint32_t lmf_np_mt_next(struct lmf_np_mt *m);           /* one 32-bit draw */
double lmf_np_mt_random(struct lmf_np_mt *m);           /* np.random.random */
/* datasets' Dataset.shuffle() seed: keys[pos] (keys[0] at pos 624), then
 * one np.random.random() draw */
uint32_t lmf_np_shuffle_seed(struct lmf_np_mt *m);
/* perm (n entries) = np.random.default_rng(seed).permutation(n) */
void lmf_np_permutation(uint64_t seed, size_t n, size_t *perm);

#endif
