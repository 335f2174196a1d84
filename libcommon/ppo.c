/* ppo.c: one PPO step (ppo.h, spec 5.6) over a rollout: the forward
 * passes, the rewards and advantages, the optimisation. The losses and
 * GAE themselves are loss.c's. */
#include <float.h>
#include <stddef.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lmf/hf.h"
#include "lmf/dist.h"
#include "lmf/kernels.h"
#include "lmf/llama.h"
#include "lmf/loss.h"
#include "lmf/ppo.h"
#include "lmf/sample.h"
#include "lmf/stream.h"
#include "lmf/train.h"
#include "lmf/util.h"
#include "lmf/banned.h"

void
lmf_ppo_config_default(struct lmf_ppo_config *c)
{
	memset(c, 0, sizeof *c);
	c->mbs = 1;
	c->ga = 1;
	c->buffer = 1;
	c->epochs = 4;
	c->init_kl_coef = 0.2;
	c->target = 6;
	c->horizon = 10000;
	c->gamma = 1;
	c->lam = 0.95;
	c->adap_kl_ctrl = 1;
	c->loss.cliprange = 0.2f;
	c->loss.cliprange_value = 0.2f;
	c->loss.vf_coef = 0.1f;
	c->loss.ratio_threshold = 10;
}

int
lmf_ppo_batch_size(const struct lmf_ppo_config *c)
{
	return c->mbs * c->ga * c->buffer;
}

void
lmf_rollout_init(struct lmf_rollout *ro, int n, int T)
{
	size_t N = (size_t)n * (size_t)T;

	memset(ro, 0, sizeof *ro);
	ro->n = n;
	ro->T = T;
	ro->ids = xcalloc(N, sizeof *ro->ids);
	ro->att = xcalloc(N, sizeof *ro->att);
	ro->labels = xcalloc(N, sizeof *ro->labels);
	ro->qlen = xcalloc((size_t)n, sizeof *ro->qlen);
	ro->rlen = xcalloc((size_t)n, sizeof *ro->rlen);
	ro->score = xcalloc((size_t)n, sizeof *ro->score);
	ro->mask = xcalloc(N, sizeof(float));
	ro->lp = xcalloc(N, sizeof(float));
	ro->reflp = xcalloc(N, sizeof(float));
	ro->values = xcalloc(N, sizeof(float));
	ro->rewards = xcalloc(N, sizeof(float));
	ro->adv = xcalloc(N, sizeof(float));
	ro->ret = xcalloc(N, sizeof(float));
}

void
lmf_rollout_free(struct lmf_rollout *ro)
{
	free(ro->ids), free(ro->att), free(ro->labels), free(ro->qlen);
	free(ro->rlen), free(ro->score), free(ro->mask), free(ro->lp);
	free(ro->reflp), free(ro->values), free(ro->rewards), free(ro->adv);
	free(ro->ret);
	memset(ro, 0, sizeof *ro);
}

void
lmf_rollout_set(struct lmf_rollout *ro, int i, const int32_t *q, int qlen,
    const int32_t *r, int rlen, int32_t pad)
{
	long o = (long)i * ro->T;
	int t;

	if (qlen < 1 || rlen < 1 || qlen + rlen > ro->T)
		BUG("rollout row %d: %d + %d tokens", i, qlen, rlen);
	ro->qlen[i] = qlen;
	ro->rlen[i] = rlen;
	for (t = 0; t < ro->T; t++) {
		int in = t < qlen + rlen;

		ro->ids[o + t] = t < qlen ? q[t] : in ? r[t - qlen] : pad;
		ro->att[o + t] = in;
		ro->labels[o + t] = in ? ro->ids[o + t] : LMF_IGNORE_INDEX;
		ro->mask[o + t] = t >= qlen - 1 && t < qlen - 1 + rlen;
	}
}

void
lmf_rollout_batch(const struct lmf_rollout *ro, struct lmf_batch *b,
    const int *idx, int k, int32_t *ids, int32_t *att, int32_t *labels)
{
	size_t T = (size_t)ro->T, row = T * sizeof(int32_t);
	int j;

	memset(b, 0, sizeof *b);
	b->B = k;
	b->T = ro->T;
	if (!idx) {
		b->input_ids = ro->ids;
		b->attention_mask = ro->att;
		b->labels = ro->labels;
		return;
	}
	for (j = 0; j < k; j++) {
		memcpy(ids + j * T, ro->ids + idx[j] * T, row);
		memcpy(att + j * T, ro->att + idx[j] * T, row);
		memcpy(labels + j * T, ro->labels + idx[j] * T, row);
	}
	b->input_ids = ids;
	b->attention_mask = att;
	b->labels = labels;
}

int
lmf_ppo_response_len(const int32_t *g, int w, int32_t pad, int32_t eos)
{
	int last = -1, t, n;

	for (t = 0; t < w; t++)
		if (g[t] != pad)
			last = t;
	if (last < 0)
		return 1;
	n = last + 1 + (eos == pad);
	return n > w ? w : n;
}

/* rows [i, i + k) of the rollout as a batch (a view of contiguous rows) */
static void
rows(const struct lmf_rollout *ro, struct lmf_batch *b, int i, int k)
{
	long o = (long)i * ro->T;

	memset(b, 0, sizeof *b);
	b->B = k;
	b->T = ro->T;
	b->input_ids = ro->ids + o;
	b->attention_mask = ro->att + o;
	b->labels = ro->labels + o;
}

void
lmf_ppo_score(struct lmf_llama *rm, struct lmf_rollout *ro, int mbs)
{
	float *v = xmallocarray((size_t)mbs * ro->T, sizeof *v);
	struct lmf_batch b;
	double t0 = lmf_now();
	int i, j, k;

	for (i = 0; i < ro->n; i += k) {
		k = ro->n - i < mbs ? ro->n - i : mbs;
		rows(ro, &b, i, k);
		lmf_llama_forward(rm, &b, 0);
		lmf_llama_values(rm, v);
		for (j = 0; j < k; j++)
			ro->score[i + j] = v[lmf_batch_last(&b, j)];
	}
	free(v);
	ro->t_score = lmf_now() - t0;
}

static void mask_labels(int32_t *labels, const float *mask, int k, int T);

void
lmf_ppo_forward(struct lmf_llama *policy, struct lmf_llama *ref,
    struct lmf_rollout *ro, int mbs, int all)
{
	int32_t *lab = all ? NULL : xmallocarray((size_t)mbs * ro->T,
	    sizeof *lab);
	struct lmf_batch b;
	double t0, t1;
	long o;
	int i, k;

	ro->t_policy = ro->t_ref = 0;
	for (i = 0; i < ro->n; i += k) {
		k = ro->n - i < mbs ? ro->n - i : mbs;
		o = (long)i * ro->T;
		rows(ro, &b, i, k);
		if (lab) {
			memcpy(lab, b.labels, (size_t)k * ro->T * sizeof *lab);
			mask_labels(lab, ro->mask + o, k, ro->T);
			b.labels = lab;
		}
		t0 = lmf_now();
		lmf_llama_forward(policy, &b, LMF_FWD_TRAIN);
		lmf_llama_logps(policy, ro->lp + o);
		lmf_llama_values(policy, ro->values + o);
		t1 = lmf_now();
		ro->t_policy += t1 - t0;
		if (ref) {
			lmf_llama_forward(ref, &b, 0);
			lmf_llama_logps(ref, ro->reflp + o);
		} else {
			lmf_llama_forward(policy, &b, LMF_FWD_NO_ADAPTER);
			lmf_llama_logps(policy, ro->reflp + o);
		}
		ro->t_ref += lmf_now() - t1;
	}
	free(lab);
}

void
lmf_ppo_metrics(struct lmf_trainer *tr, const struct lmf_ppo_step_stats *st)
{
	lmf_train_metric(tr, "reward", st->score_mean);
	lmf_train_metric(tr, "objective/kl", st->kl);
	lmf_train_metric(tr, "objective/kl_coef", st->kl_coef);
	lmf_train_metric(tr, "ppo/loss/policy", st->pg_loss);
	lmf_train_metric(tr, "ppo/loss/value", st->vf_loss);
	lmf_train_metric(tr, "ppo/policy/clipfrac", st->pg_clipfrac);
	lmf_train_metric(tr, "ppo/policy/approxkl", st->approxkl);
	lmf_train_metric(tr, "ppo/val/clipfrac", st->vf_clipfrac);
	lmf_train_metric(tr, "ppo/returns/mean", st->ret_mean);
	lmf_train_metric(tr, "tokens/responses_len_mean", st->resp_len);
	lmf_train_metric(tr, "ppo/loss/total", st->loss);
	lmf_train_metric(tr, "ppo/std_scores", st->score_std);
	lmf_train_metric(tr, "ppo/policy/policykl", st->policykl);
	lmf_train_metric(tr, "ppo/val/vpred", st->vpred);
	lmf_train_metric(tr, "ppo/returns/var", st->ret_var);
	lmf_train_metric(tr, "tokens/queries_len_mean", st->query_len);
}

void
lmf_ppo_print_times(const struct lmf_rollout *ro, long step, double t_update)
{
	fprintf(stderr, "%s: step %ld: time generation %.1f ms (%ld tokens, "
	    "%.1f tokens/s) policy %.1f ms reference %.1f ms reward %.1f ms "
	    "update %.1f ms\n", lmf_progname(), step, ro->t_gen * 1e3,
	    ro->ngen, ro->t_gen > 0 ? ro->ngen / ro->t_gen : 0.0,
	    ro->t_policy * 1e3, ro->t_ref * 1e3, ro->t_score * 1e3,
	    t_update * 1e3);
}

void
lmf_ppo_state_init(struct lmf_ppo_state *s, const struct lmf_ppo_config *c,
    uint64_t seed)
{
	memset(s, 0, sizeof *s);
	s->kl_coef = c->init_kl_coef;
	s->rm_mean = 0;
	s->rm_var = 1;
	s->rm_count = 1e-24;
	lmf_rng_seed(&s->rng, seed);
	lmf_rng_seed(&s->gen, seed + 1);
}

json_t *
lmf_ppo_state_save(const struct lmf_ppo_state *s,
    const struct lmf_llama *policy)
{
	char rng[17], gen[17], steps[17];

	snprintf(rng, sizeof rng, "%016llx", (unsigned long long)s->rng.state);
	snprintf(gen, sizeof gen, "%016llx", (unsigned long long)s->gen.state);
	snprintf(steps, sizeof steps, "%016llx",
	    (unsigned long long)lmf_llama_nsteps(policy));
	return json_pack("{s:f, s:f, s:f, s:f, s:s, s:s, s:s}", "kl_coef",
	    s->kl_coef, "score_mean", s->rm_mean, "score_var", s->rm_var,
	    "score_count", s->rm_count, "shuffle_rng", rng, "sample_rng", gen,
	    "policy_steps", steps);
}

/* 16 hex digits into *v: 0, or -1 */
static int
hex64(const char *x, uint64_t *v)
{
	char *end;
	unsigned long long u;

	if (strlen(x) != 16 || x[0] == '-' || x[0] == '+')
		return -1;
	u = strtoull(x, &end, 16);
	if (*end)
		return -1;
	*v = (uint64_t)u;
	return 0;
}

int
lmf_ppo_state_load(struct lmf_ppo_state *s, struct lmf_llama *policy,
    json_t *j, char *err, size_t errlen)
{
	const char *rng, *gen, *steps;
	struct lmf_ppo_state n = *s;
	uint64_t k;
	json_error_t je;

	if (!j) {
		lmf_seterr(err, errlen, "no ppo state: not a checkpoint of "
		    "lmf-ppo");
		return -1;
	}
	if (json_unpack_ex(j, &je, 0, "{s:F, s:F, s:F, s:F, s:s, s:s, s:s}",
	    "kl_coef", &n.kl_coef, "score_mean", &n.rm_mean, "score_var",
	    &n.rm_var, "score_count", &n.rm_count, "shuffle_rng", &rng,
	    "sample_rng", &gen, "policy_steps", &steps) < 0) {
		lmf_seterr(err, errlen, "the ppo state: %s", je.text);
		return -1;
	}
	if (hex64(rng, &n.rng.state) < 0 || hex64(gen, &n.gen.state) < 0 ||
	    hex64(steps, &k) < 0 || !isfinite(n.kl_coef) ||
	    !(n.rm_count > 0) || !(n.rm_var >= 0)) {
		lmf_seterr(err, errlen, "the ppo state: a value out of range");
		return -1;
	}
	*s = n;
	lmf_llama_set_nsteps(policy, k);
	return 0;
}

static void
add_stop(struct lmf_gen_opts *g, int32_t id, int32_t *eos)
{
	lmf_gen_add_stop(g, id);
	if (*eos < 0)
		*eos = id;
}

void
lmf_ppo_add_stops(struct lmf_gen_opts *g, json_t *meta, int32_t *eos)
{
	json_t *p = json_object_get(meta, "eos_token_id");
	size_t i;

	if (json_is_integer(p))   /* the tokenizer's eos stops rows too */
		add_stop(g, (int32_t)json_integer_value(p), eos);
	p = json_object_get(meta, "additional_special_tokens_ids");
	for (i = 0; i < json_array_size(p); i++)
		add_stop(g, (int32_t)json_integer_value(json_array_get(p, i)),
		    eos);
}

int
lmf_ppo_reward_read(const char *path, struct lmf_item *it, json_t **cfg,
    char *err, size_t errlen)
{
	struct lmf_item all = { 0 };
	struct lmf_rd *r;
	json_t *c;
	int e, i;

	memset(it, 0, sizeof *it);
	*cfg = NULL;
	if (!(r = lmf_rd_open(path, &e))) {
		lmf_seterr(err, errlen, "%s", lmf_rd_open_errmsg());
		return -1;
	}
	if (lmf_rd_item(r, &all) != 1) {
		lmf_seterr(err, errlen, "'%s': no adapter item", path);
		lmf_rd_close(r);
		return -1;
	}
	for (i = 0; i < all.ntensors; i++) {
		struct lmf_tensor *t = &all.t[i];

		if (strncmp(t->name, "v_head.", 7))
			memcpy(lmf_item_add_tensor(it, t->name, t->dtype,
			    t->ndim, t->shape)->data, t->data, t->nbytes);
	}
	c = json_object_get(lmf_rd_meta(r), "adapter_config");
	if (json_is_object(c)) {
		*cfg = json_deep_copy(c);
		json_object_set_new(*cfg, "inference_mode", json_true());
	}
	lmf_item_free(&all);
	lmf_rd_close(r);
	return 0;
}

int
lmf_ppo_reward_write(const char *dir, struct lmf_item *it, json_t *cfg,
    char *err, size_t errlen)
{
	char *sub = xasprintf("%s/reward", dir);
	struct lmf_hf_opts o = { .adapter = 1, .dtype = -1, .src = "reward" };
	int rc = lmf_hf_write(sub, cfg, it, &o, err, errlen);

	free(sub);
	return rc < 0 ? -1 : 0;
}

/* trl's RunningMoments.update over the batch's scores; the running std */
static double
moments(struct lmf_ppo_state *s, const float *x, int n)
{
	double m = 0, v = 0, d, tot, sum;
	int i;

	for (i = 0; i < n; i++)
		m += x[i];
	m /= n;
	for (i = 0; i < n; i++)
		v += (x[i] - m) * (x[i] - m);
	v /= n;
	m = (float)m, v = (float)v;
	d = m - s->rm_mean;
	tot = s->rm_count + n;
	sum = s->rm_var * s->rm_count + d * d * s->rm_count * n / tot +
	    v * n;
	s->rm_mean += d * n / tot;
	s->rm_var = sum / tot;
	s->rm_count = tot;
	return (float)sqrt((float)(s->rm_var * tot / (tot - 1)));
}

/* GAE over trl's (n, T - 1) arrays: the last position predicts nothing,
 * and with whitened rewards its zero would leak into the sums */
static void
gae(struct lmf_rollout *ro, const struct lmf_ppo_config *c)
{
	int n = ro->n, T = ro->T, T1 = T - 1, j, k;
	size_t N1 = (size_t)n * T1;
	float *buf = xmallocarray(5 * N1, sizeof *buf);
	float *r = buf, *v = buf + N1, *m = buf + 2 * N1;
	float *a = buf + 3 * N1, *rt = buf + 4 * N1;

	for (j = 0; j < n; j++) {
		memcpy(r + j * T1, ro->rewards + (long)j * T, T1 * sizeof *r);
		memcpy(v + j * T1, ro->values + (long)j * T, T1 * sizeof *v);
		memcpy(m + j * T1, ro->mask + (long)j * T, T1 * sizeof *m);
	}
	lmf_ppo_gae(a, rt, r, v, m, (float)c->gamma, (float)c->lam,
	    c->whiten_rewards, n, T1);
	for (j = 0; j < n; j++)
		for (k = 0; k < T; k++) {
			ro->adv[(long)j * T + k] = k < T1 ? a[j * T1 + k] : 0;
			ro->ret[(long)j * T + k] = k < T1 ? rt[j * T1 + k] : 0;
		}
	free(buf);
}

void
lmf_ppo_advantages(struct lmf_rollout *ro, const struct lmf_ppo_config *c,
    struct lmf_ppo_state *s, struct lmf_ppo_step_stats *st)
{
	long N = (long)ro->n * ro->T, i;
	float *kl = xmallocarray((size_t)N, sizeof *kl);
	float *sc = xmallocarray((size_t)ro->n, sizeof *sc);
	double m = 0, v = 0, msum = 0, std;
	int j;

	for (j = 0; j < ro->n; j++) {
		sc[j] = ro->score[j];
		m += sc[j];
		st->resp_len += ro->rlen[j];
		st->query_len += ro->qlen[j];
	}
	m /= ro->n;
	for (j = 0; j < ro->n; j++)
		v += (sc[j] - m) * (sc[j] - m);
	st->score_mean = m;
	st->score_std = ro->n > 1 ? sqrt(v / (ro->n - 1)) : 0;
	st->resp_len /= ro->n;
	st->query_len /= ro->n;
	if (c->score_norm) {
		std = moments(s, sc, ro->n) + FLT_EPSILON;
		for (j = 0; j < ro->n; j++)
			sc[j] = (float)((sc[j] - (float)s->rm_mean) / std);
	}
	if (c->score_clip > 0)
		for (j = 0; j < ro->n; j++)
			sc[j] = sc[j] > c->score_clip ? (float)c->score_clip :
			    sc[j] < -c->score_clip ? (float)-c->score_clip :
			    sc[j];
	lmf_ppo_kl_penalty(kl, ro->lp, ro->reflp, LMF_KL_KL, N);
	lmf_ppo_rewards(ro->rewards, kl, sc, ro->mask, (float)s->kl_coef,
	    ro->n, ro->T);
	st->kl = lmf_ppo_kl_mean(ro->lp, ro->reflp, ro->mask, ro->n, ro->T);
	st->kl_coef = s->kl_coef;
	gae(ro, c);
	m = v = 0;
	for (i = 0; i < N; i++) {
		ro->values[i] *= ro->mask[i];
		msum += ro->mask[i];
		st->adv_mean += ro->adv[i] * ro->mask[i];
		m += ro->ret[i] * ro->mask[i];
	}
	st->adv_mean /= msum;
	st->ret_mean = m / msum;
	for (i = 0; i < N; i++)
		v += ro->mask[i] * (ro->ret[i] - st->ret_mean) *
		    (ro->ret[i] - st->ret_mean);
	st->ret_var = v / (msum - 1);
	free(kl);
	free(sc);
}

/* the step's scratch for one mini-batch of k rows */
struct mb {
	int32_t *ids, *att, *labels;
	float *lp, *v, *dlp, *dv, *oldlp, *oldv, *adv, *ret, *mask;
};

static void
gather(float *dst, const float *src, const int *idx, int k, int T)
{
	int j;

	for (j = 0; j < k; j++)
		memcpy(dst + (long)j * T, src + (long)idx[j] * T,
		    (size_t)T * sizeof *dst);
}

/* the labels of the positions outside the mask ignored, so that the
 * log-probs (a log-softmax over the vocabulary each) are only taken where
 * the loss uses them; the others are set to the old ones (a ratio of 1,
 * masked out as before) after the forward */
static void
mask_labels(int32_t *labels, const float *mask, int k, int T)
{
	long i;
	int t;

	for (i = 0; i < k; i++)
		for (t = 0; t + 1 < T; t++)
			if (mask[i * T + t] == 0)
				labels[i * T + t + 1] = LMF_IGNORE_INDEX;
}

/* forward, loss and backward of rows idx[0..k): gradients of loss /
 * ga added; the loss */
static double
minibatch(struct lmf_llama *m, struct lmf_rollout *ro, struct mb *s,
    const int *idx, int k, const struct lmf_ppo_config *c,
    struct lmf_ppo_step_stats *st)
{
	long N = (long)k * ro->T, i;
	struct lmf_ppo_stats ps;
	struct lmf_batch b;
	double loss;

	lmf_rollout_batch(ro, &b, idx, k, s->ids, s->att, s->labels);
	gather(s->oldlp, ro->lp, idx, k, ro->T);
	gather(s->oldv, ro->values, idx, k, ro->T);
	gather(s->adv, ro->adv, idx, k, ro->T);
	gather(s->ret, ro->ret, idx, k, ro->T);
	gather(s->mask, ro->mask, idx, k, ro->T);
	mask_labels(s->labels, s->mask, k, ro->T);
	lmf_llama_forward(m, &b, LMF_FWD_TRAIN);
	lmf_llama_logps(m, s->lp);
	lmf_llama_values(m, s->v);
	for (i = 0; i < N; i++)
		if (s->mask[i] == 0)
			s->lp[i] = s->oldlp[i];
	memset(s->dlp, 0, (size_t)N * sizeof *s->dlp);
	memset(s->dv, 0, (size_t)N * sizeof *s->dv);
	loss = lmf_ppo_loss(&ps, s->dlp, s->dv, s->lp, s->oldlp, s->v,
	    s->oldv, s->adv, s->ret, s->mask, N, &c->loss);
	for (i = 0; i < N; i++) {
		s->dlp[i] /= (float)c->ga;
		s->dv[i] /= (float)c->ga;
	}
	lmf_llama_logps_backward(m, s->dlp);
	lmf_llama_values_backward(m, s->dv);
	lmf_llama_backward(m, &b);
	st->loss += loss;
	st->pg_loss += ps.pg_loss;
	st->vf_loss += ps.vf_loss;
	st->pg_clipfrac += ps.pg_clipfrac;
	st->vf_clipfrac += ps.vf_clipfrac;
	st->approxkl += ps.approxkl;
	st->policykl += ps.policykl;
	for (i = 0; i < N; i++)
		st->vpred += s->v[i] * s->mask[i];
	st->minibatches++;
	return loss;
}

static void
mb_alloc(struct mb *s, size_t N)
{
	s->ids = xmallocarray(N, sizeof *s->ids);
	s->att = xmallocarray(N, sizeof *s->att);
	s->labels = xmallocarray(N, sizeof *s->labels);
	s->lp = xmallocarray(N, sizeof(float));
	s->v = xmallocarray(N, sizeof(float));
	s->dlp = xmallocarray(N, sizeof(float));
	s->dv = xmallocarray(N, sizeof(float));
	s->oldlp = xmallocarray(N, sizeof(float));
	s->oldv = xmallocarray(N, sizeof(float));
	s->adv = xmallocarray(N, sizeof(float));
	s->ret = xmallocarray(N, sizeof(float));
	s->mask = xmallocarray(N, sizeof(float));
}

static void
mb_free(struct mb *s)
{
	free(s->ids), free(s->att), free(s->labels), free(s->lp), free(s->v);
	free(s->dlp), free(s->dv), free(s->oldlp), free(s->oldv);
	free(s->adv), free(s->ret), free(s->mask);
}

void
lmf_ppo_optimize(struct lmf_llama *m, struct lmf_rollout *ro,
    const struct lmf_ppo_config *c, struct lmf_ppo_state *s,
    struct lmf_ppo_step_stats *st, lmf_ppo_update_fn update, void *ctx,
    int only_first)
{
	int n = ro->n, bb = c->mbs * c->ga, e, i, j, k, t, nb;
	int *perm = xmallocarray((size_t)n, sizeof *perm);
	struct mb sc;
	double loss, msum = 0;

	mb_alloc(&sc, (size_t)c->mbs * ro->T);
	nb = (n + bb - 1) / bb;
	for (e = 0; e < c->epochs; e++) {
		/* torch.randperm's role: a Fisher-Yates shuffle */
		for (i = 0; i < n; i++)
			perm[i] = i;
		for (i = n - 1; i > 0; i--) {
			j = (int)lmf_rng_below(&s->rng, (uint32_t)i + 1);
			t = perm[i], perm[i] = perm[j], perm[j] = t;
		}
		for (i = 0; i < n; i += bb) {
			lmf_llama_zero_grad(m);
			loss = 0;
			for (j = i; j < i + bb && j < n; j += k) {
				k = n - j < c->mbs ? n - j : c->mbs;
				if (i + bb < j + k)
					k = i + bb - j;
				loss += minibatch(m, ro, &sc, perm + j, k, c,
				    st);
				if (only_first)
					goto out;
			}
			update(ctx, e == c->epochs - 1 && i / bb == nb - 1,
			    loss / c->ga);
		}
	}
	for (i = 0; i < n * ro->T; i++)
		msum += ro->mask[i];
	if (c->adap_kl_ctrl)
		s->kl_coef = lmf_ppo_kl_adaptive(s->kl_coef, st->kl, c->target,
		    c->horizon, n);
out:
	if (st->minibatches) {
		double d = (double)st->minibatches;

		st->loss /= d, st->pg_loss /= d, st->vf_loss /= d;
		st->pg_clipfrac /= d, st->vf_clipfrac /= d;
		st->approxkl /= d, st->policykl /= d;
		st->vpred /= d * (msum > 0 ? msum / n : 1);
	}
	mb_free(&sc);
	free(perm);
}

void
lmf_ppo_rank0_grads(struct lmf_tparam *tp, int ntp, int for_sum)
{
	int i;

	if (lmf_dist_size() < 2)
		return;
	for (i = 0; lmf_dist_rank() > 0 && i < ntp; i++)
		memset(tp[i].g, 0, tp[i].numel * sizeof *tp[i].g);
	for (i = 0; !for_sum && i < ntp; i++)
		lmf_dist_sum_f32(tp[i].g, tp[i].numel);
}

/* the responses each rank generated (zero elsewhere) on every rank:
 * summed over the ranks, exactly (one rank's ids or 0 in each place) */
static void
gather_responses(int32_t *resp, int *rl, long *ngen, int n, int M)
{
	size_t nr = (size_t)n * (size_t)M, i;
	double *x = xmallocarray(nr + (size_t)n + 1, sizeof *x);

	for (i = 0; i < nr; i++)
		x[i] = resp[i];
	for (i = 0; i < (size_t)n; i++)
		x[nr + i] = rl[i];
	x[nr + (size_t)n] = (double)*ngen;
	lmf_dist_sum_f64(x, nr + (size_t)n + 1);
	for (i = 0; i < nr; i++)
		resp[i] = (int32_t)x[i];
	for (i = 0; i < (size_t)n; i++)
		rl[i] = (int)x[nr + i];
	*ngen = (long)x[nr + (size_t)n];
	free(x);
}

void
lmf_ppo_rollout(struct lmf_rollout *ro, struct lmf_infer *inf, int n,
    const int32_t *const *q, const int *ql, int mbs,
    const struct lmf_gen_opts *g, struct lmf_rng *rng, int32_t pad,
    int32_t eos)
{
	int M = g->max_new_tokens, i, j, k, w, T = 2;
	int32_t *out = xmallocarray((size_t)mbs * M, sizeof *out);
	int32_t *resp = xcalloc((size_t)n * M, sizeof *resp);
	int *rl = xcalloc((size_t)n, sizeof *rl);
	int *nout = xcalloc((size_t)mbs, sizeof *nout);
	double t0 = lmf_now();
	long ngen = 0;

	for (i = 0; i < n; i += k) {
		k = n - i < mbs ? n - i : mbs;
		if ((i / mbs) % lmf_dist_size() != lmf_dist_rank())
			continue;   /* another rank's share */
		lmf_sample_generate(inf, k, q + i, ql + i, g, rng, out, nout);
		for (j = 0; j < k; j++)
			ngen += nout[j];
		/* generate's (k, w) output: tokens, the stop id, pad */
		for (j = w = 0; j < k; j++)
			if (nout[j] + (nout[j] < M) > w)
				w = nout[j] + (nout[j] < M);
		for (j = 0; j < k; j++) {
			int m = nout[j] + (nout[j] < M), t;
			int32_t *row = resp + (size_t)(i + j) * M;

			for (t = 0; t < w; t++)
				row[t] = t < m ? out[(size_t)j * M + t] : pad;
			rl[i + j] = w ? lmf_ppo_response_len(row, w, pad, eos) :
			    0;
			if (rl[i + j] < 1)   /* max_new_tokens 0: refused */
				BUG("empty response");
		}
	}
	if (lmf_dist_size() > 1)
		gather_responses(resp, rl, &ngen, n, M);
	for (i = 0; i < n; i++)
		if (ql[i] + rl[i] > T)
			T = ql[i] + rl[i];
	t0 = lmf_now() - t0;
	/* T as trl pads the step's batch: the longest query + response */
	lmf_rollout_init(ro, n, T);
	ro->t_gen = t0;
	ro->ngen = ngen;
	for (i = 0; i < n; i++)
		lmf_rollout_set(ro, i, q[i], ql[i], resp + (size_t)i * M, rl[i],
		    pad);
	free(out);
	free(resp);
	free(rl);
	free(nout);
}

/* ---- the rollout as a stream item ---- */

static const struct {
	const char *name;
	size_t off;       /* of the (n, T) f32 array in struct lmf_rollout */
} fields[] = {
	{ "mask", offsetof(struct lmf_rollout, mask) },
	{ "logprobs", offsetof(struct lmf_rollout, lp) },
	{ "ref_logprobs", offsetof(struct lmf_rollout, reflp) },
	{ "values", offsetof(struct lmf_rollout, values) },
	{ "rewards", offsetof(struct lmf_rollout, rewards) },
	{ "advantages", offsetof(struct lmf_rollout, adv) },
	{ "returns", offsetof(struct lmf_rollout, ret) },
};

static void
put(struct lmf_item *it, const char *name, int dtype, int ndim,
    const int64_t *shape, const void *v, size_t nbytes)
{
	memcpy(lmf_item_add_tensor(it, name, dtype, ndim, shape)->data, v,
	    nbytes);
}

void
lmf_rollout_to_item(const struct lmf_rollout *ro, struct lmf_item *it)
{
	int64_t sh[2] = { ro->n, ro->T };
	size_t N = (size_t)ro->n * ro->T, k;

	put(it, "input_ids", LMF_I32, 2, sh, ro->ids, N * 4);
	put(it, "query_len", LMF_I32, 1, sh, ro->qlen, (size_t)ro->n * 4);
	put(it, "response_len", LMF_I32, 1, sh, ro->rlen, (size_t)ro->n * 4);
	put(it, "scores", LMF_F32, 1, sh, ro->score, (size_t)ro->n * 4);
	for (k = 0; k < sizeof fields / sizeof *fields; k++)
		put(it, fields[k].name, LMF_F32, 2, sh,
		    *(float *const *)((const char *)ro + fields[k].off), N * 4);
}

static struct lmf_tensor *
need(struct lmf_item *it, const char *name, int dtype, int ndim,
    int64_t n, int64_t T, char *err, size_t errlen)
{
	struct lmf_tensor *t = lmf_item_find(it, name);

	if (!t || t->dtype != dtype || t->ndim != ndim || t->shape[0] != n ||
	    (ndim == 2 && t->shape[1] != T)) {
		lmf_seterr(err, errlen, "tensor '%s' is missing or not %s %s",
		    name, dtype == LMF_I32 ? "i32" : "f32", ndim == 2 ?
		    "(n, T)" : "(n)");
		return NULL;
	}
	return t;
}

int
lmf_rollout_from_item(struct lmf_rollout *ro, struct lmf_item *it, int V,
    int32_t pad, int *has_scores, char *err, size_t errlen)
{
	struct lmf_tensor *ids = lmf_item_find(it, "input_ids"), *q, *r, *s;
	const int32_t *x;
	int i, n, T, t;

	if (!ids || ids->dtype != LMF_I32 || ids->ndim != 2 ||
	    ids->shape[0] < 1 || ids->shape[1] < 2 || ids->shape[0] > 1 << 20 ||
	    ids->shape[1] > 1 << 20) {
		lmf_seterr(err, errlen, "no i32 (n, T) tensor 'input_ids'");
		return -1;
	}
	n = (int)ids->shape[0];
	T = (int)ids->shape[1];
	if (!(q = need(it, "query_len", LMF_I32, 1, n, T, err, errlen)) ||
	    !(r = need(it, "response_len", LMF_I32, 1, n, T, err, errlen)))
		return -1;
	s = lmf_item_find(it, "scores");
	if (s && !need(it, "scores", LMF_F32, 1, n, T, err, errlen))
		return -1;
	*has_scores = s != NULL;
	lmf_rollout_init(ro, n, T);
	for (i = 0; i < n; i++) {
		int ql = ((int32_t *)q->data)[i], rl = ((int32_t *)r->data)[i];

		x = (const int32_t *)ids->data + (long)i * T;
		if (ql < 1 || rl < 1 || ql > T || rl > T - ql) {
			lmf_seterr(err, errlen, "sample %d: query_len %d and "
			    "response_len %d do not fit T %d", i, ql, rl, T);
			return -1;
		}
		for (t = 0; t < ql + rl; t++)
			if (x[t] < 0 || x[t] >= V) {
				lmf_seterr(err, errlen, "sample %d: id %d is "
				    "out of range", i, (int)x[t]);
				return -1;
			}
		lmf_rollout_set(ro, i, x, ql, x + ql, rl, pad);
		memcpy(ro->ids + (long)i * T, x, (size_t)T * sizeof *x);
		if (s)
			ro->score[i] = ((float *)s->data)[i];
	}
	return 0;
}

void
lmf_ppo_dump(const char *path, const struct lmf_wropts *wo,
    const struct lmf_rollout *ro, const struct lmf_ppo_step_stats *st,
    const struct lmf_tparam *tp, int ntp)
{
	json_t *meta = json_pack("{s:s, s:i}", "kind", "ppo_step", "step", 1);
	const char *names[] = { "loss", "pg_loss", "vf_loss", "kl",
		"kl_coef", "pg_clipfrac", "vf_clipfrac" };
	double v[] = { st->loss, st->pg_loss, st->vf_loss, st->kl,
		st->kl_coef, st->pg_clipfrac, st->vf_clipfrac };
	struct lmf_item it = { 0 };
	struct lmf_wr *w;
	int i;

	lmf_rollout_to_item(ro, &it);
	for (i = 0; i < 7; i++)
		*(double *)lmf_item_add_tensor(&it, names[i], LMF_F64, 0,
		    NULL)->data = v[i];
	for (i = 0; i < ntp; i++)
		memcpy(lmf_item_add_tensor(&it, tp[i].name, LMF_F32,
		    tp[i].ndim, tp[i].shape)->data, tp[i].g,
		    tp[i].numel * sizeof(float));
	if (!strcmp(path, "-"))
		lmf_stdout_binary_or_die();
	w = lmf_wr_open_or_die(path, meta, wo);
	lmf_wr_item_or_die(w, &it);
	lmf_wr_close_or_die(w);
	lmf_item_free(&it);
	json_decref(meta);
}
