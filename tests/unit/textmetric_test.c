/* textmetric_test: the parts of ComputeSimilarity that need no jieba
 * dictionary, against values printed by Python 3.11, numpy 1.24 and nltk
 * 3.8: numpy's pairwise mean, round(x, 4), float repr, BLEU-4 with method3,
 * rouge_chinese's sentence split and F-scores. TAP output. */
#include <math.h>
#include <string.h>

#include "lmf/textmetric.h"
#include "tap.h"

static void
test_mean(void)
{
	double x[300];
	int i;

	for (i = 0; i < 300; i++)
		x[i] = (double)(i * 7919 % 100003) / 1000.0;
	ok(lmf_np_mean(x, 7) == 23.757, "numpy mean of 7");
	/* 48.980210000000014 summed left to right */
	ok(lmf_np_mean(x, 100) == 48.98021000000001,
	    "numpy mean of 100: eight partial sums");
	ok(lmf_np_mean(x, 300) == 49.523136666666666,
	    "numpy mean of 300: pairwise halves");
}

static void
test_round_repr(void)
{
	static const struct { double x; const char *s; } r[] = {
		{ 1e-5, "1e-05" }, { 0.0001, "0.0001" },
		{ 123456789012345678.0, "1.2345678901234568e+17" },
		{ 1e16, "1e+16" }, { 2.5, "2.5" }, { 0.1 + 0.2,
		"0.30000000000000004" }, { 100.0, "100.0" },
		{ 33.333333333333336, "33.333333333333336" }, { 0, "0.0" },
	};
	char buf[64];
	size_t i;
	int bad = 0;

	for (i = 0; i < sizeof r / sizeof r[0]; i++) {
		lmf_pyrepr(r[i].x, buf, sizeof buf);
		if (strcmp(buf, r[i].s)) {
			printf("# repr %s, want %s\n", buf, r[i].s);
			bad++;
		}
	}
	ok(!bad, "Python's float repr");
	ok(lmf_pyround(0.125, 2) == 0.12 && lmf_pyround(2.675, 2) == 2.67 &&
	    lmf_pyround(12.34565, 4) == 12.3456 &&
	    lmf_pyround(0.999999995 * 100, 4) == 100.0,
	    "round(x, n) on the exact binary value, half to even");
}

static double
bleu(const char *p, const char *l)
{
	return lmf_bleu4_chars(p, strlen(p), l, strlen(l));
}

static void
test_bleu(void)
{
	ok(bleu("ab", "abc") == 0.36064528799877893,
	    "BLEU: method3's 1/2, 1/4 and the brevity penalty");
	ok(fabs(bleu("他说你好然后走了", "他说：“你好！”然后离开了。") -
	    0.09391482316088157) < 1e-15, "BLEU: Chinese characters");
	ok(bleu("xyz", "abc") == 0 && bleu("", "abc") == 0,
	    "BLEU: no matching character, an empty prediction: 0");
	ok(bleu("same text", "same text") == 1.0, "BLEU: identical texts");
}

static void
test_rouge(void)
{
	double f[3];

	lmf_rouge_f("a b c", "a b c", f);
	ok(f[0] == 0.999999995 && f[1] == 0.999999995 && f[2] == 0.999999995,
	    "ROUGE: identical word lists give 0.999999995");
	lmf_rouge_f(" \t", "a b", f);
	ok(f[0] == 0 && f[1] == 0 && f[2] == 0, "ROUGE: a blank side gives 0");
	/* a a b: 1-gram sets {a, b} against {a, c}: p = r = 1/2; 2-grams
	 * {aa, ab} against {ac}: 0; LCS of [a a b] and [a c] = 1 */
	lmf_rouge_f("a a b", "a c", f);
	ok(f[0] == 2.0 * ((0.5 * 0.5) / (0.5 + 0.5 + 1e-8)) && f[1] == 0 &&
	    f[2] == 2.0 * ((1.0 / 3 * 0.5) / (1.0 / 3 + 0.5 + 1e-8)),
	    "ROUGE: sets of n-grams, LCS with repeats");
	/* the sentences of "x 。\n \ny" are "x 。", " " and "y"; the
	 * whitespace-only one is one empty word: [x, 。, "", y], whose LCS
	 * with [x, 。, y] is 3 */
	lmf_rouge_f("x 。\n \ny", "x 。 y", f);
	ok(f[2] == 2.0 * ((0.75 * 1.0) / (0.75 + 1.0 + 1e-8)),
	    "ROUGE: a whitespace-only sentence is one empty word");
}

int
main(void)
{
	test_mean();
	test_round_repr();
	test_bleu();
	test_rouge();
	return tap_done();
}
