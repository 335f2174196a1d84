/* util_test: strict parsing, half-precision conversion, the RNG, atomic
 * files. TAP output. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lmf/util.h"
#include "tap.h"


static void
test_parse(void)
{
	long long v;
	double d;
	static const char *badint[] = { "", " 1", "1 ", "1x", "0x10", "1.0",
		"99999999999999999999", "--1", NULL };
	int i, bad = 0;

	for (i = 0; badint[i]; i++)
		bad += lmf_strtoll(badint[i], &v) == 0;
	ok(bad == 0, "junk integers are refused");
	ok(lmf_strtoll("-42", &v) == 0 && v == -42, "integers parse");
	ok(lmf_strtod("1e-4", &d) == 0 && d == 1e-4, "floats parse");
	ok(lmf_strtod("nan", &d) < 0 && lmf_strtod("1e999", &d) < 0 &&
	    lmf_strtod("2.5x", &d) < 0, "nan, overflow and junk floats refused");
}

static void
test_half(void)
{
	unsigned i, bad = 0;

	/* every finite f16 survives f16 -> f32 -> f16; NaN stays NaN */
	for (i = 0; i < 65536; i++) {
		float f = lmf_f16_to_f32((uint16_t)i);
		uint16_t back = lmf_f32_to_f16(f);

		if (isnan(f) ? !isnan(lmf_f16_to_f32(back)) : back != i)
			bad++;
	}
	ok(bad == 0, "f16 round trip over all 65536 codes");
	ok(lmf_f16_to_f32(0x3c00) == 1.0f && lmf_f16_to_f32(0x0001) ==
	    ldexpf(1, -24) && lmf_f16_to_f32(0x7bff) == 65504.0f,
	    "f16 one, smallest subnormal, largest finite");
	/* rounding to nearest even at halfway: 1 + 2^-11 -> 1, 1 + 3*2^-11 up */
	ok(lmf_f32_to_f16(1.0f + ldexpf(1, -11)) == 0x3c00 &&
	    lmf_f32_to_f16(1.0f + 3 * ldexpf(1, -11)) == 0x3c02 &&
	    lmf_f32_to_f16(65520.0f) == 0x7c00, "f16 ties to even, overflow to inf");
	for (bad = 0, i = 0; i < 65536; i++) {
		float f = lmf_bf16_to_f32((uint16_t)i);

		if (!isnan(f) && lmf_f32_to_bf16(f) != i)
			bad++;
	}
	ok(bad == 0, "bf16 round trip over all codes");
	ok(lmf_f32_to_bf16(1.0f + ldexpf(1, -8)) == 0x3f80 &&
	    lmf_f32_to_bf16(1.0f + 3 * ldexpf(1, -8)) == 0x3f82 &&
	    isnan(lmf_bf16_to_f32(lmf_f32_to_bf16(NAN))),
	    "bf16 ties to even, NaN stays NaN");
}

static void
test_rng(void)
{
	struct lmf_rng a, b;
	double s = 0, s2 = 0, u = 0;
	int i, same = 1, n = 200000, hist[7] = { 0 }, flat = 1;

	lmf_rng_seed(&a, 42);
	lmf_rng_seed(&b, 42);
	for (i = 0; i < 1000; i++)
		same &= lmf_rng_u32(&a) == lmf_rng_u32(&b);
	ok(same, "same seed, same sequence");
	lmf_rng_seed(&b, 43);
	ok(lmf_rng_u32(&a) != lmf_rng_u32(&b), "other seed, other sequence");
	for (i = 0; i < n; i++) {
		float x = lmf_rng_normal(&a);

		s += x;
		s2 += (double)x * x;
		u += lmf_rng_uniform(&a);
		hist[lmf_rng_below(&a, 7)]++;
	}
	printf("# normal mean %.4f var %.4f, uniform mean %.4f\n", s / n,
	    s2 / n, u / n);
	ok(fabs(s / n) < 0.01 && fabs(s2 / n - 1) < 0.02 &&
	    fabs(u / n - 0.5) < 0.005, "normal and uniform moments");
	for (i = 0; i < 7; i++)
		flat &= abs(hist[i] - n / 7) < n / 70;
	ok(flat, "rng_below is flat");
}

static void
test_afile(void)
{
	char dir[] = "/tmp/lmf-afile-XXXXXX", *path;
	struct lmf_afile a;
	struct stat st;
	size_t len;
	char *got;

	if (!mkdtemp(dir))
		abort();
	path = xasprintf("%s/out", dir);
	ok(lmf_afile_open(&a, path) == 0, "atomic file opens");
	fputs("hello", a.f);
	ok(stat(path, &st) < 0, "nothing under the final name before commit");
	ok(lmf_afile_commit(&a) == 0, "commit");
	got = lmf_read_file_or_die(path, &len, 100);
	ok(len == 5 && !strcmp(got, "hello"), "committed content in place");
	free(got);
	lmf_afile_open(&a, path);
	fputs("half-written", a.f);
	lmf_afile_abort(&a);
	got = lmf_read_file_or_die(path, &len, 100);
	ok(!strcmp(got, "hello"), "an aborted write leaves the old file");
	free(got);
	unlink(path);
	ok(rmdir(dir) == 0, "no temporary files left behind");
	free(path);
}

int
main(int argc, char **argv)
{
	lmf_init(argc, argv);
	test_parse();
	test_half();
	test_rng();
	test_afile();
	return tap_done();
}
