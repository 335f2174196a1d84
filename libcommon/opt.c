/* opt.c: option tables (opt.h): getopt_long, values, usage and
 * --list-options from one declaration of each option. */
#include <getopt.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmf/opt.h"
#include "lmf/stream.h"
#include "lmf/util.h"
#include "lmf/banned.h"

enum { OPT_LIST = 1 << 20 };

static int
count(const struct lmf_opt *tab)
{
	int n = 0;

	while (tab[n].type != LMF_OPT_END)
		n++;
	return n;
}

static int
takes_value(const struct lmf_opt *o)
{
	switch (o->type) {
	case LMF_OPT_BOOL: return 1;     /* optional */
	case LMF_OPT_HELP: case LMF_OPT_VERSION: return 0;
	case LMF_OPT_FUNC: return o->arg != NULL;
	default: return 1;
	}
}

static long long
int_bound(double x)
{
	if (x <= (double)LLONG_MIN)
		return LLONG_MIN;
	if (x >= (double)LLONG_MAX)
		return LLONG_MAX;
	return (long long)x;
}

/* the field's value as text, or NULL when it has none to show */
static char *
value_text(const struct lmf_opt *o)
{
	const char *s, *e;
	int i;

	switch (o->type) {
	case LMF_OPT_INT: return xasprintf("%d", *(int *)o->p);
	case LMF_OPT_LONG: return xasprintf("%ld", *(long *)o->p);
	case LMF_OPT_U64:
		return xasprintf("%llu", (unsigned long long)*(uint64_t *)o->p);
	case LMF_OPT_FLOAT: return xasprintf("%g", *(double *)o->p);
	case LMF_OPT_STRING:
		s = *(const char **)o->p;
		return s ? xstrdup(s) : NULL;
	case LMF_OPT_BOOL:
		if (*(int *)o->p < 0)
			return NULL;    /* not given: the tool decides */
		return xstrdup(*(int *)o->p ? "true" : "false");
	case LMF_OPT_CHOICE:
		for (s = o->arg, i = *(int *)o->p; i > 0 && s; i--)
			if ((s = strchr(s, '|')))
				s++;
		if (!s)
			return NULL;
		e = strchr(s, '|');
		return xstrndup(s, e ? (size_t)(e - s) : strlen(s));
	default:
		return o->def ? xstrdup(o->def) : NULL;
	}
}

static const char *
type_name(const struct lmf_opt *o)
{
	switch (o->type) {
	case LMF_OPT_INT: case LMF_OPT_LONG: case LMF_OPT_U64: return "int";
	case LMF_OPT_FLOAT: return "float";
	case LMF_OPT_BOOL: return "bool";
	case LMF_OPT_CHOICE: return "choice:";
	default: return takes_value(o) ? "string" : "flag";
	}
}

static void
print_list(FILE *f, const struct lmf_opt *tab, char **defs)
{
	const struct lmf_opt *o;
	int i;

	for (i = 0; tab[i].type != LMF_OPT_END; i++) {
		o = &tab[i];
		fprintf(f, "%s\t", o->name ? o->name : "");
		if (o->short_name)
			fputc(o->short_name, f);
		fprintf(f, "\t%s%s\t%s\n", type_name(o),
		    o->type == LMF_OPT_CHOICE ? o->arg : "",
		    defs[i] ? defs[i] : "");
	}
	fprintf(f, "list-options\t\tflag\t\n");
}

static void
print_usage(FILE *f, const struct lmf_opt *tab,
    const struct lmf_opt_usage *u, char **defs)
{
	const struct lmf_opt *o;
	char flag[128];
	const char *d;
	int i, n;

	fprintf(f, "usage: %s %s\n%s\n", lmf_progname(), u->synopsis,
	    u->what);
	for (i = 0; tab[i].type != LMF_OPT_END; i++) {
		o = &tab[i];
		n = snprintf(flag, sizeof flag, "%s%c%s%s%s%s%s",
		    o->short_name ? "-" : "",
		    o->short_name ? o->short_name : ' ',
		    o->short_name && o->name ? ", " : "",
		    o->name ? "--" : "", o->name ? o->name : "",
		    o->arg ? " " : "", o->arg ? o->arg : "");
		if (o->type == LMF_OPT_BOOL && !o->arg)
			snprintf(flag + n, sizeof flag - (size_t)n, " [BOOL]");
		d = o->def ? o->def : defs[i];
		fprintf(f, "  %-32s%s%s", flag + (o->short_name ? 0 : 1),
		    strlen(flag) > 33 ? "\n                                   " :
		    " ", o->help);
		if (d && *d && takes_value(o))
			fprintf(f, " (default %s)", d);
		fputc('\n', f);
	}
	fprintf(f, "  %-32s %s\n", "--list-options",
	    "list the options, one per line");
}

void
lmf_opt_print_usage(FILE *f, const struct lmf_opt *tab,
    const struct lmf_opt_usage *u)
{
	int i, n = count(tab);
	char **defs = xcalloc((size_t)n + 1, sizeof *defs);

	for (i = 0; i < n; i++)
		defs[i] = value_text(&tab[i]);
	print_usage(f, tab, u, defs);
	for (i = 0; i < n; i++)
		free(defs[i]);
	free(defs);
}

void
lmf_opt_print_list(FILE *f, const struct lmf_opt *tab)
{
	int i, n = count(tab);
	char **defs = xcalloc((size_t)n + 1, sizeof *defs);

	for (i = 0; i < n; i++)
		defs[i] = value_text(&tab[i]);
	print_list(f, tab, defs);
	for (i = 0; i < n; i++)
		free(defs[i]);
	free(defs);
}

static void
set_choice(const struct lmf_opt *o, const char *v, const char *flag)
{
	const char *s = o->arg, *e;
	struct lmf_buf words = { 0 };
	size_t len;
	int i;

	for (i = 0; s; i++) {
		e = strchr(s, '|');
		len = e ? (size_t)(e - s) : strlen(s);
		if (strlen(v) == len && !strncmp(s, v, len)) {
			*(int *)o->p = i;
			free(words.s);
			return;
		}
		if (i > 0)
			lmf_buf_puts(&words, e ? ", " : " or ");
		lmf_buf_add(&words, s, len);
		s = e ? e + 1 : NULL;
	}
	die_usage("%s: '%s' is not %s", flag, v, words.s);
}

static void
set_value(const struct lmf_opt *o, int argc, char **argv)
{
	char flag[96];

	if (o->name)
		snprintf(flag, sizeof flag, "--%s", o->name);
	else
		snprintf(flag, sizeof flag, "-%c", o->short_name);
	switch (o->type) {
	case LMF_OPT_INT:
		*(int *)o->p = (int)lmf_parse_int(flag, optarg, int_bound(o->lo),
		    int_bound(o->hi));
		break;
	case LMF_OPT_LONG:
		*(long *)o->p = (long)lmf_parse_int(flag, optarg,
		    int_bound(o->lo), int_bound(o->hi));
		break;
	case LMF_OPT_U64:
		*(uint64_t *)o->p = (uint64_t)lmf_parse_int(flag, optarg,
		    int_bound(o->lo), int_bound(o->hi));
		break;
	case LMF_OPT_FLOAT:
		*(double *)o->p = lmf_parse_float(flag, optarg, o->lo, o->hi);
		break;
	case LMF_OPT_STRING:
		*(const char **)o->p = optarg;
		break;
	case LMF_OPT_BOOL:
		*(int *)o->p = lmf_opt_bool(flag, argc, argv);
		break;
	case LMF_OPT_CHOICE:
		set_choice(o, optarg, flag);
		break;
	case LMF_OPT_FUNC:
		o->fn(o, optarg);
		break;
	default:
		BUG("option type %d", o->type);
	}
}

int
lmf_opt_parse(struct lmf_opt *tab, const struct lmf_opt_usage *u, int argc,
    char **argv)
{
	int i, c, n = count(tab), k = 0;
	struct option *lo = xcalloc((size_t)n + 2, sizeof *lo);
	char **defs = xcalloc((size_t)n + 1, sizeof *defs);
	struct lmf_buf sopt = { 0 };
	char ch[3];

	for (i = 0; i < n; i++) {
		defs[i] = value_text(&tab[i]);
		if (tab[i].short_name) {
			snprintf(ch, sizeof ch, "%c%s", tab[i].short_name,
			    takes_value(&tab[i]) && tab[i].type !=
			    LMF_OPT_BOOL ? ":" : "");
			lmf_buf_puts(&sopt, ch);
		}
		if (!tab[i].name)
			continue;
		lo[k].name = tab[i].name;
		lo[k].has_arg = tab[i].type == LMF_OPT_BOOL ?
		    optional_argument : takes_value(&tab[i]) ?
		    required_argument : no_argument;
		lo[k++].val = 256 + i;
	}
	lo[k].name = "list-options";
	lo[k].val = OPT_LIST;
	while ((c = lmf_getopt(argc, argv, sopt.s ? sopt.s : "", lo)) != -1) {
		if (c == OPT_LIST) {
			print_list(stdout, tab, defs);
			exit(fflush(stdout) || ferror(stdout) ?
			    LMF_EXIT_FAIL : LMF_EXIT_OK);
		}
		if (c >= 256)
			i = c - 256;
		else
			for (i = 0; i < n && tab[i].short_name != c; i++)
				;
		if (i >= n)
			BUG("option %d", c);
		tab[i].given = 1;
		if (tab[i].type == LMF_OPT_HELP) {
			print_usage(stdout, tab, u, defs);
			exit(fflush(stdout) || ferror(stdout) ?
			    LMF_EXIT_FAIL : LMF_EXIT_OK);
		}
		if (tab[i].type == LMF_OPT_VERSION)
			lmf_version_exit();
		set_value(&tab[i], argc, argv);
	}
	for (i = 0; i < n; i++)
		free(defs[i]);
	free(defs);
	free(lo);
	free(sopt.s);
	return optind;
}

int
lmf_opt_given(const struct lmf_opt *tab, const char *name)
{
	int i;

	for (i = 0; tab[i].type != LMF_OPT_END; i++)
		if (tab[i].name && !strcmp(tab[i].name, name))
			return tab[i].given;
	BUG("no option '%s'", name);
}

void
lmf_opt_list_exit(const struct option *lo, const char *optstring)
{
	int i;

	for (i = 0; lo && lo[i].name; i++) {
		printf("%s\t", lo[i].name);
		if (lo[i].val > 0 && lo[i].val < 128 &&
		    strchr(optstring, lo[i].val))
			putchar(lo[i].val);
		printf("\t%s\t\n", lo[i].has_arg == optional_argument ?
		    "bool" : lo[i].has_arg == required_argument ? "string" :
		    "flag");
	}
	printf("list-options\t\tflag\t\n");
	exit(fflush(stdout) || ferror(stdout) ? LMF_EXIT_FAIL : LMF_EXIT_OK);
}

void
lmf_opt_level(const struct lmf_opt *o, const char *value)
{
	*(int *)o->p = lmf_parse_level(value);
}

void
lmf_opt_quiet(const struct lmf_opt *o, const char *value)
{
	lmf_verbose = 0;
}

void
lmf_opt_set(const struct lmf_opt *o, const char *value)
{
	*(int *)o->p = 1;
}
