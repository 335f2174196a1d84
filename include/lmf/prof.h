#ifndef LMF_PROF_H
#define LMF_PROF_H
/* prof.h: where a trainer's time goes, by kind of work. With LMF_PROFILE=1
 * in the environment, the kernels, the products and the optimizer add the
 * wall time of each call the trainer's thread makes outside a parallel
 * region (a call inside another timed call counts for the outer one) to
 * their kind's slot; the trainer resets the slots after its first step
 * and prints them, with what is left ("other": reading batches, logging,
 * evaluation, code of no slot), before it writes its result. Off, a timed
 * call costs one test of lmf_prof_on. Work split by threads shows as a
 * slot that shrinks with --threads; one that does not is serial or bound
 * by memory (dev/bench-hf.sh and dev/device-16.sh collect them). */

enum lmf_prof_slot {
	LMF_PROF_GEMM,     /* lmf_gemm: fp32 products */
	LMF_PROF_GEMM16,   /* lmf_gemm_bf16 */
	LMF_PROF_LORA,     /* the LoRA terms (their products, dropout) */
	LMF_PROF_ATTN,     /* flash attention, forward and backward */
	LMF_PROF_NORM,     /* RMSNorm */
	LMF_PROF_ROPE,
	LMF_PROF_SWIGLU,
	LMF_PROF_CE,       /* cross-entropy over the logits */
	LMF_PROF_MEM,      /* lmf_zero, lmf_add, lmf_copy_rows */
	LMF_PROF_EMBED,
	LMF_PROF_CVT,      /* bf16 narrowing and widening */
	LMF_PROF_OPTIM,    /* gradient norm, clipping, AdamW */
	LMF_PROF_SAVE,     /* checkpoints */
	LMF_PROF_N
};

extern int lmf_prof_on;

/* the start of a timed call: its time, or 0 when it is not timed */
double lmf_prof_begin_(void);
void lmf_prof_end_(int slot, double t0, double flops);
#define LMF_PROF_BEGIN() (lmf_prof_on ? lmf_prof_begin_() : 0.0)
#define LMF_PROF_END(slot, t0, flops) do { \
	if (lmf_prof_on) \
		lmf_prof_end_((slot), (t0), (flops)); \
} while (0)

/* exit 2 when LMF_PROFILE is set to something else than 0 or 1 (a
 * trainer asks at its start, not at its second step) */
void lmf_prof_check(void);
/* from the environment (LMF_PROFILE), and the slots emptied; this thread
 * is the one timed */
void lmf_prof_reset(void);
/* the slots since lmf_prof_reset to stderr: steps done since, threads */
void lmf_prof_report(long steps, int threads);

#endif
