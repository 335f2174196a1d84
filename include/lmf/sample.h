#ifndef LMF_SAMPLE_H
#define LMF_SAMPLE_H
/* sample.h: choosing the next token from a row of logits as Hugging Face
 * transformers' generate does, and a batched generate over an inference
 * model (infer.h) with a key/value cache.
 *
 * The logits processors run in generate's order: the repetition penalty
 * (RepetitionPenaltyLogitsProcessor) always; then, when sampling, the
 * temperature, top-k and top-p warpers; then a draw from the softmax. Greedy
 * (do_sample 0) takes the first largest logit after the penalty and ignores
 * the warpers. Each warper rewrites lg (V) in place, removed tokens set to
 * -inf:
 *   repetition_penalty p  every distinct id of the history, once: its logit
 *                         x becomes x * p when x < 0, else x / p
 *   temperature t         every logit divided by t
 *   top_k k               logits below the k-th largest removed (ties with
 *                         it kept); k = 0 or k >= V: off
 *   top_p p               tokens sorted by probability, ascending (ties by
 *                         id, lower first, as a stable sort orders them);
 *                         those whose cumulative probability stays <= 1 - p
 *                         removed, the last (most likely) one always kept:
 *                         the smallest set whose probability reaches p;
 *                         p = 1: off
 * A function named _ref is the plain reference of the fast one above it,
 * kept for tests/unit/sample_test; both give the same tokens. */
#include <stddef.h>
#include <stdint.h>

#include "lmf/util.h"

struct lmf_infer;

struct lmf_sample_opts {
	int do_sample;              /* 0: greedy */
	double temperature;         /* > 0 */
	int top_k;                  /* 0: off */
	double top_p;               /* (0, 1]; 1: off */
	double repetition_penalty;  /* > 0; 1: off */
};

/* ---- the processors, each over one row lg (V) ---- */
void lmf_sample_repetition_penalty(float *lg, int V, const int32_t *ids,
    size_t n, float penalty, unsigned char *seen);
	/* ids (n) in [0, V); seen (V) scratch */
void lmf_sample_temperature(float *lg, int V, float t);
void lmf_sample_top_k(float *lg, int V, int k, float *tmp);
	/* tmp (V) scratch; selection, no sort */
void lmf_sample_top_k_ref(float *lg, int V, int k, float *tmp);
void lmf_sample_top_p(float *lg, int V, float p, float *tmp);
	/* tmp (3 V + 2) scratch, 8-byte aligned; sorts only the tokens of
	 * non-zero probability */
void lmf_sample_top_p_ref(float *lg, int V, float p, float *tmp);
int lmf_sample_argmax(const float *lg, int V);  /* the first largest */
int lmf_sample_draw(const float *lg, int V, struct lmf_rng *rng, float *tmp);
	/* one draw from softmax(lg), one lmf_rng_uniform; tmp (V) */

/* the whole chain with its scratch */
struct lmf_sampler {
	struct lmf_sample_opts o;
	int V;
	float *tmp;                 /* (3 V + 2) */
	unsigned char *seen;        /* (V) */
};
void lmf_sample_init(struct lmf_sampler *s, const struct lmf_sample_opts *o,
    int V);
void lmf_sample_free(struct lmf_sampler *s);
/* the next token after the ids hist (n; the prompt and what was
 * generated); lg (V) is overwritten */
int32_t lmf_sample_pick(struct lmf_sampler *s, float *lg,
    const int32_t *hist, size_t n, struct lmf_rng *rng);

/* ---- generation ---- */
struct lmf_gen_opts {
	struct lmf_sample_opts s;
	int max_new_tokens;         /* >= 0 */
	const int32_t *stop;        /* (nstop) ids that end a row */
	int nstop;
};

struct lmf_config;
struct lmf_tok;
struct lmf_template;
/* the ids that end a generated row, each once: the config's eos_token_id
 * (those below vocab_size), the tokenizer's eos, each stop word of the
 * template that is one token of tok, and tok's additional special tokens
 * (tok and t may be NULL). *stop is allocated (free it); returns the
 * count */
int lmf_sample_stop_ids(const struct lmf_config *c, const struct lmf_tok *tok,
    const struct lmf_template *t, int32_t **stop);
/* add id to g's stop ids (allocated, as lmf_sample_stop_ids makes them)
 * unless it is there */
void lmf_gen_add_stop(struct lmf_gen_opts *g, int32_t id);

/* continue B prompts together: prompt[i] (plen[i] >= 1 ids in [0, V)) is
 * row i of m's cache (reset here to B rows), at positions 0, 1, ... of its
 * own, as Hugging Face's left padding computes them. Each step draws a
 * token for every unfinished row, rows in order (so a seeded rng gives the
 * same tokens at any B), and runs them through m in one call. A row ends
 * at a stop id (not kept) or after max_new_tokens. out (B, max_new_tokens)
 * gets row i's tokens from out + i * max_new_tokens, nout (B) their
 * counts; a row that ended at a stop id (nout[i] < max_new_tokens) has
 * it at out[i * max_new_tokens + nout[i]], uncounted (as generate keeps
 * the eos). m may borrow a trainer's live weights (lmf_infer_borrow) */
void lmf_sample_generate(struct lmf_infer *m, int B,
    const int32_t *const *prompt, const int *plen,
    const struct lmf_gen_opts *o, struct lmf_rng *rng, int32_t *out,
    int *nout);

#endif
