/* gemm_test: lmf_gemm_init's core-type re-exec. We stand in for
 * openblas_get_corename (the executable's definition wins over the shared
 * library's), claim a weak core, and run ourselves as a child: it must run
 * twice, the second time with OPENBLAS_CORETYPE set to the CPU's best,
 * the same argv and the same stdin; a user's OPENBLAS_CORETYPE must stop
 * it. TAP. */
#include <dlfcn.h>
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
