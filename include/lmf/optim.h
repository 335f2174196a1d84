#ifndef LMF_OPTIM_H
#define LMF_OPTIM_H
/* optim.h: AdamW as torch.optim.AdamW computes it (bias correction,
 * decoupled weight decay lr * wd * param), global-norm gradient clipping as
 * torch.nn.utils.clip_grad_norm_, and Hugging Face's learning-rate
 * schedules (transformers get_scheduler), all over the trainable tensors
 * of llama.h.
 *
 * The optimizer state m and v are flat arrays over the trainable tensors
 * concatenated in model order (llm.c). It is saved as an "optimizer"
 * stream (lmf-stream(5)): header {"kind": "optimizer", "step": n, ...},
 * one item holding i64 scalar "step", then per trainable tensor
 * "exp_avg.NAME" and "exp_avg_sq.NAME" in f32 with the tensor's shape. */
#include <stddef.h>
#include <stdint.h>

#include "lmf/llama.h"
#include "lmf/stream.h"

/* ---- AdamW ---- */

struct lmf_adamw {
	double beta1, beta2, eps;    /* 0.9, 0.999, 1e-8 */
	double weight_decay;         /* 0.0; only where lmf_tparam.decay */
	long step;                   /* optimizer steps taken */
	uint64_t numel;              /* length of m and v */
	float *m;                    /* (numel) first moment */
	float *v;                    /* (numel) second moment */
};
/* defaults as above, m and v zero for numel values */
void lmf_adamw_init(struct lmf_adamw *a, uint64_t numel);
void lmf_adamw_free(struct lmf_adamw *a);
/* one step with learning rate lr over the np tensors p (whose numel must
 * sum to a->numel); p[i].g must be set */
void lmf_adamw_step(struct lmf_adamw *a, struct lmf_tparam *p, int np,
    double lr);
/* the same for one flat tensor at offset off of m/v, after the step
 * counter was advanced (lmf_adamw_step does both) */
void lmf_adamw_update(struct lmf_adamw *a, uint64_t off, float *w,
    const float *g, uint64_t n, int decay, double lr);

/* the state as an "optimizer" stream item (see above); 0 or negative
 * LMF_E_* */
int lmf_adamw_write(const struct lmf_adamw *a, struct lmf_tparam *p, int np,
    struct lmf_wr *w);
/* read the state back from r (its header already read), matching names
 * and shapes. 0, or -1 with a one-line message in err */
int lmf_adamw_read(struct lmf_adamw *a, struct lmf_tparam *p, int np,
    struct lmf_rd *r, char *err, size_t errlen);

/* ---- gradients ---- */

/* the global L2 norm of all gradients (double sums) */
double lmf_grad_norm(struct lmf_tparam *p, int np);
/* clip_grad_norm_: scale every gradient by min(1, max_norm / (norm +
 * 1e-6)); max_norm <= 0 leaves them. @return the norm before clipping */
double lmf_grad_clip(struct lmf_tparam *p, int np, double max_norm);

/* ---- learning-rate schedules ---- */

enum lmf_sched_type {
	LMF_SCHED_LINEAR = 0,        /* the default */
	LMF_SCHED_COSINE,
	LMF_SCHED_CONSTANT,
	LMF_SCHED_CONSTANT_WARMUP,   /* constant_with_warmup */
	LMF_SCHED_COSINE_MIN_LR,     /* cosine_with_min_lr */
	LMF_SCHED_POLYNOMIAL,
	LMF_SCHED_INVERSE_SQRT,
	LMF_SCHED_WSD,               /* warmup_stable_decay */
};

struct lmf_sched {
	int type;                /* enum lmf_sched_type */
	double lr;               /* the peak learning_rate */
	long total;              /* T: optimizer steps of the run */
	long warmup;             /* W */
	/* lr_scheduler_kwargs, as Hugging Face names them */
	double num_cycles;       /* cosine: 0.5 */
	double min_lr_rate;      /* cosine_with_min_lr; or from min_lr */
	double min_lr;           /* < 0: not given */
	double power;            /* polynomial: 1.0 */
	double lr_end;           /* polynomial: 1e-7 */
	long timescale;          /* inverse_sqrt: 0 = W, or 10000 if W is 0 */
	long num_stable_steps;   /* wsd: -1 = (T - W) / 3, as LLaMA-Factory */
	long num_decay_steps;    /* wsd: -1 = T - W - stable */
	double min_lr_ratio;     /* wsd: 0.0 */
};

/* the type named s ("linear", "cosine", ...), or -1 */
int lmf_sched_parse(const char *s);
const char *lmf_sched_name(int type);
/* set s for a run: type, peak lr, T, warmup_steps and warmup_ratio (W =
 * warmup_steps if > 0 else ceil(T * warmup_ratio)), defaults for the
 * rest */
void lmf_sched_init(struct lmf_sched *s, int type, double lr, long total,
    long warmup_steps, double warmup_ratio);
/* apply an lr_scheduler_kwargs JSON object ('{"min_lr_rate": 0.1}').
 * 0, or -1 with a one-line message in err (unknown key, bad value, a
 * combination Hugging Face refuses) */
int lmf_sched_kwargs(struct lmf_sched *s, const char *json, char *err,
    size_t errlen);
/* the multiplier lambda(step) of the peak lr after step scheduler steps
 * (step 0 is the first optimizer step: 0 under warmup, as Hugging Face) */
double lmf_sched_lambda(const struct lmf_sched *s, long step);
/* lr * lambda(step) */
double lmf_sched_lr(const struct lmf_sched *s, long step);

#endif
