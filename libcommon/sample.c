/* sample.c: Hugging Face's logits processors, sampling and a batched
 * generate over infer.h (sample.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lmf/infer.h"
#include "lmf/sample.h"
#include "lmf/template.h"
#include "lmf/tok.h"
#include "lmf/util.h"
#include "lmf/banned.h"

void
lmf_sample_repetition_penalty(float *lg, int V, const int32_t *ids,
    size_t n, float penalty, unsigned char *seen)
{
	size_t k;

	/* HF gathers the logits of the ids and scatters the penalised
	 * values back, so an id seen twice is penalised once */
	memset(seen, 0, (size_t)V);
	for (k = 0; k < n; k++) {
		int32_t t = ids[k];

		if (seen[t])
			continue;
		seen[t] = 1;
		lg[t] = lg[t] < 0 ? lg[t] * penalty : lg[t] / penalty;
	}
}

void
lmf_sample_temperature(float *lg, int V, float t)
{
	int i;

	for (i = 0; i < V; i++)
		lg[i] /= t;
}

static int
cmp_desc(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;

	return x < y ? 1 : x > y ? -1 : 0;
}

/* the k-th largest of v (n), reordering v: we partition three ways around
 * a pivot (larger, equal, smaller), so runs of equal logits cost one pass,
 * and go on in the part that holds position k - 1 */
static float
kth_largest(float *v, int n, int k)
{
	int lo = 0, hi = n, want = k - 1;

	for (;;) {
		float piv = v[lo + (hi - lo) / 2], t;
		int gt = lo, i = lo, lt = hi;

		/* [lo, gt) > piv, [gt, i) == piv, [lt, hi) < piv */
		while (i < lt) {
			if (v[i] > piv) {
				t = v[i], v[i] = v[gt], v[gt] = t;
				gt++, i++;
			} else if (v[i] < piv) {
				lt--;
				t = v[i], v[i] = v[lt], v[lt] = t;
			} else
				i++;
		}
		if (want < gt)
			hi = gt;
		else if (want >= lt)
			lo = lt;
		else
			return piv;
	}
}

/* top-k's cut: every logit below the k-th largest goes */
static void
drop_below(float *lg, int V, float kth)
{
	int i;

	for (i = 0; i < V; i++)
		if (lg[i] < kth)
			lg[i] = -INFINITY;
}

void
lmf_sample_top_k(float *lg, int V, int k, float *tmp)
{
	if (k <= 0 || k >= V)
		return;
	memcpy(tmp, lg, (size_t)V * sizeof *tmp);
	drop_below(lg, V, kth_largest(tmp, V, k));
}

void
lmf_sample_top_k_ref(float *lg, int V, int k, float *tmp)
{
	if (k <= 0 || k >= V)
		return;
	memcpy(tmp, lg, (size_t)V * sizeof *tmp);
	qsort(tmp, (size_t)V, sizeof *tmp, cmp_desc);
	drop_below(lg, V, tmp[k - 1]);
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* a sort key for token i of probability p >= 0: the bits of a
 * non-negative float order as the floats do, and the id breaks ties */
static uint64_t
pkey(float p, int i)
{
	uint32_t b;

	memcpy(&b, &p, sizeof b);
	return (uint64_t)b << 32 | (uint32_t)i;
}

static float
row_max(const float *lg, int V)
{
	float mx = -INFINITY;
	int i;

	for (i = 0; i < V; i++)
		if (lg[i] > mx)
			mx = lg[i];
	return mx;
}

/* e (V) = exp(lg - max lg), the softmax's numerators; their sum, in id
 * order */
static float
exp_row(float *e, const float *lg, int V)
{
	float mx = row_max(lg, V), sum = 0;
	int i;

	for (i = 0; i < V; i++)
		sum += e[i] = expf(lg[i] - mx);
	return sum;
}

/* the top-p cut over keys (n, ascending) of unnormalised probabilities
 * summing to sum: we remove tokens from the least likely up while the
 * cumulative probability stays <= 1 - p, never the last one */
static void
top_p_cut(float *lg, const uint64_t *key, int n, const float *prob,
    float sum, float p)
{
	float acc = 0;
	int k, id;

	for (k = 0; k < n - 1; k++) {
		id = (int)(uint32_t)key[k];
		if ((acc + prob[id]) / sum > 1.0f - p)
			break;
		acc += prob[id];
		lg[id] = -INFINITY;
	}
}

void
lmf_sample_top_p(float *lg, int V, float p, float *tmp)
{
	uint64_t *key = (uint64_t *)(void *)(tmp + V + (V & 1));
	float sum;
	int i, n = 0;

	if (!(p < 1.0f))
		return;
	/* a token of probability 0 always goes (its cumulative probability
	 * is 0 <= 1 - p), and the sum is that of the others in id order, so
	 * only the tokens left (top_k's k, often) need sorting */
	sum = exp_row(tmp, lg, V);
	for (i = 0; i < V; i++)
		if (tmp[i] > 0)
			key[n++] = pkey(tmp[i], i);
		else
			lg[i] = -INFINITY;
	qsort(key, (size_t)n, sizeof *key, cmp_u64);
	top_p_cut(lg, key, n, tmp, sum, p);
}

void
lmf_sample_top_p_ref(float *lg, int V, float p, float *tmp)
{
	uint64_t *key = (uint64_t *)(void *)(tmp + V + (V & 1));
	float sum;
	int i;

	if (!(p < 1.0f))
		return;
	sum = exp_row(tmp, lg, V);
	for (i = 0; i < V; i++)
		key[i] = pkey(tmp[i], i);
	qsort(key, (size_t)V, sizeof *key, cmp_u64);
	top_p_cut(lg, key, V, tmp, sum, p);
}

int
lmf_sample_argmax(const float *lg, int V)
{
	int i, best = 0;

	for (i = 1; i < V; i++)
		if (lg[i] > lg[best])
			best = i;
	return best;
}

int
lmf_sample_draw(const float *lg, int V, struct lmf_rng *rng, float *tmp)
{
	float sum = exp_row(tmp, lg, V), u, acc = 0;
	int i, best = 0;

	u = lmf_rng_uniform(rng) * sum;
	for (i = 0; i < V; i++) {
		acc += tmp[i];
		if (tmp[i] > 0)
			best = i;
		if (u < acc && tmp[i] > 0)
			return i;
	}
	return best;   /* u at the very top, rounded */
}

void
lmf_sample_init(struct lmf_sampler *s, const struct lmf_sample_opts *o,
    int V)
{
	s->o = *o;
	s->V = V;
	/* V floats, then V keys aligned to 8 bytes */
	s->tmp = xmallocarray(3 * (size_t)V + 2, sizeof *s->tmp);
	s->seen = xmalloc((size_t)V);
}

void
lmf_sample_free(struct lmf_sampler *s)
{
	free(s->tmp);
	free(s->seen);
	s->tmp = NULL;
	s->seen = NULL;
}

int32_t
lmf_sample_pick(struct lmf_sampler *s, float *lg, const int32_t *hist,
    size_t n, struct lmf_rng *rng)
{
	const struct lmf_sample_opts *o = &s->o;
	int V = s->V;

	if (o->repetition_penalty != 1.0)
		lmf_sample_repetition_penalty(lg, V, hist, n,
		    (float)o->repetition_penalty, s->seen);
	if (!o->do_sample)
		return lmf_sample_argmax(lg, V);
	lmf_sample_temperature(lg, V, (float)o->temperature);
	lmf_sample_top_k(lg, V, o->top_k, s->tmp);
	lmf_sample_top_p(lg, V, (float)o->top_p, s->tmp);
	return lmf_sample_draw(lg, V, rng, s->tmp);
}

static int
is_stop(const struct lmf_gen_opts *o, int32_t t)
{
	int i;

	for (i = 0; i < o->nstop; i++)
		if (o->stop[i] == t)
			return 1;
	return 0;
}

void
lmf_sample_generate(struct lmf_infer *m, int B,
    const int32_t *const *prompt, const int *plen,
    const struct lmf_gen_opts *o, struct lmf_rng *rng, int32_t *out,
    int *nout)
{
	int V = (int)lmf_infer_config(m)->vocab_size, M = o->max_new_tokens;
	int i, k, left = 0, maxT = 0, *rows, *rr, *done;
	size_t H;
	int32_t *tk, *hist;
	float *lg, *lg2;
	struct lmf_sampler s;

	for (i = 0; i < B; i++)
		if (plen[i] > maxT)
			maxT = plen[i];
	H = (size_t)maxT + M;
	lmf_infer_reset(m, B, maxT + M + 1);
	lmf_sample_init(&s, &o->s, V);
	rows = xcalloc((size_t)B, sizeof *rows);
	done = xcalloc((size_t)B, sizeof *done);
	tk = xcalloc((size_t)B, sizeof *tk);
	rr = xcalloc((size_t)maxT + 1, sizeof *rr);
	hist = xmallocarray((size_t)B * H, sizeof *hist);  /* prompt + out */
	lg = xmallocarray((size_t)B * V, sizeof *lg);
	lg2 = xmallocarray((size_t)B * V, sizeof *lg2);
	/* each prompt alone: its logits do not depend on the others' */
	for (i = 0; i < B; i++) {
		for (k = 0; k < plen[i]; k++)
			rr[k] = i;
		lmf_infer_forward(m, plen[i], rr, prompt[i], lg + (size_t)i * V,
		    1);
		memcpy(hist + i * H, prompt[i], (size_t)plen[i] *
		    sizeof *hist);
		nout[i] = 0;
		done[i] = M == 0;
		left += !done[i];
	}
	while (left) {
		for (i = k = 0; i < B; i++) {
			int32_t t;

			if (done[i])
				continue;
			t = lmf_sample_pick(&s, lg + (size_t)i * V, hist + i * H,
			    (size_t)plen[i] + nout[i], rng);
			if (is_stop(o, t)) {
				out[(size_t)i * M + nout[i]] = t; /* not counted */
				done[i] = 1;
				left--;
				continue;
			}
			hist[i * H + plen[i] + nout[i]] = t;
			out[(size_t)i * M + nout[i]++] = t;
			if (nout[i] >= M) {
				done[i] = 1;
				left--;
				continue;
			}
			rows[k] = i;
			tk[k++] = t;
		}
		if (!k)
			break;
		if (lmf_infer_forward(m, k, rows, tk, lg2, k))
			BUG("cache full");
		for (i = 0; i < k; i++)
			memcpy(lg + (size_t)rows[i] * V, lg2 + (size_t)i * V,
			    (size_t)V * sizeof *lg);
	}
	lmf_sample_free(&s);
	free(rows);
	free(done);
	free(tk);
	free(rr);
	free(hist);
	free(lg);
	free(lg2);
}

static int
add_stop(int32_t *stop, int n, int64_t id, int64_t V)
{
	int i;

	if (id < 0 || id >= V)
		return n;
	for (i = 0; i < n; i++)
		if (stop[i] == id)
			return n;
	stop[n] = (int32_t)id;
	return n + 1;
}

int
lmf_sample_stop_ids(const struct lmf_config *c, const struct lmf_tok *tok,
    const struct lmf_template *t, int32_t **stop)
{
	int64_t V = (int64_t)c->vocab_size;
	const int32_t *x = NULL;
	size_t nx = tok ? lmf_tok_additional_special(tok, &x) : 0, k;
	const char *w;
	int i, n = 0, nw = 0;

	while (t && lmf_template_stop_word(t, nw))
		nw++;
	*stop = xcalloc((size_t)c->n_eos + 1 + (size_t)nw + nx,
	    sizeof **stop);
	for (i = 0; i < c->n_eos; i++)
		n = add_stop(*stop, n, c->eos_token_ids[i], V);
	if (tok)
		n = add_stop(*stop, n, lmf_tok_eos_id(tok), V);
	/* the template's stop words, each one token (spec 3.3 adds them as
	 * special tokens) */
	for (i = 0; tok && i < nw; i++) {
		w = lmf_template_stop_word(t, i);
		n = add_stop(*stop, n, lmf_tok_token_to_id(tok, w), V);
	}
	/* and the tokenizer's additional special tokens: LLaMA-Factory's
	 * eos_token_id list is [eos] + additional_special_tokens_ids */
	for (k = 0; k < nx; k++)
		n = add_stop(*stop, n, x[k], V);
	return n;
}

void
lmf_gen_add_stop(struct lmf_gen_opts *g, int32_t id)
{
	int32_t *s = (int32_t *)g->stop;
	int i;

	for (i = 0; i < g->nstop; i++)
		if (s[i] == id)
			return;
	s = xrealloc(s, (size_t)(g->nstop + 1) * sizeof *s);
	s[g->nstop++] = id;
	g->stop = s;
}
