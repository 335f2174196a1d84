/* gemm-shapes: sgemm GFLOP/s through lmf_gemm on the matrix products of
 * one full fine-tuning step of a LLaMA shape (dev/bench-train.sh's yardstick
 * for lmf-sft). Each linear layer's forward (x W^T), input gradient (dy W)
 * and weight gradient (dy^T x), and attention's six products per (batch,
 * head), are timed once each; the step rate is their FLOPs over their
 * time, each weighted by how often a step runs it. It calls lmf_gemm_init
 * as lmf-sft does (same threads, same OpenBLAS core type). It does not
 * time anything but matrix products. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "lmf/gemm.h"
#include "lmf/util.h"
#include "lmf/banned.h"

static struct opts {
	int dim, hidden, vocab, heads, kv_heads, seq, batch, layers, threads;
	double secs;
	int quiet;
} opts = { 288, 768, 32000, 6, 0, 256, 8, 6, 2, 0.3, 0 };

struct shape {
	const char *what;
	int ta, tb, M, N, K;
	double count; /* calls per training step */
};

/* one timed product: GFLOP/s of the best of a few calls in opts.secs */
static double
bench(const struct shape *s)
{
	size_t na = (size_t)s->M * s->K, nb = (size_t)s->K * s->N, i;
	float *A = xmallocarray(na, sizeof *A), *B = xmallocarray(nb, sizeof *B);
	float *C = xcalloc((size_t)s->M * s->N, sizeof *C);
	int lda = s->ta ? s->M : s->K, ldb = s->tb ? s->K : s->N;
	double t0, t, best = 1e30, flops = 2.0 * s->M * s->N * s->K;

	for (i = 0; i < na; i++)
		A[i] = (float)(i % 7) * 0.1f;
	for (i = 0; i < nb; i++)
		B[i] = (float)(i % 5) * 0.1f;
	lmf_gemm(s->ta, s->tb, s->M, s->N, s->K, 1, A, lda, B, ldb, 0, C,
	    s->N);
	t0 = lmf_now();
	do {
		double c = lmf_now();

		lmf_gemm(s->ta, s->tb, s->M, s->N, s->K, 1, A, lda, B, ldb, 1,
		    C, s->N);
		t = lmf_now();
		if (t - c < best)
			best = t - c;
	} while (t - t0 < opts.secs);
	free(A);
	free(B);
	free(C);
	return flops / best / 1e9;
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: gemm-shapes [--dim n] [--hidden n] [--vocab n] "
	    "[--heads n] [--kv_heads n]\n"
	    "                   [--layers n] [--seq n] [--batch n] "
	    "[--threads n] [-t secs] [-q]\n"
	    "  sgemm GFLOP/s on the products of one training step "
	    "(default: the tiny shape)\n"
	    "  -q  print only the step's weighted GFLOP/s\n");
}

int
main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "dim", required_argument, NULL, 'c' },
		{ "hidden", required_argument, NULL, 'f' },
		{ "vocab", required_argument, NULL, 'v' },
		{ "heads", required_argument, NULL, 'n' },
		{ "kv_heads", required_argument, NULL, 'k' },
		{ "layers", required_argument, NULL, 'l' },
		{ "seq", required_argument, NULL, 'T' },
		{ "batch", required_argument, NULL, 'B' },
		{ "threads", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	struct shape sh[32];
	int c, ns = 0, i, C, KV, F, V, HS, M, T;
	double L, BH, flops = 0, secs = 0;

	lmf_init(argc, argv);
	while ((c = lmf_getopt(argc, argv, "t:qhV", lo)) != -1) {
		switch (c) {
		case 'c':
			opts.dim = (int)lmf_parse_int("--dim", optarg, 1, 65536);
			break;
		case 'f':
			opts.hidden = (int)lmf_parse_int("--hidden", optarg, 1,
			    262144);
			break;
		case 'v':
			opts.vocab = (int)lmf_parse_int("--vocab", optarg, 1,
			    1 << 20);
			break;
		case 'n':
			opts.heads = (int)lmf_parse_int("--heads", optarg, 1, 1024);
			break;
		case 'k':
			opts.kv_heads = (int)lmf_parse_int("--kv_heads", optarg, 1,
			    1024);
			break;
		case 'l':
			opts.layers = (int)lmf_parse_int("--layers", optarg, 1,
			    1024);
			break;
		case 'T':
			opts.seq = (int)lmf_parse_int("--seq", optarg, 1, 65536);
			break;
		case 'B':
			opts.batch = (int)lmf_parse_int("--batch", optarg, 1, 4096);
			break;
		case 'p':
			opts.threads = (int)lmf_parse_int("--threads", optarg, 0,
			    1024);
			break;
		case 't':
			opts.secs = lmf_parse_float("-t", optarg, 0.001, 60);
			break;
		case 'q':
			opts.quiet = 1;
			break;
		case 'h':
			lmf_help_exit(usage);
		case 'V':
			lmf_version_exit();
		default:
			lmf_usage_exit(usage);
		}
	}
	if (optind != argc)
		lmf_usage_exit(usage);
	if (!opts.kv_heads)
		opts.kv_heads = opts.heads;
	if (opts.dim % opts.heads || opts.heads % opts.kv_heads)
		die_usage("--dim %d, --heads %d and --kv_heads %d disagree",
		    opts.dim, opts.heads, opts.kv_heads);
	lmf_gemm_init(opts.threads);

	C = opts.dim, F = opts.hidden, V = opts.vocab, T = opts.seq;
	HS = C / opts.heads, KV = HS * opts.kv_heads, M = opts.batch * T;
	L = opts.layers, BH = (double)opts.batch * opts.heads * L;
	/* linear din -> dout over M tokens: y = x W^T, dx = dy W, dW = dy^T x */
#define LIN(name, din, dout, n) do { \
	sh[ns++] = (struct shape){ name " fwd", 0, 1, M, dout, din, n }; \
	sh[ns++] = (struct shape){ name " dinp", 0, 0, M, din, dout, n }; \
	sh[ns++] = (struct shape){ name " dW", 1, 0, dout, din, M, n }; \
} while (0)
	LIN("q,o", C, C, 2 * L);
	if (KV == C)
		sh[0].count = sh[1].count = sh[2].count = 4 * L;
	else
		LIN("k,v", C, KV, 2 * L);
	LIN("gate,up", C, F, 2 * L);
	LIN("down", F, C, L);
	LIN("lm_head", C, V, 1);
	/* attention per (batch, head): S = Q K^T, O = P V; backward
	 * dP = dO V^T, dV = P^T dO, dQ = dS K, dK = dS^T Q */
	sh[ns++] = (struct shape){ "attn QK^T, dO V^T", 0, 1, T, T, HS, 2 * BH };
	sh[ns++] = (struct shape){ "attn P V, dS K", 0, 0, T, HS, T, 2 * BH };
	sh[ns++] = (struct shape){ "attn P^T dO, dS^T Q", 1, 0, T, HS, T,
	    2 * BH };
#undef LIN

	if (!opts.quiet) {
		printf("# openblas core %s, %d threads\n", lmf_gemm_corename(),
		    lmf_gemm_threads());
		printf("%-22s %5s %5s %5s %6s %8s\n", "product", "M", "N", "K",
		    "calls", "GFLOP/s");
	}
	for (i = 0; i < ns; i++) {
		double g = bench(&sh[i]), f;

		f = 2.0 * sh[i].M * sh[i].N * sh[i].K * sh[i].count;
		flops += f;
		secs += f / (g * 1e9);
		if (!opts.quiet) {
			printf("%-22s %5d %5d %5d %6.0f %8.1f\n", sh[i].what,
			    sh[i].M, sh[i].N, sh[i].K, sh[i].count, g);
			fflush(stdout);
		}
	}
	if (!opts.quiet)
		printf("step: %.1f GFLOP in products, %.2f s at these rates: "
		    "%.1f GFLOP/s\n", flops / 1e9, secs, flops / secs / 1e9);
	else
		printf("%.1f\n", flops / secs / 1e9);
	return 0;
}
