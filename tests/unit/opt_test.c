/* opt_test: option tables (opt.h): every type parsed into its field,
 * "given" set, the defaults of --list-options and the usage as they were
 * before parsing, short flags, and the getopt fallback's list. */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lmf/opt.h"
#include "lmf/util.h"
#include "tap.h"

static int funcs;

static void
count_func(const struct lmf_opt *o, const char *v)
{
	funcs++;
	*(const char **)o->p = v;
}

/* what f printed, as a string */
static char *
captured(FILE *f)
{
	size_t n;
	char *s;

	fflush(f);
	n = (size_t)ftell(f);
	rewind(f);
	s = xmalloc(n + 1);
	n = fread(s, 1, n, f);
	s[n] = '\0';
	fclose(f);
	return s;
}

int
main(int argc, char **argv)
{
	int i = 3, b = 0, c = 1, q = 0;
	long l = 7;
	uint64_t u = 42;
	double x = 0.5;
	const char *s = "-", *fv = NULL;
	struct lmf_opt tab[] = {
		LMF_OPT_ROW("int", 0, LMF_OPT_INT, &i, "N", 1, 10, "an int"),
		LMF_OPT_ROW("long", 0, LMF_OPT_LONG, &l, "N", -1, 9.3e18, "long"),
		LMF_OPT_ROW("u64", 0, LMF_OPT_U64, &u, "N", 0, 9.3e18, "u64"),
		LMF_OPT_ROW("float", 'f', LMF_OPT_FLOAT, &x, "X", 0, 1, "a float"),
		LMF_OPT_ROW("str", 0, LMF_OPT_STRING, &s, "FILE", 0, 0, "a file"),
		LMF_OPT_ROW("bool", 0, LMF_OPT_BOOL, &b, NULL, 0, 0, "a bool"),
		LMF_OPT_ROW("bool2", 0, LMF_OPT_BOOL, &q, NULL, 0, 0, "a bool"),
		LMF_OPT_ROW("choice", 0, LMF_OPT_CHOICE, &c, "no|steps|epoch", 0,
		    0, "a choice"),
		{ "func", 0, LMF_OPT_FUNC, &fv, "V", 0, 0, "a func", "dflt",
		    count_func, 0 },
		LMF_OPT_ROW(NULL, 'o', LMF_OPT_STRING, &s, "FILE", 0, 0, "out"),
		{ 0 },
	};
	char *av[] = { "opt_test", "--int", "9", "--long=-1", "--u64",
		"9223372036854775807", "-f", "0.25", "--bool", "false",
		"--bool2", "--choice", "epoch", "--func", "v", "operand", NULL };
	int t = -1;
	struct lmf_opt tri[] = {
		{ "tri", 0, LMF_OPT_BOOL, &t, NULL, 0, 0, "a tri-state",
		    "header", NULL, 0 },
		{ 0 },
	};
	struct lmf_opt_usage us = { "[options]", "Test." };
	struct option lo[] = { { "alpha", required_argument, NULL, 'a' },
		{ "beta", optional_argument, NULL, 300 },
		{ "gamma", no_argument, NULL, 'g' }, { NULL, 0, NULL, 0 } };
	char *out;
	FILE *f;
	int k;

	(void)argc;
	lmf_init(1, argv);
	f = tmpfile();
	lmf_opt_print_list(f, tab);
	out = captured(f);
	ok(!strcmp(out, "int\t\tint\t3\nlong\t\tint\t7\nu64\t\tint\t42\n"
	    "float\tf\tfloat\t0.5\nstr\t\tstring\t-\nbool\t\tbool\tfalse\n"
	    "bool2\t\tbool\tfalse\nchoice\t\tchoice:no|steps|epoch\tsteps\n"
	    "func\t\tstring\tdflt\n\to\tstring\t-\nlist-options\t\tflag\t\n"),
	    "--list-options: name, short, type, default");
	free(out);
	f = tmpfile();
	lmf_opt_print_usage(f, tab, &us);
	out = captured(f);
	ok(strstr(out, "usage: opt_test [options]\nTest.\n") == out,
	    "usage: the synopsis and what it does first");
	ok(strstr(out, "\n  -f, --float X") && strstr(out,
	    "a float (default 0.5)\n") && strstr(out, "\n  -o FILE ") &&
	    strstr(out, "--bool [BOOL]") && strstr(out, "(default dflt)"),
	    "usage: flags, values and defaults");
	free(out);
	k = lmf_opt_parse(tab, &us, 16, av);
	ok(k == 15 && !strcmp(av[k], "operand"), "optind at the operand");
	ok(i == 9 && l == -1 && u == INT64_MAX && x == 0.25, "numbers");
	ok(b == 0 && q == 1, "--bool false and a bare --bool2");
	ok(c == 2, "a choice: the index of its word");
	ok(funcs == 1 && fv && !strcmp(fv, "v"), "a func gets the value");
	ok(!strcmp(s, "-"), "a string not given keeps its default");
	ok(lmf_opt_given(tab, "int") && lmf_opt_given(tab, "func") &&
	    !lmf_opt_given(tab, "str"), "given");
	fflush(stdout);
	f = tmpfile();
	k = dup(1);
	dup2(fileno(f), 1);
	if (fork() == 0) {
		lmf_opt_list_exit(lo, "a:g");
	}
	wait(NULL);
	dup2(k, 1);
	out = captured(f);
	ok(!strcmp(out, "alpha\ta\tstring\t\nbeta\t\tbool\t\n"
	    "gamma\tg\tflag\t\nlist-options\t\tflag\t\n"),
	    "a getopt array's list: names, shorts, string/bool/flag");
	free(out);
	f = tmpfile();
	lmf_opt_print_list(f, tri);
	lmf_opt_print_usage(f, tri, &us);
	out = captured(f);
	ok(strstr(out, "tri\t\tbool\t\n") == out &&
	    strstr(out, "--tri [BOOL]") && strstr(out, "(default header)"),
	    "a bool below 0: no default listed, the usage's def");
	free(out);
	optind = 0;
	k = lmf_opt_parse(tri, &us, 2, (char *[]){ "opt_test", "--tri", NULL });
	ok(t == 1 && k == 2, "  and a bare --tri sets it");
	return tap_done();
}
