/* optim_test: AdamW with clipping and weight decay against
 * torch.optim.AdamW (within 1e-6 relative, max|diff| / max|ref| per
 * tensor), every learning-rate schedule against Hugging Face's formulas at
 * every step (within 1e-7 relative), both from tests/golden/optim.lmf
 * (tests/golden/make_optim_golden.py); the optimizer state through an
 * "optimizer" stream and back. TAP. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lmf/optim.h"
#include "lmf/stream.h"
#include "lmf/util.h"
#include "lmf/banned.h"
#include "tap.h"
#include "golden.h"

#define TOL_ADAMW 1e-6
#define TOL_LR 1e-7


static struct lmf_tensor *
need(struct lmf_item *it, const char *name, int dtype)
{
	struct lmf_tensor *t = lmf_item_find(it, name);

	if (!t || t->dtype != dtype) {
		printf("Bail out! golden tensor '%s' missing or not %s\n",
		    name, lmf_dtype_name(dtype));
		exit(1);
	}
	return t;
}

static char *
text(struct lmf_item *it, const char *name)
{
	struct lmf_tensor *t = need(it, name, LMF_U8);

	return xstrndup(t->data, t->nbytes);
}

static double
rel_diff(const float *a, const float *ref, uint64_t n)
{
	double md = 0, mr = 0;
	uint64_t i;

	for (i = 0; i < n; i++) {
		double d = fabs((double)a[i] - ref[i]);

		if (!(d <= md))
			md = isnan(d) ? INFINITY : d;
		if (fabs(ref[i]) > mr)
			mr = fabs(ref[i]);
	}
	return mr > 0 ? md / mr : md;
}

/* the state of a, through a stream file and back into b */
static void
state_roundtrip(struct lmf_adamw *a, struct lmf_tparam *p, int np)
{
	const char *path = "optim_test.state.lmf";
	json_t *meta = json_pack("{s:s}", "kind", "optimizer");
	struct lmf_adamw b;
	struct lmf_wr *w;
	struct lmf_rd *r;
	char err[256] = "";
	int e, rc = -1;

	w = lmf_wr_open(path, meta, &lmf_wropts_default, &e);
	json_decref(meta);
	if (w && lmf_adamw_write(a, p, np, w) == 0 && lmf_wr_close(w) == 0) {
		lmf_adamw_init(&b, a->numel);
		r = lmf_rd_open(path, &e);
		if (r) {
			rc = lmf_adamw_read(&b, p, np, r, err, sizeof err);
			lmf_rd_close(r);
		}
		ok(rc == 0 && b.step == a->step &&
		    !memcmp(a->m, b.m, a->numel * sizeof(float)) &&
		    !memcmp(a->v, b.v, a->numel * sizeof(float)),
		    "optimizer state round trip (step %ld) %s", a->step, err);
		lmf_adamw_free(&b);
	} else {
		ok(0, "optimizer state writes");
	}
	unlink(path);
}

static void
adamw_case(struct lmf_item *it, int k)
{
	double *cfg = need(it, "cfg", LMF_F64)->data;
	double *lr = need(it, "lr", LMF_F64)->data;
	double *norm = need(it, "norm", LMF_F64)->data;
	int32_t *decay = need(it, "decay", LMF_I32)->data;
	int nsteps = (int)cfg[5], np = (int)cfg[6], s, i;
	struct lmf_tparam *p = xcalloc((size_t)np, sizeof *p);
	struct lmf_adamw a;
	uint64_t numel = 0;
	char name[64];
	double worst = 0, nworst = 0;

	for (i = 0; i < np; i++) {
		struct lmf_tensor *t;

		snprintf(name, sizeof name, "w.%d", i);
		t = need(it, name, LMF_F32);
		snprintf(p[i].name, sizeof p[i].name, "t%d", i);
		p[i].ndim = t->ndim;
		p[i].shape[0] = t->shape[0];
		p[i].shape[1] = t->ndim > 1 ? t->shape[1] : 0;
		p[i].numel = lmf_tensor_numel(t);
		p[i].w = xmallocarray(p[i].numel, sizeof(float));
		memcpy(p[i].w, t->data, t->nbytes);
		p[i].decay = decay[i];
		numel += p[i].numel;
	}
	lmf_adamw_init(&a, numel);
	a.beta1 = cfg[0];
	a.beta2 = cfg[1];
	a.eps = cfg[2];
	a.weight_decay = cfg[3];
	for (s = 0; s < nsteps; s++) {
		double n, d;

		for (i = 0; i < np; i++) {
			snprintf(name, sizeof name, "g.%d.%d", s, i);
			p[i].g = need(it, name, LMF_F32)->data;
		}
		n = lmf_grad_clip(p, np, cfg[4]);
		d = fabs(n - norm[s]) / norm[s];
		if (d > nworst)
			nworst = d;
		lmf_adamw_step(&a, p, np, lr[s]);
		for (i = 0; i < np; i++) {
			snprintf(name, sizeof name, "out.%d.%d", s, i);
			d = rel_diff(p[i].w, need(it, name, LMF_F32)->data,
			    p[i].numel);
			if (!(d <= worst))
				worst = isnan(d) ? INFINITY : d;
		}
	}
	ok(nworst <= TOL_ADAMW, "adamw case %d: grad norm rel diff %.2e", k,
	    nworst);
	ok(worst <= TOL_ADAMW, "adamw case %d: %d steps, %d tensors, max rel "
	    "diff %.2e", k, nsteps, np, worst);
	state_roundtrip(&a, p, np);
	lmf_adamw_free(&a);
	for (i = 0; i < np; i++)
		free(p[i].w);
	free(p);
}

static void
sched_case(struct lmf_item *it, int k)
{
	char *name = text(it, "name"), *kw = text(it, "kwargs");
	double *cfg = need(it, "cfg", LMF_F64)->data;
	struct lmf_tensor *lt = need(it, "lr", LMF_F64);
	double *ref = lt->data, worst = 0;
	long T = (long)cfg[1], s, at = -1;
	struct lmf_sched sc;
	char err[256] = "";
	int type = lmf_sched_parse(name);

	if (type < 0 || (long)lmf_tensor_numel(lt) != T + 1) {
		ok(0, "sched case %d: '%s' known", k, name);
		goto out;
	}
	lmf_sched_init(&sc, type, cfg[0], T, (long)cfg[2], cfg[3]);
	if (lmf_sched_kwargs(&sc, kw, err, sizeof err) < 0) {
		ok(0, "sched case %d: %s", k, err);
		goto out;
	}
	for (s = 0; s <= T; s++) {
		double d = fabs(lmf_sched_lr(&sc, s) - ref[s]);

		d /= fabs(ref[s]) > 1e-30 ? fabs(ref[s]) : 1.0;
		if (!(d <= worst)) {
			worst = isnan(d) ? INFINITY : d;
			at = s;
		}
	}
	ok(worst <= TOL_LR, "sched %s %s T=%ld W=%ld: max rel diff %.2e "
	    "(step %ld)", name, kw, T, sc.warmup, worst, at);
out:
	free(name);
	free(kw);
}

static void
golden(const char *argv0)
{
	struct lmf_item it = { 0 };
	struct lmf_rd *r;
	char *path;
	int err, k = 0, rc;

	path = golden_path(argv0, "optim.lmf");
	r = lmf_rd_open(path, &err);
	ok(r != NULL, "golden file '%s' opens", path);
	if (!r) {
		free(path);
		return;
	}
	while ((rc = lmf_rd_item(r, &it)) == 1) {
		char *c = text(&it, "case");

		if (!strcmp(c, "adamw"))
			adamw_case(&it, k);
		else if (!strcmp(c, "sched"))
			sched_case(&it, k);
		else
			ok(0, "case %d: unknown kind '%s'", k, c);
		free(c);
		lmf_item_free(&it);
		k++;
	}
	ok(rc == 0 && k >= 20, "golden file read to the end: %d cases", k);
	lmf_rd_close(r);
	free(path);
}

/* the parts the goldens do not reach */
static void
misc(void)
{
	struct lmf_sched s;
	char err[256];
	float w[2] = { 1, 1 }, g[2] = { 3, 4 };
	struct lmf_tparam p = { .name = "x", .ndim = 1, .shape = { 2 },
		.numel = 2, .w = w, .g = g };
	double n;

	ok(lmf_sched_parse("cosine") == LMF_SCHED_COSINE &&
	    lmf_sched_parse("nope") == -1 &&
	    !strcmp(lmf_sched_name(LMF_SCHED_POLYNOMIAL), "polynomial"),
	    "schedule names");
	lmf_sched_init(&s, LMF_SCHED_LINEAR, 1e-4, 10, 0, 0.25);
	ok(s.warmup == 3 && lmf_sched_lr(&s, 0) == 0.0,
	    "warmup_ratio 0.25 of 10 steps is 3; lr 0 at the first step");
	lmf_sched_init(&s, LMF_SCHED_LINEAR, 1e-4, 10, 2, 0.9);
	ok(s.warmup == 2, "warmup_steps wins over warmup_ratio");
	ok(lmf_sched_kwargs(&s, "{\"bogus\": 1}", err, sizeof err) < 0 &&
	    lmf_sched_kwargs(&s, "[1]", err, sizeof err) < 0 &&
	    lmf_sched_kwargs(&s, "{\"min_lr\": \"x\"}", err, sizeof err) < 0,
	    "bad lr_scheduler_kwargs refused");
	lmf_sched_init(&s, LMF_SCHED_COSINE_MIN_LR, 1e-4, 10, 0, 0);
	ok(lmf_sched_kwargs(&s, "{\"min_lr\": 1e-6, \"min_lr_rate\": 0.1}",
	    err, sizeof err) < 0, "min_lr with min_lr_rate refused");
	lmf_sched_init(&s, LMF_SCHED_POLYNOMIAL, 1e-4, 10, 10, 0);
	ok(isfinite(lmf_sched_lr(&s, 10)) && isfinite(lmf_sched_lr(&s, 11)),
	    "polynomial with W = T stays finite");
	n = lmf_grad_clip(&p, 1, 1.0);
	ok(n == 5.0 && fabsf(g[0] - 3.0f / (5.0f + 1e-6f)) < 1e-7f,
	    "clip: norm 5 before, scaled by 1 / (5 + 1e-6)");
	g[0] = NAN;
	n = lmf_grad_clip(&p, 1, 1.0);
	ok(isnan(n), "clip: a NaN gradient gives a NaN norm");
}

int
main(int argc, char **argv)
{
	lmf_init(argc, argv);
	golden(argv[0]);
	misc();
	return tap_done();
}
