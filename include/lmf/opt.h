#ifndef LMF_OPT_H
#define LMF_OPT_H
/* opt.h: one option table per tool, as git's parse-options: each option
 * is declared once (name, type, field, range, help line) and the table
 * makes the getopt_long array, parses and range-checks the values (exit 2
 * with one line on junk), prints the usage and --list-options. */
#include <stdio.h>

#include "lmf/util.h"

enum lmf_opt_type {
	LMF_OPT_END = 0,
	LMF_OPT_INT,     /* int *, in [lo, hi] */
	LMF_OPT_LONG,    /* long *, in [lo, hi] */
	LMF_OPT_U64,     /* uint64_t *, in [lo, hi] (hi at most INT64_MAX) */
	LMF_OPT_FLOAT,   /* double *, in [lo, hi] */
	LMF_OPT_STRING,  /* const char ** (argv's string) */
	LMF_OPT_BOOL,    /* int *: --x, --x=B or --x B, B true or false;
	                    below 0 before parsing: no default shown */
	LMF_OPT_CHOICE,  /* int *: the index of the word in arg "a|b|c" */
	LMF_OPT_FUNC,    /* fn(opt, value) parses; no value when arg is NULL */
	LMF_OPT_HELP,    /* -h: the usage to stdout, exit 0 */
	LMF_OPT_VERSION, /* -V: the version, exit 0 */
};

struct lmf_opt {
	const char *name;   /* the long name without "--", or NULL */
	int short_name;     /* 'o', or 0 */
	int type;           /* enum lmf_opt_type */
	void *p;            /* the field it sets */
	const char *arg;    /* the value's name in the usage ("N", "FILE") */
	double lo, hi;      /* the range of a number */
	const char *help;   /* one line */
	const char *def;    /* the default as the usage says it; NULL: the
	                       field's value before parsing */
	void (*fn)(const struct lmf_opt *o, const char *value);
	int given;          /* set by lmf_opt_parse */
};

/* a table row: OPT(name, short, type, &field, arg, lo, hi, help) */
#define LMF_OPT_ROW(n, s, t, p, a, lo, hi, h) \
	{ n, s, t, p, a, lo, hi, h, NULL, NULL, 0 }

struct lmf_opt_usage {
	const char *synopsis;  /* "[--model FILE] ...", lines after the first
	                          indented by the caller */
	const char *what;      /* one line saying what the tool does */
};

/* parse argv by the table (ended by an LMF_OPT_END row): -h, -V and
 * --list-options print and exit 0, junk exits 2. Returns optind, the
 * first operand */
int lmf_opt_parse(struct lmf_opt *tab, const struct lmf_opt_usage *u,
    int argc, char **argv);
/* 1 if the option of that long name was given */
int lmf_opt_given(const struct lmf_opt *tab, const char *name);
/* the usage from the table; defaults as they were before parsing */
void lmf_opt_print_usage(FILE *f, const struct lmf_opt *tab,
    const struct lmf_opt_usage *u);
/* --list-options: one line per option, four tab-separated fields: the
 * long name (empty if none), the short flag (empty if none), the type
 * (int, float, string, bool, choice:a|b|c, or flag when it takes no
 * value) and the default (empty if none) */
void lmf_opt_print_list(FILE *f, const struct lmf_opt *tab);
/* --list-options of a tool without a table (lmf_getopt calls it): the
 * same four fields from its getopt_long array (string, bool or flag by
 * has_arg, no default); exits 0 */
struct option;
LMF_NORETURN void lmf_opt_list_exit(const struct option *lo,
    const char *optstring);

/* the rows that end every table: -h, -V and the end */
#define LMF_OPT_LAST_ROWS \
	LMF_OPT_ROW("help", 'h', LMF_OPT_HELP, NULL, NULL, 0, 0, \
	    "this help"), \
	LMF_OPT_ROW("version", 'V', LMF_OPT_VERSION, NULL, NULL, 0, 0, \
	    "the version"), \
	{ 0 }

/* LMF_OPT_FUNC parsers every tool shares: -l N (a zstd level, 0 raw,
 * into the int field; lmf_parse_level's rules), -q (lmf_verbose 0) and a
 * flag that sets its int field to 1 */
void lmf_opt_level(const struct lmf_opt *o, const char *value);
void lmf_opt_set(const struct lmf_opt *o, const char *value);
void lmf_opt_quiet(const struct lmf_opt *o, const char *value);

#endif
