#ifndef LMF_PPO_H
#define LMF_PPO_H
/* ppo.h: one PPO step as trl 0.9.6's PPOTrainer takes it under
 * LLaMA-Factory (spec 5.6): a rollout (queries, responses, scores), the
 * no-grad forward passes (old log-probs, reference log-probs, values),
 * per-token KL rewards, GAE and whitening, then ppo_epochs over shuffled
 * mini-batches with gradient accumulation, the clipped policy and value
 * losses (loss.h) and the adaptive KL controller.
 *
 * The rollout lives right-padded: row i is query_i then response_i then
 * padding, T the longest. Per-token arrays are (n, T); position t holds
 * the values of the logits at t, which predict token t + 1, so the mask
 * is 1 on t in [qlen - 1, qlen - 1 + rlen). trl lays its batches out
 * left-padded and counts positions from the first pad; RoPE depends only
 * on position differences, so the numbers are the same. */
#include <stdint.h>

#include "lmf/llama.h"
#include "lmf/loss.h"
#include "lmf/util.h"

/* PPOConfig as LLaMA-Factory fills it */
struct lmf_ppo_config {
	int mbs;              /* per_device_train_batch_size */
	int ga;               /* gradient_accumulation_steps */
	int buffer;           /* ppo_buffer_size */
	int epochs;           /* ppo_epochs, 4 */
	double init_kl_coef;  /* 0.2 */
	double target;        /* ppo_target, 6 */
	double horizon;       /* 10000 */
	double gamma, lam;    /* 1, 0.95 */
	int adap_kl_ctrl;     /* 1 */
	int score_norm;       /* ppo_score_norm: running moments */
	int whiten_rewards;   /* ppo_whiten_rewards */
	double score_clip;    /* <= 0: none */
	struct lmf_ppo_args loss;
};
void lmf_ppo_config_default(struct lmf_ppo_config *c);
/* batch_size: mbs * ga * buffer samples per step */
int lmf_ppo_batch_size(const struct lmf_ppo_config *c);

/* one step's samples and everything computed from them */
struct lmf_rollout {
	int n, T;               /* samples; the longest query + response */
	int32_t *ids;           /* (n, T) query, response, pad */
	int32_t *att;           /* (n, T) 1 on the tokens */
	int32_t *labels;        /* (n, T) ids, -100 on padding */
	int *qlen, *rlen;       /* (n) */
	float *score;           /* (n) the reward model's (raw) */
	float *mask;            /* (n, T) positions predicting responses */
	float *lp, *reflp;      /* (n, T) old policy, reference log-probs */
	float *values;          /* (n, T) old values */
	float *rewards;         /* (n, T) KL rewards + score */
	float *adv, *ret;       /* (n, T) whitened advantages, returns */
};
/* room for n samples of up to T tokens each */
void lmf_rollout_init(struct lmf_rollout *ro, int n, int T);
void lmf_rollout_free(struct lmf_rollout *ro);
/* sample i: q (qlen >= 1), r (rlen >= 1); pad fills the rest; the
 * rollout's T must hold them */
void lmf_rollout_set(struct lmf_rollout *ro, int i, const int32_t *q,
    int qlen, const int32_t *r, int rlen, int32_t pad);
/* the batch of rows idx[0..k) (a view of the rollout when idx is NULL
 * and k == n, else gathered into ids, att, labels (k, T) of the
 * caller's) */
void lmf_rollout_batch(const struct lmf_rollout *ro, struct lmf_batch *b,
    const int *idx, int k, int32_t *ids, int32_t *att, int32_t *labels);

/* LLaMA-Factory's response cut (get_inputs): g (w) the generated row as
 * generate returns it (its tokens, the stop id that ended it, then pad);
 * @return the response length: up to the last non-pad token (one more
 * when eos == pad, to keep one eos; never past w), 1 when all is pad */
int lmf_ppo_response_len(const int32_t *g, int w, int32_t pad, int32_t eos);

/* reward scores: each row's value at its last token through rm's value
 * head, mbs rows at a time */
void lmf_ppo_score(struct lmf_llama *rm, struct lmf_rollout *ro, int mbs);
/* the old log-probs and values (policy, in training mode as trl runs
 * them, no gradients kept) and the reference log-probs (ref, or policy
 * without its adapter when ref is NULL), mbs rows at a time */
void lmf_ppo_forward(struct lmf_llama *policy, struct lmf_llama *ref,
    struct lmf_rollout *ro, int mbs);

/* what persists across steps */
struct lmf_ppo_state {
	double kl_coef;               /* the KL controller's value */
	double rm_mean, rm_var, rm_count; /* RunningMoments of the scores */
	struct lmf_rng rng;           /* the mini-batch permutations */
};
void lmf_ppo_state_init(struct lmf_ppo_state *s,
    const struct lmf_ppo_config *c, uint64_t seed);

/* the statistics of one step (trl's names in the log) */
struct lmf_ppo_step_stats {
	double loss, pg_loss, vf_loss;    /* means over the mini-batches */
	double pg_clipfrac, vf_clipfrac, approxkl, policykl;
	double kl, kl_coef;               /* objective/kl, its coefficient
	                                     (the one the rewards used) */
	double score_mean, score_std;     /* raw scores */
	double adv_mean, ret_mean, ret_var, vpred, resp_len, query_len;
	long minibatches;
};

/* rewards, advantages and returns of a rollout whose scores, log-probs
 * and values are in: score normalisation and clip, KL rewards with s's
 * coefficient, GAE, whitening */
void lmf_ppo_advantages(struct lmf_rollout *ro, const struct lmf_ppo_config *c,
    struct lmf_ppo_state *s, struct lmf_ppo_step_stats *st);

/* the optimizer as the caller runs it: called after each GA
 * mini-batches' gradients are in, last on the step's final update */
typedef void (*lmf_ppo_update_fn)(void *ctx, int last, double loss);
/* the optimisation of the step: ppo_epochs x a permutation of the n
 * samples, in backward batches of mbs x ga, one update per batch; the
 * adaptive KL after. With only_first the gradients of the first
 * mini-batch are left in the model and it returns (no update, no KL) */
void lmf_ppo_optimize(struct lmf_llama *m, struct lmf_rollout *ro,
    const struct lmf_ppo_config *c, struct lmf_ppo_state *s,
    struct lmf_ppo_step_stats *st, lmf_ppo_update_fn update, void *ctx,
    int only_first);

#endif
