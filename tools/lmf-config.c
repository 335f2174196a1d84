/* lmf-config: resolve a LLaMA-Factory training configuration (a YAML or
 * JSON file, then key=value overrides and --key value flags) against the
 * table of every key lmf knows, with LLaMA-Factory's defaults, and print
 * it for the shell drivers as cfg_KEY='value' lines (or one value, or
 * JSON). It refuses unknown keys, wrong types, keys no tool implements and
 * impossible combinations (libcommon/args.c). It does not run anything. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lmf/args.h"
#include "lmf/stream.h"
#include "lmf/util.h"
#include "lmf/banned.h"

struct opts {
	const char *get;
	int json, list;
};

/* die with the library's message: exit 2 for a value, 1 for a file */
static void
check(int r, const char *err)
{
	if (r == LMF_E_PARAM)
		die_usage("%s", err);
	if (r < 0)
		die("%s", err);
}

static void
set_or_die(struct lmf_args *a, const char *name, const char *s)
{
	char err[1024];

	check(lmf_args_set(a, name, s, 0, LMF_ARGS_CMDLINE, err, sizeof err),
	    err);
}

static int
ends_with(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);

	return n >= m && !strcmp(s + n - m, suf);
}

static void
read_config(struct lmf_args *a, const char *path)
{
	size_t len;
	char *text = lmf_read_file_or_die(path, &len, 1 << 24);
	char err[1024];
	int r;

	if (strlen(path) > 5 && ends_with(path, ".json"))
		r = lmf_args_read_json(a, path, text, len, err, sizeof err);
	else
		r = lmf_args_read_yaml(a, path, text, len, err, sizeof err);
	free(text);
	check(r, err);
}

/* --key value, --key=value, or --flag alone (true) at argv[*i] */
static void
flag(struct lmf_args *a, int argc, char **argv, int *i)
{
	char *name = xstrdup(argv[*i] + 2), *eq;
	size_t n;
	const struct lmf_args_key *keys = lmf_args_keys(&n);
	long k;

	if ((eq = strchr(name, '=')))
		*eq = '\0';
	k = lmf_args_find(name);
	if (eq) {
		set_or_die(a, name, eq + 1);
	} else if (k >= 0 && keys[k].type == LMF_ARG_BOOL) {
		if (*i + 1 < argc && lmf_args_boolword(argv[*i + 1]) >= 0)
			set_or_die(a, name, argv[++*i]);
		else
			set_or_die(a, name, "true");
	} else if (*i + 1 < argc) {
		set_or_die(a, name, argv[++*i]);
	} else if (k < 0) {
		set_or_die(a, name, NULL);
	} else {
		die_usage("--%s: a value is required", name);
	}
	free(name);
}

static void
parse_args(struct lmf_args *a, struct opts *o, int argc, char **argv,
    void (*usage)(FILE *))
{
	int i, nargs = 0;
	char *eq, *name;

	for (i = 1; i < argc; i++) {
		const char *s = argv[i];
		if (!strcmp(s, "-h") || !strcmp(s, "--help"))
			lmf_help_exit(usage);
		if (!strcmp(s, "-V") || !strcmp(s, "--version"))
			lmf_version_exit();
		if (!strcmp(s, "--json")) {
			o->json = 1;
		} else if (!strcmp(s, "--list")) {
			o->list = 1;
		} else if (!strcmp(s, "--get")) {
			if (++i >= argc)
				die_usage("--get: a key is required");
			o->get = argv[i];
		} else if (!nargs++ && (ends_with(s, ".yaml") ||
		    ends_with(s, ".yml") || ends_with(s, ".json"))) {
			read_config(a, s);
		} else if (s[0] == '-' && s[1] == '-' && s[2]) {
			flag(a, argc, argv, &i);
		} else if ((eq = strchr(s, '=')) && eq != s) {
			name = xstrndup(s, (size_t)(eq - s));
			set_or_die(a, name, eq + 1);
			free(name);
		} else {
			die_usage("'%s': not key=value, --key value or a "
			    ".yaml/.json file first", s);
		}
	}
}

/* S inside a single-quoted shell word, on one line: it'\''s */
static void
shquote_in(FILE *f, const char *s)
{
	for (; *s; s++)
		if (*s == '\'')
			fputs("'\\''", f);
		else if (*s == '\n')
			fputc(' ', f);
		else
			fputc(*s, f);
}

/* one shell word: 'it'\''s' */
static void
shquote(FILE *f, const char *s)
{
	fputc('\'', f);
	for (; *s; s++)
		if (*s == '\'')
			fputs("'\\''", f);
		else
			fputc(*s, f);
	fputc('\'', f);
}

static void
print_shell(const struct lmf_args *a)
{
	size_t i, n;
	const struct lmf_args_key *keys = lmf_args_keys(&n);
	const char *note;
	int first = 1;

	for (i = 0; i < n; i++) {
		printf("cfg_%s=", keys[i].name);
		shquote(stdout, a->val[i] ? a->val[i] : "");
		putchar('\n');
	}
	fputs("cfg_given='", stdout);
	for (i = 0; i < n; i++)
		if (a->given[i] && a->val[i]) {
			printf("%s%s", first ? "" : " ", keys[i].name);
			first = 0;
		}
	fputs("'\n", stdout);
	fputs("cfg_notes='", stdout);
	first = 1;
	for (i = 0; i < n; i++)
		if ((note = lmf_args_note(a, i))) {
			if (!first)
				putchar('\n');
			printf("%s (", keys[i].name);
			shquote_in(stdout, a->val[i]);
			printf("): ");
			shquote_in(stdout, note);
			first = 0;
		}
	fputs("'\n", stdout);
}

static void
print_json(const struct lmf_args *a)
{
	json_t *root = lmf_args_to_json(a);

	json_dumpf(root, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(17));
	putchar('\n');
	json_decref(root);
}

static void
print_list(void)
{
	static const char *tn[] = { "bool", "int", "float", "str" };
	static const char *un[] = { "", " (no effect)", " (not implemented)" };
	size_t i, n;
	const struct lmf_args_key *keys = lmf_args_keys(&n);

	for (i = 0; i < n; i++)
		printf("%s %s %s%s\n", keys[i].name, tn[keys[i].type],
		    keys[i].def ? keys[i].def : "null", un[keys[i].use]);
}

static void
usage(FILE *f)
{
	fputs("usage: lmf-config [--get key | --json | --list] [config.yaml|"
	    "config.json]\n"
	    "       [key=value ...] [--key value ...] [--flag ...]\n"
	    "  config.yaml   LLaMA-Factory configuration (YAML or .json)\n"
	    "  key=value     override a key (after the file)\n"
	    "  --key value   the same, argparse style; --flag alone is true\n"
	    "  --get key     print one resolved value\n"
	    "  --json        print the resolved configuration as JSON\n"
	    "  --list        print every known key: name, type, default\n"
	    "  -h, -V        help, version\n"
	    "Without --get or --json: cfg_KEY='value' lines for sh eval.\n", f);
}

int
main(int argc, char **argv)
{
	struct opts o = { 0 };
	struct lmf_args a;
	const char *e = getenv("ALLOW_EXTRA_ARGS");
	char err[1024];
	long g;

	lmf_init(argc, argv);
	lmf_args_init(&a);
	a.allow_extra = e && !strcmp(e, "1");
	parse_args(&a, &o, argc, argv, usage);
	if (o.list) {
		print_list();
		lmf_args_free(&a);
		lmf_close_out();
		return 0;
	}
	check(lmf_args_resolve(&a, err, sizeof err), err);
	if (o.get) {
		if ((g = lmf_args_find(o.get)) < 0)
			die_usage("--get: unknown key '%s' (did you mean '%s'?)",
			    o.get, lmf_args_closest(o.get));
		if (a.val[g])
			puts(a.val[g]);
	} else if (o.json) {
		print_json(&a);
	} else {
		print_shell(&a);
	}
	lmf_args_free(&a);
	lmf_close_out();
	return 0;
}
