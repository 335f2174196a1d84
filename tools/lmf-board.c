/* lmf-board: a small local web board over lmf train, lmf chat and lmf
 * export, as LLaMA-Factory's WebUI is over its trainer: a form per tab,
 * the YAML and command it makes, one job at a time, its loss plot and
 * the runs under --runs. It trains nothing itself and runs no shell:
 * every job is `lmf CMD FILE.yaml`, keys checked by lmf's key table. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lmf/board.h"
#include "lmf/opt.h"
#include "lmf/util.h"
#include "lmf/banned.h"

struct opts {
	const char *host, *runs, *share;
	int port;
};

/* the directory of this program, allocated */
static char *
exe_dir(void)
{
	char buf[PATH_MAX], *slash;
	ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);

	if (n <= 0)
		return xstrdup(".");
	buf[n] = 0;
	if ((slash = strrchr(buf, '/')))
		*slash = 0;
	return xstrdup(buf);
}

static int
is_exe(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISREG(st.st_mode) && !access(p, X_OK);
}

/* lmf on PATH, else beside this program (the build tree's scripts/) */
static char *
find_lmf(const char *dir)
{
	const char *path = getenv("PATH"), *p, *e;
	char *c;

	for (p = path; p && *p; p = *e ? e + 1 : e) {
		e = strchrnul(p, ':');
		c = xasprintf("%.*s/lmf", (int)(e - p), e == p ? "." : p);
		if (c[0] == '/' && is_exe(c))
			return c;
		free(c);
	}
	c = xasprintf("%s/scripts/lmf", dir);
	if (is_exe(c))
		return c;
	free(c);
	c = xasprintf("%s/lmf", dir);
	if (is_exe(c))
		return c;
	die("cannot find lmf on PATH or in '%s'", dir);
}

/* share/board in the build tree, else PREFIX/share/lmf/board */
static char *
find_share(const char *dir)
{
	char *s = xasprintf("%s/share/board/index.html", dir);

	if (access(s, R_OK) == 0) {
		s[strlen(s) - strlen("/index.html")] = 0;
		return s;
	}
	free(s);
	return xasprintf("%s/../share/lmf/board", dir);
}

static void
serve(struct lmf_board *b)
{
	sigset_t set;
	char err[512];
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (lmf_board_open(b, err, sizeof err) < 0)
		die("%s", err);
	printf("%s\n", b->url);
	fflush(stdout);
	if (lmf_verbose > 0)
		fprintf(stderr, "%s: serving on %s (runs in '%s'); ^C stops\n",
		    lmf_progname(), b->url, b->runs);
	sigwait(&set, &sig);
	lmf_board_close(b);
}

int
main(int argc, char **argv)
{
	static const struct lmf_opt_usage u = {
	    "[--host ADDR] [--port N] [--runs DIR] [--share DIR]",
	    "Serve a web board that previews, saves and runs lmf train, "
	    "chat and export." };
	struct opts o = { "127.0.0.1", "runs", NULL, 7860 };
	struct lmf_opt tab[] = {
		LMF_OPT_ROW("host", 0, LMF_OPT_STRING, &o.host, "ADDR", 0, 0,
		    "the IPv4 address to listen on"),
		LMF_OPT_ROW("port", 0, LMF_OPT_INT, &o.port, "N", 0, 65535,
		    "the TCP port; 0: any free one"),
		LMF_OPT_ROW("runs", 0, LMF_OPT_STRING, &o.runs, "DIR", 0, 0,
		    "where runs go and are listed (made if missing)"),
		{ "share", 0, LMF_OPT_STRING, &o.share, "DIR", 0, 0,
		    "the page's files", "share/board beside the program, "
		    "else ../share/lmf/board", NULL, 0 },
		LMF_OPT_LAST_ROWS,
	};
	struct lmf_board b;
	char *dir, *share, *lmf;
	int i;

	lmf_init(argc, argv);
	i = lmf_opt_parse(tab, &u, argc, argv);
	if (i < argc)
		die_usage("unexpected argument '%s'", argv[i]);
	if (!*o.runs || strlen(o.runs) > 1024)
		die_usage("--runs: not a directory name");
	if (mkdir(o.runs, 0777) < 0 && errno != EEXIST)
		die_errno("cannot make '%s'", o.runs);
	dir = exe_dir();
	share = o.share ? xstrdup(o.share) : find_share(dir);
	lmf = find_lmf(dir);
	memset(&b, 0, sizeof b);
	b.host = o.host;
	b.port = o.port;
	b.runs = o.runs;
	b.share = share;
	b.lmf = lmf;
	serve(&b);
	free(dir);
	free(share);
	free(lmf);
	lmf_close_out();
	return 0;
}
