/* gemm_test: lmf_gemm_bf16 against lmf_gemm_ref on the same
 * bf16-rounded inputs, run in a child twice: on the CPU's bf16
 * instructions where there are some (oneDNN) and with LMF_BF16_ISA=none
 * (widened into sgemm); every transposition, beta 0 and 1, alpha 1 and
 * not, odd sizes, padded leading dimensions, more shapes than the
 * primitive cache holds. Then lmf_gemm_init's core-type re-exec. We
 * stand in for openblas_get_corename (the executable's definition wins
 * over the shared library's), claim a weak core, and run ourselves as a
 * child: it must run twice, the second time with OPENBLAS_CORETYPE set to
 * the CPU's best, the same argv and the same stdin; a user's
 * OPENBLAS_CORETYPE must stop it. TAP. */
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <strings.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lmf/gemm.h"
#include "lmf/util.h"
#include "lmf/banned.h"
#include "tap.h"


/* the real one, unless FAKE_CORE says otherwise */
char *
openblas_get_corename(void)
{
	char *(*real)(void);
	char *fake = getenv("FAKE_CORE");

	if (fake)
		return fake;
	*(void **)&real = dlsym(RTLD_NEXT, "openblas_get_corename");
	return real ? real() : "unknown";
}

/* ---- bf16 products ---- */

static float
frand(unsigned *st)
{
	*st = *st * 1103515245u + 12345u;
	return (float)((*st >> 8) & 0xffff) / 32768.0f - 1.0f;
}

/* one product of random bf16 matrices against the double reference: the
 * difference within fp32 summation error, (K + 2) 2^-24 sum |a b| per
 * element (the products of bf16 values are exact in fp32; only the order
 * and rounding of the K sums differs); 1 when within */
static int
bf16_case(int ta, int tb, int M, int N, int K, float alpha, float beta,
    int pad, unsigned seed, double *worst)
{
	int lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
	size_t na = (size_t)(ta ? K : M) * lda, nb = (size_t)(tb ? N : K) * ldb;
	size_t nc = (size_t)M * ldc, i;
	uint16_t *a16 = xmallocarray(na, 2), *b16 = xmallocarray(nb, 2);
	float *a = xmallocarray(na, 4), *b = xmallocarray(nb, 4);
	float *c = xmallocarray(nc, 4), *r = xmallocarray(nc, 4);
	int m, n, k, good = 1;

	for (i = 0; i < na; i++) {
		a16[i] = lmf_f32_to_bf16(frand(&seed));
		a[i] = lmf_bf16_to_f32(a16[i]);
	}
	for (i = 0; i < nb; i++) {
		b16[i] = lmf_f32_to_bf16(frand(&seed));
		b[i] = lmf_bf16_to_f32(b16[i]);
	}
	for (i = 0; i < nc; i++)
		c[i] = r[i] = frand(&seed);
	lmf_gemm_bf16(ta, tb, M, N, K, alpha, a16, lda, b16, ldb, beta, c,
	    ldc);
	lmf_gemm_ref(ta, tb, M, N, K, alpha, a, lda, b, ldb, beta, r, ldc);
	for (m = 0; m < M; m++)
		for (n = 0; n < N; n++) {
			double mag = 0, d, tol;

			for (k = 0; k < K; k++)
				mag += fabs((double)(ta ? a[(size_t)k * lda + m] :
				    a[(size_t)m * lda + k]) * (tb ?
				    b[(size_t)n * ldb + k] :
				    b[(size_t)k * ldb + n]));
			tol = (K + 2) * ldexp(1, -24) * (fabs(alpha) * mag +
			    fabs(r[(size_t)m * ldc + n]));
			d = fabs((double)c[(size_t)m * ldc + n] -
			    r[(size_t)m * ldc + n]);
			if (d > tol)
				good = 0;
			if (tol > 0 && d / tol > *worst)
				*worst = d / tol;
		}
	/* the padding between rows of C is never written */
	for (m = 0; m < M; m++)
		for (n = N; n < ldc; n++)
			if (c[(size_t)m * ldc + n] != r[(size_t)m * ldc + n])
				good = 0;
	free(a16);
	free(b16);
	free(a);
	free(b);
	free(c);
	free(r);
	return good;
}

/* the child: each check as "1 text" or "0 text" on stdout */
static int
bf16_child(void)
{
	static const int shapes[][3] = { { 37, 29, 53 }, { 1, 1, 1 },
		{ 130, 70, 300 }, { 64, 288, 288 }, { 5, 1000, 17 } };
	int s, ta, tb, bi, good, all = 1;
	unsigned seed = 7;
	double worst;

	lmf_gemm_init(2);
	printf("%d native %d impl %s\n", 1, lmf_gemm_bf16_native(),
	    lmf_gemm_bf16_impl());
	for (s = 0; s < 5; s++) {
		worst = 0;
		good = 1;
		for (ta = 0; ta < 2; ta++)
			for (tb = 0; tb < 2; tb++)
				for (bi = 0; bi < 4; bi++)
					good &= bf16_case(ta, tb, shapes[s][0],
					    shapes[s][1], shapes[s][2],
					    bi & 2 ? 0.5f : 1.0f,
					    (float)(bi & 1), s & 1 ? 3 : 0,
					    seed++, &worst);
		printf("%d %dx%dx%d, 4 transpositions, beta 0/1, alpha 1/0.5:"
		    " worst %.2f of the bound\n", good, shapes[s][0],
		    shapes[s][1], shapes[s][2], worst);
	}
	/* 70 shapes (more than the cache's 64), then the first again */
	worst = 0;
	for (s = 0; s < 70; s++)
		all &= bf16_case(s & 1, s >> 1 & 1, 3 + s, 5 + s % 7, 11 + s,
		    1.0f, (float)(s % 3 == 0), 0, seed++, &worst);
	all &= bf16_case(0, 0, 3, 5, 11, 1.0f, 1.0f, 0, seed++, &worst);
	printf("%d 71 shapes through the primitive cache: worst %.2f of the "
	    "bound\n", all, worst);
	fflush(stdout);
	return 0;
}

/* run the bf16 checks in a child with LMF_BF16_ISA=isa (NULL: unset) */
static void
bf16_checks(const char *self, const char *isa)
{
	char cmd[4200], line[512];
	FILE *f;
	int n = 0, native = -1;

	snprintf(cmd, sizeof cmd, "%s%s%s '%s' --bf16", isa ? "LMF_BF16_ISA=" :
	    "", isa ? isa : "", isa ? "" : "", self);
	f = popen(cmd, "r");
	while (f && fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = 0;
		if (sscanf(line, "1 native %d", &native) == 1)
			printf("# %s: %s\n", isa ? isa : "auto", line + 2);
		else
			ok(line[0] == '1', "bf16 (%s): %s", isa ? isa : "auto",
			    line + 2);
		n++;
	}
	ok(f && pclose(f) == 0 && n == 7, "bf16 (%s): the child ran all "
	    "checks", isa ? isa : "auto");
	if (isa)
		ok(native == 0, "LMF_BF16_ISA=none: bf16 products widen into "
		    "sgemm");
}

/* the child: count the runs, then report what it sees on stdout */
static int
child(int argc, char **argv)
{
	const char *runs = getenv("TEST_RUNS");
	long long nrun = 0;
	char *count, line[256] = "";
	int i;

	if (runs && lmf_strtoll(runs, &nrun) < 0)
		nrun = 99;
	count = xasprintf("%lld", nrun + 1);
	setenv("TEST_RUNS", count, 1);
	free(count);
	lmf_gemm_init(1);
	/* only the last run gets here with output to give */
	printf("runs %lld\n", nrun + 1);
	printf("coretype %s\n", getenv("OPENBLAS_CORETYPE") ?
	    getenv("OPENBLAS_CORETYPE") : "-");
	printf("marker %s\n", getenv("LMF_GEMM_REEXEC") ? "set" : "unset");
	for (i = 1; i < argc; i++)
		printf("arg [%s]\n", argv[i]);
	if (!fgets(line, sizeof line, stdin))
		line[0] = 0;
	printf("stdin [%s]\n", line);
	unsetenv("FAKE_CORE");
	printf("core %s\n", lmf_gemm_corename());
	return 0;
}

/* run ourselves as a child with argv, FAKE_CORE=fake (or unset) and the
 * user's OPENBLAS_CORETYPE (or unset); its stdout into out */
static int
run_child(const char *self, const char *fake, const char *user, char *out,
    size_t len)
{
	int in[2], res[2], status;
	size_t got = 0;
	ssize_t k;
	pid_t pid;

	if (pipe(in) < 0 || pipe(res) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(res[1], 1);
		close(in[1]);
		close(res[0]);
		unsetenv("TEST_RUNS");
		unsetenv("LMF_GEMM_REEXEC");
		if (fake)
			setenv("FAKE_CORE", fake, 1);
		else
			unsetenv("FAKE_CORE");
		if (user)
			setenv("OPENBLAS_CORETYPE", user, 1);
		else
			unsetenv("OPENBLAS_CORETYPE");
		execl(self, self, "--child", "a b", "", "x'y", (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(res[1]);
	if (write(in[1], "hello\n", 6) != 6)
		return -1;
	close(in[1]);
	while (got + 1 < len && (k = read(res[0], out + got,
	    len - 1 - got)) > 0)
		got += (size_t)k;
	out[got] = 0;
	close(res[0]);
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int
main(int argc, char **argv)
{
	const char *best;
	char out[4096], want[512], *exp;

	lmf_init(argc, argv);
	if (argc > 1 && strcmp(argv[1], "--child") == 0)
		return child(argc, argv);
	if (argc > 1 && strcmp(argv[1], "--bf16") == 0)
		return bf16_child();
	bf16_checks(argv[0], NULL);
	bf16_checks(argv[0], "none");
	best = lmf_gemm_best_coretype();
	if (!best) {
		printf("1..0 # skip: this CPU has neither AVX-512 nor AVX2\n");
		return 0;
	}
	printf("# best core type for this CPU: %s\n", best);

	/* a weak core: one re-exec, with the best core type */
	ok(run_child(argv[0], "Prescott", NULL, out, sizeof out) == 0,
	    "child with a weak core type exits 0");
	snprintf(want, sizeof want, "runs 2\ncoretype %s\nmarker unset\n"
	    "arg [--child]\narg [a b]\narg []\narg [x'y]\nstdin [hello\n]\n"
	    "core ", best);
	ok(strncmp(out, want, strlen(want)) == 0,
	    "re-executed once with the best core type, same argv and stdin");
	exp = strstr(out, "\ncore ");
	ok(exp && strncasecmp(exp + 6, best, strlen(best)) == 0,
	    "openblas runs the best core type after the re-exec");
	if (strncmp(out, want, strlen(want)) != 0)
		printf("# got:\n# %s\n", out);

	/* the user's choice wins: no re-exec */
	ok(run_child(argv[0], "Prescott", "Prescott", out, sizeof out) == 0 &&
	    strncmp(out, "runs 1\ncoretype Prescott\n", 25) == 0,
	    "a user's OPENBLAS_CORETYPE stops the re-exec");
	/* a good core: no re-exec */
	ok(run_child(argv[0], best, NULL, out, sizeof out) == 0 &&
	    strncmp(out, "runs 1\ncoretype -\n", 18) == 0,
	    "a good core type runs once");
	printf("1..%d\n", ntest);
	return nfail ? 1 : 0;
}
