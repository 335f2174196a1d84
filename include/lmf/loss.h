#ifndef LMF_LOSS_H
#define LMF_LOSS_H
/* loss.h: the training objectives of the stages after sft, as plain
 * functions over flat float arrays (llm.c style), in the B T N C V
 * vocabulary of kernels.h. The maths is LLaMA-Factory's and TRL's, as
 * spec/llamafactory.md section 5 gives it; where LLaMA-Factory with a
 * current TRL silently computes sigmoid for hinge, ipo or kto_pair (spec
 * section 0), we compute what was asked for.
 *
 * Rules: nothing here allocates, does I/O or holds state. Gradients are
 * ACCUMULATED with += (the caller zeroes them); a gradient pointer may be
 * NULL and is then skipped, and so may any optional output. Losses that
 * reduce to one number return it as a double and write per-example values
 * beside it; their gradients are those of the returned number. A function
 * named _ref is the plain double-precision reference of the one above it,
 * kept for tests/unit/loss_test.
 *
 * Token cross-entropy (pt, sft) is not here: it lives in kernels.h
 * (lmf_labels_shift, lmf_crossentropy_forward/backward). As there, a
 * targets array is the labels shifted left by one (lmf_labels_shift), so
 * logits row n predicts targets[n], and -100 (LMF_IGNORE_INDEX) marks a
 * row that counts for nothing. */
#include <stdint.h>

/* ---- log-probs of label tokens (spec 5.1, get_batch_logps) ---- */
void lmf_logps_forward(float *lp, const float *logits,
    const int32_t *targets, int N, int V);
	/* lp (N) = log_softmax(logits[n])[targets[n]], 0 where ignored;
	 * logits (N, V) */
void lmf_logps_forward_ref(float *lp, const float *logits,
    const int32_t *targets, int N, int V);
void lmf_logps_backward(float *dlogits, const float *dlp,
    const float *logits, const int32_t *targets, int N, int V);
	/* dlogits (N, V) += dlp[n] * (onehot(targets[n]) - softmax(logits[n])),
	 * nothing for ignored rows; dlp (N) */
void lmf_logps_backward_ref(float *dlogits, const float *dlp,
    const float *logits, const int32_t *targets, int N, int V);

/* the same from the final hidden states and the lm_head weight, without
 * the (N, V) logits: rows go through in blocks of BR, each block's logits
 * (BR, V) in scratch, one sgemm per block and direction; blocks with no
 * target are skipped. The forward keeps lse (N), each row's logsumexp,
 * for the backward. */
void lmf_logps_fused_forward(float *lp, float *lse, float *scratch,
    const float *hidden, const float *weight, const int32_t *targets, int N,
    int C, int V, int BR);
	/* lp (N), lse (N) (0 where ignored), scratch (BR, V), hidden (N, C),
	 * weight (V, C) */
void lmf_logps_fused_backward(float *dhidden, float *dweight,
    float *scratch, const float *dlp, const float *lse, const float *hidden,
    const float *weight, const int32_t *targets, int N, int C, int V,
    int BR);
	/* dhidden (N, C) +=, dweight (V, C) += (either may be NULL) */
void lmf_logps_fused_forward_ref(float *lp, const float *hidden,
    const float *weight, const int32_t *targets, int N, int C, int V);
void lmf_logps_fused_backward_ref(float *dhidden, float *dweight,
    const float *dlp, const float *hidden, const float *weight,
    const int32_t *targets, int N, int C, int V);

/* per sequence: logps[b] = sum over t of lp[b, t] where targets[b, t] is
 * not ignored (the SUM get_batch_logps returns), len[b] = how many such
 * tokens (valid_length), avg[b] = logps[b] / len[b] (0 when len[b] is 0;
 * torch gives NaN) */
void lmf_seqlogps_forward(float *logps, float *avg, float *len,
    const float *lp, const int32_t *targets, int B, int T);
	/* logps, avg, len (B), any may be NULL; lp, targets (B, T) */
void lmf_seqlogps_backward(float *dlp, const float *dlogps,
    const float *davg, const int32_t *targets, int B, int T);
	/* dlp (B, T) += dlogps[b] + davg[b] / len[b] where not ignored;
	 * dlogps, davg (B), either may be NULL */

/* ---- DPO family (spec 5.4) ----
 * Inputs per pair i < n: the SUMMED policy log-probs pc, pr of the chosen
 * and rejected responses, the reference's refc, refr (NULL for orpo and
 * simpo), and the response lengths lenc, lenr. For ipo, orpo and simpo we
 * divide every log-prob by its length first, as LLaMA-Factory does. With
 * z = (pc - pr) - (refc - refr), beta b, label smoothing e:
 *   sigmoid   -(1-e) logsig(b z) - e logsig(-b z)
 *   hinge     relu(1 - b z)
 *   ipo       (z - 1/(2b))^2
 *   kto_pair  ((1 - sig(b (uc_i - KLr))) + (1 - sig(b (KLc - ur_i)))) / 2,
 *             u = policy - reference, KL = max(mean(u), 0) over the batch
 *             (not detached, as TRL <= 0.8)
 *   orpo      -pc + b * -logsig((pc - pr) - (log1p(-e^pc) - log1p(-e^pr)))
 *   simpo     -logsig(b (pc - pr) - gamma)
 * With bco weight w > 1e-6 (losses with a reference): d the running
 * mean of mean(b uc, b ur) over the calls, this one's included, and the
 * loss (l + w (-logsig(b uc - d) - logsig(-(b ur - d)))) / (1 + w).
 * Then plus ftx * -(pc / lenc) (the per-token NLL of chosen) when ftx > 0.
 * Rewards: b (p - ref) (averaged for ipo), or b p for orpo and simpo. */
enum lmf_pref_loss {
	LMF_PREF_SIGMOID, LMF_PREF_HINGE, LMF_PREF_IPO, LMF_PREF_KTO_PAIR,
	LMF_PREF_ORPO, LMF_PREF_SIMPO,
};
struct lmf_dpo_args {
	int loss;               /* enum lmf_pref_loss (pref_loss) */
	float beta;             /* pref_beta, 0.1 */
	float label_smoothing;  /* dpo_label_smoothing, 0 (sigmoid only) */
	float simpo_gamma;      /* simpo_gamma, 0.5 */
	float ftx;              /* pref_ftx, 0 */
	float bco_weight;       /* pref_bco_weight, 0 (losses with a
	                           reference only) */
	double *bco_moments;    /* with bco: the running mean of the rewards
	                           and its count (TRL's RunningMoments),
	                           { 0, 1e-24 } at first, updated by each
	                           call with this batch's mean reward */
};
int lmf_pref_loss_parse(const char *name); /* "sigmoid" -> 0, or -1 */
double lmf_dpo_loss(float *losses, float *rc, float *rr, float *dpc,
    float *dpr, const float *pc, const float *pr, const float *refc,
    const float *refr, const float *lenc, const float *lenr, int n,
    const struct lmf_dpo_args *a);
	/* @return the mean of losses (n) over the pairs; rc, rr (n) the
	 * rewards; dpc, dpr (n) += its gradient w.r.t. pc, pr */
double lmf_dpo_loss_ref(float *losses, float *rc, float *rr, float *dpc,
    float *dpr, const float *pc, const float *pr, const float *refc,
    const float *refr, const float *lenc, const float *lenr, int n,
    const struct lmf_dpo_args *a);

/* ---- KTO (spec 5.5, TRL's loss_type "kto") ----
 * n examples with summed policy and reference log-probs p, ref, lengths
 * len and tags (1 desirable, 0 undesirable); nkl mismatched examples with
 * pkl, refkl. kl = max(mean(pkl - refkl), 0), detached. Desirable:
 * wd (1 - sig(b (p - ref - kl))); undesirable: wu (1 - sig(b (kl - (p -
 * ref)))); the loss is their mean over all n, plus, when ftx > 0 and some
 * example is desirable, ftx * mean_d(-p / len) / nd * n as LLaMA-Factory
 * writes it (nd desirable examples). Rewards b (p - ref). */
struct lmf_kto_args {
	float beta;              /* pref_beta, 0.1 */
	float desirable_weight;  /* kto_chosen_weight, 1 */
	float undesirable_weight; /* kto_rejected_weight, 1 */
	float ftx;               /* pref_ftx, 0 */
};
double lmf_kto_loss(float *losses, float *rewards, float *kl, float *dp,
    const float *p, const float *ref, const float *len, const int32_t *tags,
    int n, const float *pkl, const float *refkl, int nkl,
    const struct lmf_kto_args *a);
	/* @return the loss; losses, rewards, dp (n); *kl the clamped KL */
double lmf_kto_loss_ref(float *losses, float *rewards, float *kl, float *dp,
    const float *p, const float *ref, const float *len, const int32_t *tags,
    int n, const float *pkl, const float *refkl, int nkl,
    const struct lmf_kto_args *a);

/* ---- reward model pairs (spec 5.3): -mean logsig(sc - sr) ---- */
double lmf_rm_loss(float *acc, float *dsc, float *dsr, const float *sc,
    const float *sr, int n);
	/* @return the loss; *acc = mean(sc > sr); dsc, dsr (n) += */
double lmf_rm_loss_ref(float *acc, float *dsc, float *dsr, const float *sc,
    const float *sr, int n);

/* ---- PPO (spec 5.6, TRL 0.9.6) ----
 * Per-token arrays are (B, T) over the positions that predict tokens;
 * mask (B, T) is 1.0 on the positions predicting response tokens, 0.0
 * elsewhere; each row needs at least one. */
enum lmf_kl_penalty { LMF_KL_KL, LMF_KL_ABS, LMF_KL_MSE, LMF_KL_FULL };
int lmf_kl_penalty_parse(const char *name); /* "kl" -> 0, or -1 */
void lmf_ppo_kl_penalty(float *kl, const float *lp, const float *reflp,
    int kind, long N);
	/* kl (N): lp - reflp ("kl"), |lp - reflp| ("abs"), (lp - reflp)^2 / 2
	 * ("mse"); lp, reflp (N) log-probs of the sampled tokens */
void lmf_ppo_kl_full(float *kl, const float *logp, const float *reflogp,
    long N, int V);
	/* kl (N) = sum_v exp(logp) (logp - reflogp) ("full"), logp, reflogp
	 * (N, V) log-softmax rows of policy and reference */
void lmf_ppo_rewards(float *rewards, const float *kl, const float *scores,
    const float *mask, float kl_coef, int B, int T);
	/* rewards (B, T) = -kl_coef * kl, + scores[b] at row b's last masked
	 * position; scores (B) */
double lmf_ppo_kl_mean(const float *lp, const float *reflp,
    const float *mask, int B, int T);
	/* objective/kl: mean over rows of sum_t (lp - reflp) mask */
double lmf_ppo_kl_adaptive(double coef, double kl, double target,
    double horizon, long nsteps);
	/* @return the new coefficient: coef (1 + clip(kl/target - 1, -0.2,
	 * 0.2) nsteps / horizon); the fixed controller keeps coef as it is */
void lmf_masked_whiten(float *out, const float *x, const float *mask,
    int shift_mean, long N);
	/* out (N) = (x - mean) / sqrt(var + 1e-8) (+ mean unless shift_mean),
	 * mean and unbiased var over the masked entries, out at every entry;
	 * out may equal x */
void lmf_ppo_gae(float *adv, float *ret, const float *rewards,
    const float *values, const float *mask, float gamma, float lam,
    int whiten_rewards, int B, int T);
	/* adv, ret (B, T) written: GAE over values * mask and rewards * mask
	 * (whitened first if whiten_rewards, shift_mean off), ret = adv +
	 * values * mask, then adv whitened. The loss's old values are
	 * values * mask. */
void lmf_ppo_gae_ref(float *adv, float *ret, const float *rewards,
    const float *values, const float *mask, float gamma, float lam,
    int whiten_rewards, int B, int T);

struct lmf_ppo_args {
	float cliprange;        /* 0.2 */
	float cliprange_value;  /* 0.2 */
	float vf_coef;          /* 0.1 */
	float ratio_threshold;  /* 10: above it the whole loss is zeroed */
};
struct lmf_ppo_stats {
	double pg_loss, vf_loss;          /* the two terms, before vf_coef */
	double pg_clipfrac, vf_clipfrac;  /* masked fractions clipped */
	double approxkl, policykl;        /* masked means of d^2/2 and -d */
	double ratio;                     /* masked mean of the ratio */
};
double lmf_ppo_loss(struct lmf_ppo_stats *st, float *dlp, float *dv,
    const float *lp, const float *oldlp, const float *v, const float *oldv,
    const float *adv, const float *ret, const float *mask, long N,
    const struct lmf_ppo_args *a);
	/* @return pg_loss + vf_coef vf_loss (0 when the mean ratio passes
	 * ratio_threshold): pg = masked_mean(max(-A r, -A clip(r, 1 +- c))),
	 * r = exp(lp - oldlp); vf = masked_mean(max((v - R)^2, (clip(v, oldv
	 * +- cv) - R)^2)) / 2; dlp, dv (N) += its gradient; all arrays (N) */
double lmf_ppo_loss_ref(struct lmf_ppo_stats *st, float *dlp, float *dv,
    const float *lp, const float *oldlp, const float *v, const float *oldv,
    const float *adv, const float *ret, const float *mask, long N,
    const struct lmf_ppo_args *a);

#endif
