/* optim.c: AdamW, gradient clipping and the learning-rate schedules of
 * optim.h, each written from the formula its reference documents. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "lmf/optim.h"
#include "lmf/prof.h"
#include "lmf/util.h"
#include "lmf/banned.h"

/* The loops over all the parameters run on OpenMP threads (when built
 * with -fopenmp) in blocks of BLOCK values, and vectorised within a block.
 * Element-wise updates do not depend on the split; sums go block by block
 * and then over the blocks in order, so they do not depend on the thread
 * count either. */
#define BLOCK 16384
#ifdef _OPENMP
#define OMP_PRAGMA(x) _Pragma(#x)
#define OMP_BLOCKS(n) OMP_PRAGMA(omp parallel for schedule(static) \
	if ((n) > BLOCK))
#define OMP_SIMD OMP_PRAGMA(omp simd)
#define OMP_SIMD_SUM(x) OMP_PRAGMA(omp simd reduction(+:x))
#else
#define OMP_BLOCKS(n)
#define OMP_SIMD
#define OMP_SIMD_SUM(x)
#endif
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define LMF_VEC __attribute__((target_clones("avx2", "default")))
#else
#define LMF_VEC
#endif

/* the AdamW constants of one tensor's update */
struct adamw_k {
	float shrink, b1, b2, c1, c2, step_size, bc2_sqrt, eps;
};

static void LMF_VEC
adamw_block(float *w, float *m, float *v, const float *g, long n,
    const struct adamw_k *k)
{
	float shrink = k->shrink, b1 = k->b1, b2 = k->b2, c1 = k->c1;
	float c2 = k->c2, step_size = k->step_size, bc2_sqrt = k->bc2_sqrt;
	float eps = k->eps;
	long i;

	OMP_SIMD
	for (i = 0; i < n; i++) {
		float gi = g[i], mi, vi, wi = w[i] * shrink;

		mi = m[i] * b1 + c1 * gi;
		vi = v[i] * b2 + c2 * gi * gi;
		m[i] = mi;
		v[i] = vi;
		w[i] = wi - step_size * mi / (sqrtf(vi) / bc2_sqrt + eps);
	}
}

/* sum of g[i]^2 in double */
static double LMF_VEC
sumsq_block(const float *g, long n)
{
	double sum = 0;
	long i;

	OMP_SIMD_SUM(sum)
	for (i = 0; i < n; i++)
		sum += (double)g[i] * g[i];
	return sum;
}

static void LMF_VEC
scale_block(float *g, float c, long n)
{
	long i;

	OMP_SIMD
	for (i = 0; i < n; i++)
		g[i] *= c;
}

#define PREFIX_M "exp_avg."
#define PREFIX_V "exp_avg_sq."

static int LMF_PRINTF(3, 4)
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	lmf_vseterr(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* ---- AdamW ---- */

void
lmf_adamw_init(struct lmf_adamw *a, uint64_t numel)
{
	memset(a, 0, sizeof *a);
	a->beta1 = 0.9;
	a->beta2 = 0.999;
	a->eps = 1e-8;
	a->numel = numel;
	a->m = xcalloc(numel ? numel : 1, sizeof(float));
	a->v = xcalloc(numel ? numel : 1, sizeof(float));
}

void
lmf_adamw_free(struct lmf_adamw *a)
{
	free(a->m);
	free(a->v);
	a->m = a->v = NULL;
}

/* torch.optim.AdamW's single-tensor step (torch 1.13), in its order of
 * operations: decay the weight, move the moments, divide the
 * bias-corrected first moment by the bias-corrected root of the second
 * plus eps */
void
lmf_adamw_update(struct lmf_adamw *a, uint64_t off, float *w,
    const float *g, uint64_t n, int decay, double lr)
{
	double bc1 = 1.0 - pow(a->beta1, (double)a->step);
	double bc2 = 1.0 - pow(a->beta2, (double)a->step);
	float step_size = (float)(lr / bc1);
	float bc2_sqrt = (float)sqrt(bc2);
	float shrink = decay ? (float)(1.0 - lr * a->weight_decay) : 1.0f;
	float b1 = (float)a->beta1, b2 = (float)a->beta2;
	float c1 = (float)(1.0 - a->beta1), c2 = (float)(1.0 - a->beta2);
	float eps = (float)a->eps;
	float *m = a->m + off, *v = a->v + off;
	struct adamw_k k = { shrink, b1, b2, c1, c2, step_size, bc2_sqrt,
		eps };
	long i, nl = (long)n;

	if (off + n > a->numel)
		BUG("adamw: tensor at %llu of %llu past %llu values",
		    (unsigned long long)off, (unsigned long long)n,
		    (unsigned long long)a->numel);
	OMP_BLOCKS(nl)
	for (i = 0; i < nl; i += BLOCK)
		adamw_block(w + i, m + i, v + i, g + i,
		    nl - i < BLOCK ? nl - i : BLOCK, &k);
}

void
lmf_adamw_step(struct lmf_adamw *a, struct lmf_tparam *p, int np, double lr)
{
	double prof_t0 = LMF_PROF_BEGIN();
	uint64_t off = 0;
	int i;

	a->step++;
	for (i = 0; i < np; i++) {
		if (!p[i].g)
			continue;
		lmf_adamw_update(a, off, p[i].w, p[i].g, p[i].numel,
		    p[i].decay, lr);
		off += p[i].numel;
	}
	LMF_PROF_END(LMF_PROF_OPTIM, prof_t0, 0);
}

static int
write_state(struct lmf_wr *w, const char *prefix, const struct lmf_tparam *p,
    const float *data)
{
	char name[LMF_MAX_NAME];
	int rc;

	snprintf(name, sizeof name, "%s%s", prefix, p->name);
	rc = lmf_wr_tensor_begin(w, name, LMF_F32, p->ndim, p->shape);
	if (rc < 0)
		return rc;
	return lmf_wr_payload(w, data, p->numel * sizeof(float));
}

int
lmf_adamw_write(const struct lmf_adamw *a, struct lmf_tparam *p, int np,
    struct lmf_wr *w)
{
	struct lmf_tensor step = { .name = "step", .dtype = LMF_I64,
		.ndim = 0, .nbytes = 8 };
	unsigned char buf[8];
	uint64_t off = 0;
	int i, n = 0, rc;

	for (i = 0; i < np; i++)
		n += p[i].g != NULL;
	if ((rc = lmf_wr_item(w, (uint32_t)(1 + 2 * n))) < 0)
		return rc;
	lmf_put_u64(buf, (uint64_t)a->step);
	step.data = buf;
	if ((rc = lmf_wr_tensor(w, &step)) < 0)
		return rc;
	for (i = 0; i < np; i++) {
		if (!p[i].g)
			continue;
		if ((rc = write_state(w, PREFIX_M, &p[i], a->m + off)) < 0 ||
		    (rc = write_state(w, PREFIX_V, &p[i], a->v + off)) < 0)
			return rc;
		off += p[i].numel;
	}
	return 0;
}

/* copy tensor t into m or v at the place of the trainable tensor it
 * names; 0, or -1 with err */
static int
read_state(struct lmf_adamw *a, struct lmf_tparam *p, int np,
    struct lmf_tensor *t, unsigned char *seen, char *err, size_t errlen)
{
	const char *name = t->name;
	float *dst = NULL;
	uint64_t off = 0;
	int i, which, d;

	if (!strncmp(name, PREFIX_M, strlen(PREFIX_M)))
		which = 0, name += strlen(PREFIX_M);
	else if (!strncmp(name, PREFIX_V, strlen(PREFIX_V)))
		which = 1, name += strlen(PREFIX_V);
	else
		return fail(err, errlen, "unexpected tensor '%s'", t->name);
	for (i = 0; i < np; i++) {
		if (!p[i].g)
			continue;
		if (!strcmp(p[i].name, name))
			break;
		off += p[i].numel;
	}
	if (i == np)
		return fail(err, errlen, "tensor '%s': not trainable in "
		    "this run (the checkpoint was trained with another "
		    "finetuning_type or other trainable layers)", t->name);
	if (seen[2 * i + which]++)
		return fail(err, errlen, "tensor '%s' given twice", t->name);
	if (t->dtype != LMF_F32)
		return fail(err, errlen, "tensor '%s': dtype %s, want f32",
		    t->name, lmf_dtype_name(t->dtype));
	if (t->ndim != p[i].ndim)
		return fail(err, errlen, "tensor '%s': %d dims, want %d",
		    t->name, t->ndim, p[i].ndim);
	for (d = 0; d < t->ndim; d++)
		if (t->shape[d] != p[i].shape[d])
			return fail(err, errlen, "tensor '%s': wrong shape",
			    t->name);
	dst = (which ? a->v : a->m) + off;
	memcpy(dst, t->data, p[i].numel * sizeof(float));
	return 0;
}

int
lmf_adamw_read(struct lmf_adamw *a, struct lmf_tparam *p, int np,
    struct lmf_rd *r, char *err, size_t errlen)
{
	struct lmf_item it = { 0 };
	struct lmf_tensor *st;
	unsigned char *seen;
	int i, rc;
	uint64_t total = 0;

	if (strcmp(lmf_rd_kind(r) ? lmf_rd_kind(r) : "", "optimizer"))
		return fail(err, errlen, "'%s': kind '%s', want 'optimizer'",
		    lmf_rd_name(r), lmf_rd_kind(r) ? lmf_rd_kind(r) : "");
	for (i = 0; i < np; i++)
		if (p[i].g)
			total += p[i].numel;
	if (total != a->numel)
		BUG("adamw: %llu state values for %llu trainable",
		    (unsigned long long)a->numel, (unsigned long long)total);
	rc = lmf_rd_item(r, &it);
	if (rc < 0)
		return fail(err, errlen, "%s", lmf_rd_errmsg(r));
	if (rc == 0)
		return fail(err, errlen, "'%s': no item", lmf_rd_name(r));
	st = lmf_item_find(&it, "step");
	if (!st || st->dtype != LMF_I64 || st->nbytes != 8) {
		lmf_item_free(&it);
		return fail(err, errlen, "'%s': no i64 scalar 'step'",
		    lmf_rd_name(r));
	}
	a->step = (long)lmf_get_u64(st->data);
	if (a->step < 0) {
		lmf_item_free(&it);
		return fail(err, errlen, "'%s': negative step",
		    lmf_rd_name(r));
	}
	seen = xcalloc(2 * (size_t)(np ? np : 1), 1);
	rc = 0;
	for (i = 0; i < it.ntensors && !rc; i++)
		if (&it.t[i] != st)
			rc = read_state(a, p, np, &it.t[i], seen, err, errlen);
	for (i = 0; i < np && !rc; i++)
		if (p[i].g && (!seen[2 * i] || !seen[2 * i + 1]))
			rc = fail(err, errlen, "no state for tensor '%s'",
			    p[i].name);
	free(seen);
	lmf_item_free(&it);
	return rc;
}

/* ---- gradients ---- */

double
lmf_grad_norm(struct lmf_tparam *p, int np)
{
	double sum = 0.0;
	int i;

	for (i = 0; i < np; i++) {
		const float *g = p[i].g;
		long n = (long)p[i].numel, nb = (n + BLOCK - 1) / BLOCK, j;
		double *part;

		if (!g || n == 0)
			continue;
		if (nb == 1) {
			sum += sumsq_block(g, n);
			continue;
		}
		part = xmallocarray((size_t)nb, sizeof *part);
		OMP_BLOCKS(n)
		for (j = 0; j < nb; j++)
			part[j] = sumsq_block(g + j * BLOCK,
			    n - j * BLOCK < BLOCK ? n - j * BLOCK : BLOCK);
		for (j = 0; j < nb; j++)
			sum += part[j];
		free(part);
	}
	return sqrt(sum);
}

static double
grad_clip(struct lmf_tparam *p, int np, double max_norm)
{
	double norm = lmf_grad_norm(p, np), coef;
	long j;
	int i;

	if (max_norm <= 0.0 || !isfinite(norm))
		return norm;
	coef = max_norm / (norm + 1e-6);
	if (coef >= 1.0)
		return norm;
	for (i = 0; i < np; i++) {
		float *g = p[i].g;
		float c = (float)coef;
		long n = (long)p[i].numel;

		if (!g)
			continue;
		OMP_BLOCKS(n)
		for (j = 0; j < n; j += BLOCK)
			scale_block(g + j, c, n - j < BLOCK ? n - j : BLOCK);
	}
	return norm;
}

double
lmf_grad_clip(struct lmf_tparam *p, int np, double max_norm)
{
	double prof_t0 = LMF_PROF_BEGIN();
	double norm = grad_clip(p, np, max_norm);

	LMF_PROF_END(LMF_PROF_OPTIM, prof_t0, 0);
	return norm;
}

/* ---- schedules ---- */

static const char *const sched_names[] = {
	[LMF_SCHED_LINEAR] = "linear",
	[LMF_SCHED_COSINE] = "cosine",
	[LMF_SCHED_CONSTANT] = "constant",
	[LMF_SCHED_CONSTANT_WARMUP] = "constant_with_warmup",
	[LMF_SCHED_COSINE_MIN_LR] = "cosine_with_min_lr",
	[LMF_SCHED_POLYNOMIAL] = "polynomial",
	[LMF_SCHED_INVERSE_SQRT] = "inverse_sqrt",
	[LMF_SCHED_WSD] = "warmup_stable_decay",
};
#define NSCHED ((int)(sizeof sched_names / sizeof sched_names[0]))

int
lmf_sched_parse(const char *s)
{
	int i;

	for (i = 0; i < NSCHED; i++)
		if (!strcmp(s, sched_names[i]))
			return i;
	return -1;
}

const char *
lmf_sched_name(int type)
{
	return type >= 0 && type < NSCHED ? sched_names[type] : "?";
}

void
lmf_sched_init(struct lmf_sched *s, int type, double lr, long total,
    long warmup_steps, double warmup_ratio)
{
	memset(s, 0, sizeof *s);
	s->type = type;
	s->lr = lr;
	s->total = total;
	s->warmup = warmup_steps > 0 ? warmup_steps :
	    (long)ceil((double)total * warmup_ratio);
	s->num_cycles = 0.5;
	s->min_lr = -1.0;
	s->min_lr_rate = -1.0;
	s->power = 1.0;
	s->lr_end = 1e-7;
	s->num_stable_steps = -1;
	s->num_decay_steps = -1;
}

static int
kw_number(json_t *v, const char *key, double *out, char *err, size_t errlen)
{
	if (!json_is_number(v))
		return fail(err, errlen, "lr_scheduler_kwargs: '%s' is not a "
		    "number", key);
	*out = json_number_value(v);
	if (!isfinite(*out))
		return fail(err, errlen, "lr_scheduler_kwargs: '%s' is not "
		    "finite", key);
	return 0;
}

int
lmf_sched_kwargs(struct lmf_sched *s, const char *text, char *err,
    size_t errlen)
{
	json_error_t jerr;
	json_t *o = json_loads(text, 0, &jerr), *v;
	const char *key;
	double x = 0.0;
	int rc = 0;

	if (!o || !json_is_object(o)) {
		json_decref(o);
		return fail(err, errlen, "lr_scheduler_kwargs: not a JSON "
		    "object");
	}
	json_object_foreach(o, key, v) {
		if ((rc = kw_number(v, key, &x, err, errlen)) < 0)
			break;
		if (!strcmp(key, "num_cycles"))
			s->num_cycles = x;
		else if (!strcmp(key, "min_lr"))
			s->min_lr = x;
		else if (!strcmp(key, "min_lr_rate"))
			s->min_lr_rate = x;
		else if (!strcmp(key, "power"))
			s->power = x;
		else if (!strcmp(key, "lr_end"))
			s->lr_end = x;
		else if (!strcmp(key, "timescale") && x >= 1 && x <= 1e15)
			s->timescale = (long)x;
		else if (!strcmp(key, "num_stable_steps") && x >= 0 &&
		    x <= 1e15)
			s->num_stable_steps = (long)x;
		else if (!strcmp(key, "num_decay_steps") && x >= 0 &&
		    x <= 1e15)
			s->num_decay_steps = (long)x;
		else if (!strcmp(key, "min_lr_ratio"))
			s->min_lr_ratio = x;
		else {
			rc = fail(err, errlen, "lr_scheduler_kwargs: unknown "
			    "key or bad value '%s'", key);
			break;
		}
	}
	json_decref(o);
	if (rc < 0)
		return rc;
	if (s->min_lr >= 0 && s->min_lr_rate >= 0)
		return fail(err, errlen, "lr_scheduler_kwargs: give min_lr "
		    "or min_lr_rate, not both");
	if (s->type == LMF_SCHED_POLYNOMIAL && s->lr_end > s->lr)
		return fail(err, errlen, "lr_scheduler_kwargs: lr_end %g is "
		    "above the learning rate %g", s->lr_end, s->lr);
	return 0;
}

static double
warm(long step, long w)
{
	return (double)step / (double)(w > 1 ? w : 1);
}

static double
cosine(double progress, double cycles)
{
	return 0.5 * (1.0 + cos(M_PI * cycles * 2.0 * progress));
}

double
lmf_sched_lambda(const struct lmf_sched *s, long step)
{
	long T = s->total, W = s->warmup, rest = T - W > 1 ? T - W : 1;
	double progress = (double)(step - W) / (double)rest, f, rate;

	switch (s->type) {
	case LMF_SCHED_CONSTANT:
		return 1.0;
	case LMF_SCHED_CONSTANT_WARMUP:
		return step < W ? warm(step, W) : 1.0;
	case LMF_SCHED_LINEAR:
		if (step < W)
			return warm(step, W);
		f = (double)(T - step) / (double)rest;
		return f > 0.0 ? f : 0.0;
	case LMF_SCHED_COSINE:
		if (step < W)
			return warm(step, W);
		f = cosine(progress, s->num_cycles);
		return f > 0.0 ? f : 0.0;
	case LMF_SCHED_COSINE_MIN_LR:
		if (step < W)
			return warm(step, W);
		rate = s->min_lr_rate >= 0 ? s->min_lr_rate :
		    s->min_lr >= 0 && s->lr > 0 ? s->min_lr / s->lr : 0.0;
		f = cosine(progress, s->num_cycles);
		f = f * (1.0 - rate) + rate;
		return f > 0.0 ? f : 0.0;
	case LMF_SCHED_POLYNOMIAL:
		if (step < W)
			return warm(step, W);
		if (step > T || T - W <= 0)
			return s->lr > 0 ? s->lr_end / s->lr : 0.0;
		f = 1.0 - (double)(step - W) / (double)(T - W);
		f = (s->lr - s->lr_end) * pow(f, s->power) + s->lr_end;
		return s->lr > 0 ? f / s->lr : 0.0;
	case LMF_SCHED_INVERSE_SQRT: {
		long ts = s->timescale > 0 ? s->timescale : W > 0 ? W : 10000;

		if (step < W)
			return warm(step, W);
		return 1.0 / sqrt((double)(step + ts - W) / (double)ts);
	}
	case LMF_SCHED_WSD: {
		long st = s->num_stable_steps >= 0 ? s->num_stable_steps :
		    (T - W > 0 ? (T - W) / 3 : 0);
		long de = s->num_decay_steps >= 0 ? s->num_decay_steps :
		    (T - W - st > 0 ? T - W - st : 0);
		double r = s->min_lr_ratio;

		if (step < W) {
			f = warm(step, W) * (1.0 - r) + r;
			return f > 0.0 ? f : 0.0;
		}
		if (step < W + st)
			return 1.0;
		if (step < W + st + de) {
			progress = (double)(step - W - st) /
			    (double)(de > 1 ? de : 1);
			f = cosine(progress, s->num_cycles) * (1.0 - r) + r;
			return f > 0.0 ? f : 0.0;
		}
		return r;
	}
	}
	BUG("schedule type %d", s->type);
}

double
lmf_sched_lr(const struct lmf_sched *s, long step)
{
	return s->lr * lmf_sched_lambda(s, step);
}
