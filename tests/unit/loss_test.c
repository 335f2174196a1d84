/* loss_test: every objective of loss.h against its _ref, its gradients
 * against central finite differences, and both against float64 PyTorch
 * goldens (tests/golden/loss.lmf, from tests/golden/make_loss_golden.py).
 * Tolerances: losses and outputs 1e-5 relative; gradients, as max|diff| /
 * max|ref| per tensor, 2e-3 against goldens and differences, 1e-4 fast
 * against ref. TAP. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lmf/gemm.h"
#include "lmf/kernels.h"
#include "lmf/loss.h"
#include "lmf/stream.h"
#include "lmf/util.h"
#include "lmf/banned.h"
#include "tap.h"
#include "golden.h"

#define TOL_OUT 1e-5
#define TOL_GRAD 2e-3
#define TOL_REF 1e-4

static struct lmf_rng rng;
static struct lmf_item golden;

static float *
zeros(size_t n)
{
	return xcalloc(n ? n : 1, sizeof(float));
}

static void
cmp1(const char *what, double got, double want, double tol)
{
	double rel = fabs(got - want) / (fabs(want) > 1e-12 ? fabs(want) : 1);

	printf("# %s %.9g want %.9g (rel %.3g)\n", what, got, want, rel);
	ok(rel <= tol, "%s", what);
}

/* ---- goldens ---- */

static int
golden_open(const char *argv0)
{
	char *path;
	struct lmf_rd *r;
	int err, have = 0;

	path = golden_path(argv0, "loss.lmf");
	r = lmf_rd_open(path, &err);
	if (r && lmf_rd_item(r, &golden) == 1)
		have = 1;
	ok(have, "golden file '%s' reads", path);
	if (r)
		lmf_rd_close(r);
	free(path);
	return have;
}

static struct lmf_tensor *
gfind(const char *name)
{
	struct lmf_tensor *t = lmf_item_find(&golden, name);

	if (!t) {
		printf("# golden tensor '%s' missing\nBail out!\n", name);
		exit(1);
	}
	return t;
}

/* a golden f64 tensor as a new float array; *n its size if n */
static float *
gf(const char *fmt, const char *a, size_t *n)
{
	char name[128];
	struct lmf_tensor *t;
	size_t i, k;
	float *p;

	snprintf(name, sizeof name, fmt, a);
	t = gfind(name);
	k = lmf_tensor_numel(t);
	if (t->dtype != LMF_F64) {
		printf("# golden tensor '%s' is not f64\nBail out!\n", name);
		exit(1);
	}
	p = xmallocarray(k ? k : 1, sizeof *p);
	for (i = 0; i < k; i++)
		p[i] = (float)((const double *)t->data)[i];
	if (n)
		*n = k;
	return p;
}

static double
gs(const char *fmt, const char *a)
{
	char name[128];
	struct lmf_tensor *t;

	snprintf(name, sizeof name, fmt, a);
	t = gfind(name);
	return ((const double *)t->data)[0];
}

static int32_t *
gi(const char *name)
{
	struct lmf_tensor *t = gfind(name);
	size_t n = lmf_tensor_numel(t);
	int32_t *p = xmallocarray(n, sizeof *p);

	memcpy(p, t->data, n * sizeof *p);
	return p;
}

/* ---- finite differences ----
 * f() reads its inputs from the test's statics; we move x[i] by a step
 * of about 1e-3 relative and divide by the step the floats really took. */
static void
fd_check(const char *what, double (*f)(void), float *x, size_t n,
    const float *grad)
{
	float *num = zeros(n);
	size_t i;
	char name[160];

	for (i = 0; i < n; i++) {
		float save = x[i], hi, lo;
		double fh, h = 1e-3 * fmax(1, fabs(save));

		x[i] = hi = (float)(save + h);
		fh = f();
		x[i] = lo = (float)(save - h);
		num[i] = (float)((fh - f()) / ((double)hi - lo));
		x[i] = save;
	}
	snprintf(name, sizeof name, "%s: gradient vs finite differences",
	    what);
	cmp(name, grad, num, n, TOL_GRAD);
	free(num);
}

/* ---- 1. log-probs ---- */

static struct {
	float *logits, *hidden, *weight, *dlogps, *davg, *dlp;
	int32_t *tg;
	int B, T, N, C, V;
} L;

static double
seq_objective(void)
{
	float *lp = zeros(L.N), lg[8], av[8];
	double s = 0;
	int b;

	lmf_logps_forward_ref(lp, L.logits, L.tg, L.N, L.V);
	lmf_seqlogps_forward(lg, av, NULL, lp, L.tg, L.B, L.T);
	for (b = 0; b < L.B; b++)
		s += (double)lg[b] * L.dlogps[b] + (double)av[b] * L.davg[b];
	free(lp);
	return s;
}

static void
test_logps(void)
{
	size_t nl;
	float *want, *lp, *lpr, *d, *dr, *dlp, lg[3], av[3], len[3];
	int n;

	L.logits = gf("logps.logits", "", &nl);
	L.tg = gi("logps.targets");
	L.B = 3, L.T = 7, L.N = 21, L.V = (int)(nl / 21);
	L.dlogps = gf("logps.dlogps", "", NULL);
	L.davg = gf("logps.davg", "", NULL);
	lp = zeros(L.N), lpr = zeros(L.N), dlp = zeros(L.N);
	want = gf("logps.lp", "", NULL);
	lmf_logps_forward(lp, L.logits, L.tg, L.N, L.V);
	lmf_logps_forward_ref(lpr, L.logits, L.tg, L.N, L.V);
	cmp("logps: lp vs golden", lp, want, L.N, TOL_OUT);
	cmp("logps: lp vs ref", lp, lpr, L.N, TOL_OUT);
	free(want);
	lmf_seqlogps_forward(lg, av, len, lp, L.tg, L.B, L.T);
	cmp("logps: sum vs golden", lg, want = gf("logps.logps", "", NULL),
	    3, TOL_OUT);
	free(want);
	cmp("logps: avg vs golden", av, want = gf("logps.avg", "", NULL), 3,
	    TOL_OUT);
	free(want);
	cmp("logps: len vs golden", len, want = gf("logps.len", "", NULL), 3,
	    0);
	free(want);

	lmf_seqlogps_backward(dlp, L.dlogps, L.davg, L.tg, L.B, L.T);
	d = zeros(nl), dr = zeros(nl);
	lmf_logps_backward(d, dlp, L.logits, L.tg, L.N, L.V);
	lmf_logps_backward_ref(dr, dlp, L.logits, L.tg, L.N, L.V);
	want = gf("logps.dlogits", "", NULL);
	cmp("logps: dlogits vs golden", d, want, nl, TOL_GRAD);
	cmp("logps: dlogits vs ref", d, dr, nl, TOL_REF);
	fd_check("logps", seq_objective, L.logits, nl, d);
	/* backward accumulates: a second call doubles the gradient */
	lmf_logps_backward(d, dlp, L.logits, L.tg, L.N, L.V);
	for (n = 0; n < (int)nl; n++)
		dr[n] = 2 * want[n];
	cmp("logps: backward accumulates", d, dr, nl, TOL_GRAD);
	free(want), free(d), free(dr), free(lp), free(lpr), free(dlp);
	free(L.logits), free(L.tg), free(L.dlogps), free(L.davg);
}

static double
fused_objective(void)
{
	float *lp = zeros(L.N);
	double s = 0;
	int n;

	lmf_logps_fused_forward_ref(lp, L.hidden, L.weight, L.tg, L.N, L.C,
	    L.V);
	for (n = 0; n < L.N; n++)
		s += (double)lp[n] * L.dlp[n];
	free(lp);
	return s;
}

static void
test_fused_golden(void)
{
	size_t nh, nw;
	float *lp, *lpr, *lse, *scratch, *want, *dh, *dw, *dhr, *dwr;
	static const int brs[] = { 4, 1, 7, 64 };
	char what[96];
	int k;

	L.hidden = gf("fused.hidden", "", &nh);
	L.weight = gf("fused.weight", "", &nw);
	L.tg = gi("fused.targets");
	L.dlp = gf("fused.dlp", "", NULL);
	L.N = 23, L.C = (int)(nh / 23), L.V = (int)(nw / L.C);
	lp = zeros(L.N), lpr = zeros(L.N), lse = zeros(L.N);
	scratch = zeros((size_t)64 * L.V);
	dhr = zeros(nh), dwr = zeros(nw);
	lmf_logps_fused_forward_ref(lpr, L.hidden, L.weight, L.tg, L.N, L.C,
	    L.V);
	lmf_logps_fused_backward_ref(dhr, dwr, L.dlp, L.hidden, L.weight,
	    L.tg, L.N, L.C, L.V);
	want = gf("fused.lp", "", NULL);
	cmp("fused ref: lp vs golden", lpr, want, L.N, TOL_OUT);
	for (k = 0; k < 4; k++) {
		int br = brs[k];

		dh = zeros(nh), dw = zeros(nw);
		lmf_logps_fused_forward(lp, lse, scratch, L.hidden, L.weight,
		    L.tg, L.N, L.C, L.V, br);
		lmf_logps_fused_backward(dh, dw, scratch, L.dlp, lse,
		    L.hidden, L.weight, L.tg, L.N, L.C, L.V, br);
		snprintf(what, sizeof what, "fused BR=%d: lp vs golden", br);
		cmp(what, lp, want, L.N, TOL_OUT);
		snprintf(what, sizeof what, "fused BR=%d: dhidden vs ref", br);
		cmp(what, dh, dhr, nh, TOL_REF);
		snprintf(what, sizeof what, "fused BR=%d: dweight vs ref", br);
		cmp(what, dw, dwr, nw, TOL_REF);
		if (br == 4) {
			float *g = gf("fused.dhidden", "", NULL);

			cmp("fused: dhidden vs golden", dh, g, nh, TOL_GRAD);
			free(g);
			g = gf("fused.dweight", "", NULL);
			cmp("fused: dweight vs golden", dw, g, nw, TOL_GRAD);
			free(g);
			fd_check("fused dhidden", fused_objective, L.hidden, nh,
			    dh);
			fd_check("fused dweight", fused_objective, L.weight, nw,
			    dw);
		}
		free(dh), free(dw);
	}
	/* NULL gradients are skipped */
	dh = zeros(nh);
	lmf_logps_fused_backward(dh, NULL, scratch, L.dlp, lse, L.hidden,
	    L.weight, L.tg, L.N, L.C, L.V, 4);
	cmp("fused: dweight NULL, dhidden alone", dh, dhr, nh, TOL_REF);
	free(dh), free(want), free(lp), free(lpr), free(lse), free(scratch);
	free(dhr), free(dwr), free(L.hidden), free(L.weight), free(L.tg);
	free(L.dlp);
}

/* the fused kernel against logits made in full (matmul + logps) on a
 * bigger random case: same log-probs, same gradients */
static void
test_fused_vs_full(void)
{
	int N = 150, C = 64, V = 1000, BR = 32, n;
	size_t i, nh = (size_t)N * C, nw = (size_t)V * C;
	float *h = zeros(nh), *w = zeros(nw), *dlp = zeros(N);
	float *logits = zeros((size_t)N * V), *dl = zeros((size_t)N * V);
	float *lp = zeros(N), *lpf = zeros(N), *lse = zeros(N);
	float *scratch = zeros((size_t)BR * V);
	float *dh = zeros(nh), *dw = zeros(nw), *dhf = zeros(nh),
	    *dwf = zeros(nw);
	int32_t *tg = xmallocarray(N, sizeof *tg);
	double t0, t1, t2;

	for (i = 0; i < nh; i++)
		h[i] = lmf_rng_normal(&rng);
	for (i = 0; i < nw; i++)
		w[i] = 0.2f * lmf_rng_normal(&rng);
	for (n = 0; n < N; n++) {
		/* per 75 rows: a prompt of 40, a response of 30 (some -100
		 * inside), 5 of padding */
		int t = n % 75;

		tg[n] = t >= 40 && t < 70 && n % 11 != 3 ?
		    (int32_t)lmf_rng_below(&rng, V) : -100;
		dlp[n] = lmf_rng_normal(&rng);
	}
	t0 = lmf_now();
	lmf_matmul_forward(logits, h, w, NULL, N, C, V);
	lmf_logps_forward(lp, logits, tg, N, V);
	lmf_logps_backward(dl, dlp, logits, tg, N, V);
	lmf_matmul_backward(dh, dw, NULL, dl, h, w, N, C, V);
	t1 = lmf_now();
	lmf_logps_fused_forward(lpf, lse, scratch, h, w, tg, N, C, V, BR);
	lmf_logps_fused_backward(dhf, dwf, scratch, dlp, lse, h, w, tg, N, C,
	    V, BR);
	t2 = lmf_now();
	printf("# full %.2f ms, fused %.2f ms\n", (t1 - t0) * 1e3,
	    (t2 - t1) * 1e3);
	cmp("fused vs full logits: lp", lpf, lp, N, TOL_OUT);
	cmp("fused vs full logits: dhidden", dhf, dh, nh, TOL_REF);
	cmp("fused vs full logits: dweight", dwf, dw, nw, TOL_REF);
	free(h), free(w), free(dlp), free(logits), free(dl), free(lp);
	free(lpf), free(lse), free(scratch), free(dh), free(dw), free(dhf);
	free(dwf), free(tg);
}

/* ---- 2. DPO family ---- */

/* bco (pref_bco_weight) on a golden case's inputs: the fast loss against
 * the reference over two calls (the running mean moving), and the first
 * call's mean reward as the running mean (TRL's first update) */
static void
test_dpo_bco(const char *c, int loss)
{
	size_t n;
	float *pc = gf("dpo.%s.pc", c, &n), *pr = gf("dpo.%s.pr", c, NULL);
	float *refc = gf("dpo.%s.refc", c, NULL);
	float *refr = gf("dpo.%s.refr", c, NULL);
	float *lenc = gf("dpo.%s.lenc", c, NULL);
	float *lenr = gf("dpo.%s.lenr", c, NULL);
	float *l = zeros(n), *rc = zeros(n), *rr = zeros(n), *dc = zeros(n);
	float *dr = zeros(n), *l2 = zeros(n), *dc2 = zeros(n), *dr2 = zeros(n);
	double mf[2] = { 0, 1e-24 }, mr[2] = { 0, 1e-24 }, a, b, want = 0;
	struct lmf_dpo_args fa = { .loss = loss, .beta = 0.2f,
		.bco_weight = 0.5f, .bco_moments = mf };
	struct lmf_dpo_args ra = fa;
	char what[128];
	int k;
	size_t i;

	ra.bco_moments = mr;
	for (k = 0; k < 2; k++) {
		a = lmf_dpo_loss(l, rc, rr, dc, dr, pc, pr, refc, refr, lenc,
		    lenr, (int)n, &fa);
		b = lmf_dpo_loss_ref(l2, rc, rr, dc2, dr2, pc, pr, refc, refr,
		    lenc, lenr, (int)n, &ra);
		snprintf(what, sizeof what, "dpo %s bco call %d: loss vs ref",
		    c, k + 1);
		cmp1(what, a, b, TOL_OUT);
		snprintf(what, sizeof what, "dpo %s bco call %d: dpc vs ref",
		    c, k + 1);
		cmp(what, dc, dc2, n, TOL_REF);
		snprintf(what, sizeof what, "dpo %s bco call %d: dpr vs ref",
		    c, k + 1);
		cmp(what, dr, dr2, n, TOL_REF);
		for (i = 0; k == 0 && i < n; i++)
			want += ((double)rc[i] + rr[i]) / (2.0 * n);
		if (k == 0)
			ok(fabs(mf[0] - want) < 1e-5 * (1 + fabs(want)),
			    "dpo %s bco: the first running mean is the batch's "
			    "mean reward", c);
		for (i = 0; i < n; i++)	/* the second batch: shifted */
			pc[i] -= 1, pr[i] += 1;
	}
	ok(fabs(mf[0] - mr[0]) < 1e-9 && mf[1] > 1.99 && mf[1] < 2.01,
	    "dpo %s bco: two updates of the running mean", c);
	free(pc), free(pr), free(refc), free(refr), free(lenc), free(lenr);
	free(l), free(rc), free(rr), free(dc), free(dr), free(l2), free(dc2);
	free(dr2);
}

static struct {
	float *pc, *pr, *refc, *refr, *lenc, *lenr;
	int n;
	struct lmf_dpo_args a;
	float *losses, *rc, *rr, *dpc, *dpr;
} D;

static double
dpo_objective(void)
{
	memset(D.dpc, 0, D.n * sizeof *D.dpc);
	memset(D.dpr, 0, D.n * sizeof *D.dpr);
	return lmf_dpo_loss_ref(D.losses, D.rc, D.rr, D.dpc, D.dpr, D.pc,
	    D.pr, D.refc, D.refr, D.lenc, D.lenr, D.n, &D.a);
}

static void
test_dpo(const char *c)
{
	size_t n;
	float *losses, *rc, *rr, *dpc, *dpr, *wl, *wc, *wr, *wdc, *wdr;
	float *rl, *rrc, *rrr, *rdc, *rdr;
	double loss, lref;
	char what[128];

	D.pc = gf("dpo.%s.pc", c, &n);
	D.pr = gf("dpo.%s.pr", c, NULL);
	D.refc = gf("dpo.%s.refc", c, NULL);
	D.refr = gf("dpo.%s.refr", c, NULL);
	D.lenc = gf("dpo.%s.lenc", c, NULL);
	D.lenr = gf("dpo.%s.lenr", c, NULL);
	D.n = (int)n;
	D.a.loss = (int)gs("dpo.%s.loss_type", c);
	D.a.beta = (float)gs("dpo.%s.beta", c);
	D.a.label_smoothing = (float)gs("dpo.%s.label_smoothing", c);
	D.a.simpo_gamma = (float)gs("dpo.%s.simpo_gamma", c);
	D.a.ftx = (float)gs("dpo.%s.ftx", c);
	if (D.a.loss >= LMF_PREF_ORPO) {	/* no reference model */
		free(D.refc), free(D.refr);
		D.refc = D.refr = NULL;
	}
	losses = zeros(n), rc = zeros(n), rr = zeros(n);
	dpc = zeros(n), dpr = zeros(n);
	rl = zeros(n), rrc = zeros(n), rrr = zeros(n);
	rdc = zeros(n), rdr = zeros(n);
	loss = lmf_dpo_loss(losses, rc, rr, dpc, dpr, D.pc, D.pr, D.refc,
	    D.refr, D.lenc, D.lenr, D.n, &D.a);
	lref = lmf_dpo_loss_ref(rl, rrc, rrr, rdc, rdr, D.pc, D.pr, D.refc,
	    D.refr, D.lenc, D.lenr, D.n, &D.a);
	wl = gf("dpo.%s.losses", c, NULL);
	wc = gf("dpo.%s.rc", c, NULL);
	wr = gf("dpo.%s.rr", c, NULL);
	wdc = gf("dpo.%s.dpc", c, NULL);
	wdr = gf("dpo.%s.dpr", c, NULL);
#define CASE(s) (snprintf(what, sizeof what, "dpo %s: %s", c, s), what)
	cmp1(CASE("loss vs golden"), loss, gs("dpo.%s.loss", c), TOL_OUT);
	cmp1(CASE("loss vs ref"), loss, lref, TOL_OUT);
	cmp1(CASE("ref loss vs golden"), lref, gs("dpo.%s.loss", c),
	    TOL_OUT);
	cmp(CASE("losses vs golden"), losses, wl, n, TOL_OUT);
	cmp(CASE("losses vs ref"), losses, rl, n, TOL_OUT);
	cmp(CASE("chosen rewards vs golden"), rc, wc, n, TOL_OUT);
	cmp(CASE("rejected rewards vs golden"), rr, wr, n, TOL_OUT);
	cmp(CASE("ref rewards vs golden"), rrc, wc, n, TOL_OUT);
	cmp(CASE("dpc vs golden"), dpc, wdc, n, TOL_GRAD);
	cmp(CASE("dpr vs golden"), dpr, wdr, n, TOL_GRAD);
	cmp(CASE("dpc vs ref"), dpc, rdc, n, TOL_REF);
	cmp(CASE("dpr vs ref"), dpr, rdr, n, TOL_REF);
	D.losses = rl, D.rc = rrc, D.rr = rrr, D.dpc = rdc, D.dpr = rdr;
	fd_check(CASE("dpc"), dpo_objective, D.pc, n, dpc);
	fd_check(CASE("dpr"), dpo_objective, D.pr, n, dpr);
#undef CASE
	free(losses), free(rc), free(rr), free(dpc), free(dpr), free(rl);
	free(rrc), free(rrr), free(rdc), free(rdr), free(wl), free(wc);
	free(wr), free(wdc), free(wdr), free(D.pc), free(D.pr), free(D.refc);
	free(D.refr), free(D.lenc), free(D.lenr);
}

/* ---- 3. KTO ---- */

static struct {
	float *p, *ref, *len, *pkl, *refkl, *losses, *rewards, *dp;
	int32_t *tags;
	int n;
	struct lmf_kto_args a;
} K;

static double
kto_objective(void)
{
	float kl;

	memset(K.dp, 0, K.n * sizeof *K.dp);
	return lmf_kto_loss_ref(K.losses, K.rewards, &kl, K.dp, K.p, K.ref,
	    K.len, K.tags, K.n, K.pkl, K.refkl, K.n, &K.a);
}

static void
test_kto(const char *c)
{
	size_t n;
	float *losses, *rewards, *dp, *rdp, *w, kl, rkl;
	double loss, lref;
	char what[128];

	K.p = gf("kto.%s.p", c, &n);
	K.ref = gf("kto.%s.ref", c, NULL);
	K.len = gf("kto.%s.len", c, NULL);
	K.pkl = gf("kto.%s.pkl", c, NULL);
	K.refkl = gf("kto.%s.refkl", c, NULL);
	snprintf(what, sizeof what, "kto.%s.tags", c);
	K.tags = gi(what);
	K.n = (int)n;
	K.a.beta = (float)gs("kto.%s.beta", c);
	K.a.desirable_weight = (float)gs("kto.%s.desirable_weight", c);
	K.a.undesirable_weight = (float)gs("kto.%s.undesirable_weight", c);
	K.a.ftx = (float)gs("kto.%s.ftx", c);
	losses = zeros(n), rewards = zeros(n), dp = zeros(n), rdp = zeros(n);
	K.losses = zeros(n), K.rewards = zeros(n), K.dp = zeros(n);
	loss = lmf_kto_loss(losses, rewards, &kl, dp, K.p, K.ref, K.len,
	    K.tags, K.n, K.pkl, K.refkl, K.n, &K.a);
	lref = lmf_kto_loss_ref(K.losses, K.rewards, &rkl, rdp, K.p, K.ref,
	    K.len, K.tags, K.n, K.pkl, K.refkl, K.n, &K.a);
#define CASE(s) (snprintf(what, sizeof what, "kto %s: %s", c, s), what)
	cmp1(CASE("loss vs golden"), loss, gs("kto.%s.loss", c), TOL_OUT);
	cmp1(CASE("loss vs ref"), loss, lref, TOL_OUT);
	cmp1(CASE("kl vs golden"), kl, gs("kto.%s.kl", c), TOL_OUT);
	cmp1(CASE("ref kl vs golden"), rkl, gs("kto.%s.kl", c), TOL_OUT);
	cmp(CASE("losses vs golden"), losses, w = gf("kto.%s.losses", c,
	    NULL), n, TOL_OUT);
	cmp(CASE("ref losses vs golden"), K.losses, w, n, TOL_OUT);
	free(w);
	cmp(CASE("rewards vs golden"), rewards, w = gf("kto.%s.rewards", c,
	    NULL), n, TOL_OUT);
	free(w);
	cmp(CASE("dp vs golden"), dp, w = gf("kto.%s.dp", c, NULL), n,
	    TOL_GRAD);
	free(w);
	cmp(CASE("dp vs ref"), dp, rdp, n, TOL_REF);
	fd_check(CASE("dp"), kto_objective, K.p, n, dp);
#undef CASE
	free(losses), free(rewards), free(dp), free(rdp), free(K.p);
	free(K.ref), free(K.len), free(K.pkl), free(K.refkl), free(K.tags);
	free(K.losses), free(K.rewards), free(K.dp);
}

/* ---- 4. reward model pairs ---- */

static float *rm_sc, *rm_sr;
static int rm_n;

static double
rm_objective(void)
{
	float acc, *d1 = zeros(rm_n), *d2 = zeros(rm_n);
	double l = lmf_rm_loss_ref(&acc, d1, d2, rm_sc, rm_sr, rm_n);

	free(d1), free(d2);
	return l;
}

static void
test_rm(void)
{
	size_t n;
	float *dsc, *dsr, *rsc, *rsr, *w, acc, racc;
	double loss, lref;

	rm_sc = gf("rm.sc", "", &n);
	rm_sr = gf("rm.sr", "", NULL);
	rm_n = (int)n;
	dsc = zeros(n), dsr = zeros(n), rsc = zeros(n), rsr = zeros(n);
	loss = lmf_rm_loss(&acc, dsc, dsr, rm_sc, rm_sr, rm_n);
	lref = lmf_rm_loss_ref(&racc, rsc, rsr, rm_sc, rm_sr, rm_n);
	cmp1("rm: loss vs golden", loss, gs("rm.loss", ""), TOL_OUT);
	cmp1("rm: loss vs ref", loss, lref, TOL_OUT);
	cmp1("rm: accuracy vs golden", acc, gs("rm.acc", ""), TOL_OUT);
	cmp1("rm: ref accuracy vs golden", racc, gs("rm.acc", ""), TOL_OUT);
	cmp("rm: dsc vs golden", dsc, w = gf("rm.dsc", "", NULL), n,
	    TOL_GRAD);
	free(w);
	cmp("rm: dsr vs golden", dsr, w = gf("rm.dsr", "", NULL), n,
	    TOL_GRAD);
	free(w);
	cmp("rm: dsc vs ref", dsc, rsc, n, TOL_REF);
	cmp("rm: dsr vs ref", dsr, rsr, n, TOL_REF);
	fd_check("rm: dsc", rm_objective, rm_sc, n, dsc);
	fd_check("rm: dsr", rm_objective, rm_sr, n, dsr);
	free(dsc), free(dsr), free(rsc), free(rsr), free(rm_sc), free(rm_sr);
}

/* ---- 5. PPO ---- */

static struct {
	float *lp, *oldlp, *v, *oldv, *adv, *ret, *mask;
	long N;
	struct lmf_ppo_args a;
} P;

static double
ppo_objective(void)
{
	struct lmf_ppo_stats st;
	float *d1 = zeros(P.N), *d2 = zeros(P.N);
	double l = lmf_ppo_loss_ref(&st, d1, d2, P.lp, P.oldlp, P.v, P.oldv,
	    P.adv, P.ret, P.mask, P.N, &P.a);

	free(d1), free(d2);
	return l;
}

static void
test_ppo(void)
{
	static const char *const kinds[] = { "kl", "abs", "mse" };
	int B = 3, T = 8, k;
	long N = 24;
	size_t nf;
	float *mask = gf("ppo.mask", "", NULL), *lp = gf("ppo.lp", "", NULL);
	float *reflp = gf("ppo.reflp", "", NULL);
	float *scores = gf("ppo.scores", "", NULL);
	float *values = gf("ppo.values", "", NULL);
	float *kl = zeros(N), *rw = zeros(N), *adv = zeros(N), *ret = zeros(N);
	float *radv = zeros(N), *rret = zeros(N), *w, *x, *logp, *reflogp;
	float *dlp, *dv, *rdlp, *rdv;
	struct lmf_ppo_stats st, rst;
	double coef, loss, lref;
	char what[96];

	for (k = 0; k < 3; k++) {
		lmf_ppo_kl_penalty(kl, lp, reflp, lmf_kl_penalty_parse(kinds[k]),
		    N);
		snprintf(what, sizeof what, "ppo: kl_penalty %s", kinds[k]);
		cmp(what, kl, w = gf("ppo.kl_%s", kinds[k], NULL), N, TOL_OUT);
		free(w);
		lmf_ppo_rewards(rw, kl, scores, mask,
		    (float)gs("ppo.kl_coef", ""), B, T);
		snprintf(what, sizeof what, "ppo: rewards %s", kinds[k]);
		cmp(what, rw, w = gf("ppo.rewards_%s", kinds[k], NULL), N,
		    TOL_OUT);
		free(w);
	}
	logp = gf("ppo.full_logp", "", &nf);
	reflogp = gf("ppo.full_reflogp", "", NULL);
	lmf_ppo_kl_full(kl, logp, reflogp, N, (int)(nf / N));
	cmp("ppo: kl_penalty full", kl, w = gf("ppo.kl_full", "", NULL), N,
	    TOL_OUT);
	free(w), free(logp), free(reflogp);
	ok(lmf_kl_penalty_parse("full") == LMF_KL_FULL &&
	    lmf_kl_penalty_parse("KL") == -1, "ppo: kl_penalty names");
	cmp1("ppo: objective/kl", lmf_ppo_kl_mean(lp, reflp, mask, B, T),
	    gs("ppo.kl_mean", ""), TOL_OUT);
	coef = gs("ppo.ctl_coef", "");
	coef = lmf_ppo_kl_adaptive(coef, 8.0, 6.0, 10000, 256);
	coef = lmf_ppo_kl_adaptive(coef, 6.5, 6.0, 10000, 64);
	coef = lmf_ppo_kl_adaptive(coef, 1.0, 6.0, 10000, 1000);
	cmp1("ppo: adaptive kl controller", coef, gs("ppo.ctl_after", ""),
	    1e-12);

	x = gf("ppo.whiten_x", "", NULL);
	lmf_masked_whiten(adv, x, mask, 1, N);
	cmp("ppo: masked_whiten", adv, w = gf("ppo.whiten", "", NULL), N,
	    TOL_OUT);
	free(w);
	lmf_masked_whiten(x, x, mask, 0, N);
	cmp("ppo: masked_whiten shift_mean=False, in place", x,
	    w = gf("ppo.whiten_noshift", "", NULL), N, TOL_OUT);
	free(w), free(x);

	x = gf("ppo.gae_rewards", "", NULL);
	for (k = 0; k < 2; k++) {
		const char *c = k ? "gae_w" : "gae";
		float g = (float)gs("ppo.%s_gamma", c);
		float l = (float)gs("ppo.%s_lam", c);

		lmf_ppo_gae(adv, ret, x, values, mask, g, l, k, B, T);
		lmf_ppo_gae_ref(radv, rret, x, values, mask, g, l, k, B, T);
		snprintf(what, sizeof what, "ppo %s: advantages vs golden", c);
		cmp(what, adv, w = gf("ppo.%s_adv", c, NULL), N, TOL_OUT);
		snprintf(what, sizeof what, "ppo %s: ref advantages vs golden",
		    c);
		cmp(what, radv, w, N, TOL_OUT);
		free(w);
		snprintf(what, sizeof what, "ppo %s: returns vs golden", c);
		cmp(what, ret, w = gf("ppo.%s_ret", c, NULL), N, TOL_OUT);
		snprintf(what, sizeof what, "ppo %s: ref returns vs golden", c);
		cmp(what, rret, w, N, TOL_OUT);
		free(w);
	}
	free(x);

	P.lp = gf("ppo.loss_newlp", "", NULL);
	P.oldlp = lp;
	P.v = gf("ppo.loss_newv", "", NULL);
	P.oldv = gf("ppo.loss_oldv", "", NULL);
	P.adv = gf("ppo.loss_adv", "", NULL);
	P.ret = gf("ppo.loss_ret", "", NULL);
	P.mask = mask;
	P.N = N;
	P.a = (struct lmf_ppo_args){ 0.2f, 0.2f, 0.1f, 10.0f };
	dlp = zeros(N), dv = zeros(N), rdlp = zeros(N), rdv = zeros(N);
	loss = lmf_ppo_loss(&st, dlp, dv, P.lp, P.oldlp, P.v, P.oldv, P.adv,
	    P.ret, P.mask, N, &P.a);
	lref = lmf_ppo_loss_ref(&rst, rdlp, rdv, P.lp, P.oldlp, P.v, P.oldv,
	    P.adv, P.ret, P.mask, N, &P.a);
	cmp1("ppo: loss vs golden", loss, gs("ppo.loss", ""), TOL_OUT);
	cmp1("ppo: loss vs ref", loss, lref, TOL_OUT);
	cmp1("ppo: pg_loss vs golden", st.pg_loss, gs("ppo.pg_loss", ""),
	    TOL_OUT);
	cmp1("ppo: vf_loss vs golden", st.vf_loss, gs("ppo.vf_loss", ""),
	    TOL_OUT);
	cmp1("ppo: pg_clipfrac", st.pg_clipfrac, gs("ppo.pg_clipfrac", ""),
	    TOL_OUT);
	cmp1("ppo: vf_clipfrac", st.vf_clipfrac, gs("ppo.vf_clipfrac", ""),
	    TOL_OUT);
	cmp1("ppo: approxkl", st.approxkl, gs("ppo.approxkl", ""), TOL_OUT);
	cmp1("ppo: policykl", st.policykl, gs("ppo.policykl", ""), TOL_OUT);
	cmp1("ppo: ratio", st.ratio, gs("ppo.ratio", ""), TOL_OUT);
	ok(rst.pg_clipfrac == st.pg_clipfrac && fabs(rst.approxkl -
	    st.approxkl) < 1e-9, "ppo: ref stats agree");
	cmp("ppo: dlp vs golden", dlp, w = gf("ppo.dlp", "", NULL), N,
	    TOL_GRAD);
	free(w);
	cmp("ppo: dv vs golden", dv, w = gf("ppo.dv", "", NULL), N, TOL_GRAD);
	free(w);
	cmp("ppo: dlp vs ref", dlp, rdlp, N, TOL_REF);
	cmp("ppo: dv vs ref", dv, rdv, N, TOL_REF);
	fd_check("ppo: dlp", ppo_objective, P.lp, N, dlp);
	fd_check("ppo: dv", ppo_objective, P.v, N, dv);
	/* a mean ratio past ratio_threshold zeroes loss and gradient */
	memset(dlp, 0, N * sizeof *dlp);
	P.a.ratio_threshold = 1.0f;
	loss = lmf_ppo_loss(&st, dlp, NULL, P.lp, P.oldlp, P.v, P.oldv,
	    P.adv, P.ret, P.mask, N, &P.a);
	for (k = 0; k < N && dlp[k] == 0; k++)
		;
	ok(loss == 0 && st.pg_loss == 0 && k == N && st.ratio > 1,
	    "ppo: ratio_threshold zeroes the loss (ratio %.4f)", st.ratio);

	free(mask), free(lp), free(reflp), free(scores), free(values);
	free(kl), free(rw), free(adv), free(ret), free(radv), free(rret);
	free(dlp), free(dv), free(rdlp), free(rdv), free(P.lp), free(P.v);
	free(P.oldv), free(P.adv), free(P.ret);
}

int
main(int argc, char **argv)
{
	static const char *const dpo[] = { "sigmoid", "sigmoid_ls_ftx",
		"hinge", "ipo", "kto_pair", "orpo", "orpo_ftx", "simpo",
		"simpo_ftx" };
	static const char *const kto[] = { "mixed", "klzero_ftx",
		"desirable" };
	size_t i;

	lmf_init(argc, argv);
	lmf_gemm_init(0);
	lmf_rng_seed(&rng, 1337);
	if (!golden_open(argv[0]))
		return tap_done();
	test_logps();
	test_fused_golden();
	test_fused_vs_full();
	for (i = 0; i < sizeof dpo / sizeof *dpo; i++)
		test_dpo(dpo[i]);
	test_dpo_bco("sigmoid", LMF_PREF_SIGMOID);
	test_dpo_bco("ipo", LMF_PREF_IPO);
	test_dpo_bco("kto_pair", LMF_PREF_KTO_PAIR);
	ok(lmf_pref_loss_parse("kto_pair") == LMF_PREF_KTO_PAIR &&
	    lmf_pref_loss_parse("dpo") == -1, "pref_loss names");
	for (i = 0; i < sizeof kto / sizeof *kto; i++)
		test_kto(kto[i]);
	test_rm();
	test_ppo();
	lmf_item_free(&golden);
	return tap_done();
}
