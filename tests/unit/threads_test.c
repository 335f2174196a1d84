/* threads_test: the threaded kernels and optimizer loops. On 1 and on 2
 * threads they agree within float rounding, twice on the same thread count
 * they agree bit for bit, and they match the references; lmf_gemm from
 * inside a parallel region (attention's use) computes the right product;
 * the vectorised exp keeps NaN and gives exact zeros for hidden keys. TAP. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "lmf/gemm.h"
#include "lmf/kernels.h"
#include "lmf/llama.h"
#include "lmf/optim.h"
#include "lmf/util.h"
#include "lmf/banned.h"
#include "tap.h"

#define TOL 1e-5

static struct lmf_rng rng;

static float *
randn(size_t n, float sd)
{
	float *x = xmallocarray(n, sizeof *x);
	size_t i;

	for (i = 0; i < n; i++)
		x[i] = sd * (2.0f * lmf_rng_uniform(&rng) - 1.0f);
	return x;
}

static float *
zeros(size_t n)
{
	return xcalloc(n, sizeof(float));
}

/* max |a - b| / max(max |b|, 1e-30) */
static double
rel(const float *a, const float *b, size_t n)
{
	double d = 0, m = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		double e = fabs((double)a[i] - b[i]);

		d = e > d || isnan(e) ? e : d;
		m = fabs(b[i]) > m ? fabs(b[i]) : m;
	}
	return d / (m > 1e-30 ? m : 1e-30);
}

/* one run of every threaded kernel on fixed inputs, outputs in out[] */
enum { O_FA, O_FLSE, O_FDQ, O_FDK, O_FDV, O_DLOG, O_SWI, O_DGATE, O_DUP,
	O_RMS, O_DRMS, O_DW, O_W, O_M, O_V, O_G, NOUT };

struct shapes {
	int B, T, NH, NKV, HS, N, V, C;
	long nswi, nadam;
};

static const struct shapes S = { 2, 256, 4, 2, 32, 512, 1000, 256,
	200000, 100000 };

static struct inputs {
	float *q, *k, *v, *dout, *logits, *gate, *up, *dswi, *x, *wn, *dx;
	float *w0, *g0;
	int32_t *targ;
} in;

static size_t outn[NOUT];

static void
make_inputs(void)
{
	size_t qn = (size_t)S.B * S.T * S.NH * S.HS;
	size_t kn = (size_t)S.B * S.T * S.NKV * S.HS;
	int i;

	in.q = randn(qn, 1);
	in.k = randn(kn, 1);
	in.v = randn(kn, 1);
	in.dout = randn(qn, 1);
	in.logits = randn((size_t)S.N * S.V, 4);
	in.targ = xmallocarray((size_t)S.N, sizeof *in.targ);
	for (i = 0; i < S.N; i++)
		in.targ[i] = i % 7 == 3 ? LMF_IGNORE_INDEX :
		    (int32_t)lmf_rng_below(&rng, (uint32_t)S.V);
	in.gate = randn((size_t)S.nswi, 6);
	in.up = randn((size_t)S.nswi, 1);
	in.dswi = randn((size_t)S.nswi, 1);
	in.x = randn((size_t)S.N * S.C, 2);
	in.wn = randn((size_t)S.C, 1);
	in.dx = randn((size_t)S.N * S.C, 1);
	in.w0 = randn((size_t)S.nadam, 1);
	in.g0 = randn((size_t)S.nadam, 3);
	outn[O_FA] = outn[O_FDQ] = qn;
	outn[O_FLSE] = (size_t)S.B * S.NH * S.T;
	outn[O_FDK] = outn[O_FDV] = kn;
	outn[O_DLOG] = (size_t)S.N * S.V;
	outn[O_SWI] = outn[O_DGATE] = outn[O_DUP] = (size_t)S.nswi;
	outn[O_RMS] = outn[O_DRMS] = (size_t)S.N * S.C;
	outn[O_DW] = (size_t)S.C;
	outn[O_W] = outn[O_M] = outn[O_V] = outn[O_G] = (size_t)S.nadam;
}

static void
run(float **o, double *loss, double *norm)
{
	float *fscr = zeros(lmf_attention_flash_scratch());
	float *rstd = zeros((size_t)S.N);
	struct lmf_adamw a;
	struct lmf_tparam tp = { 0 };
	int i;

	for (i = 0; i < NOUT; i++)
		o[i] = zeros(outn[i]);
	lmf_attention_flash_forward(o[O_FA], o[O_FLSE], fscr, in.q, in.k,
	    in.v, NULL, NULL, 0, S.B, S.T, S.NH, S.NKV, S.HS);
	lmf_attention_flash_backward(o[O_FDQ], o[O_FDK], o[O_FDV], fscr,
	    in.dout, o[O_FA], o[O_FLSE], in.q, in.k, in.v, NULL, NULL, 0, S.B,
	    S.T, S.NH, S.NKV, S.HS);
	*loss = lmf_crossentropy_backward(o[O_DLOG], NULL, in.logits,
	    in.targ, 1.0f / S.N, S.N, S.V);
	lmf_swiglu_forward(o[O_SWI], in.gate, in.up, S.nswi);
	lmf_swiglu_backward(o[O_DGATE], o[O_DUP], in.dswi, in.gate, in.up,
	    S.nswi);
	lmf_rmsnorm_forward(o[O_RMS], rstd, in.x, in.wn, 1e-5f, S.N, S.C);
	lmf_rmsnorm_backward(o[O_DRMS], o[O_DW], in.dx, in.x, in.wn, rstd,
	    S.N, S.C);
	/* two AdamW steps with clipping */
	memcpy(o[O_W], in.w0, outn[O_W] * sizeof(float));
	lmf_adamw_init(&a, (uint64_t)S.nadam);
	a.weight_decay = 0.01;
	snprintf(tp.name, sizeof tp.name, "w");
	tp.w = o[O_W];
	tp.g = o[O_G];
	tp.numel = (uint64_t)S.nadam;
	tp.decay = 1;
	for (i = 0; i < 2; i++) {
		memcpy(o[O_G], in.g0, outn[O_G] * sizeof(float));
		*norm = lmf_grad_clip(&tp, 1, 1.0);
		lmf_adamw_step(&a, &tp, 1, 1e-3);
	}
	memcpy(o[O_M], a.m, outn[O_M] * sizeof(float));
	memcpy(o[O_V], a.v, outn[O_V] * sizeof(float));
	lmf_adamw_free(&a);
	free(fscr);
	free(rstd);
}

static void
free_outs(float **o)
{
	int i;

	for (i = 0; i < NOUT; i++)
		free(o[i]);
}

static const char *const names[NOUT] = { "flash attention out",
	"flash attention lse", "flash attention dq", "flash attention dk",
	"flash attention dv", "cross-entropy dlogits",
	"swiglu out", "swiglu dgate", "swiglu dup", "rmsnorm out",
	"rmsnorm dinp", "rmsnorm dweight", "adamw w", "adamw m", "adamw v",
	"clipped grad" };

static void
test_threads(void)
{
	float *o1[NOUT], *o2[NOUT], *o2b[NOUT];
	double l1, l2, l2b, n1, n2, n2b;
	int i;

	lmf_gemm_init(1);
	run(o1, &l1, &n1);
	lmf_gemm_init(2);
	run(o2, &l2, &n2);
	run(o2b, &l2b, &n2b);
	for (i = 0; i < NOUT; i++) {
		double r = rel(o2[i], o1[i], outn[i]);

		printf("# maxdiff %s 2 threads vs 1: rel %.3g\n", names[i], r);
		ok(r <= TOL, "%s: 2 threads vs 1 within %g", names[i], TOL);
		ok(!memcmp(o2[i], o2b[i], outn[i] * sizeof(float)),
		    "%s: 2 threads twice, identical", names[i]);
	}
	ok(fabs(l2 - l1) <= TOL * fabs(l1), "loss: 2 threads vs 1");
	ok(l2 == l2b, "loss: 2 threads twice, identical");
	ok(fabs(n2 - n1) <= TOL * fabs(n1), "grad norm: 2 threads vs 1");
	ok(n2 == n2b, "grad norm: 2 threads twice, identical");
	free_outs(o1);
	free_outs(o2);
	free_outs(o2b);
}

/* the fast kernels against their references, on 2 threads */
static void
test_refs(void)
{
	size_t qn = (size_t)S.B * S.T * S.NH * S.HS;
	size_t kn = (size_t)S.B * S.T * S.NKV * S.HS;
	size_t pn = (size_t)S.B * S.NH * S.T * S.T, ln = (size_t)S.N * S.V;
	float *o = zeros(qn), *lse = zeros((size_t)S.B * S.NH * S.T);
	float *oref = zeros(qn), *pref = zeros(pn), *dq = zeros(qn);
	float *dk = zeros(kn), *dv = zeros(kn), *dqr = zeros(qn);
	float *dkr = zeros(kn), *dvr = zeros(kn), *d = zeros(ln);
	float *dr = zeros(ln), *scratch = zeros(lmf_attention_flash_scratch());
	double l, lr;

	lmf_gemm_init(2);
	lmf_attention_flash_forward(o, lse, scratch, in.q, in.k, in.v, NULL,
	    NULL, 0, S.B, S.T, S.NH, S.NKV, S.HS);
	lmf_attention_forward_ref(oref, pref, in.q, in.k, in.v, NULL, NULL,
	    S.B, S.T, S.NH, S.NKV, S.HS);
	ok(rel(o, oref, qn) < TOL, "flash attention forward vs ref (rel %.3g)",
	    rel(o, oref, qn));
	lmf_attention_flash_backward(dq, dk, dv, scratch, in.dout, o, lse,
	    in.q, in.k, in.v, NULL, NULL, 0, S.B, S.T, S.NH, S.NKV, S.HS);
	lmf_attention_backward_ref(dqr, dkr, dvr, in.dout, pref, in.q, in.k,
	    in.v, S.B, S.T, S.NH, S.NKV, S.HS);
	ok(rel(dq, dqr, qn) < TOL && rel(dk, dkr, kn) < TOL &&
	    rel(dv, dvr, kn) < TOL, "flash attention backward vs ref (rel %.3g "
	    "%.3g %.3g)", rel(dq, dqr, qn), rel(dk, dkr, kn),
	    rel(dv, dvr, kn));
	l = lmf_crossentropy_backward(d, NULL, in.logits, in.targ,
	    1.0f / S.N, S.N, S.V);
	lr = lmf_crossentropy_backward_ref(dr, NULL, in.logits, in.targ,
	    1.0f / S.N, S.N, S.V);
	ok(fabs(l - lr) <= 1e-6 * fabs(lr) && rel(d, dr, ln) < TOL,
	    "cross-entropy vs ref (loss %.9g %.9g, dlogits rel %.3g)", l, lr,
	    rel(d, dr, ln));
	free(o), free(lse), free(oref), free(pref), free(dq), free(dk);
	free(dv), free(dqr), free(dkr), free(dvr), free(d), free(dr);
	free(scratch);
}

/* what the vectorised exp must keep: NaN in a logit gives a NaN loss,
 * huge negative logits give exact zeros, hidden keys exact zeros */
static void
test_exp_edges(void)
{
	int V = 64, i;
	float *x = randn((size_t)V * 2, 1), *d = zeros((size_t)V * 2);
	int32_t t[2] = { 5, 7 }, mask[4] = { 1, 0, 1, 1 };
	float q[4] = { 1, 2, 3, 4 }, v[4] = { 1, 1e30f, 3, 4 }, lse[4];
	float out[4], out2[4], dq[4] = { 0 }, dk[4] = { 0 }, dv[4] = { 0 };
	float *scr = zeros(lmf_attention_flash_scratch());
	double l;

	x[3] = NAN;
	x[V + 9] = -1e30f;
	l = lmf_crossentropy_backward(d, NULL, x, t, 1.0f, 2, V);
	ok(isnan(l), "cross-entropy: a NaN logit gives a NaN loss");
	ok(d[V + 9] == 0 && isfinite(d[V + 7]),
	    "cross-entropy: a logit of -1e30 gets a gradient of exactly 0");
	lmf_softmax_forward(x, x, 2, V);
	ok(x[V + 9] == 0, "softmax: exp of -1e30 is exactly 0");
	/* key 1 is padding: its value of 1e30 or 2 leaves every output the
	 * same only when its probability is exactly 0 */
	lmf_attention_flash_forward(out, lse, scr, q, q, v, mask, NULL, 0, 1,
	    4, 1, 1, 1);
	v[1] = 2;
	lmf_attention_flash_forward(out2, lse, scr, q, q, v, mask, NULL, 0, 1,
	    4, 1, 1, 1);
	lmf_attention_flash_backward(dq, dk, dv, scr, q, out2, lse, q, q, v,
	    mask, NULL, 0, 1, 4, 1, 1, 1);
	for (i = 0; i < 4 && out[i] == out2[i] && isfinite(out[i]); i++)
		;
	ok(i == 4 && dv[1] == 0 && dk[1] == 0,
	    "attention: a padded key's probability is exactly 0");
	free(scr);
	free(x);
	free(d);
}

/* lmf_gemm called by several threads at once inside a parallel region */
static void
test_gemm_in_parallel(void)
{
	enum { M = 96, N = 80, K = 72, NT = 4 };
	float *a = randn((size_t)NT * M * K, 1), *b = randn((size_t)K * N, 1);
	float *c = zeros((size_t)NT * M * N), *cr = zeros((size_t)NT * M * N);
	int i, inpar = 0;

	lmf_gemm_init(2);
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(2) reduction(+:inpar)
#endif
	for (i = 0; i < NT; i++) {
#ifdef _OPENMP
		inpar += omp_in_parallel();
#endif
		lmf_gemm(LMF_NOTRANS, LMF_NOTRANS, M, N, K, 1.0f,
		    a + (size_t)i * M * K, K, b, N, 0.0f,
		    c + (size_t)i * M * N, N);
	}
	for (i = 0; i < NT; i++)
		lmf_gemm_ref(LMF_NOTRANS, LMF_NOTRANS, M, N, K, 1.0f,
		    a + (size_t)i * M * K, K, b, N, 0.0f,
		    cr + (size_t)i * M * N, N);
	printf("# %d of %d products ran inside a parallel region\n", inpar,
	    NT);
	ok(rel(c, cr, (size_t)NT * M * N) < TOL,
	    "lmf_gemm inside a parallel region vs ref (rel %.3g)",
	    rel(c, cr, (size_t)NT * M * N));
	free(a), free(b), free(c), free(cr);
}

int
main(int argc, char **argv)
{
	lmf_init(argc, argv);
	lmf_gemm_init(2);
	lmf_rng_seed(&rng, 4242);
	make_inputs();
	test_threads();
	test_refs();
	test_exp_edges();
	test_gemm_in_parallel();
	printf("1..%d\n", ntest);
	return nfail ? 1 : 0;
}
