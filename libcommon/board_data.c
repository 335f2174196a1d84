/* board_data.c: lmf-board's read-only views: datasets per stage, runs,
 * trainer logs (board_data.h). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lmf/args.h"
#include "lmf/board_data.h"
#include "lmf/util.h"
#include "lmf/banned.h"

#define INFO_MAX (16u << 20)
#define LOG_MAX (64u << 20)
#define RUNS_MAX 1000

/* a whole file, or NULL (errno) */
static char *
slurp(const char *path, size_t max, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *s;
	size_t n;

	if (!f)
		return NULL;
	s = xmalloc(max + 1);
	n = fread(s, 1, max + 1, f);
	fclose(f);
	if (n > max) {
		free(s);
		errno = EFBIG;
		return NULL;
	}
	s[n] = 0;
	*len = n;
	return s;
}

/* the list a dataset entry belongs to: "pair", "kto" or "plain" */
static const char *
kind(json_t *e)
{
	json_t *r = json_object_get(e, "ranking");
	json_t *c = json_object_get(e, "columns");

	if (json_is_true(r))
		return "pair";
	if (json_object_get(c, "kto_tag"))
		return "kto";
	return "plain";
}

json_t *
lmf_board_datasets(const char *dir, const char *stage, char *err,
    size_t errlen)
{
	const char *want, *name;
	char *path, *text;
	json_t *info, *e, *out;
	json_error_t je;
	size_t len;

	if (!strcmp(stage, "rm") || !strcmp(stage, "dpo"))
		want = "pair";
	else if (!strcmp(stage, "kto"))
		want = "kto";
	else if (!strcmp(stage, "pt") || !strcmp(stage, "sft") ||
	    !strcmp(stage, "ppo"))
		want = "plain";
	else {
		lmf_seterr(err, errlen, "stage: '%s' is not one of: pt sft rm "
		    "dpo kto ppo", stage);
		return NULL;
	}
	path = xasprintf("%s/dataset_info.json", dir);
	text = slurp(path, INFO_MAX, &len);
	if (!text) {
		lmf_seterr(err, errlen, "cannot read '%s': %s", path,
		    strerror(errno));
		free(path);
		return NULL;
	}
	info = json_loadb(text, len, 0, &je);
	free(text);
	if (!json_is_object(info)) {
		lmf_seterr(err, errlen, "'%s': %s", path, info ?
		    "not a JSON object" : je.text);
		json_decref(info);
		free(path);
		return NULL;
	}
	free(path);
	out = json_array();
	json_object_foreach(info, name, e)
		if (json_is_object(e) && !strcmp(kind(e), want))
			json_array_append_new(out, json_string(name));
	json_decref(info);
	return out;
}

json_t *
lmf_board_trainer_log(const char *dir)
{
	char *path = xasprintf("%s/trainer_log.jsonl", dir), *text, *p, *nl;
	json_t *out = json_array(), *e;
	size_t len;

	text = slurp(path, LOG_MAX, &len);
	free(path);
	for (p = text; p && *p; p = nl ? nl + 1 : p + strlen(p)) {
		nl = strchr(p, '\n');
		e = json_loadb(p, nl ? (size_t)(nl - p) : strlen(p), 0, NULL);
		if (json_is_object(e))
			json_array_append_new(out, e);
		else
			json_decref(e);   /* a line still being written */
	}
	free(text);
	return out;
}

int
lmf_board_name_ok(const char *name)
{
	return *name && *name != '.' && !strchr(name, '/') &&
	    strlen(name) < 256;
}

static int
is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int
is_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int
cmp_str(const void *a, const void *b)
{
	return lmf_natcmp(*(char *const *)a, *(char *const *)b);
}

/* the checkpoint-N names under dir, in step order */
static json_t *
checkpoints(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **v = NULL;
	size_t n = 0, i;
	json_t *out = json_array();

	while (d && (de = readdir(d)))
		if (!strncmp(de->d_name, "checkpoint-", 11) && n < RUNS_MAX) {
			v = xrealloc(v, (n + 1) * sizeof(*v));
			v[n++] = xstrdup(de->d_name);
		}
	if (d)
		closedir(d);
	if (n)
		qsort(v, n, sizeof(*v), cmp_str);
	for (i = 0; i < n; i++) {
		json_array_append_new(out, json_string(v[i]));
		free(v[i]);
	}
	free(v);
	return out;
}

char *
lmf_board_last_checkpoint(const char *dir)
{
	json_t *c = checkpoints(dir);
	size_t n = json_array_size(c);
	char *s = n ? xasprintf("%s/%s", dir, json_string_value(
	    json_array_get(c, n - 1))) : NULL;

	json_decref(c);
	return s;
}

/* the stage in the YAML text beside a run ("export" for an export's),
 * or "?" */
static json_t *
run_stage(const char *text, size_t len)
{
	struct lmf_args a;
	json_t *s = NULL;
	char err[256];
	long k;

	lmf_args_init(&a);
	a.allow_extra = 1;
	if (text && lmf_args_read_yaml(&a, "yaml", text, len, err,
	    sizeof err) == 0) {
		k = lmf_args_find("stage");
		/* an export's YAML names no stage: its default is sft */
		s = json_string(!a.given[k] && a.given[lmf_args_find(
		    "export_dir")] ? "export" : lmf_args_get(&a, "stage"));
	}
	lmf_args_free(&a);
	return s ? s : json_string("?");
}

static const char *
run_status(const char *dir, const char *active, const char *yaml,
    json_t *ck)
{
	char *res = xasprintf("%s/all_results.json", dir);
	char *cfg = xasprintf("%s/config.json", dir);
	const char *st;

	if (active && !strcmp(active, dir))
		st = "running";
	else if (yaml && !strncmp(yaml, "# lmf-board: export\n", 20))
		st = is_file(cfg) ? "exported" : "failed";
	else if (is_file(res))
		st = "done";
	else
		st = json_array_size(ck) ? "stopped" : "failed";
	free(res);
	free(cfg);
	return st;
}

static json_t *
run_json(const char *runs, const char *name, const char *active)
{
	char *dir = xasprintf("%s/%s", runs, name);
	char *path = xasprintf("%s.yaml", dir), *yaml;
	json_t *o, *ck = checkpoints(dir), *log, *r;
	size_t len = 0;

	yaml = slurp(path, INFO_MAX, &len);
	o = json_pack("{s:s, s:s, s:o, s:s, s:o}", "name", name, "dir", dir,
	    "stage", run_stage(yaml, len), "status", run_status(dir, active,
	    yaml, ck), "checkpoints", ck);
	free(path);
	path = xasprintf("%s/all_results.json", dir);
	r = json_load_file(path, 0, NULL);
	json_object_set_new(o, "results", r ? r : json_null());
	log = lmf_board_trainer_log(dir);
	r = json_array_get(log, json_array_size(log) - 1);
	json_object_set(o, "last", r ? r : json_null());
	json_decref(log);
	free(yaml);
	free(path);
	free(dir);
	return o;
}

json_t *
lmf_board_runs(const char *runs, const char *active, char *err,
    size_t errlen)
{
	DIR *d = opendir(runs);
	struct dirent *de;
	char **v = NULL, *p;
	size_t n = 0, i;
	json_t *out;

	if (!d) {
		lmf_seterr(err, errlen, "cannot open '%s': %s", runs,
		    strerror(errno));
		return NULL;
	}
	while ((de = readdir(d)) && n < RUNS_MAX) {
		if (!lmf_board_name_ok(de->d_name))
			continue;
		p = xasprintf("%s/%s", runs, de->d_name);
		if (is_dir(p)) {
			v = xrealloc(v, (n + 1) * sizeof(*v));
			v[n++] = xstrdup(de->d_name);
		}
		free(p);
	}
	closedir(d);
	if (n)
		qsort(v, n, sizeof(*v), cmp_str);
	out = json_array();
	for (i = 0; i < n; i++) {
		json_array_append_new(out, run_json(runs, v[i], active));
		free(v[i]);
	}
	free(v);
	return out;
}
