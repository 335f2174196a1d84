/* kernels_test: every kernel against its reference, its backward against
 * central finite differences, and both against float64 PyTorch goldens
 * (tests/golden/kernels.lmf, from tests/golden/make_kernel_golden.py).
 * Tolerances, as max|diff| / max|ref| per tensor: 1e-4 for outputs and
 * fast-vs-ref, 2e-3 for gradients against goldens and differences. TAP. */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "lmf/gemm.h"
#include "lmf/kernels.h"
#include "lmf/stream.h"
#include "lmf/util.h"
#include "lmf/banned.h"
#include "tap.h"
#include "golden.h"

#define TOL_FWD 1e-4
#define TOL_GRAD 2e-3

static struct lmf_rng rng;
static struct lmf_item golden;
static int have_golden;

static float *
rnd(size_t n, float scale)
{
	float *p = xmallocarray(n ? n : 1, sizeof *p);
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = lmf_rng_normal(&rng) * scale;
	return p;
}

static float *
zeros(size_t n)
{
	return xcalloc(n ? n : 1, sizeof(float));
}

static float *
copy(const float *a, size_t n)
{
	float *p = xmallocarray(n ? n : 1, sizeof *p);

	memcpy(p, a, n * sizeof *p);
	return p;
}

/* ---- goldens ---- */

static void
golden_open(const char *argv0)
{
	char *path;
	struct lmf_rd *r;
	int err;

	path = golden_path(argv0, "kernels.lmf");
	r = lmf_rd_open(path, &err);
	if (r && lmf_rd_item(r, &golden) == 1)
		have_golden = 1;
	ok(have_golden, "golden file '%s' reads", path);
	if (r)
		lmf_rd_close(r);
	free(path);
}

static struct lmf_tensor *
gfind(const char *name, size_t n)
{
	struct lmf_tensor *t = lmf_item_find(&golden, name);

	if (!t || lmf_tensor_numel(t) != n) {
		printf("# golden tensor '%s' missing or not of %zu elements\n",
		    name, n);
		exit(1);
	}
	return t;
}

/* a golden float tensor, as f32 (a copy the caller may change) */
static float *
gf(const char *name, size_t n)
{
	struct lmf_tensor *t = gfind(name, n);

	if (t->dtype != LMF_F32 && lmf_tensor_to_f32(t) < 0) {
		printf("# golden tensor '%s' is not a float\n", name);
		exit(1);
	}
	return copy(t->data, n);
}

static int32_t *
gi(const char *name, size_t n)
{
	struct lmf_tensor *t = gfind(name, n);
	int32_t *p = xmallocarray(n, sizeof *p);

	if (t->dtype != LMF_I32) {
		printf("# golden tensor '%s' is not i32\n", name);
		exit(1);
	}
	memcpy(p, t->data, n * sizeof *p);
	return p;
}

static double
gscalar(const char *name)
{
	float *p = gf(name, 1);
	double v = p[0];

	free(p);
	return v;
}

/* ---- finite differences ----
 * A context holds a kernel's inputs and a run() that writes its output;
 * the objective is sum(out * g) (or the kernel's return value), and its
 * derivative in each input is what backward computes with dout = g. */
struct ctx {
	void (*run)(struct ctx *);
	float *out, *g;
	size_t nout;
	double ret;
	int use_ret;
	float *a, *b, *c, *w, *bias, *att, *rstd, *cs, *sn;
	const int32_t *ia, *ib;
	int N, C, OC, B, T, NH, NKV, HS, V;
	float eps, scale;
};

static double
objective(struct ctx *x)
{
	double s = 0;
	size_t i;

	x->run(x);
	if (x->use_ret)
		return x->ret;
	for (i = 0; i < x->nout; i++)
		s += (double)x->out[i] * x->g[i];
	return s;
}

/* compare grad with central differences on up to 48 entries of x */
static void
fd_check(const char *what, struct ctx *cx, float *x, size_t n,
    const float *grad)
{
	float num[48], ana[48];
	size_t i, k, m = n < 48 ? n : 48;
	char name[128];

	for (k = 0; k < m; k++) {
		float save, hi, lo;

		i = n <= 48 ? k : (size_t)lmf_rng_below(&rng, (uint32_t)n);
		save = x[i];
		hi = save + 1e-2f;
		lo = save - 1e-2f;
		x[i] = hi;
		num[k] = (float)objective(cx);
		x[i] = lo;
		num[k] = (float)((num[k] - objective(cx)) / ((double)hi - lo));
		x[i] = save;
		ana[k] = grad[i];
	}
	snprintf(name, sizeof name, "%s vs finite differences", what);
	cmp(name, ana, num, m, TOL_GRAD);
}

/* ---- gemm ---- */

static void
test_gemm(void)
{
	static const int shapes[][3] = { { 7, 5, 3 }, { 33, 17, 65 },
		{ 1, 1, 1 }, { 64, 48, 130 } };
	size_t s;
	int ta, tb;

	printf("# openblas core '%s', best for this cpu '%s', %d threads\n",
	    lmf_gemm_corename(), lmf_gemm_best_coretype() ?
	    lmf_gemm_best_coretype() : "none", lmf_gemm_threads());
	ok(!lmf_gemm_coretype_ok("Prescott", "SkylakeX") &&
	    !lmf_gemm_coretype_ok("Haswell", "SkylakeX") &&
	    !lmf_gemm_coretype_ok("Prescott", "Haswell") &&
	    lmf_gemm_coretype_ok("SKYLAKEX", "SkylakeX") &&
	    lmf_gemm_coretype_ok("Zen", "Haswell") &&
	    lmf_gemm_coretype_ok("Prescott", NULL),
	    "gemm core type ranking");
	for (s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
		int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];

		for (ta = 0; ta < 2; ta++) {
			for (tb = 0; tb < 2; tb++) {
				int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 1;
				int ldc = N + 2, arows = ta ? K : M;
				int brows = tb ? N : K;
				float *A = rnd((size_t)arows * lda, 1);
				float *Bm = rnd((size_t)brows * ldb, 1);
				float *C1 = rnd((size_t)M * ldc, 1);
				float *C2 = copy(C1, (size_t)M * ldc);
				float *C3 = zeros((size_t)M * ldc);
				char what[96];
				size_t i;
				int nan = 0;

				lmf_gemm(ta, tb, M, N, K, 0.7f, A, lda, Bm, ldb,
				    0.3f, C1, ldc);
				lmf_gemm_ref(ta, tb, M, N, K, 0.7f, A, lda, Bm,
				    ldb, 0.3f, C2, ldc);
				snprintf(what, sizeof what,
				    "gemm %c%c %dx%dx%d vs ref", ta ? 'T' : 'N',
				    tb ? 'T' : 'N', M, N, K);
				cmp(what, C1, C2, (size_t)M * ldc, 1e-5);
				/* beta 0 must not read C */
				for (i = 0; i < (size_t)M * ldc; i++)
					C3[i] = NAN;
				lmf_gemm(ta, tb, M, N, K, 1, A, lda, Bm, ldb, 0,
				    C3, ldc);
				for (i = 0; i < (size_t)M; i++)
					nan |= isnan(C3[i * ldc]);
				if (nan)
					ok(0, "gemm beta 0 ignores NaN in C");
				free(A);
				free(Bm);
				free(C1);
				free(C2);
				free(C3);
			}
		}
	}
}

/* ---- lmf_gemm_thin on LoRA's thin shapes, split into row blocks (M >=
 * N) and column blocks: against the reference on every transposition,
 * odd sizes, padded leading dimensions, beta 0 and 1; and byte for byte
 * the same on one thread as on all ---- */

static void
test_gemm_thin(void)
{
	static const int shapes[][3] = { { 1000, 8, 300 }, { 517, 700, 8 },
		{ 8, 700, 999 }, { 300, 5, 1030 }, { 3, 2, 1 } };
	int nt = lmf_gemm_threads(), same = 1, ta, tb;
	size_t s, i, n;

	for (s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
		int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];

		for (i = 0; i < 8; i++) {
			ta = (int)(i & 1), tb = (int)(i >> 1 & 1);
			int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 1;
			int ldc = N + 2;
			float beta = i & 4 ? 1.0f : 0.0f;
			float *A = rnd((size_t)(ta ? K : M) * lda, 1);
			float *Bm = rnd((size_t)(tb ? N : K) * ldb, 1);
			float *C1, *C2, *C3;
			char what[96];

			n = (size_t)M * ldc;
			C1 = rnd(n, 1);
			C2 = copy(C1, n);
			C3 = copy(C1, n);
			lmf_gemm_thin(ta, tb, M, N, K, 0.7f, A, lda, Bm, ldb,
			    beta, C1, ldc);
			lmf_gemm_ref(ta, tb, M, N, K, 0.7f, A, lda, Bm, ldb,
			    beta, C2, ldc);
			snprintf(what, sizeof what, "gemm_thin %c%c %dx%dx%d "
			    "beta %g vs ref", ta ? 'T' : 'N', tb ? 'T' : 'N',
			    M, N, K, beta);
			cmp(what, C1, C2, n, 1e-5);
			lmf_gemm_init(1);
			lmf_gemm_thin(ta, tb, M, N, K, 0.7f, A, lda, Bm, ldb,
			    beta, C3, ldc);
			lmf_gemm_init(nt);
			same &= !memcmp(C1, C3, n * sizeof *C1);
			free(A);
			free(Bm);
			free(C1);
			free(C2);
			free(C3);
		}
	}
	ok(same, "lmf_gemm_thin on 1 thread is byte for byte that on %d",
	    nt);
}

/* ---- memory: lmf_zero, lmf_add, lmf_copy_rows against plain loops, on
 * sizes below and above the threads' threshold and off the blocks ---- */

static void
test_memory(void)
{
	static const size_t ns[] = { 1, 15, 16385, 200003 };
	size_t n, i, k, r, c, rows, cols;
	float *x, *y, *want, *bias;
	int good = 1;

	for (k = 0; k < sizeof ns / sizeof ns[0]; k++) {
		n = ns[k];
		x = xmallocarray(n + 1, sizeof *x);
		y = xmallocarray(n + 1, sizeof *y);
		want = xmallocarray(n + 1, sizeof *want);
		for (i = 0; i <= n; i++) {
			x[i] = lmf_rng_normal(&rng);
			y[i] = want[i] = lmf_rng_normal(&rng);
		}
		for (i = 0; i < n; i++)
			want[i] += x[i];
		lmf_add(y, x, n);
		good &= !memcmp(y, want, (n + 1) * sizeof *y);
		lmf_zero(y, n);
		for (i = 0; i < n; i++)
			good &= y[i] == 0.0f && !signbit(y[i]);
		good &= y[n] == want[n];
		free(x);
		free(y);
		free(want);
	}
	ok(good, "lmf_add is y += x and lmf_zero zeroes, not a float past n");
	/* a (rows, 7) slice out of rows of 19, into rows of 11, with a bias */
	rows = 30001, cols = 7;
	x = xmallocarray(rows * 19, sizeof *x);
	y = xmallocarray(rows * 11, sizeof *y);
	want = xmallocarray(rows * 11, sizeof *want);
	bias = xmallocarray(cols, sizeof *bias);
	for (i = 0; i < rows * 19; i++)
		x[i] = lmf_rng_normal(&rng);
	for (i = 0; i < rows * 11; i++)
		y[i] = want[i] = lmf_rng_normal(&rng);
	for (c = 0; c < cols; c++)
		bias[c] = lmf_rng_normal(&rng);
	for (k = 0, good = 1; k < 2; k++) {
		for (r = 0; r < rows; r++)
			for (c = 0; c < cols; c++)
				want[r * 11 + 3 + c] = x[r * 19 + 5 + c] +
				    (k ? bias[c] : 0.0f);
		lmf_copy_rows(y + 3, 11, x + 5, 19, k ? bias : NULL,
		    (long)rows, cols);
		good &= !memcmp(y, want, rows * 11 * sizeof *y);
	}
	ok(good, "lmf_copy_rows copies the strided rows, adding the bias");
	free(x);
	free(y);
	free(want);
	free(bias);
}

/* ---- embedding ---- */

static void
test_embedding(void)
{
	int V = 11, C = 8, N = 9;
	float *wte = gf("embedding.wte", (size_t)V * C);
	int32_t *tok = gi("embedding.tokens", N);
	float *dout = gf("embedding.dout", (size_t)N * C);
	float *out = zeros((size_t)N * C), *dwte = zeros((size_t)V * C);
	float *want = gf("embedding.out", (size_t)N * C);
	float *dwant = gf("embedding.dwte", (size_t)V * C);
	int32_t bad[3] = { 0, 11, 2 };

	lmf_embedding_forward(out, tok, wte, N, C);
	cmp("embedding forward vs torch", out, want, (size_t)N * C, TOL_FWD);
	lmf_embedding_backward(dwte, dout, tok, N, C);
	cmp("embedding backward dwte vs torch", dwte, dwant, (size_t)V * C,
	    TOL_GRAD);
	ok(lmf_embedding_check(tok, N, V) == -1 &&
	    lmf_embedding_check(bad, 3, V) == 1 &&
	    lmf_embedding_check(bad, 3, 12) == -1, "embedding check");
	free(wte);
	free(tok);
	free(dout);
	free(out);
	free(dwte);
	free(want);
	free(dwant);
}

/* ---- rmsnorm ---- */

static void
run_rmsnorm(struct ctx *x)
{
	lmf_rmsnorm_forward(x->out, x->rstd, x->a, x->w, x->eps, x->N, x->C);
}

static void
test_rmsnorm(void)
{
	int N = 6, C = 16, n = N * C;
	float eps = (float)gscalar("rmsnorm.eps");
	float *inp = gf("rmsnorm.inp", n), *w = gf("rmsnorm.weight", C);
	float *dout = gf("rmsnorm.dout", n), *out = zeros(n);
	float *want = gf("rmsnorm.out", n), *dwant = gf("rmsnorm.dinp", n);
	float *dwwant = gf("rmsnorm.dweight", C), *rstd = zeros(N);
	float *dinp = zeros(n), *dw = zeros(C), *dinp2 = zeros(n);
	float *inplace;
	struct ctx cx = { 0 };

	lmf_rmsnorm_forward(out, rstd, inp, w, eps, N, C);
	cmp("rmsnorm forward vs torch", out, want, n, TOL_FWD);
	lmf_rmsnorm_backward(dinp, dw, dout, inp, w, rstd, N, C);
	cmp("rmsnorm backward dinp vs torch", dinp, dwant, n, TOL_GRAD);
	cmp("rmsnorm backward dweight vs torch", dw, dwwant, C, TOL_GRAD);
	/* NULL dweight still gives dinp; a second call accumulates */
	lmf_rmsnorm_backward(dinp2, NULL, dout, inp, w, rstd, N, C);
	lmf_rmsnorm_backward(dinp2, NULL, dout, inp, w, rstd, N, C);
	for (int i = 0; i < n; i++)
		dinp2[i] *= 0.5f;
	cmp("rmsnorm backward accumulates, NULL dweight", dinp2, dinp, n,
	    1e-6);
	inplace = copy(inp, n);
	lmf_rmsnorm_forward(inplace, rstd, inplace, w, eps, N, C);
	cmp("rmsnorm forward in place", inplace, out, n, 0);
	/* finite differences */
	cx = (struct ctx){ .run = run_rmsnorm, .out = out, .g = dout,
		.nout = n, .a = inp, .w = w, .rstd = rstd, .eps = eps, .N = N,
		.C = C };
	fd_check("rmsnorm dinp", &cx, inp, n, dinp);
	fd_check("rmsnorm dweight", &cx, w, C, dw);
	free(inp);
	free(w);
	free(dout);
	free(out);
	free(want);
	free(dwant);
	free(dwwant);
	free(rstd);
	free(dinp);
	free(dw);
	free(dinp2);
	free(inplace);
}

/* ---- matmul ---- */

static void
run_matmul(struct ctx *x)
{
	lmf_matmul_forward(x->out, x->a, x->w, x->bias, x->N, x->C, x->OC);
}

static void
test_matmul(void)
{
	int N = 37, C = 29, OC = 23;
	float *inp = rnd((size_t)N * C, 1), *w = rnd((size_t)OC * C, 0.3f);
	float *bias = rnd(OC, 1), *dout = rnd((size_t)N * OC, 1);
	float *o1 = zeros((size_t)N * OC), *o2 = zeros((size_t)N * OC);
	float *dx1 = zeros((size_t)N * C), *dx2 = zeros((size_t)N * C);
	float *dw1 = zeros((size_t)OC * C), *dw2 = zeros((size_t)OC * C);
	float *db1 = zeros(OC), *db2 = zeros(OC);
	struct ctx cx;

	lmf_matmul_forward(o1, inp, w, bias, N, C, OC);
	lmf_matmul_forward_ref(o2, inp, w, bias, N, C, OC);
	cmp("matmul forward vs ref", o1, o2, (size_t)N * OC, TOL_FWD);
	lmf_matmul_backward(dx1, dw1, db1, dout, inp, w, N, C, OC);
	lmf_matmul_backward_ref(dx2, dw2, db2, dout, inp, w, N, C, OC);
	cmp("matmul backward dinp vs ref", dx1, dx2, (size_t)N * C, TOL_FWD);
	cmp("matmul backward dweight vs ref", dw1, dw2, (size_t)OC * C,
	    TOL_FWD);
	cmp("matmul backward dbias vs ref", db1, db2, OC, TOL_FWD);
	cx = (struct ctx){ .run = run_matmul, .out = o1, .g = dout,
		.nout = (size_t)N * OC, .a = inp, .w = w, .bias = bias, .N = N,
		.C = C, .OC = OC };
	fd_check("matmul dinp", &cx, inp, (size_t)N * C, dx1);
	fd_check("matmul dweight", &cx, w, (size_t)OC * C, dw1);
	fd_check("matmul dbias", &cx, bias, OC, db1);
	/* a frozen weight: only dinp, which accumulates */
	lmf_matmul_backward(dx1, NULL, NULL, dout, inp, w, N, C, OC);
	lmf_matmul_backward_ref(dx2, NULL, NULL, dout, inp, w, N, C, OC);
	cmp("matmul backward accumulates, NULL dweight", dx1, dx2,
	    (size_t)N * C, TOL_FWD);
	free(inp);
	free(w);
	free(bias);
	free(dout);
	free(o1);
	free(o2);
	free(dx1);
	free(dx2);
	free(dw1);
	free(dw2);
	free(db1);
	free(db2);

	/* torch */
	N = 5, C = 12, OC = 7;
	inp = gf("matmul.inp", (size_t)N * C);
	w = gf("matmul.weight", (size_t)OC * C);
	bias = gf("matmul.bias", OC);
	dout = gf("matmul.dout", (size_t)N * OC);
	o2 = gf("matmul.out", (size_t)N * OC);
	dx2 = gf("matmul.dinp", (size_t)N * C);
	dw2 = gf("matmul.dweight", (size_t)OC * C);
	db2 = gf("matmul.dbias", OC);
	o1 = zeros((size_t)N * OC);
	dx1 = zeros((size_t)N * C);
	dw1 = zeros((size_t)OC * C);
	db1 = zeros(OC);
	lmf_matmul_forward(o1, inp, w, bias, N, C, OC);
	cmp("matmul forward vs torch", o1, o2, (size_t)N * OC, TOL_FWD);
	lmf_matmul_backward(dx1, dw1, db1, dout, inp, w, N, C, OC);
	cmp("matmul backward dinp vs torch", dx1, dx2, (size_t)N * C,
	    TOL_GRAD);
	cmp("matmul backward dweight vs torch", dw1, dw2, (size_t)OC * C,
	    TOL_GRAD);
	cmp("matmul backward dbias vs torch", db1, db2, OC, TOL_GRAD);
	free(inp);
	free(w);
	free(bias);
	free(dout);
	free(o1);
	free(o2);
	free(dx1);
	free(dx2);
	free(dw1);
	free(dw2);
	free(db1);
	free(db2);
}

/* ---- rope ---- */

static void
run_rope(struct ctx *x)
{
	lmf_rope_forward(x->out, x->a, x->cs, x->sn, x->N, x->NH, x->HS);
}

static void
test_rope(void)
{
	int N = 10, nh = 3, HS = 8, half = HS / 2;
	size_t n = (size_t)N * nh * HS;
	double theta = gscalar("rope.theta"), inv[4];
	int32_t *pos = gi("rope.pos", N);
	float *inp = gf("rope.inp", n), *dout = gf("rope.dout", n);
	float *want = gf("rope.out", n), *dwant = gf("rope.dinp", n);
	float *cs = zeros((size_t)N * half), *sn = zeros((size_t)N * half);
	float *o1 = zeros(n), *o2 = zeros(n), *d1 = zeros(n), *d2 = zeros(n);
	float *ip;
	struct ctx cx;

	lmf_rope_inv_freq(inv, HS, theta);
	lmf_rope_cache(cs, sn, pos, inv, N, HS);
	lmf_rope_forward(o1, inp, cs, sn, N, nh, HS);
	lmf_rope_forward_ref(o2, inp, pos, theta, N, nh, HS);
	cmp("rope forward vs torch", o1, want, n, TOL_FWD);
	cmp("rope forward ref vs torch", o2, want, n, TOL_FWD);
	lmf_rope_backward(d1, dout, cs, sn, N, nh, HS);
	lmf_rope_backward_ref(d2, dout, pos, theta, N, nh, HS);
	cmp("rope backward vs torch", d1, dwant, n, TOL_GRAD);
	cmp("rope backward ref vs torch", d2, dwant, n, TOL_GRAD);
	ip = copy(inp, n);
	lmf_rope_forward(ip, ip, cs, sn, N, nh, HS);
	cmp("rope forward in place", ip, o1, n, 0);
	/* backward in place is the inverse rotation: it undoes forward */
	lmf_rope_backward(ip, ip, cs, sn, N, nh, HS);
	cmp("rope backward in place inverts forward", ip, inp, n, 1e-6);
	/* fast vs ref on a larger shape (the threaded path with OpenMP) */
	{
		int BN = 512, bh = 4, bhs = 64;
		size_t bn = (size_t)BN * bh * bhs;
		int32_t *bp = xmallocarray(BN, sizeof *bp);
		double binv[32];
		float *bc = zeros((size_t)BN * 32), *bs = zeros((size_t)BN * 32);
		float *bx = rnd(bn, 1), *by1 = zeros(bn), *by2 = zeros(bn);

		for (int t = 0; t < BN; t++)
			bp[t] = t % 200 + (t > 300 ? 3000 : 0);
		lmf_rope_inv_freq(binv, bhs, 1e6);
		lmf_rope_cache(bc, bs, bp, binv, BN, bhs);
		lmf_rope_forward(by1, bx, bc, bs, BN, bh, bhs);
		lmf_rope_forward_ref(by2, bx, bp, 1e6, BN, bh, bhs);
		cmp("rope HS=64 theta=1e6 forward vs ref", by1, by2, bn,
		    TOL_FWD);
		memset(by1, 0, bn * sizeof *by1);
		memset(by2, 0, bn * sizeof *by2);
		lmf_rope_backward(by1, bx, bc, bs, BN, bh, bhs);
		lmf_rope_backward_ref(by2, bx, bp, 1e6, BN, bh, bhs);
		cmp("rope HS=64 theta=1e6 backward vs ref", by1, by2, bn,
		    TOL_FWD);
		free(bp);
		free(bc);
		free(bs);
		free(bx);
		free(by1);
		free(by2);
	}
	cx = (struct ctx){ .run = run_rope, .out = o1, .g = dout, .nout = n,
		.a = inp, .cs = cs, .sn = sn, .N = N, .NH = nh, .HS = HS };
	fd_check("rope dinp", &cx, inp, n, d1);
	free(pos);
	free(inp);
	free(dout);
	free(want);
	free(dwant);
	free(cs);
	free(sn);
	free(o1);
	free(o2);
	free(d1);
	free(d2);
	free(ip);
}

/* ---- attention ---- */

/* the flash forward: att holds the logsumexps, w the scratch */
static void
run_attention(struct ctx *x)
{
	lmf_attention_flash_forward(x->out, x->att, x->w, x->a, x->b, x->c,
	    x->ia, x->ib, 0, x->B, x->T, x->NH, x->NKV, x->HS);
}

/* the flash kernels against out, dq, dk, dv computed otherwise */
static void
flash_vs(const char *what, const float *o, const float *dq, const float *dk,
    const float *dv, const float *q, const float *k, const float *v,
    const float *dout, const int32_t *mask, const int32_t *seg, int W, int B,
    int T, int NH, int NKV, int HS)
{
	size_t nq = (size_t)B * T * NH * HS, nk = (size_t)B * T * NKV * HS;
	float *o1 = zeros(nq), *lse = zeros((size_t)B * NH * T);
	float *dq1 = zeros(nq), *dk1 = zeros(nk), *dv1 = zeros(nk);
	float *scratch = zeros(lmf_attention_flash_scratch());
	char name[160];

	lmf_attention_flash_forward(o1, lse, scratch, q, k, v, mask, seg, W,
	    B, T, NH, NKV, HS);
	snprintf(name, sizeof name, "flash attention %s forward", what);
	cmp(name, o1, o, nq, TOL_FWD);
	lmf_attention_flash_backward(dq1, dk1, dv1, scratch, dout, o1, lse, q,
	    k, v, mask, seg, W, B, T, NH, NKV, HS);
	snprintf(name, sizeof name, "flash attention %s backward dq", what);
	cmp(name, dq1, dq, nq, TOL_FWD);
	snprintf(name, sizeof name, "flash attention %s backward dk", what);
	cmp(name, dk1, dk, nk, TOL_FWD);
	snprintf(name, sizeof name, "flash attention %s backward dv", what);
	cmp(name, dv1, dv, nk, TOL_FWD);
	free(o1);
	free(lse);
	free(dq1);
	free(dk1);
	free(dv1);
	free(scratch);
}

/* the flash kernels vs the references, forward and backward, on random
 * inputs */
static void
attention_vs_ref(const char *what, int B, int T, int NH, int NKV, int HS,
    const int32_t *mask, const int32_t *seg, int W)
{
	size_t nq = (size_t)B * T * NH * HS, nk = (size_t)B * T * NKV * HS;
	size_t na = (size_t)B * NH * T * T;
	float *q = rnd(nq, 1), *k = rnd(nk, 1), *v = rnd(nk, 1);
	float *dout = rnd(nq, 1), *o = zeros(nq), *a = zeros(na);
	float *dq = zeros(nq), *dk = zeros(nk), *dv = zeros(nk);
	char name[160];

	lmf_attention_forward_window_ref(o, a, q, k, v, mask, seg, W, B, T,
	    NH, NKV, HS);
	lmf_attention_backward_ref(dq, dk, dv, dout, a, q, k, v, B, T, NH,
	    NKV, HS);
	snprintf(name, sizeof name, "%s vs ref", what);
	flash_vs(name, o, dq, dk, dv, q, k, v, dout, mask, seg, W, B, T, NH,
	    NKV, HS);
	free(q);
	free(k);
	free(v);
	free(dout);
	free(o);
	free(a);
	free(dq);
	free(dk);
	free(dv);
}

static void
test_attention(void)
{
	int B = 3, T = 7, NH = 4, NKV = 2, HS = 8, i, t;
	size_t nq = (size_t)B * T * NH * HS, nk = (size_t)B * T * NKV * HS;
	size_t na = (size_t)B * NH * T * T;
	float *q = gf("attention.q", nq), *k = gf("attention.k", nk);
	float *v = gf("attention.v", nk), *dout = gf("attention.dout", nq);
	int32_t *mask = gi("attention.mask", (size_t)B * T);
	int32_t *seg = gi("attention.seg", (size_t)B * T);
	float *want = gf("attention.out", nq), *awant = gf("attention.att", na);
	float *dqw = gf("attention.dq", nq), *dkw = gf("attention.dk", nk);
	float *dvw = gf("attention.dv", nk);
	float *out = zeros(nq), *att = zeros(na), *dq = zeros(nq);
	float *dk = zeros(nk), *dv = zeros(nk);
	float *scratch = zeros(lmf_attention_flash_scratch());
	int32_t *m2, *s2;
	struct ctx cx;

	lmf_attention_forward_ref(out, att, q, k, v, mask, seg, B, T, NH, NKV,
	    HS);
	cmp("attention ref forward vs torch", out, want, nq, TOL_FWD);
	cmp("attention ref probabilities vs torch", att, awant, na, TOL_FWD);
	lmf_attention_backward_ref(dq, dk, dv, dout, att, q, k, v, B, T, NH,
	    NKV, HS);
	cmp("attention ref backward dq vs torch", dq, dqw, nq, TOL_GRAD);
	cmp("attention ref backward dk vs torch", dk, dkw, nk, TOL_GRAD);
	cmp("attention ref backward dv vs torch", dv, dvw, nk, TOL_GRAD);
	flash_vs("gqa+padding+segments vs torch", want, dqw, dkw, dvw, q, k, v,
	    dout, mask, seg, 0, B, T, NH, NKV, HS);
	/* finite differences on the flash kernels (att: the logsumexps) */
	memset(dq, 0, nq * sizeof *dq);
	memset(dk, 0, nk * sizeof *dk);
	memset(dv, 0, nk * sizeof *dv);
	lmf_attention_flash_forward(out, att, scratch, q, k, v, mask, seg, 0,
	    B, T, NH, NKV, HS);
	lmf_attention_flash_backward(dq, dk, dv, scratch, dout, out, att, q, k,
	    v, mask, seg, 0, B, T, NH, NKV, HS);
	cx = (struct ctx){ .run = run_attention, .out = out, .g = dout,
		.nout = nq, .att = att, .w = scratch, .a = q, .b = k, .c = v,
		.ia = mask, .ib = seg, .B = B, .T = T, .NH = NH, .NKV = NKV,
		.HS = HS };
	fd_check("attention dq", &cx, q, nq, dq);
	fd_check("attention dk", &cx, k, nk, dk);
	fd_check("attention dv", &cx, v, nk, dv);

	/* more than one block of query rows, padding and segments */
	T = 300;
	m2 = xmallocarray((size_t)2 * T, sizeof *m2);
	s2 = xmallocarray((size_t)2 * T, sizeof *s2);
	for (i = 0; i < 2; i++) {
		for (t = 0; t < T; t++) {
			m2[i * T + t] = i == 0 ? t < 250 : t >= 20;
			s2[i * T + t] = i == 0 ? t / 97 : (t < 20 ? 0 :
			    t < 140 ? 1 : t < 141 ? 2 : 3);
		}
	}
	attention_vs_ref("T=300 padded+packed", 2, T, 4, 2, 16, m2, s2, 0);
	attention_vs_ref("T=300 no mask", 1, T, 4, 2, 16, NULL, NULL, 0);
	attention_vs_ref("mqa (1 kv head)", 2, 9, 3, 1, 6, NULL, NULL, 0);
	attention_vs_ref("mha (kv heads = heads)", 2, 9, 2, 2, 6, m2, NULL, 0);
	attention_vs_ref("T=300 sliding window 37", 1, T, 4, 2, 16, NULL, NULL,
	    37);
	attention_vs_ref("T=300 padded+packed, window 50", 2, T, 4, 2, 16, m2,
	    s2, 50);
	free(m2);
	free(s2);
	free(q);
	free(k);
	free(v);
	free(dout);
	free(mask);
	free(seg);
	free(want);
	free(awant);
	free(dqw);
	free(dkw);
	free(dvw);
	free(out);
	free(att);
	free(dq);
	free(dk);
	free(dv);
	free(scratch);
}

/* ---- swiglu ---- */

static void
run_swiglu(struct ctx *x)
{
	lmf_swiglu_forward(x->out, x->a, x->b, (long)x->N);
}

static void
test_swiglu(void)
{
	int n = 40;
	float *g = gf("swiglu.gate", n), *u = gf("swiglu.up", n);
	float *dout = gf("swiglu.dout", n), *want = gf("swiglu.out", n);
	float *dgw = gf("swiglu.dgate", n), *duw = gf("swiglu.dup", n);
	float *out = zeros(n), *dg = zeros(n), *du = zeros(n);
	struct ctx cx;

	lmf_swiglu_forward(out, g, u, n);
	cmp("swiglu forward vs torch", out, want, n, TOL_FWD);
	lmf_swiglu_backward(dg, du, dout, g, u, n);
	cmp("swiglu backward dgate vs torch", dg, dgw, n, TOL_GRAD);
	cmp("swiglu backward dup vs torch", du, duw, n, TOL_GRAD);
	cx = (struct ctx){ .run = run_swiglu, .out = out, .g = dout,
		.nout = n, .a = g, .b = u, .N = n };
	/* the first two gates are +20 and -30: flat, leave them out */
	fd_check("swiglu dgate", &cx, g + 2, n - 2, dg + 2);
	fd_check("swiglu dup", &cx, u, n, du);
	free(g);
	free(u);
	free(dout);
	free(want);
	free(dgw);
	free(duw);
	free(out);
	free(dg);
	free(du);
}

/* ---- softmax, log-softmax ---- */

static void
run_softmax(struct ctx *x)
{
	lmf_softmax_forward(x->out, x->a, x->N, x->V);
}

static void
run_logsoftmax(struct ctx *x)
{
	lmf_logsoftmax_forward(x->out, x->a, x->N, x->V);
}

static void
test_softmax(void)
{
	static const char *const kinds[] = { "softmax", "logsoftmax" };
	int N = 4, V = 9, n = N * V, j;

	for (j = 0; j < 2; j++) {
		char name[64], what[96];
		float *inp, *dout, *want, *dwant, *out = zeros(n);
		float *dinp = zeros(n), *ip;
		struct ctx cx;

		snprintf(name, sizeof name, "%s.inp", kinds[j]);
		inp = gf(name, n);
		snprintf(name, sizeof name, "%s.dout", kinds[j]);
		dout = gf(name, n);
		snprintf(name, sizeof name, "%s.out", kinds[j]);
		want = gf(name, n);
		snprintf(name, sizeof name, "%s.dinp", kinds[j]);
		dwant = gf(name, n);
		(j ? lmf_logsoftmax_forward : lmf_softmax_forward)(out, inp, N,
		    V);
		snprintf(what, sizeof what, "%s forward vs torch", kinds[j]);
		cmp(what, out, want, n, TOL_FWD);
		(j ? lmf_logsoftmax_backward : lmf_softmax_backward)(dinp, dout,
		    out, N, V);
		snprintf(what, sizeof what, "%s backward vs torch", kinds[j]);
		cmp(what, dinp, dwant, n, TOL_GRAD);
		ip = copy(inp, n);
		(j ? lmf_logsoftmax_forward : lmf_softmax_forward)(ip, ip, N, V);
		snprintf(what, sizeof what, "%s forward in place", kinds[j]);
		cmp(what, ip, out, n, 0);
		cx = (struct ctx){ .run = j ? run_logsoftmax : run_softmax,
			.out = out, .g = dout, .nout = n, .a = inp, .N = N,
			.V = V };
		snprintf(what, sizeof what, "%s dinp", kinds[j]);
		fd_check(what, &cx, inp, n, dinp);
		free(inp);
		free(dout);
		free(want);
		free(dwant);
		free(out);
		free(dinp);
		free(ip);
	}
}

/* ---- cross-entropy ---- */

static void
run_ce(struct ctx *x)
{
	x->ret = lmf_crossentropy_forward(NULL, x->a, x->ia, x->N, x->V) *
	    x->scale;
}

static void
test_crossentropy(void)
{
	int B = 2, T = 5, V = 13, N = B * T, i, cnt = 0;
	size_t n = (size_t)N * V;
	float *logits = gf("crossentropy.logits", n);
	int32_t *labels = gi("crossentropy.labels", N);
	int32_t *twant = gi("crossentropy.targets", N);
	int32_t *tg = xmallocarray(N, sizeof *tg);
	float scale = (float)gscalar("crossentropy.scale");
	float *lwant = gf("crossentropy.losses", N);
	float *dwant = gf("crossentropy.dlogits", n);
	double sumwant = gscalar("crossentropy.losssum"), s1, s2, s3;
	float *losses = zeros(N), *d = zeros(n), *ip, sumf, sumw;
	struct ctx cx;

	lmf_labels_shift(tg, labels, B, T);
	ok(memcmp(tg, twant, N * sizeof *tg) == 0,
	    "labels shifted by one, -100 last, as torch");
	lmf_labels_shift(labels, labels, B, T);
	ok(memcmp(labels, twant, N * sizeof *tg) == 0, "labels shift in place");
	s1 = lmf_crossentropy_backward(d, losses, logits, tg, scale, N, V);
	sumf = (float)s1;
	sumw = (float)sumwant;
	cmp("crossentropy summed loss vs torch", &sumf, &sumw, 1, 1e-5);
	cmp("crossentropy row losses vs torch", losses, lwant, N, TOL_FWD);
	cmp("crossentropy dlogits (sum / count) vs torch", d, dwant, n,
	    TOL_GRAD);
	s2 = lmf_crossentropy_forward(NULL, logits, tg, N, V);
	ok(s1 == s2, "crossentropy forward alone gives the same sum");
	ip = copy(logits, n);
	s3 = lmf_crossentropy_backward(ip, NULL, ip, tg, scale, N, V);
	cmp("crossentropy in place (dlogits = logits)", ip, d, n, 0);
	ok(s3 == s1, "crossentropy in place loss");
	cx = (struct ctx){ .run = run_ce, .use_ret = 1, .a = logits, .ia = tg,
		.N = N, .V = V, .scale = scale };
	fd_check("crossentropy dlogits", &cx, logits, n, d);
	free(logits);
	free(labels);
	free(twant);
	free(tg);
	free(lwant);
	free(dwant);
	free(losses);
	free(d);
	free(ip);

	/* fast vs ref on a wider vocabulary with ignored rows (big enough
	 * for the threaded path when built with OpenMP) */
	N = 80, V = 1000, n = (size_t)N * V;
	logits = rnd(n, 3);
	tg = xmallocarray(N, sizeof *tg);
	for (i = 0; i < N; i++) {
		tg[i] = i % 5 == 2 ? LMF_IGNORE_INDEX :
		    (int32_t)lmf_rng_below(&rng, V);
		cnt += tg[i] != LMF_IGNORE_INDEX;
	}
	d = rnd(n, 1);
	dwant = rnd(n, 1);
	losses = zeros(N);
	lwant = zeros(N);
	s1 = lmf_crossentropy_backward(d, losses, logits, tg, 1.0f / cnt, N,
	    V);
	s2 = lmf_crossentropy_backward_ref(dwant, lwant, logits, tg,
	    1.0f / cnt, N, V);
	sumf = (float)s1;
	sumw = (float)s2;
	cmp("crossentropy N=80 V=1000 summed loss vs ref", &sumf, &sumw, 1, 1e-5);
	cmp("crossentropy N=80 V=1000 row losses vs ref", losses, lwant, N,
	    TOL_FWD);
	cmp("crossentropy N=80 V=1000 dlogits vs ref (ignored rows zeroed)", d,
	    dwant, n, TOL_FWD);
	free(logits);
	free(tg);
	free(d);
	free(dwant);
	free(losses);
	free(lwant);
}

int
main(int argc, char **argv)
{
	double t0;

	lmf_init(argc, argv);
	lmf_gemm_init(0);
	lmf_rng_seed(&rng, 1337);
	t0 = lmf_now();
	golden_open(argv[0]);
	if (!have_golden) {
		printf("1..%d\n", ntest);
		return 1;
	}
	test_gemm();
	test_gemm_thin();
	test_memory();
	test_embedding();
	test_rmsnorm();
	test_matmul();
	test_rope();
	test_attention();
	test_swiglu();
	test_softmax();
	test_crossentropy();
	printf("# %.2f s\n", lmf_now() - t0);
	printf("1..%d\n", ntest);
	lmf_item_free(&golden);
	return nfail ? 1 : 0;
}
