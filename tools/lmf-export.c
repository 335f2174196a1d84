/* lmf-export: write a model stream, with a LoRA adapter stream merged into
 * it (W + scaling * B A, f32 math), as a Hugging Face directory: sharded
 * safetensors (+ index) in f32 or bf16, config.json with torch_dtype, the
 * tokenizer files the stream carries; or, with --adapter_only, the adapter
 * alone as a PEFT directory. Like save_pretrained it writes its own files
 * into the directory (each atomically) and leaves every other file alone;
 * it never replaces an input. It reads streams only (lmf-load reads
 * Hugging Face directories). */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lmf/gemm.h"
#include "lmf/infer.h"
#include "lmf/st_write.h"
#include "lmf/stream.h"
#include "lmf/util.h"
#include "lmf/banned.h"

#define MAX_FILES 64   /* small files of one export (tokenizer, config) */

static struct opts {
	const char *model, *adapter, *dir, *template, *ft;
	double size;
	int dtype, adapter_only, threads;
} o = { .size = 5, .dtype = -1, .ft = "lora" };

/* the small files written, renamed into place after the weights */
static struct lmf_afile *small[MAX_FILES];
static const char *smallname[MAX_FILES];
static int nsmall;
/* the shards a previous index in the directory names */
static char **oldshards;
static int noldshards;

/* model-00001-of-00002.safetensors: a shard name an export writes */
static int
is_shard_name(const char *name)
{
	static const char pat[] = "model-#####-of-#####.safetensors";
	size_t i;

	if (strlen(name) != sizeof pat - 1)
		return 0;
	for (i = 0; pat[i]; i++)
		if (pat[i] == '#' ? name[i] < '0' || name[i] > '9' :
		    name[i] != pat[i])
			return 0;
	return 1;
}

/* the names an export writes or replaces in the directory */
static int
is_export_name(const char *name)
{
	static const char *const model[] = { "model.safetensors",
		"model.safetensors.index.json", "config.json", NULL };
	static const char *const adapter[] = { "adapter_model.safetensors",
		"adapter_config.json", NULL };
	const char *const *v = o.adapter_only ? adapter : model;
	int i;

	for (i = 0; v[i]; i++)
		if (!strcmp(name, v[i]))
			return 1;
	for (i = 0; i < nsmall; i++)
		if (!strcmp(name, smallname[i]))
			return 1;
	return !o.adapter_only && is_shard_name(name);
}

static void
mkdir_p(const char *dir)
{
	char *p = xstrdup(dir), *s;

	for (s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0777) < 0 && errno != EEXIST)
			die_errno("cannot create '%s'", p);
		*s = '/';
	}
	if (mkdir(p, 0777) < 0 && errno != EEXIST)
		die_errno("cannot create '%s'", p);
	free(p);
}

/* refuse to replace an input: a file of the directory that the export
 * writes and that is (or links to) the model or the adapter stream */
static void
check_inputs(void)
{
	const char *in[2] = { o.model, o.adapter };
	struct stat sin[2], sb;
	struct dirent *d;
	DIR *dp;
	char *p;
	int i;

	for (i = 0; i < 2; i++)
		if (!in[i] || !strcmp(in[i], "-") || stat(in[i], &sin[i]) < 0)
			in[i] = NULL;
	if (!(dp = opendir(o.dir)))
		die_errno("cannot read '%s'", o.dir);
	while ((d = readdir(dp))) {
		if (!is_export_name(d->d_name))
			continue;
		p = xasprintf("%s/%s", o.dir, d->d_name);
		for (i = 0; i < 2; i++)
			if (in[i] && !stat(p, &sb) && sb.st_dev ==
			    sin[i].st_dev && sb.st_ino == sin[i].st_ino)
				die_usage("--export_dir '%s': writing '%s' "
				    "would replace the input '%s'", o.dir,
				    d->d_name, in[i]);
		free(p);
	}
	closedir(dp);
}

/* the shards the directory's model.safetensors.index.json names */
static void
read_old_index(void)
{
	char *p = xasprintf("%s/model.safetensors.index.json", o.dir);
	json_t *j = json_load_file(p, 0, NULL), *v;
	const char *k;

	json_object_foreach(json_object_get(j, "weight_map"), k, v) {
		const char *name = json_string_value(v);
		int i;

		if (!name || !is_shard_name(name))
			continue;
		for (i = 0; i < noldshards; i++)
			if (!strcmp(oldshards[i], name))
				break;
		if (i < noldshards)
			continue;
		oldshards = xrealloc(oldshards, (size_t)(noldshards + 1) *
		    sizeof *oldshards);
		oldshards[noldshards++] = xstrdup(name);
	}
	json_decref(j);
	free(p);
}

/* the directory, made if missing, checked before anything is written */
static void
begin_dir(void)
{
	mkdir_p(o.dir);
	check_inputs();
	if (!o.adapter_only)
		read_old_index();
}

/* a plain file name for the directory (a tokenizer tensor's name) */
static void
add_small_name(const char *name)
{
	if (!*name || name[0] == '.' || strchr(name, '/') ||
	    strlen(name) > 255)
		die("'%s': tokenizer file name '%s' is not a plain file name",
		    o.model, name);
	if (is_export_name(name))
		die("'%s': tokenizer file '%s' is named twice or as a weight "
		    "file", o.model, name);
	if (nsmall == MAX_FILES - 1)   /* config.json comes last */
		die("'%s': more than %d tokenizer files", o.model,
		    MAX_FILES - 1);
	smallname[nsmall++] = name;
}

/* write a small file of the export, renamed into place by commit() */
static void
put_file(const char *name, const void *buf, size_t n)
{
	char *p = xasprintf("%s/%s", o.dir, name);
	struct lmf_afile *a = xcalloc(1, sizeof *a);
	int i;

	if (lmf_afile_open(a, p) < 0)
		die_errno("cannot create '%s'", p);
	if ((n && fwrite(buf, 1, n, a->f) != n) || fflush(a->f))
		die_errno("cannot write '%s'", p);
	for (i = 0; i < nsmall && strcmp(smallname[i], name); i++)
		;
	if (i == nsmall) {
		if (nsmall == MAX_FILES)
			BUG("too many files");
		smallname[nsmall++] = name;
	}
	small[i] = a;
	free(p);
}

static void
put_json(const char *name, json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
	size_t n = strlen(s);

	s = xrealloc(s, n + 2);
	s[n++] = '\n';
	put_file(name, s, n);
	free(s);
}

static void
remove_stale(const char *name)
{
	char *p = xasprintf("%s/%s", o.dir, name);

	if (unlink(p) < 0 && errno != ENOENT)
		die_errno("cannot remove '%s'", p);
	free(p);
}

/* whether this export wrote the shard name (nshards > 1: it wrote shards) */
static int
written_shard(const char *name, int nshards)
{
	char want[64];
	int k;

	for (k = 1; nshards > 1 && k <= nshards; k++) {
		snprintf(want, sizeof want, "model-%05d-of-%05d.safetensors", k,
		    nshards);
		if (!strcmp(name, want))
			return 1;
	}
	return 0;
}

/* the small files into place; then what the weights just written make
 * stale: the shards an older index named that this export did not write,
 * and the index (one file now) or model.safetensors (shards now) */
static void
commit(int nshards)
{
	int i;

	for (i = 0; i < nsmall; i++)
		if (small[i] && lmf_afile_commit(small[i]) < 0)
			die_errno("cannot write '%s'", small[i]->path);
	if (o.adapter_only)
		return;
	for (i = 0; i < noldshards; i++)
		if (!written_shard(oldshards[i], nshards))
			remove_stale(oldshards[i]);
	remove_stale(nshards > 1 ? "model.safetensors" :
	    "model.safetensors.index.json");
}

static void
st_end(struct lmf_st_writer *w)
{
	char err[256];

	if (lmf_st_write_end(w, err, sizeof err))
		die("%s", err);
}

static void
read_one(const char *path, const char *kind, json_t **meta,
    struct lmf_item *it)
{
	struct lmf_rd *r = lmf_rd_open_or_die(path);

	lmf_rd_check_kind_or_die(r, kind);
	*meta = json_incref(lmf_rd_meta(r));
	if (!lmf_rd_item_or_die(r, it))
		die("'%s': the %s stream has no item", path, kind);
	lmf_rd_close(r);
}

static void
export_adapter(void)
{
	struct lmf_st_writer *w;
	struct lmf_item it = { 0 };
	json_t *meta, *ac;
	int i;

	read_one(o.adapter, "adapter", &meta, &it);
	ac = json_object_get(meta, "adapter_config");
	if (!json_is_object(ac))
		die("'%s': no adapter_config", o.adapter);
	json_object_set_new(ac, "inference_mode", json_true());
	begin_dir();
	w = lmf_st_write_begin(o.dir, "adapter_model", 0);
	for (i = 0; i < it.ntensors; i++) {
		struct lmf_tensor *t = &it.t[i];

		if (lmf_tensor_to_f32(t) < 0 || lmf_st_write_add(w, t->name,
		    LMF_F32, t->ndim, t->shape, t->data) < 0)
			die("'%s': tensor '%s' cannot be written", o.adapter,
			    t->name);
	}
	put_json("adapter_config.json", ac);
	st_end(w);
	commit(1);
	lmf_item_free(&it);
	json_decref(meta);
}

static int
is_tokenizer_file(const struct lmf_tensor *t)
{
	return t->dtype == LMF_U8 && !strncmp(t->name, "tokenizer", 9);
}

static void
export_model(void)
{
	struct lmf_item it = { 0 }, ad = { 0 };
	struct lmf_config c;
	struct lmf_st_writer *w;
	json_t *meta, *ameta = NULL, *cfg;
	const char *tn;
	char err[256];
	int i, nshards;
	uint64_t k, n;

	read_one(o.model, "model", &meta, &it);
	cfg = json_object_get(meta, "config");
	if (lmf_config_parse(&c, cfg, err, sizeof err) ||
	    lmf_infer_check_item(&it, &c, err, sizeof err))
		die("'%s': %s", o.model, err);
	if (o.adapter) {
		read_one(o.adapter, "adapter", &ameta, &ad);
		if (lmf_infer_merge_lora(&it, &c, ameta, &ad, err, sizeof err))
			die("'%s': %s", o.adapter, err);
		lmf_item_free(&ad);
		json_decref(ameta);
	}
	if (o.dtype < 0) {
		tn = json_string_value(json_object_get(cfg, "torch_dtype"));
		o.dtype = tn && !strcmp(tn, "bfloat16") ? LMF_BF16 : LMF_F32;
	}
	for (i = 0; i < it.ntensors; i++)
		if (is_tokenizer_file(&it.t[i]))
			add_small_name(it.t[i].name);
	begin_dir();
	w = lmf_st_write_begin(o.dir, "model", (uint64_t)(o.size * 1e9));
	for (i = 0; i < it.ntensors; i++) {
		struct lmf_tensor *t = &it.t[i];

		if (is_tokenizer_file(t)) {
			put_file(t->name, t->data, t->nbytes);
			continue;
		}
		if (t->dtype != LMF_F32)
			die("'%s': tensor '%s' is not a model weight", o.model,
			    t->name);
		if (o.dtype == LMF_BF16) {
			uint16_t *h = t->data;
			float *f = t->data;

			n = lmf_tensor_numel(t);
			for (k = 0; k < n; k++)
				h[k] = lmf_f32_to_bf16(f[k]);
			t->dtype = LMF_BF16;
			t->nbytes = n * 2;
		}
		if (lmf_st_write_add(w, t->name, t->dtype, t->ndim, t->shape,
		    t->data) < 0)
			die("'%s': tensor '%s' cannot be written", o.model,
			    t->name);
	}
	json_object_set_new(cfg, "torch_dtype", json_string(o.dtype ==
	    LMF_BF16 ? "bfloat16" : "float32"));
	put_json("config.json", cfg);
	nshards = lmf_st_write_nshards(w);
	st_end(w);
	commit(nshards);
	lmf_item_free(&it);
	json_decref(meta);
}

static void
usage(FILE *f)
{
	fputs(
"usage: lmf-export --model_name_or_path FILE [--adapter_name_or_path FILE]\n"
"                  --export_dir DIR [--export_size GB]\n"
"                  [--export_dtype f32|bf16] [--template NAME]\n"
"                  [--finetuning_type lora|full|freeze]\n"
"       lmf-export --adapter_only --adapter_name_or_path FILE\n"
"                  --export_dir DIR\n"
"Write a model stream (LoRA merged) as a Hugging Face directory, or an\n"
"adapter stream as a PEFT directory.\n"
"  --model_name_or_path FILE  model stream ('-' for stdin)\n"
"  --adapter_name_or_path F   adapter stream to merge (or to write)\n"
"  --export_dir DIR           the directory written (its files only)\n"
"  --export_size GB           largest shard (5)\n"
"  --export_dtype T           f32 or bf16 (config torch_dtype, else f32)\n"
"  --adapter_only             write the adapter as a PEFT directory\n"
"  --template NAME            accepted; the tokenizer files are copied\n"
"  --finetuning_type T        lora (default), full or freeze\n"
"  --threads N                threads for the merge (0 = all cores)\n"
"  -h                         this help\n"
"  -V                         version\n", f);
}

int
main(int argc, char **argv)
{
	enum { O_MODEL = 256, O_ADAPTER, O_DIR, O_SIZE, O_DTYPE, O_ONLY,
		O_TEMPLATE, O_FT, O_THREADS };
	static const struct option lo[] = {
		{ "model_name_or_path", required_argument, NULL, O_MODEL },
		{ "adapter_name_or_path", required_argument, NULL, O_ADAPTER },
		{ "export_dir", required_argument, NULL, O_DIR },
		{ "export_size", required_argument, NULL, O_SIZE },
		{ "export_dtype", required_argument, NULL, O_DTYPE },
		{ "adapter_only", no_argument, NULL, O_ONLY },
		{ "template", required_argument, NULL, O_TEMPLATE },
		{ "finetuning_type", required_argument, NULL, O_FT },
		{ "threads", required_argument, NULL, O_THREADS },
		{ NULL, 0, NULL, 0 },
	};
	struct stat sb;
	int c;

	lmf_init(argc, argv);
	while ((c = lmf_getopt(argc, argv, "hV", lo)) != -1) {
		switch (c) {
		case O_MODEL: o.model = optarg; break;
		case O_ADAPTER: o.adapter = optarg; break;
		case O_DIR: o.dir = optarg; break;
		case O_SIZE:
			o.size = lmf_parse_float("--export_size", optarg, 1e-9,
			    1e6);
			break;
		case O_DTYPE:
			if (!strcmp(optarg, "f32") || !strcmp(optarg,
			    "float32"))
				o.dtype = LMF_F32;
			else if (!strcmp(optarg, "bf16") || !strcmp(optarg,
			    "bfloat16"))
				o.dtype = LMF_BF16;
			else
				die_usage("--export_dtype '%s': not f32 or "
				    "bf16", optarg);
			break;
		case O_ONLY: o.adapter_only = 1; break;
		case O_TEMPLATE: o.template = optarg; break;
		case O_FT:
			if (strcmp(optarg, "lora") && strcmp(optarg, "full") &&
			    strcmp(optarg, "freeze"))
				die_usage("--finetuning_type '%s': not lora, "
				    "full or freeze", optarg);
			o.ft = optarg;
			break;
		case O_THREADS:
			o.threads = (int)lmf_parse_int("--threads", optarg, 0,
			    4096);
			break;
		case 'h': lmf_help_exit(usage);
		case 'V': lmf_version_exit();
		default: lmf_usage_exit(usage);
		}
	}
	if (optind < argc)
		die_usage("unexpected argument '%s'", argv[optind]);
	if (!o.dir)
		die_usage("no --export_dir given");
	if (o.adapter_only && !o.adapter)
		die_usage("--adapter_only needs --adapter_name_or_path");
	if (!o.adapter_only && !o.model)
		die_usage("no --model_name_or_path given");
	if (o.adapter && strcmp(o.ft, "lora"))
		die_usage("an adapter needs --finetuning_type lora");
	if (o.model && o.adapter && !strcmp(o.model, "-") &&
	    !strcmp(o.adapter, "-"))
		die_usage("the model and the adapter cannot both be stdin");
	lmf_gemm_init(o.threads);
	if (!stat(o.dir, &sb) && !S_ISDIR(sb.st_mode))
		die("--export_dir '%s': not a directory", o.dir);
	if (o.adapter_only)
		export_adapter();
	else
		export_model();
	return 0;
}
