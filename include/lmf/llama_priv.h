#ifndef LMF_LLAMA_PRIV_H
#define LMF_LLAMA_PRIV_H
/* llama_priv.h: llama.c's internals for its tests; never included by
 * tools/. */
#include "lmf/llama.h"

/* keep (1) each layer's ln1, ln2, h and LoRA dropout inputs as the
 * forward made them, as lmf did before it recomputed them in the
 * backward; 0, the default: recompute. The results are the same bit for
 * bit; the tests check it */
void lmf_llama_keep_acts(struct lmf_llama *m, int keep);

#endif
