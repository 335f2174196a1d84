/* board_form.c: lmf-board's forms: URL-decoding, every key checked by
 * args.c's table, the YAML text, where it goes and the command that runs
 * it (board_form.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lmf/board_data.h"
#include "lmf/board_form.h"
#include "lmf/util.h"
#include "lmf/banned.h"

#define SRC "the form"

static const char *const tab_names[] = { "train", "predict", "chat",
    "export" };

const char *
lmf_board_tab_name(int tab)
{
	return tab >= 0 && tab < 4 ? tab_names[tab] : "?";
}

/* s[0..len) decoded into a new string; -1 on a bad escape or a NUL */
static char *
url_decode(const char *s, size_t len, const char *what, char *err,
    size_t errlen)
{
	char *out = xmalloc(len + 1), *o = out;
	size_t i;
	int hi, lo;

	for (i = 0; i < len; i++) {
		if (s[i] == '+') {
			*o++ = ' ';
		} else if (s[i] == '%') {
			if (i + 2 >= len)
				goto bad;
			hi = lmf_hexval((unsigned char)s[i + 1]);
			lo = lmf_hexval((unsigned char)s[i + 2]);
			if (hi < 0 || lo < 0)
				goto bad;
			*o = (char)(hi * 16 + lo);
			if (!*o++)
				goto nul;
			i += 2;
		} else if (!s[i]) {
			goto nul;
		} else {
			*o++ = s[i];
		}
	}
	*o = 0;
	return out;
bad:
	lmf_seterr(err, errlen, "%s: a bad %%-escape at byte %zu", what, i);
	free(out);
	return NULL;
nul:
	lmf_seterr(err, errlen, "%s: a NUL byte in the value", what);
	free(out);
	return NULL;
}

static int
fields_add(struct lmf_board_fields *f, const char *s, size_t len,
    char *err, size_t errlen)
{
	const char *eq = memchr(s, '=', len);
	size_t nl = eq ? (size_t)(eq - s) : len;
	char *name, *val;

	if (!(name = url_decode(s, nl, "a field name", err, errlen)))
		return -1;
	val = url_decode(eq ? eq + 1 : s + len, eq ? len - nl - 1 : 0, name,
	    err, errlen);
	if (!val || !*name || lmf_board_fields_get(f, name)) {
		if (val && *name)
			lmf_seterr(err, errlen, "%s: given twice", name);
		else if (val)
			lmf_seterr(err, errlen, "a field with no name");
		free(name);
		free(val);
		return -1;
	}
	if (f->n == LMF_BOARD_FORM_MAX) {
		lmf_seterr(err, errlen, "more than %d fields",
		    LMF_BOARD_FORM_MAX);
		free(name);
		free(val);
		return -1;
	}
	f->name = xrealloc(f->name, (f->n + 1) * sizeof(*f->name));
	f->val = xrealloc(f->val, (f->n + 1) * sizeof(*f->val));
	f->name[f->n] = name;
	f->val[f->n++] = val;
	return 0;
}

int
lmf_board_fields_parse(struct lmf_board_fields *f, const char *s,
    size_t len, char *err, size_t errlen)
{
	const char *end = s + len, *amp;

	memset(f, 0, sizeof *f);
	while (s < end) {
		amp = memchr(s, '&', (size_t)(end - s));
		if (!amp)
			amp = end;
		if (amp > s && fields_add(f, s, (size_t)(amp - s), err,
		    errlen) < 0) {
			lmf_board_fields_free(f);
			return -1;
		}
		s = amp + 1;
	}
	return 0;
}

const char *
lmf_board_fields_get(const struct lmf_board_fields *f, const char *name)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		if (!strcmp(f->name[i], name))
			return f->val[i];
	return NULL;
}

void
lmf_board_fields_free(struct lmf_board_fields *f)
{
	size_t i;

	for (i = 0; i < f->n; i++) {
		free(f->name[i]);
		free(f->val[i]);
	}
	free(f->name);
	free(f->val);
	memset(f, 0, sizeof *f);
}

/* a string YAML reads back as the same string without quotes */
static int
yaml_plain(const char *s)
{
	const char *p;

	if (!*s || strchr("-.~", *s) || lmf_args_boolword(s) >= 0 ||
	    !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL"))
		return 0;
	for (p = s; *p; p++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789_./,@+-", *p) && !(*p & 0x80))
			return 0;
	return 1;
}

static void
yaml_scalar(struct lmf_buf *b, const char *s, int str)
{
	char esc[8];

	if (!str || yaml_plain(s)) {
		lmf_buf_puts(b, s);
		return;
	}
	lmf_buf_puts(b, "\"");
	for (; *s; s++) {
		if (*s == '"' || *s == '\\') {
			esc[0] = '\\';
			esc[1] = *s;
			lmf_buf_add(b, esc, 2);
		} else if ((unsigned char)*s < 0x20 || *s == 0x7f) {
			snprintf(esc, sizeof esc, "\\x%02x", (unsigned char)*s);
			lmf_buf_puts(b, esc);
		} else {
			lmf_buf_add(b, s, 1);
		}
	}
	lmf_buf_puts(b, "\"");
}

/* the given keys, in the table's order */
static char *
make_yaml(const struct lmf_args *a, int tab)
{
	const struct lmf_args_key *k;
	struct lmf_buf b = { 0 };
	size_t n, i;

	k = lmf_args_keys(&n);
	lmf_buf_puts(&b, "# lmf-board: ");
	lmf_buf_puts(&b, lmf_board_tab_name(tab));
	lmf_buf_puts(&b, "\n");
	for (i = 0; i < n; i++) {
		if (!a->given[i] || !a->val[i])
			continue;
		lmf_buf_puts(&b, k[i].name);
		lmf_buf_puts(&b, ": ");
		yaml_scalar(&b, a->val[i], k[i].type == LMF_ARG_STR);
		lmf_buf_puts(&b, "\n");
	}
	return b.s;
}

/* a word as a shell reads it back */
static void
shell_word(struct lmf_buf *b, const char *s)
{
	const char *p;

	for (p = s; *p && strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN"
	    "OPQRSTUVWXYZ0123456789_./,@+=:-", *p); p++)
		;
	if (*s && !*p) {
		lmf_buf_puts(b, s);
		return;
	}
	lmf_buf_puts(b, "'");
	for (p = s; *p; p++) {
		if (*p == '\'')
			lmf_buf_puts(b, "'\\''");
		else
			lmf_buf_add(b, p, 1);
	}
	lmf_buf_puts(b, "'");
}

static int
set_fields(struct lmf_board_form *f, const struct lmf_board_fields *fl,
    char *err, size_t errlen)
{
	size_t i;

	for (i = 0; i < fl->n; i++) {
		if (fl->name[i][0] == '_') {
			if (strcmp(fl->name[i], "_tab") &&
			    strcmp(fl->name[i], "_message")) {
				lmf_seterr(err, errlen, "unknown field '%s' in "
				    "the form", fl->name[i]);
				return -1;
			}
			continue;
		}
		if (!*fl->val[i])
			continue;   /* an empty field keeps the default */
		if (lmf_args_set(&f->args, fl->name[i], fl->val[i], 0, SRC,
		    err, errlen) < 0)
			return -1;
	}
	return 0;
}

/* the YAML read back as lmf train will read it, and resolved */
static int
check_yaml(const char *yaml, char *err, size_t errlen)
{
	struct lmf_args a;
	int r;

	lmf_args_init(&a);
	r = lmf_args_read_yaml(&a, "the form's YAML", yaml, strlen(yaml),
	    err, errlen);
	if (!r)
		r = lmf_args_resolve(&a, err, errlen);
	lmf_args_free(&a);
	return r < 0 ? -1 : 0;
}

static int
need(const struct lmf_board_form *f, const char *key, char *err,
    size_t errlen)
{
	if (lmf_args_get(&f->args, key))
		return 0;
	lmf_seterr(err, errlen, "%s: required for %s", key,
	    lmf_board_tab_name(f->tab));
	return -1;
}

/* lmf CMD outdir.yaml [EXTRA], the log beside it */
static void
set_command(struct lmf_board_form *f, const char *cmd, const char *extra)
{
	struct lmf_buf b = { 0 };
	int i;

	f->path = xasprintf("%s.yaml", f->outdir);
	f->log = xasprintf("%s.log", f->outdir);
	f->argv[0] = xstrdup("lmf");
	f->argv[1] = xstrdup(cmd);
	f->argv[2] = xstrdup(f->path);
	f->argv[3] = extra ? xstrdup(extra) : NULL;
	for (i = 0; f->argv[i]; i++) {
		if (i)
			lmf_buf_puts(&b, " ");
		shell_word(&b, f->argv[i]);
	}
	if (f->input) {
		lmf_buf_puts(&b, " < ");
		shell_word(&b, f->input);
	}
	f->command = b.s;
}

/* where the files go and the command */
static int
place(struct lmf_board_form *f, const char *runs, const char *extra,
    char *err, size_t errlen)
{
	static const char *const cmd[] = { "train", "train", "chat",
	    "export" };
	const char *out;
	size_t n;

	if (f->tab == LMF_BOARD_CHAT) {
		if (need(f, "model_name_or_path", err, errlen) < 0)
			return -1;
		if (!f->message || !*f->message) {
			lmf_seterr(err, errlen, "_message: chat needs a prompt");
			return -1;
		}
		f->outdir = xasprintf("%s/chat", runs);
		f->input = xasprintf("%s/chat.in", runs);
	} else {
		out = f->tab == LMF_BOARD_EXPORT ? "export_dir" : "output_dir";
		if (need(f, out, err, errlen) < 0 ||
		    need(f, "model_name_or_path", err, errlen) < 0)
			return -1;
		f->outdir = xstrdup(lmf_args_get(&f->args, out));
		n = strlen(f->outdir);
		while (n > 1 && f->outdir[n - 1] == '/')
			f->outdir[--n] = 0;   /* runs/x/ saves runs/x.yaml */
		if (!f->args.given[lmf_args_find(out)]) {
			lmf_seterr(err, errlen, "%s: required", out);
			return -1;
		}
	}
	set_command(f, cmd[f->tab], extra);
	return 0;
}

static int
parse_tab(struct lmf_board_form *f, const char *s, char *err, size_t errlen)
{
	int i;

	for (i = 0; i < 4; i++)
		if (s && !strcmp(s, tab_names[i])) {
			f->tab = i;
			return 0;
		}
	lmf_seterr(err, errlen, "_tab: '%s' is not train, predict, chat or "
	    "export", s ? s : "");
	return -1;
}

int
lmf_board_form_parse(struct lmf_board_form *f, const char *body,
    size_t len, const char *runs, const char *extra, char *err,
    size_t errlen)
{
	struct lmf_board_fields fl;
	const char *m;
	int r = -1;

	memset(f, 0, sizeof *f);
	lmf_args_init(&f->args);
	if (lmf_board_fields_parse(&fl, body, len, err, errlen) < 0)
		return -1;
	if (parse_tab(f, lmf_board_fields_get(&fl, "_tab"), err, errlen) < 0 ||
	    set_fields(f, &fl, err, errlen) < 0)
		goto out;
	if ((m = lmf_board_fields_get(&fl, "_message")))
		f->message = xstrdup(m);
	if (place(f, runs, extra, err, errlen) < 0)
		goto out;
	f->yaml = make_yaml(&f->args, f->tab);
	r = check_yaml(f->yaml, err, errlen);
out:
	lmf_board_fields_free(&fl);
	return r;
}

static int
write_file(const char *path, const char *s, char *err, size_t errlen)
{
	struct lmf_afile a;

	if (lmf_afile_open(&a, path) < 0)
		goto fail;
	fputs(s, a.f);
	if (lmf_afile_commit(&a) == 0)
		return 0;
fail:
	lmf_seterr(err, errlen, "cannot write '%s': %s", path,
	    strerror(errno));
	return -1;
}

/* path holds something lmf-board did not write: a file whose first line
 * is not make_yaml's; 0 when it is one of ours or not there */
static int
foreign(const char *path)
{
	char line[16] = "";
	FILE *fp = fopen(path, "r");
	int r;

	if (!fp)
		return errno != ENOENT;
	r = !fgets(line, sizeof line, fp) || strncmp(line, "# lmf-board: ",
	    13);
	fclose(fp);
	return r;
}

int
lmf_board_form_save(const struct lmf_board_form *f, char *err,
    size_t errlen)
{
	char *in;
	int r;

	/* Save writes beside output_dir, wherever that is: never over a
	 * file the user made (a YAML of their own, another tool's log) */
	if (foreign(f->path) || (access(f->path, F_OK) && f->log &&
	    !access(f->log, F_OK))) {
		lmf_seterr(err, errlen, "'%s' or its .log exists and lmf-board "
		    "did not write it: choose another output directory",
		    f->path);
		return -2;
	}
	if (write_file(f->path, f->yaml, err, errlen) < 0)
		return -1;
	if (!f->input)
		return 0;
	in = xasprintf("%s\n", f->message);
	r = write_file(f->input, in, err, errlen);
	free(in);
	return r;
}

int
lmf_board_form_resume(struct lmf_board_form *f, const char *runs,
    const char *name, char *err, size_t errlen)
{
	struct stat st;
	char *ck, *extra;

	memset(f, 0, sizeof *f);
	lmf_args_init(&f->args);
	f->tab = LMF_BOARD_TRAIN;
	f->outdir = xasprintf("%s/%s", runs, name);
	ck = lmf_board_last_checkpoint(f->outdir);
	if (!ck) {
		lmf_seterr(err, errlen, "'%s': no checkpoint to resume from",
		    f->outdir);
		return -1;
	}
	extra = xasprintf("resume_from_checkpoint=%s", ck);
	set_command(f, "train", extra);
	free(extra);
	free(ck);
	if (stat(f->path, &st) < 0) {
		lmf_seterr(err, errlen, "cannot resume '%s': %s", f->path,
		    strerror(errno));
		return -1;
	}
	return 0;
}

void
lmf_board_form_free(struct lmf_board_form *f)
{
	int i;

	lmf_args_free(&f->args);
	free(f->message);
	free(f->yaml);
	free(f->path);
	free(f->log);
	free(f->input);
	free(f->outdir);
	for (i = 0; i < 5; i++)
		free(f->argv[i]);
	free(f->command);
	memset(f, 0, sizeof *f);
}
