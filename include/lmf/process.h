#ifndef LMF_PROCESS_H
#define LMF_PROCESS_H
/* process.h: LLaMA-Factory's per-stage data processing (spec 4): pt blocks,
 * supervised multi-turn examples, pairwise (rm, dpo), feedback (kto, with
 * the KL pairs) and unsupervised prompts (ppo, predict), each example an
 * item of i32 tensors in the examples stream (lmf-tokenize(1)). */
#include <stddef.h>
#include <stdint.h>

#include "lmf/dataset.h"
#include "lmf/stream.h"
#include "lmf/template.h"
#include "lmf/tok.h"

#define LMF_IGNORE_INDEX (-100)
#define LMF_MAP_BATCH 1000   /* preprocessing_batch_size */

enum lmf_stage {
	LMF_STAGE_PT,
	LMF_STAGE_SFT,
	LMF_STAGE_RM,
	LMF_STAGE_DPO,
	LMF_STAGE_KTO,
	LMF_STAGE_PPO,
};
int lmf_stage_parse(const char *s);      /* enum lmf_stage, or -1 */
const char *lmf_stage_name(int stage);

struct lmf_process_opts {
	int stage;
	long cutoff_len;       /* the budget: already minus 1 for sft packing */
	int packing;           /* pt: blocks; sft: nothing here (lmf-pack) */
	int train_on_prompt;
	int mask_history;
	int unsupervised;      /* sft predict_with_generate: prompts + answers */
};

/* what was kept and skipped; the first reasons for skipping */
#define LMF_PROCESS_REASONS 3
struct lmf_process_stats {
	size_t nin, nout, nskipped;
	int nreasons;
	char reason[LMF_PROCESS_REASONS][200];
	int one_kto_tag;       /* a map batch had only one kto tag value */
};

/* infer_seqlen (spec 4.1) */
void lmf_infer_seqlen(long source_len, long target_len, long cutoff_len,
    long *new_source, long *new_target);

/* process every example of ds, calling emit with each output item (its
 * memory is reused after emit returns). 0, or -1 with err */
int lmf_process(struct lmf_template *t, struct lmf_tok *tok,
    const struct lmf_process_opts *o, const struct lmf_dataset *ds,
    void (*emit)(void *ctx, const struct lmf_item *it), void *ctx,
    struct lmf_process_stats *st, char *err, size_t errlen);

#endif
