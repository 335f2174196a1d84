/* loss.c: the training objectives of loss.h (log-probs of label tokens,
 * the DPO family, KTO, the reward model's pairs, PPO), each with its plain
 * double-precision reference. Sizes are named as in kernels.h. */
#include <math.h>
#include <string.h>

#include "lmf/gemm.h"
#include "lmf/kernels.h"
#include "lmf/loss.h"
#include "lmf/util.h"
#include "lmf/banned.h"

/* Rows are independent, so the row loops over (rows, V) run on OpenMP
 * threads when there is enough work, each row on one thread: the results
 * do not depend on the thread count. */
#ifdef _OPENMP
#define OMP_PRAGMA(x) _Pragma(#x)
#define OMP_ROWS(work) OMP_PRAGMA(omp parallel for schedule(static) \
	if ((long)(work) >= 65536))
#else
#define OMP_ROWS(work)
#endif

#define IGN LMF_IGNORE_INDEX

static void
check_targets(const int32_t *targets, long N, int V)
{
	long n;

	for (n = 0; n < N; n++)
		if (targets[n] != IGN && (targets[n] < 0 || targets[n] >= V))
			BUG("logps: target %d of row %ld outside [0, %d)",
			    (int)targets[n], n, V);
}

/* log sigmoid(x) and sigmoid(x) without overflow on either side */
static double
logsig(double x)
{
	return x >= 0 ? -log1p(exp(-x)) : x - log1p(exp(x));
}

static double
sig(double x)
{
	return x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x));
}

/* ------------------------------------------------------------------ */
/* log-probs of label tokens */

/* logsumexp of one row: we subtract the max so no exp overflows, and sum
 * in double so a 150k vocabulary loses nothing */
static float
row_lse(const float *x, int V)
{
	float mx = x[0];
	double s = 0;
	int i;

	for (i = 1; i < V; i++)
		mx = x[i] > mx ? x[i] : mx;
	for (i = 0; i < V; i++)
		s += expf(x[i] - mx);
	return mx + (float)log(s);
}

/* d log p(y) / dx = onehot(y) - softmax(x); we add g times that to d */
static void
row_grad(float *d, const float *x, float lse, int y, float g, int V)
{
	int i;

	for (i = 0; i < V; i++)
		d[i] -= g * expf(x[i] - lse);
	d[y] += g;
}

void
lmf_logps_forward(float *lp, const float *logits, const int32_t *targets,
    int N, int V)
{
	int n;

	check_targets(targets, N, V);
	OMP_ROWS((long)N * V)
	for (n = 0; n < N; n++) {
		const float *x = logits + (size_t)n * V;

		lp[n] = targets[n] == IGN ? 0 : x[targets[n]] - row_lse(x, V);
	}
}

void
lmf_logps_backward(float *dlogits, const float *dlp, const float *logits,
    const int32_t *targets, int N, int V)
{
	int n;

	check_targets(targets, N, V);
	OMP_ROWS((long)N * V)
	for (n = 0; n < N; n++) {
		const float *x = logits + (size_t)n * V;

		if (targets[n] != IGN)
			row_grad(dlogits + (size_t)n * V, x, row_lse(x, V),
			    targets[n], dlp[n], V);
	}
}

void
lmf_logps_forward_ref(float *lp, const float *logits,
    const int32_t *targets, int N, int V)
{
	int n, i;

	for (n = 0; n < N; n++) {
		const float *x = logits + (size_t)n * V;
		double s = 0;

		if (targets[n] == IGN) {
			lp[n] = 0;
			continue;
		}
		for (i = 0; i < V; i++)
			s += exp((double)x[i] - x[targets[n]]);
		lp[n] = (float)-log(s);	/* log(e^x_y / sum e^x) */
	}
}

void
lmf_logps_backward_ref(float *dlogits, const float *dlp, const float *logits,
    const int32_t *targets, int N, int V)
{
	int n, i;

	for (n = 0; n < N; n++) {
		const float *x = logits + (size_t)n * V;
		double mx = -INFINITY, s = 0;

		if (targets[n] == IGN)
			continue;
		for (i = 0; i < V; i++)
			mx = x[i] > mx ? x[i] : mx;
		for (i = 0; i < V; i++)
			s += exp(x[i] - mx);
		for (i = 0; i < V; i++)
			dlogits[(size_t)n * V + i] += (float)(dlp[n] *
			    ((i == targets[n]) - exp(x[i] - mx) / s));
	}
}

/* The fused version never holds more than BR rows of logits. Per block
 * of rows [lo, hi) (we trim ignored rows off both ends, and skip a block
 * with none left) we compute the logits (hi - lo, V) = hidden @ weight^T
 * with one sgemm, and each row's logsumexp. The backward recomputes the
 * block, turns it in place into dlogits = dlp (onehot - exp(x - lse)) and
 * sends it back through the two products: dhidden += dlogits @ weight,
 * dweight += dlogits^T @ hidden. */
static int
block_logits(float *scratch, int *lo, int *hi, const float *hidden,
    const float *weight, const int32_t *targets, int N, int C, int V, int BR)
{
	*hi = *lo + BR < N ? *lo + BR : N;
	while (*lo < *hi && targets[*lo] == IGN)
		++*lo;
	while (*hi > *lo && targets[*hi - 1] == IGN)
		--*hi;
	if (*hi > *lo)
		lmf_gemm(LMF_NOTRANS, LMF_TRANS, *hi - *lo, V, C, 1.0f,
		    hidden + (size_t)*lo * C, C, weight, C, 0.0f, scratch, V);
	return *hi > *lo;
}

void
lmf_logps_fused_forward(float *lp, float *lse, float *scratch,
    const float *hidden, const float *weight, const int32_t *targets, int N,
    int C, int V, int BR)
{
	int n0, n;

	check_targets(targets, N, V);
	for (n = 0; n < N; n++)
		lp[n] = lse[n] = 0;
	for (n0 = 0; n0 < N; n0 += BR) {
		int lo = n0, hi;

		if (!block_logits(scratch, &lo, &hi, hidden, weight, targets,
		    N, C, V, BR))
			continue;
		OMP_ROWS((long)(hi - lo) * V)
		for (n = lo; n < hi; n++) {
			const float *x = scratch + (size_t)(n - lo) * V;

			if (targets[n] == IGN)
				continue;
			lse[n] = row_lse(x, V);
			lp[n] = x[targets[n]] - lse[n];
		}
	}
}

void
lmf_logps_fused_backward(float *dhidden, float *dweight, float *scratch,
    const float *dlp, const float *lse, const float *hidden,
    const float *weight, const int32_t *targets, int N, int C, int V,
    int BR)
{
	int n0, n;

	check_targets(targets, N, V);
	for (n0 = 0; n0 < N; n0 += BR) {
		int lo = n0, hi;

		if (!block_logits(scratch, &lo, &hi, hidden, weight, targets,
		    N, C, V, BR))
			continue;
		OMP_ROWS((long)(hi - lo) * V)
		for (n = lo; n < hi; n++) {
			float *d = scratch + (size_t)(n - lo) * V;
			int i;

			if (targets[n] == IGN) {
				memset(d, 0, (size_t)V * sizeof *d);
				continue;
			}
			for (i = 0; i < V; i++)
				d[i] = -dlp[n] * expf(d[i] - lse[n]);
			d[targets[n]] += dlp[n];
		}
		if (dhidden)
			lmf_gemm(LMF_NOTRANS, LMF_NOTRANS, hi - lo, C, V, 1.0f,
			    scratch, V, weight, C, 1.0f,
			    dhidden + (size_t)lo * C, C);
		if (dweight)
			lmf_gemm(LMF_TRANS, LMF_NOTRANS, V, C, hi - lo, 1.0f,
			    scratch, V, hidden + (size_t)lo * C, C, 1.0f,
			    dweight, C);
	}
}

/* the references take each logit as a dot product in double, twice (no
 * scratch): once for an online logsumexp, once for the gradient */
static double
dot_ref(const float *a, const float *b, int C)
{
	double s = 0;
	int c;

	for (c = 0; c < C; c++)
		s += (double)a[c] * b[c];
	return s;
}

static double
lse_ref(const float *h, const float *weight, int C, int V)
{
	double mx = -INFINITY, s = 0;
	int v;

	for (v = 0; v < V; v++) {
		double x = dot_ref(h, weight + (size_t)v * C, C);

		if (x > mx) {
			s = s * exp(mx - x) + 1;
			mx = x;
		} else {
			s += exp(x - mx);
		}
	}
	return mx + log(s);
}

void
lmf_logps_fused_forward_ref(float *lp, const float *hidden,
    const float *weight, const int32_t *targets, int N, int C, int V)
{
	int n;

	for (n = 0; n < N; n++) {
		const float *h = hidden + (size_t)n * C;

		lp[n] = targets[n] == IGN ? 0 : (float)(dot_ref(h, weight +
		    (size_t)targets[n] * C, C) - lse_ref(h, weight, C, V));
	}
}

void
lmf_logps_fused_backward_ref(float *dhidden, float *dweight,
    const float *dlp, const float *hidden, const float *weight,
    const int32_t *targets, int N, int C, int V)
{
	int n, v, c;

	for (n = 0; n < N; n++) {
		const float *h = hidden + (size_t)n * C;
		double lse;

		if (targets[n] == IGN)
			continue;
		lse = lse_ref(h, weight, C, V);
		for (v = 0; v < V; v++) {
			const float *w = weight + (size_t)v * C;
			double g = dlp[n] * ((v == targets[n]) -
			    exp(dot_ref(h, w, C) - lse));

			for (c = 0; c < C; c++) {
				if (dhidden)
					dhidden[(size_t)n * C + c] += (float)(g * w[c]);
				if (dweight)
					dweight[(size_t)v * C + c] += (float)(g * h[c]);
			}
		}
	}
}

/* per sequence: plain sums, so no reference beside them */
void
lmf_seqlogps_forward(float *logps, float *avg, float *len, const float *lp,
    const int32_t *targets, int B, int T)
{
	int b, t;

	for (b = 0; b < B; b++) {
		double s = 0;
		int k = 0;

		for (t = 0; t < T; t++)
			if (targets[(size_t)b * T + t] != IGN) {
				s += lp[(size_t)b * T + t];
				k++;
			}
		if (logps)
			logps[b] = (float)s;
		if (avg)
			avg[b] = k ? (float)(s / k) : 0;
		if (len)
			len[b] = (float)k;
	}
}

void
lmf_seqlogps_backward(float *dlp, const float *dlogps, const float *davg,
    const int32_t *targets, int B, int T)
{
	int b, t, k;

	for (b = 0; b < B; b++) {
		const int32_t *y = targets + (size_t)b * T;
		float g = dlogps ? dlogps[b] : 0;

		for (k = t = 0; t < T; t++)
			k += y[t] != IGN;
		if (davg && k)
			g += davg[b] / k;
		for (t = 0; t < T; t++)
			if (y[t] != IGN)
				dlp[(size_t)b * T + t] += g;
	}
}

/* ------------------------------------------------------------------ */
/* DPO family */

static const char *const pref_names[] = {
	"sigmoid", "hinge", "ipo", "kto_pair", "orpo", "simpo",
};

/* the index of name in names[n], or -1 */
static int
lookup(const char *const *names, int n, const char *name)
{
	int i;

	for (i = 0; i < n; i++)
		if (!strcmp(name, names[i]))
			return i;
	return -1;
}

int
lmf_pref_loss_parse(const char *name)
{
	return lookup(pref_names, 6, name);
}

static int
pref_averaged(int loss)
{
	return loss == LMF_PREF_IPO || loss == LMF_PREF_ORPO ||
	    loss == LMF_PREF_SIMPO;
}

/* log(1 - e^a) for a < 0, accurate on both sides of -log 2 */
static double
log1mexp(double a)
{
	return a > -M_LN2 ? log(-expm1(a)) : log1p(-exp(a));
}

/* bco: this batch's mean reward into the running moments (TRL's
 * RunningMoments.update with one value); the running mean, or 0 when bco
 * is off */
static double
bco_delta(const struct lmf_dpo_args *a, const float *pc, const float *pr,
    const float *refc, const float *refr, const float *lenc,
    const float *lenr, int n)
{
	double m = 0, tot, *mo = a->bco_moments;
	int avg = pref_averaged(a->loss), i;

	if (!(a->bco_weight > 1e-6) || a->loss >= LMF_PREF_ORPO || !mo)
		return 0;
	for (i = 0; i < n; i++) {
		double sc = avg ? lenc[i] : 1, sr = avg ? lenr[i] : 1;

		m += a->beta * (((double)pc[i] - refc[i]) / sc +
		    ((double)pr[i] - refr[i]) / sr);
	}
	m /= 2.0 * n;
	tot = mo[1] + 1;
	mo[0] += (m - mo[0]) / tot;
	mo[1] = tot;
	return mo[0];
}

static double
bco_weight(const struct lmf_dpo_args *a)
{
	return a->bco_weight > 1e-6 && a->loss < LMF_PREF_ORPO &&
	    a->bco_moments ? a->bco_weight : 0;
}

/* We work on a = p / len for the averaged losses (a = p otherwise) and
 * find, per pair, the loss l and gc = dl/dac, gr = dl/dar; then dl/dpc =
 * gc / lenc (or gc), and the mean over pairs divides by n. kto_pair's
 * batch KL terms add one more gradient, which reaches every pair through
 * the mean: dKLc/dpc_j = 1/n while mean(uc) > 0. */
double
lmf_dpo_loss(float *losses, float *rc, float *rr, float *dpc, float *dpr,
    const float *pc, const float *pr, const float *refc, const float *refr,
    const float *lenc, const float *lenr, int n,
    const struct lmf_dpo_args *a)
{
	double b = a->beta, e = a->label_smoothing, klc = 0, klr = 0;
	double gklc = 0, gklr = 0, total = 0, w = bco_weight(a);
	double d = bco_delta(a, pc, pr, refc, refr, lenc, lenr, n);
	int avg = pref_averaged(a->loss), noref = a->loss >= LMF_PREF_ORPO;
	int i;

	if (a->loss == LMF_PREF_KTO_PAIR) {
		for (i = 0; i < n; i++) {
			klc += (double)pc[i] - refc[i];
			klr += (double)pr[i] - refr[i];
		}
		klc = klc > 0 ? klc / n : 0;	/* clamp(mean, min=0) */
		klr = klr > 0 ? klr / n : 0;
	}
	for (i = 0; i < n; i++) {
		double sc = avg ? lenc[i] : 1, sr = avg ? lenr[i] : 1;
		double ac = pc[i] / sc, ar = pr[i] / sr;
		double uc = noref ? ac : ac - refc[i] / sc;
		double ur = noref ? ar : ar - refr[i] / sr;
		double z = uc - ur, l = 0, gc = 0, gr = 0, x, y;

		switch (a->loss) {
		case LMF_PREF_SIGMOID:
			l = -(1 - e) * logsig(b * z) - e * logsig(-b * z);
			gc = -(1 - e) * b * sig(-b * z) + e * b * sig(b * z);
			gr = -gc;
			break;
		case LMF_PREF_HINGE:
			l = 1 - b * z > 0 ? 1 - b * z : 0;
			gc = 1 - b * z > 0 ? -b : 0;
			gr = -gc;
			break;
		case LMF_PREF_IPO:
			l = (z - 1 / (2 * b)) * (z - 1 / (2 * b));
			gc = 2 * (z - 1 / (2 * b));
			gr = -gc;
			break;
		case LMF_PREF_KTO_PAIR:
			/* each half is 1 - sig(.), whose slope is -sig'(.) */
			x = b * (uc - klr);
			y = b * (klc - ur);
			l = (sig(-x) + sig(-y)) / 2;
			gc = -b * sig(x) * sig(-x) / 2;
			gr = b * sig(y) * sig(-y) / 2;
			gklr -= gc;
			gklc -= gr;
			break;
		case LMF_PREF_ORPO:
			/* the log odds ratio L; dL/dac = 1 / (1 - e^ac) */
			x = (ac - ar) - (log1mexp(ac) - log1mexp(ar));
			l = -ac - b * logsig(x);
			y = -b * sig(-x);	/* dl/dL */
			gc = -1 - y / expm1(ac);
			gr = y / expm1(ar);
			break;
		case LMF_PREF_SIMPO:
			x = b * (ac - ar) - a->simpo_gamma;
			l = -logsig(x);
			gc = -b * sig(-x);
			gr = -gc;
			break;
		default:
			BUG("dpo: loss type %d", a->loss);
		}
		if (w > 0) {	/* the bco mix */
			x = b * uc - d;
			y = b * ur - d;
			l = (l - w * (logsig(x) + logsig(-y))) / (1 + w);
			gc = (gc - w * b * sig(-x)) / (1 + w);
			gr = (gr + w * b * sig(y)) / (1 + w);
		}
		gc /= sc;
		gr /= sr;
		if (a->ftx > 0) {
			l -= a->ftx * pc[i] / lenc[i];
			gc -= a->ftx / lenc[i];
		}
		if (losses)
			losses[i] = (float)l;
		if (rc)
			rc[i] = (float)(b * uc);
		if (rr)
			rr[i] = (float)(b * ur);
		if (dpc)
			dpc[i] += (float)(gc / n);
		if (dpr)
			dpr[i] += (float)(gr / n);
		total += l;
	}
	for (i = 0; i < n && a->loss == LMF_PREF_KTO_PAIR; i++) {
		if (dpc && klc > 0)
			dpc[i] += (float)(gklc / n / n / (1 + w));
		if (dpr && klr > 0)
			dpr[i] += (float)(gklr / n / n / (1 + w));
	}
	return total / n;
}

/* The reference writes each loss as the papers do, with the naive
 * sigmoid, and its derivative by the textbook rules (d/dx -log sig(x) =
 * sig(x) - 1), chain rule spelt out per term. */
static double
sig_ref(double x)
{
	return 1 / (1 + exp(-x));
}

double
lmf_dpo_loss_ref(float *losses, float *rc, float *rr, float *dpc, float *dpr,
    const float *pc, const float *pr, const float *refc, const float *refr,
    const float *lenc, const float *lenr, int n,
    const struct lmf_dpo_args *a)
{
	double b = a->beta, e = a->label_smoothing, g = a->simpo_gamma;
	double mc = 0, mr = 0, total = 0, sumc = 0, sumr = 0;
	double w = bco_weight(a);
	double d = bco_delta(a, pc, pr, refc, refr, lenc, lenr, n);
	int avg = pref_averaged(a->loss), i, j;

	for (i = 0; i < n && a->loss == LMF_PREF_KTO_PAIR; i++) {
		mc += ((double)pc[i] - refc[i]) / n;
		mr += ((double)pr[i] - refr[i]) / n;
	}
	for (i = 0; i < n; i++) {
		double lc = avg ? lenc[i] : 1, lr = avg ? lenr[i] : 1;
		double ac = pc[i] / lc, ar = pr[i] / lr, l, dz, dc, dr;
		double rcv = refc ? refc[i] / lc : 0, rrv = refr ? refr[i] / lr : 0;
		double z = (ac - ar) - (rcv - rrv), s, t, oc, orr;

		dc = dr = 0;
		switch (a->loss) {
		case LMF_PREF_SIGMOID:
			s = sig_ref(b * z);
			l = -(1 - e) * log(s) - e * log(1 - s);
			dz = (1 - e) * (s - 1) * b + e * s * b;
			dc = dz, dr = -dz;
			break;
		case LMF_PREF_HINGE:
			l = fmax(0, 1 - b * z);
			dz = 1 - b * z > 0 ? -b : 0;
			dc = dz, dr = -dz;
			break;
		case LMF_PREF_IPO:
			l = pow(z - 1 / (2 * b), 2);
			dc = 2 * (z - 1 / (2 * b)), dr = -dc;
			break;
		case LMF_PREF_KTO_PAIR:
			s = sig_ref(b * ((ac - rcv) - fmax(mr, 0)));
			t = sig_ref(b * (fmax(mc, 0) - (ar - rrv)));
			l = ((1 - s) + (1 - t)) / 2;
			dc = -s * (1 - s) * b / 2;
			dr = t * (1 - t) * b / 2;
			sumr += s * (1 - s) * b / 2;	/* dl/dKLr */
			sumc -= t * (1 - t) * b / 2;	/* dl/dKLc */
			break;
		case LMF_PREF_ORPO:
			oc = log(1 - exp(ac));
			orr = log(1 - exp(ar));
			s = sig_ref((ac - ar) - (oc - orr));
			l = -ac - b * log(s);
			dc = -1 - b * (1 - s) * (1 + exp(ac) / (1 - exp(ac)));
			dr = -b * (1 - s) * (-1 - exp(ar) / (1 - exp(ar)));
			break;
		default:	/* simpo */
			s = sig_ref(b * (ac - ar) - g);
			l = -log(s);
			dc = -(1 - s) * b, dr = (1 - s) * b;
			break;
		}
		if (w > 0) {	/* (dpo + w bco) / (1 + w) */
			s = sig_ref(b * (ac - rcv) - d);
			t = sig_ref(-(b * (ar - rrv) - d));
			l = (l + w * (-log(s) - log(t))) / (1 + w);
			dc = (dc + w * (s - 1) * b) / (1 + w);
			dr = (dr - w * (t - 1) * b) / (1 + w);
		}
		dc /= lc;
		dr /= lr;
		if (a->ftx > 0) {
			l += a->ftx * -(pc[i] / lenc[i]);
			dc += a->ftx * -1 / lenc[i];
		}
		losses[i] = (float)l;
		rc[i] = (float)(b * (ac - rcv));
		rr[i] = (float)(b * (ar - rrv));
		dpc[i] += (float)(dc / n);
		dpr[i] += (float)(dr / n);
		total += l / n;
	}
	for (j = 0; j < n && a->loss == LMF_PREF_KTO_PAIR; j++) {
		dpc[j] += (float)(mc > 0 ? sumc / n / n / (1 + w) : 0);
		dpr[j] += (float)(mr > 0 ? sumr / n / n / (1 + w) : 0);
	}
	return total;
}

/* ------------------------------------------------------------------ */
/* KTO */

/* The loss is a mean over all n examples: a desirable one adds
 * wd (1 - sig(x)), x = b (u - kl), u = p - ref, with slope -wd b sig'(x);
 * an undesirable one wu (1 - sig(y)), y = b (kl - u), slope +wu b sig'(y).
 * kl is detached, so it sends no gradient anywhere. */
double
lmf_kto_loss(float *losses, float *rewards, float *kl, float *dp,
    const float *p, const float *ref, const float *len, const int32_t *tags,
    int n, const float *pkl, const float *refkl, int nkl,
    const struct lmf_kto_args *a)
{
	double b = a->beta, k = 0, total = 0, sft = 0, ftx = 0;
	int i, nd = 0;

	for (i = 0; i < nkl; i++)
		k += (double)pkl[i] - refkl[i];
	k = nkl && k > 0 ? k / nkl : 0;
	for (i = 0; i < n; i++) {
		double u = (double)p[i] - ref[i], x, l, g;

		if (tags[i]) {
			x = b * (u - k);
			l = a->desirable_weight * sig(-x);
			g = -a->desirable_weight * b * sig(x) * sig(-x);
			sft -= p[i] / len[i];
			nd++;
		} else {
			x = b * (k - u);
			l = a->undesirable_weight * sig(-x);
			g = a->undesirable_weight * b * sig(x) * sig(-x);
		}
		if (losses)
			losses[i] = (float)l;
		if (rewards)
			rewards[i] = (float)(b * u);
		if (dp)
			dp[i] += (float)(g / n);
		total += l;
	}
	/* LLaMA-Factory's ftx term: ftx * mean_d(-p / len) / nd * n */
	if (a->ftx > 0 && nd > 0) {
		for (i = 0; i < n && dp; i++)
			if (tags[i])
				dp[i] -= (float)(a->ftx * n / ((double)nd * nd *
				    len[i]));
		ftx = a->ftx * sft / nd / nd * n;
	}
	if (kl)
		*kl = (float)k;
	return total / n + ftx;
}

double
lmf_kto_loss_ref(float *losses, float *rewards, float *kl, float *dp,
    const float *p, const float *ref, const float *len, const int32_t *tags,
    int n, const float *pkl, const float *refkl, int nkl,
    const struct lmf_kto_args *a)
{
	double b = a->beta, k = 0, loss = 0, nd = 0, s;
	int i;

	for (i = 0; i < nkl; i++)
		k += ((double)pkl[i] - refkl[i]) / nkl;
	k = fmax(k, 0);
	for (i = 0; i < n; i++)
		nd += tags[i] != 0;
	for (i = 0; i < n; i++) {
		double u = (double)p[i] - ref[i], l;

		if (tags[i]) {
			s = sig_ref(b * (u - k));
			l = a->desirable_weight * (1 - s);
			dp[i] += (float)(-a->desirable_weight * s * (1 - s) * b
			    / n);
			if (a->ftx > 0) {
				loss += a->ftx * (-p[i] / len[i]) / nd / nd * n;
				dp[i] += (float)(a->ftx * (-1 / len[i]) / nd / nd
				    * n);
			}
		} else {
			s = sig_ref(b * (k - u));
			l = a->undesirable_weight * (1 - s);
			dp[i] += (float)(a->undesirable_weight * s * (1 - s) *
			    b / n);
		}
		losses[i] = (float)l;
		rewards[i] = (float)(b * u);
		loss += l / n;
	}
	*kl = (float)k;
	return loss;
}

/* ------------------------------------------------------------------ */
/* reward model pairs: d/dd -log sig(d) = -sig(-d), d = sc - sr */

double
lmf_rm_loss(float *acc, float *dsc, float *dsr, const float *sc,
    const float *sr, int n)
{
	double total = 0;
	int i, right = 0;

	for (i = 0; i < n; i++) {
		double d = (double)sc[i] - sr[i], g = -sig(-d) / n;

		total -= logsig(d);
		right += sc[i] > sr[i];
		if (dsc)
			dsc[i] += (float)g;
		if (dsr)
			dsr[i] -= (float)g;
	}
	if (acc)
		*acc = n ? (float)right / n : 0;
	return n ? total / n : 0;
}

double
lmf_rm_loss_ref(float *acc, float *dsc, float *dsr, const float *sc,
    const float *sr, int n)
{
	double loss = 0, right = 0;
	int i;

	for (i = 0; i < n; i++) {
		double s = sig_ref((double)sc[i] - sr[i]);

		loss += -log(s) / n;
		right += sc[i] > sr[i] ? 1.0 / n : 0;
		dsc[i] += (float)((s - 1) / n);
		dsr[i] += (float)((1 - s) / n);
	}
	*acc = (float)right;
	return loss;
}

/* ------------------------------------------------------------------ */
/* PPO */

static const char *const kl_names[] = { "kl", "abs", "mse", "full" };

int
lmf_kl_penalty_parse(const char *name)
{
	return lookup(kl_names, 4, name);
}

void
lmf_ppo_kl_penalty(float *kl, const float *lp, const float *reflp, int kind,
    long N)
{
	long n;

	for (n = 0; n < N; n++) {
		float d = lp[n] - reflp[n];

		kl[n] = kind == LMF_KL_ABS ? fabsf(d) :
		    kind == LMF_KL_MSE ? 0.5f * d * d : d;
	}
}

void
lmf_ppo_kl_full(float *kl, const float *logp, const float *reflogp, long N,
    int V)
{
	long n;
	int v;

	for (n = 0; n < N; n++) {
		const float *p = logp + n * V, *q = reflogp + n * V;
		double s = 0;

		for (v = 0; v < V; v++)
			s += exp(p[v]) * ((double)p[v] - q[v]);
		kl[n] = (float)s;
	}
}

void
lmf_ppo_rewards(float *rewards, const float *kl, const float *scores,
    const float *mask, float kl_coef, int B, int T)
{
	int b, t, last;

	for (b = 0; b < B; b++) {
		for (last = -1, t = 0; t < T; t++) {
			rewards[(size_t)b * T + t] = -kl_coef * kl[(size_t)b * T + t];
			if (mask[(size_t)b * T + t] != 0)
				last = t;
		}
		if (last < 0)
			BUG("ppo: row %d has no response token", b);
		rewards[(size_t)b * T + last] += scores[b];
	}
}

double
lmf_ppo_kl_mean(const float *lp, const float *reflp, const float *mask,
    int B, int T)
{
	double s = 0;
	long i;

	for (i = 0; i < (long)B * T; i++)
		s += ((double)lp[i] - reflp[i]) * mask[i];
	return s / B;
}

double
lmf_ppo_kl_adaptive(double coef, double kl, double target, double horizon,
    long nsteps)
{
	double err = kl / target - 1;

	err = err < -0.2 ? -0.2 : err > 0.2 ? 0.2 : err;
	return coef * (1 + err * nsteps / horizon);
}

/* masked mean and unbiased variance, in double, two passes; with fewer
 * than two masked entries the variance is taken as 0 (TRL raises or
 * divides by zero) */
static void
moments(double *mean, double *var, const float *x, const float *mask,
    long N)
{
	double s = 0, m = 0, v = 0;
	long i;

	for (i = 0; i < N; i++) {
		s += (double)x[i] * mask[i];
		m += mask[i];
	}
	*mean = m > 0 ? s / m : 0;
	for (i = 0; i < N; i++)
		v += (x[i] - *mean) * (x[i] - *mean) * mask[i];
	*var = m > 1 ? v / m * (m / (m - 1)) : 0;
}

void
lmf_masked_whiten(float *out, const float *x, const float *mask,
    int shift_mean, long N)
{
	double mean, var, r;
	long i;

	moments(&mean, &var, x, mask, N);
	r = 1 / sqrt(var + 1e-8);
	for (i = 0; i < N; i++)
		out[i] = (float)((x[i] - mean) * r + (shift_mean ? 0 : mean));
}

/* GAE walks each row backwards: delta_t = r_t + gamma V_{t+1} - V_t (V
 * past the end is 0), A_t = delta_t + gamma lam A_{t+1}, over the whole
 * row with values and rewards zeroed off the mask, as TRL does. With
 * whitened rewards the zeros off the mask become -mean/std + mean, and
 * TRL lets those into the sums too; so do we. adv holds the (whitened)
 * rewards before it holds advantages. */
void
lmf_ppo_gae(float *adv, float *ret, const float *rewards,
    const float *values, const float *mask, float gamma, float lam,
    int whiten_rewards, int B, int T)
{
	long N = (long)B * T, i;
	int b, t;

	for (i = 0; i < N; i++)
		adv[i] = rewards[i] * mask[i];
	if (whiten_rewards)
		lmf_masked_whiten(adv, adv, mask, 0, N);
	for (b = 0; b < B; b++) {
		double last = 0, next = 0;

		for (t = T - 1; t >= 0; t--) {
			double v;

			i = (long)b * T + t;
			v = values[i] * mask[i];
			last = adv[i] + gamma * next - v + gamma * lam * last;
			adv[i] = (float)last;
			ret[i] = (float)(last + v);
			next = v;
		}
	}
	lmf_masked_whiten(adv, adv, mask, 1, N);
}

/* the reference: A_t = sum_k (gamma lam)^k delta_{t+k}, the closed form,
 * O(T^2), with its own literal whitening */
static void
whiten_ref(float *x, const float *mask, int shift_mean, long N)
{
	double m = 0, mean = 0, var = 0;
	long i;

	for (i = 0; i < N; i++)
		m += mask[i];
	for (i = 0; i < N; i++)
		mean += x[i] * mask[i] / m;
	for (i = 0; i < N; i++)
		var += pow(x[i] - mean, 2) * mask[i] / m;
	var *= m / (m - 1);
	for (i = 0; i < N; i++)
		x[i] = (float)((x[i] - mean) / sqrt(var + 1e-8) +
		    (shift_mean ? 0 : mean));
}

void
lmf_ppo_gae_ref(float *adv, float *ret, const float *rewards,
    const float *values, const float *mask, float gamma, float lam,
    int whiten_rewards, int B, int T)
{
	long N = (long)B * T, i;
	int b, t, k;

	/* ret holds the rewards for a while */
	for (i = 0; i < N; i++)
		ret[i] = rewards[i] * mask[i];
	if (whiten_rewards)
		whiten_ref(ret, mask, 0, N);
	for (b = 0; b < B; b++)
		for (t = 0; t < T; t++) {
			double A = 0;

			for (k = t; k < T; k++) {
				long j = (long)b * T + k;
				double vn = k + 1 < T ? values[j + 1] *
				    mask[j + 1] : 0;

				A += pow((double)gamma * lam, k - t) * (ret[j] +
				    gamma * vn - values[j] * mask[j]);
			}
			adv[(long)b * T + t] = (float)A;
		}
	for (i = 0; i < N; i++)
		ret[i] = adv[i] + values[i] * mask[i];
	whiten_ref(adv, mask, 1, N);
}

/* The clipped objectives. Per token, r = exp(lp - oldlp); the policy
 * term is max(-A r, -A clip(r)): when the first wins (or they tie) its
 * slope is -A r, and when the clipped one wins r is outside the clip and
 * the slope is 0. The value term is the same with (v - R)^2: slope
 * 2 (v - R) / 2 while the unclipped square wins, 0 otherwise. Both are
 * masked means over M = sum(mask). */
double
lmf_ppo_loss(struct lmf_ppo_stats *st, float *dlp, float *dv,
    const float *lp, const float *oldlp, const float *v, const float *oldv,
    const float *adv, const float *ret, const float *mask, long N,
    const struct lmf_ppo_args *a)
{
	struct lmf_ppo_stats s;
	double M = 0, scale;
	long i;
	int off;

	memset(&s, 0, sizeof s);
	for (i = 0; i < N; i++) {
		M += mask[i];
		s.ratio += exp((double)lp[i] - oldlp[i]) * mask[i];
	}
	s.ratio /= M;
	off = s.ratio > a->ratio_threshold;
	scale = off ? 0 : 1 / M;
	for (i = 0; i < N; i++) {
		double d = (double)lp[i] - oldlp[i], r = exp(d), m = mask[i];
		double rc = fmin(fmax(r, 1 - a->cliprange), 1 + a->cliprange);
		double p1 = -adv[i] * r, p2 = -adv[i] * rc;
		double vc = fmax(fmin(v[i], oldv[i] + a->cliprange_value),
		    oldv[i] - a->cliprange_value);
		double e = (double)v[i] - ret[i], v1 = e * e;
		double v2 = (vc - ret[i]) * (vc - ret[i]);

		s.pg_loss += fmax(p1, p2) * m;
		s.vf_loss += 0.5 * fmax(v1, v2) * m;
		s.pg_clipfrac += (p2 > p1) * m;
		s.vf_clipfrac += (v2 > v1) * m;
		s.approxkl += 0.5 * d * d * m;
		s.policykl -= d * m;
		if (dlp && p1 >= p2)
			dlp[i] += (float)(-adv[i] * r * m * scale);
		if (dv && v1 >= v2)
			dv[i] += (float)(a->vf_coef * e * m * scale);
	}
	s.pg_loss = off ? 0 : s.pg_loss / M;
	s.vf_loss = off ? 0 : s.vf_loss / M;
	s.pg_clipfrac /= M;
	s.vf_clipfrac /= M;
	s.approxkl /= M;
	s.policykl /= M;
	if (st)
		*st = s;
	return s.pg_loss + a->vf_coef * s.vf_loss;
}

/* The reference follows autograd literally: max(a, b) sends the gradient
 * to the larger, half to each on a tie; clamp passes it inside [lo, hi]. */
static void
max_grad(double x, double y, double *gx, double *gy)
{
	*gx = x > y ? 1 : x == y ? 0.5 : 0;
	*gy = 1 - *gx;
}

double
lmf_ppo_loss_ref(struct lmf_ppo_stats *st, float *dlp, float *dv,
    const float *lp, const float *oldlp, const float *v, const float *oldv,
    const float *adv, const float *ret, const float *mask, long N,
    const struct lmf_ppo_args *a)
{
	double M = 0, pg = 0, vf = 0, ratio = 0, c = a->cliprange, loss;
	double pgc = 0, vfc = 0, akl = 0, pkl = 0, g1, g2;
	long i;

	for (i = 0; i < N; i++)
		M += mask[i];
	for (i = 0; i < N; i++)
		ratio += exp((double)lp[i] - oldlp[i]) * mask[i] / M;
	for (i = 0; i < N; i++) {
		double r = exp((double)lp[i] - oldlp[i]);
		double lo = oldv[i] - a->cliprange_value;
		double hi = oldv[i] + a->cliprange_value;
		double vc = v[i] < lo ? lo : v[i] > hi ? hi : v[i];
		double rcl = r < 1 - c ? 1 - c : r > 1 + c ? 1 + c : r;
		double p1 = -adv[i] * r, p2 = -adv[i] * rcl;
		double v1 = pow(v[i] - ret[i], 2), v2 = pow(vc - ret[i], 2);
		double w = ratio > a->ratio_threshold ? 0 : mask[i] / M;

		pg += fmax(p1, p2) * mask[i] / M;
		vf += 0.5 * fmax(v1, v2) * mask[i] / M;
		pgc += (p2 > p1) * mask[i] / M;
		vfc += (v2 > v1) * mask[i] / M;
		akl += 0.5 * pow((double)lp[i] - oldlp[i], 2) * mask[i] / M;
		pkl += ((double)oldlp[i] - lp[i]) * mask[i] / M;
		max_grad(p1, p2, &g1, &g2);
		dlp[i] += (float)(w * (g1 * -adv[i] * r + g2 * -adv[i] *
		    (r >= 1 - c && r <= 1 + c) * r));
		max_grad(v1, v2, &g1, &g2);
		dv[i] += (float)(w * a->vf_coef * 0.5 * (g1 * 2 * (v[i] -
		    ret[i]) + g2 * 2 * (vc - ret[i]) * (v[i] >= lo &&
		    v[i] <= hi)));
	}
	if (ratio > a->ratio_threshold)
		pg = vf = 0;
	loss = pg + a->vf_coef * vf;
	st->pg_loss = pg;
	st->vf_loss = vf;
	st->pg_clipfrac = pgc;
	st->vf_clipfrac = vfc;
	st->approxkl = akl;
	st->policykl = pkl;
	st->ratio = ratio;
	return loss;
}
