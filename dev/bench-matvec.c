/* bench-matvec: G weights/s of the decode products (lmf_matvec_forward,
 * _bf16_forward, _i8_forward) on the 8-lane kernels (old) and the
 * AVX-512 ones (new), for BENCH.md. It holds a whole model's projections
 * in each dtype (the small shape: C 768, L 12, FF 2048, V 32000; q/k/v
 * and gate/up fused as lmf-generate holds them), so that every product
 * reads its weight from memory as decoding does, and times each product
 * of a pass through the model, alternating old and new passes. Per
 * matrix shape it prints the best pass's G weights/s (10^9 weights per
 * second, N inputs or not) and the ratio new / old. Not a test, and not
 * part of lmf: dev/bench-matvec.sh builds and runs it.
 *
 *   bench-matvec [-r PASSES] [-t THREADS] [-L LAYERS] [N...]
 *   (defaults: 8 passes each, 1 thread, 12 layers, N 1 and 8) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lmf/gemm.h"
#include "lmf/kernels.h"
#include "lmf/util.h"
#include "lmf/banned.h"

enum { F32, BF16, I8, NDT };
static const char *dtname[NDT] = { "f32", "bf16", "int8" };

/* the small shape's products per layer, then lm_head once */
static const struct { const char *name; int C, OC; } mat[] = {
	{ "qkv", 768, 2304 }, { "o", 768, 768 }, { "gate/up", 768, 4096 },
	{ "down", 2048, 768 }, { "lm_head", 768, 32000 },
};
enum { NMAT = sizeof mat / sizeof *mat };

struct w {
	float *f;
	uint16_t *h;
	int8_t *q;
	float *sc;
};

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* one matrix of kind m in dtype dt, random values */
static struct w
make(int dt, int m, struct lmf_rng *rng)
{
	size_t n = (size_t)mat[m].C * mat[m].OC, i;
	float *f = xmallocarray(n, sizeof *f);
	struct w w = { NULL, NULL, NULL, NULL };

	for (i = 0; i < n; i++)
		f[i] = lmf_rng_normal(rng) * 0.02f;
	if (dt == F32) {
		w.f = f;
		return w;
	}
	if (dt == BF16) {
		w.h = xmallocarray(n, sizeof *w.h);
		lmf_bf16_narrow(w.h, f, n);
	} else {
		w.q = xmallocarray(n, 1);
		w.sc = xmallocarray(mat[m].OC, sizeof *w.sc);
		lmf_i8_quantize(w.q, w.sc, f, mat[m].OC, mat[m].C);
	}
	free(f);
	return w;
}

static void
product(int dt, const struct w *w, float *out, const float *x, int N, int m)
{
	int C = mat[m].C, OC = mat[m].OC;

	if (dt == F32)
		lmf_matvec_forward(out, x, w->f, NULL, N, C, OC);
	else if (dt == BF16)
		lmf_matvec_bf16_forward(out, x, w->h, NULL, N, C, OC, NULL);
	else
		lmf_matvec_i8_forward(out, x, w->q, w->sc, NULL, N, C, OC,
		    NULL);
}

/* best seconds per matrix kind over the passes, old [0] and new [1] */
static void
run(int dt, struct w *ws, int L, int N, int passes, double best[2][NMAT])
{
	float *x = xmallocarray((size_t)8 * 2048, sizeof *x);
	float *out = xmallocarray((size_t)8 * 32000, sizeof *out);
	double t[NMAT], t0;
	int p, s, l, m, k;

	for (k = 0; k < 8 * 2048; k++)
		x[k] = (float)(k % 7) * 0.1f - 0.3f;
	for (s = 0; s < 2; s++)
		for (m = 0; m < NMAT; m++)
			best[s][m] = 1e30;
	for (p = 0; p < 2 * passes; p++) {
		s = p & 1;
		lmf_matvec_select(s ? LMF_MATVEC_BEST : LMF_MATVEC_AVX2);
		memset(t, 0, sizeof t);
		for (l = 0; l < L; l++) {
			for (m = 0; m < NMAT; m++) {
				if (mat[m].OC == 32000 && l != L - 1)
					continue;
				t0 = now();
				product(dt, &ws[l * NMAT + m], out, x, N, m);
				t[m] += now() - t0;
			}
		}
		for (m = 0; m < NMAT; m++)
			if (t[m] < best[s][m])
				best[s][m] = t[m];
	}
	lmf_matvec_select(LMF_MATVEC_BEST);
	free(x);
	free(out);
}

static void
report(int dt, int N, int L, double best[2][NMAT])
{
	double w, go, gn;
	int m;

	for (m = 0; m < NMAT; m++) {
		w = (double)mat[m].C * mat[m].OC * (mat[m].OC == 32000 ? 1 : L);
		go = w / best[0][m] * 1e-9;
		gn = w / best[1][m] * 1e-9;
		printf("| %s | %d | %s (%d, %d) | %.2f | %.2f | %.2f |\n",
		    dtname[dt], N, mat[m].name, mat[m].OC, mat[m].C, go, gn,
		    gn / go);
	}
}

int
main(int argc, char **argv)
{
	int passes = 8, threads = 1, L = 12, ns[8] = { 1, 8 }, nn = 2, i;
	int dt, m, l, o;
	struct lmf_rng rng;
	struct w *ws;
	double best[2][NMAT];

	lmf_init(argc, argv);
	while ((o = getopt(argc, argv, "r:t:L:")) != -1) {
		if (o == 'r')
			passes = lmf_parse_int("-r", optarg, 1, 1000);
		else if (o == 't')
			threads = lmf_parse_int("-t", optarg, 1, 64);
		else if (o == 'L')
			L = lmf_parse_int("-L", optarg, 1, 100);
		else
			return 2;
	}
	if (optind < argc)
		for (nn = 0; optind < argc && nn < 8; nn++)
			ns[nn] = lmf_parse_int("N", argv[optind++], 1,
			    LMF_MATVEC_MAX_N);
	lmf_gemm_init(threads);
	lmf_rng_seed(&rng, 1);
	ws = xmallocarray((size_t)L * NMAT, sizeof *ws);
	printf("| dtype | N | matrix (OC, C) | old G w/s | new G w/s | new / "
	    "old |\n|---|---:|---|---:|---:|---:|\n");
	for (dt = 0; dt < NDT; dt++) {
		for (l = 0; l < L; l++)
			for (m = 0; m < NMAT; m++)
				if (mat[m].OC != 32000 || l == L - 1)
					ws[l * NMAT + m] = make(dt, m, &rng);
		for (i = 0; i < nn; i++) {
			run(dt, ws, L, ns[i], passes, best);
			report(dt, ns[i], L, best);
			fflush(stdout);
		}
		for (l = 0; l < L; l++) {
			for (m = 0; m < NMAT; m++) {
				if (mat[m].OC == 32000 && l != L - 1)
					continue;
				free(ws[l * NMAT + m].f);
				free(ws[l * NMAT + m].h);
				free(ws[l * NMAT + m].q);
				free(ws[l * NMAT + m].sc);
			}
		}
	}
	free(ws);
	return 0;
}
