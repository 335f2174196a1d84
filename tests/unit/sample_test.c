/* sample_test: Hugging Face's logits processors (sample.h) on rows worked
 * out by hand: the repetition penalty once per distinct id, the
 * temperature, top-k keeping ties with the k-th, top-p keeping the
 * smallest set that reaches p (ties broken by id, the most likely always
 * kept), greedy ignoring the warpers, a draw following the cumulative
 * probabilities; then each fast path against its _ref on random rows with
 * and without ties. TAP. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lmf/sample.h"
#include "lmf/util.h"
#include "lmf/banned.h"
#include "tap.h"

static float tmp[3 * 4096 + 2];

/* 1 when a (n) equals want, -inf where want is -inf */
static int
same(const float *a, const float *want, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (!(a[i] == want[i] || (isinf(want[i]) && isinf(a[i]) &&
		    (a[i] < 0) == (want[i] < 0))) &&
		    fabsf(a[i] - want[i]) > 1e-6f)
			return 0;
	return 1;
}

/* the ids left (logit not -inf) as a bit mask */
static unsigned
kept(const float *lg, int n)
{
	unsigned m = 0;
	int i;

	for (i = 0; i < n; i++)
		if (lg[i] > -INFINITY)
			m |= 1u << i;
	return m;
}

static void
logs(float *lg, const double *p, int n)
{
	int i;

	for (i = 0; i < n; i++)
		lg[i] = p[i] > 0 ? (float)log(p[i]) : -INFINITY;
}

static void
test_hand(void)
{
	static const float I = INFINITY;
	unsigned char seen[8];
	float lg[8];
	int32_t hist[] = { 0, 1, 0, 0 };
	int which;

	/* repetition penalty 2: 2 -> 1, -1 -> -2, once though 0 is seen
	 * three times; ids not seen stay */
	memcpy(lg, (float[]){ 2, -1, 0.5f, 3 }, 4 * sizeof *lg);
	lmf_sample_repetition_penalty(lg, 4, hist, 4, 2.0f, seen);
	ok(same(lg, (float[]){ 1, -2, 0.5f, 3 }, 4),
	    "repetition_penalty: x / p above 0, x * p below, once per id");
	memcpy(lg, (float[]){ 1, -2 }, 2 * sizeof *lg);
	lmf_sample_temperature(lg, 2, 0.5f);
	ok(same(lg, (float[]){ 2, -4 }, 2), "temperature divides");

	/* top_k: the k-th largest of 1 3 2 3 0 is 3 (k 1 and 2) or 2 */
	memcpy(lg, (float[]){ 1, 3, 2, 3, 0 }, 5 * sizeof *lg);
	lmf_sample_top_k(lg, 5, 1, tmp);
	ok(same(lg, (float[]){ -I, 3, -I, 3, -I }, 5),
	    "top_k 1 keeps both tokens tied for the largest");
	memcpy(lg, (float[]){ 1, 3, 2, 3, 0 }, 5 * sizeof *lg);
	lmf_sample_top_k(lg, 5, 3, tmp);
	ok(same(lg, (float[]){ -I, 3, 2, 3, -I }, 5), "top_k 3");
	memcpy(lg, (float[]){ 1, 3, 2, 3, 0 }, 5 * sizeof *lg);
	lmf_sample_top_k(lg, 5, 0, tmp);
	lmf_sample_top_k(lg, 5, 5, tmp);
	ok(same(lg, (float[]){ 1, 3, 2, 3, 0 }, 5), "top_k 0 or V: off");

	/* top_p 0.65 over 0.1 0.2 0.3 0.4: ascending cumulative 0.1, 0.3
	 * (both <= 0.35, removed), 0.6, 1.0 */
	logs(lg, (double[]){ 0.1, 0.2, 0.3, 0.4 }, 4);
	lmf_sample_top_p(lg, 4, 0.65f, tmp);
	ok(kept(lg, 4) == 0xc, "top_p 0.65 keeps the two likeliest (%#x)",
	    kept(lg, 4));
	logs(lg, (double[]){ 0.1, 0.2, 0.3, 0.4 }, 4);
	lmf_sample_top_p(lg, 4, 0.75f, tmp);
	ok(kept(lg, 4) == 0xe, "top_p 0.75 keeps three (%#x)", kept(lg, 4));
	/* four equal tokens, top_p 0.3: cumulative 0.25, 0.5 (removed),
	 * 0.75: two are kept, the higher ids, not all four */
	memset(lg, 0, 4 * sizeof *lg);
	lmf_sample_top_p(lg, 4, 0.3f, tmp);
	ok(kept(lg, 4) == 0xc, "top_p over ties keeps the smallest set, "
	    "higher ids (%#x)", kept(lg, 4));
	/* 0.45 0.45 0.1, top_p 0.3: 0.1 then the first 0.45 go (0.55 <=
	 * 0.7); one of the two most likely is left */
	logs(lg, (double[]){ 0.45, 0.45, 0.1 }, 3);
	lmf_sample_top_p(lg, 3, 0.3f, tmp);
	ok(kept(lg, 3) == 0x2, "top_p: of two tied most likely, one is kept "
	    "(%#x)", kept(lg, 3));
	logs(lg, (double[]){ 0.3, 0.7 }, 2);
	lmf_sample_top_p(lg, 2, 0.01f, tmp);
	ok(kept(lg, 2) == 0x2, "top_p 0.01 keeps the most likely token");
	logs(lg, (double[]){ 0.1, 0, 0.9 }, 3);
	lmf_sample_top_p(lg, 3, 1.0f, tmp);
	ok(kept(lg, 3) == 0x5, "top_p 1: off");

	ok(lmf_sample_argmax((float[]){ 1, 3, 3, -I }, 4) == 1,
	    "argmax: the first largest");

	/* a draw: u = uniform * sum, the first id whose cumulative
	 * probability passes it */
	{
		struct lmf_rng r, c;
		int i, bad = 0, want;
		float u;

		lmf_rng_seed(&r, 9);
		logs(lg, (double[]){ 0.2, 0, 0.5, 0.3 }, 4);
		for (i = 0; i < 200; i++) {
			c = r;
			u = lmf_rng_uniform(&c);
			want = u < 0.2f ? 0 : u < 0.7f ? 2 : 3;
			which = lmf_sample_draw(lg, 4, &r, tmp);
			/* near a boundary the float sums may round
			 * either way */
			if (which != want && fabsf(u - 0.2f) > 1e-5f &&
			    fabsf(u - 0.7f) > 1e-5f)
				bad++;
			if (which == 1)
				bad++;
		}
		ok(!bad, "draw: follows the cumulative probabilities, never "
		    "a token of probability 0 (%d off)", bad);
	}

	/* the chain: greedy ignores temperature and top-k, not the
	 * penalty; sampling with top_k 1 is the argmax */
	{
		struct lmf_sample_opts o = { .do_sample = 0, .temperature = 0.1,
			.top_k = 1, .top_p = 0.5, .repetition_penalty = 2 };
		struct lmf_sampler s;
		struct lmf_rng r;
		int32_t h[] = { 0 };

		lmf_rng_seed(&r, 1);
		lmf_sample_init(&s, &o, 3);
		memcpy(lg, (float[]){ 2, 1.5f, -1 }, 3 * sizeof *lg);
		ok(lmf_sample_pick(&s, lg, h, 1, &r) == 1,
		    "greedy: the argmax after the repetition penalty");
		s.o.do_sample = 1;
		s.o.repetition_penalty = 1;
		s.o.top_p = 1;
		memcpy(lg, (float[]){ 0.5f, 0.4f, 0.6f }, 3 * sizeof *lg);
		ok(lmf_sample_pick(&s, lg, h, 1, &r) == 2,
		    "sampling with top_k 1 takes the argmax");
		lmf_sample_free(&s);
	}
}

/* fast against _ref on random rows, some with many ties */
static void
test_ref(void)
{
	enum { V = 4096 };
	static float a[V], b[V], base[V];
	static const int ks[] = { 1, 2, 50, 1000, V - 1 };
	static const float ps[] = { 0.05f, 0.3f, 0.7f, 0.95f, 0.999f };
	struct lmf_rng r;
	int trial, i, bad_k = 0, bad_p = 0, nk = 0;

	lmf_rng_seed(&r, 5);
	for (trial = 0; trial < 40; trial++) {
		int tie = trial % 2, k = ks[trial % 5];
		float p = ps[(trial / 5) % 5];

		for (i = 0; i < V; i++) {
			base[i] = 3 * lmf_rng_normal(&r);
			if (tie)   /* a few values, many repeats */
				base[i] = roundf(base[i]);
		}
		memcpy(a, base, sizeof a);
		memcpy(b, base, sizeof b);
		lmf_sample_top_k(a, V, k, tmp);
		lmf_sample_top_k_ref(b, V, k, tmp);
		bad_k += memcmp(a, b, sizeof a) != 0;
		/* top_p after top_k, as generate runs them, and alone */
		lmf_sample_top_p(a, V, p, tmp);
		lmf_sample_top_p_ref(b, V, p, tmp);
		bad_p += memcmp(a, b, sizeof a) != 0;
		memcpy(a, base, sizeof a);
		memcpy(b, base, sizeof b);
		lmf_sample_top_p(a, V, p, tmp);
		lmf_sample_top_p_ref(b, V, p, tmp);
		bad_p += memcmp(a, b, sizeof a) != 0;
		for (i = 0; i < V; i++)
			nk += a[i] > -INFINITY;
	}
	ok(!bad_k, "top_k equals top_k_ref (40 rows, half with ties; %d "
	    "differ)", bad_k);
	ok(!bad_p, "top_p equals top_p_ref (80 rows; %d differ)", bad_p);
	ok(nk > 40 && nk < 40 * V, "  and they cut (%d kept of %d)", nk,
	    40 * V);
}

int
main(int argc, char **argv)
{
	lmf_init(argc, argv);
	test_hand();
	test_ref();
	return tap_done();
}
