/* lmf-export: write a model stream, with a LoRA adapter stream merged into
 * it (W + scaling * B A, f32 math), as a Hugging Face directory: sharded
 * safetensors (+ index) in f32 or bf16, config.json with torch_dtype, the
 * tokenizer files the stream carries; or, with --adapter_only, the adapter
 * alone as a PEFT directory. The directory appears whole or not at all.
 * It reads streams only (lmf-load reads Hugging Face directories). */
#include <errno.h>
#include <ftw.h>
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

static struct opts {
	const char *model, *adapter, *dir, *template, *ft;
	double size;
	int dtype, adapter_only, threads;
} o = { .size = 5, .dtype = -1, .ft = "lora" };

static char *tmpdir;

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *f)
{
	return remove(path);
}

/* on the way out after a failure: nothing half-written stays */
static void
cleanup(void)
{
	if (tmpdir)
		nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* write a small file of the temp dir */
static void
put_file(const char *name, const void *buf, size_t n)
{
	char *p = xasprintf("%s/%s", tmpdir, name);
	FILE *f = xfopen(p, "w");

	if (fwrite(buf, 1, n, f) != n || fflush(f) || fsync(fileno(f)) ||
	    fclose(f))
		die_errno("cannot write '%s'", p);
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

/* move the finished temp dir to the export dir, replacing an old one */
static void
commit(void)
{
	char *old = NULL;
	struct stat sb;

	if (!stat(o.dir, &sb)) {
		old = xasprintf("%s.old.%ld", o.dir, (long)getpid());
		if (rename(o.dir, old))
			die_errno("cannot move '%s' aside", o.dir);
	}
	if (rename(tmpdir, o.dir)) {
		if (old)
			rename(old, o.dir);
		die_errno("cannot rename '%s' to '%s'", tmpdir, o.dir);
	}
	free(tmpdir);
	tmpdir = NULL;
	if (old) {
		nftw(old, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
		free(old);
	}
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
	struct lmf_st_writer *w = lmf_st_write_begin(tmpdir, "adapter_model",
	    0);
	struct lmf_item it = { 0 };
	json_t *meta, *ac;
	int i;

	read_one(o.adapter, "adapter", &meta, &it);
	ac = json_object_get(meta, "adapter_config");
	if (!json_is_object(ac))
		die("'%s': no adapter_config", o.adapter);
	json_object_set_new(ac, "inference_mode", json_true());
	for (i = 0; i < it.ntensors; i++) {
		struct lmf_tensor *t = &it.t[i];

		if (lmf_tensor_to_f32(t) < 0 || lmf_st_write_add(w, t->name,
		    LMF_F32, t->ndim, t->shape, t->data) < 0)
			die("'%s': tensor '%s' cannot be written", o.adapter,
			    t->name);
	}
	st_end(w);
	put_json("adapter_config.json", ac);
	lmf_item_free(&it);
	json_decref(meta);
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
	int i;
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
	w = lmf_st_write_begin(tmpdir, "model", (uint64_t)(o.size * 1e9));
	for (i = 0; i < it.ntensors; i++) {
		struct lmf_tensor *t = &it.t[i];

		if (t->dtype == LMF_U8 && !strncmp(t->name, "tokenizer", 9)) {
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
		lmf_st_write_add(w, t->name, t->dtype, t->ndim, t->shape,
		    t->data);
	}
	st_end(w);
	json_object_set_new(cfg, "torch_dtype", json_string(o.dtype ==
	    LMF_BF16 ? "bfloat16" : "float32"));
	put_json("config.json", cfg);
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
"  --export_dir DIR           the directory written (replaced whole)\n"
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
	char *parent, *slash;
	mode_t mask;
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
	parent = xstrdup(o.dir);
	while ((slash = strrchr(parent, '/')) && slash != parent &&
	    !slash[1])
		*slash = '\0';
	tmpdir = xasprintf("%s.tmpXXXXXX", parent);
	free(parent);
	if (!mkdtemp(tmpdir))
		die_errno("cannot create '%s'", tmpdir);
	mask = umask(0);
	umask(mask);
	chmod(tmpdir, 0777 & ~mask);
	atexit(cleanup);
	if (o.adapter_only)
		export_adapter();
	else
		export_model();
	commit();
	return 0;
}
