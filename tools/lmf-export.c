/* lmf-export: write a model stream, with a LoRA adapter stream merged into
 * it (W + scaling * B A, f32 math), as a Hugging Face directory: sharded
 * safetensors (+ index) in f32 or bf16, config.json with torch_dtype, the
 * tokenizer files the stream carries; or, with --adapter_only, the adapter
 * alone as a PEFT directory. Like save_pretrained it writes its own files
 * into the directory (each atomically) and leaves every other file alone;
 * it never replaces an input. It reads streams only (lmf-load reads
 * Hugging Face directories). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lmf/gemm.h"
#include "lmf/hf.h"
#include "lmf/infer.h"
#include "lmf/opt.h"
#include "lmf/stream.h"
#include "lmf/template.h"
#include "lmf/util.h"
#include "lmf/banned.h"

struct opts {
	const char *model, *adapter, *dir, *template, *ft;
	double size;
	int dtype, adapter_only, threads;
};

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

/* the directory's files (hf.h); an input in the way is a usage error */
static void
write_dir(const struct opts *o, json_t *cfg, struct lmf_item *it,
    struct lmf_hf_opts *ho)
{
	char err[512];
	int rc;

	ho->input[0] = o->model;
	ho->input[1] = o->adapter;
	rc = lmf_hf_write(o->dir, cfg, it, ho, err, sizeof err);
	if (rc == LMF_E_PARAM)
		die_usage("--export_dir %s", err);
	if (rc)
		die("%s", err);
}

static void
export_adapter(const struct opts *o)
{
	struct lmf_hf_opts ho = { .adapter = 1, .dtype = LMF_F32,
		.src = o->adapter };
	struct lmf_item it = { 0 };
	json_t *meta, *ac;

	read_one(o->adapter, "adapter", &meta, &it);
	ac = json_object_get(meta, "adapter_config");
	if (!json_is_object(ac))
		die("'%s': no adapter_config", o->adapter);
	json_object_set_new(ac, "inference_mode", json_true());
	write_dir(o, ac, &it, &ho);
	lmf_item_free(&it);
	json_decref(meta);
}

/* a reward model's value head, in the adapter, goes with the merged model
 * (to value_head.safetensors, as LLaMA-Factory's export of an rm model) */
static void
take_vhead(struct lmf_item *it, struct lmf_item *ad)
{
	struct lmf_tensor *t;
	int i;

	for (i = 0; i < ad->ntensors; i++) {
		if (strncmp(ad->t[i].name, "v_head.", 7) ||
		    lmf_item_find(it, ad->t[i].name))
			continue;
		t = lmf_item_add_tensor(it, ad->t[i].name, ad->t[i].dtype,
		    ad->t[i].ndim, ad->t[i].shape);
		memcpy(t->data, ad->t[i].data, ad->t[i].nbytes);
	}
}

static void
export_model(struct opts *o)
{
	struct lmf_hf_opts ho = { .shard_bytes = (uint64_t)(o->size * 1e9),
		.src = o->model };
	struct lmf_item it = { 0 }, ad = { 0 };
	struct lmf_config c;
	json_t *meta, *ameta = NULL, *cfg;
	const char *tn;
	char err[256];

	read_one(o->model, "model", &meta, &it);
	cfg = json_object_get(meta, "config");
	if (lmf_config_parse(&c, cfg, err, sizeof err) ||
	    lmf_infer_check_item(&it, &c, err, sizeof err))
		die("'%s': %s", o->model, err);
	if (o->adapter) {
		read_one(o->adapter, "adapter", &ameta, &ad);
		if (lmf_infer_merge_lora(&it, &c, ameta, &ad, err, sizeof err))
			die("'%s': %s", o->adapter, err);
		take_vhead(&it, &ad);
		lmf_item_free(&ad);
		json_decref(ameta);
	}
	if (o->dtype < 0) {
		tn = json_string_value(json_object_get(cfg, "torch_dtype"));
		o->dtype = tn && !strcmp(tn, "bfloat16") ? LMF_BF16 : LMF_F32;
	}
	ho.dtype = o->dtype;
	json_object_set_new(cfg, "torch_dtype", json_string(o->dtype ==
	    LMF_BF16 ? "bfloat16" : "float32"));
	write_dir(o, cfg, &it, &ho);
	lmf_item_free(&it);
	json_decref(meta);
}

static void
opt_dtype(const struct lmf_opt *op, const char *v)
{
	if (!strcmp(v, "f32") || !strcmp(v, "float32"))
		*(int *)op->p = LMF_F32;
	else if (!strcmp(v, "bf16") || !strcmp(v, "bfloat16"))
		*(int *)op->p = LMF_BF16;
	else
		die_usage("--export_dtype '%s': not f32 or bf16", v);
}

static void
opt_ft(const struct lmf_opt *op, const char *v)
{
	if (strcmp(v, "lora") && strcmp(v, "full") && strcmp(v, "freeze"))
		die_usage("--finetuning_type '%s': not lora, full or freeze",
		    v);
	*(const char **)op->p = v;
}

static void
check_args(const struct opts *o)
{
	if (!o->dir)
		die_usage("no --export_dir given");
	if (o->adapter_only && !o->adapter)
		die_usage("--adapter_only needs --adapter_name_or_path");
	if (!o->adapter_only && !o->model)
		die_usage("no --model_name_or_path given");
	if (o->adapter && strcmp(o->ft, "lora"))
		die_usage("an adapter needs --finetuning_type lora");
	if (o->template && !lmf_template_known(o->template))
		die_usage("unknown template '%s' (%s)", o->template,
		    lmf_template_list());
	if (o->model && o->adapter && !strcmp(o->model, "-") &&
	    !strcmp(o->adapter, "-"))
		die_usage("the model and the adapter cannot both be stdin");
}

int
main(int argc, char **argv)
{
	static const struct lmf_opt_usage u = {
	    "--model_name_or_path FILE [--adapter_name_or_path FILE]\n"
	    "                  --export_dir DIR [--export_size GB]\n"
	    "                  [--export_dtype f32|bf16] [--template NAME]\n"
	    "                  [--finetuning_type lora|full|freeze]\n"
	    "       lmf-export --adapter_only --adapter_name_or_path FILE\n"
	    "                  --export_dir DIR",
	    "Write a model stream (LoRA merged) as a Hugging Face directory, "
	    "or an\nadapter stream as a PEFT directory." };
	struct opts o = { .size = 5, .dtype = -1, .ft = "lora" };
#define S LMF_OPT_STRING
	struct lmf_opt tab[] = {
		LMF_OPT_ROW("model_name_or_path", 0, S, &o.model, "FILE", 0, 0,
		    "model stream ('-' for stdin)"),
		LMF_OPT_ROW("adapter_name_or_path", 0, S, &o.adapter, "FILE",
		    0, 0, "adapter stream to merge (or to write)"),
		LMF_OPT_ROW("export_dir", 0, S, &o.dir, "DIR", 0, 0,
		    "the directory written (its files only)"),
		LMF_OPT_ROW("export_size", 0, LMF_OPT_FLOAT, &o.size, "GB",
		    1e-9, 1e6, "largest shard"),
		{ "export_dtype", 0, LMF_OPT_FUNC, &o.dtype, "f32|bf16", 0, 0,
		    "dtype written", "config torch_dtype, else f32",
		    opt_dtype, 0 },
		{ "adapter_only", 0, LMF_OPT_FUNC, &o.adapter_only, NULL, 0, 0,
		    "write the adapter as a PEFT directory", NULL,
		    lmf_opt_set, 0 },
		LMF_OPT_ROW("template", 0, S, &o.template, "NAME", 0, 0,
		    "accepted; the tokenizer files are copied"),
		{ "finetuning_type", 0, LMF_OPT_FUNC, &o.ft,
		    "lora|full|freeze", 0, 0, "the tuning of the model",
		    "lora", opt_ft, 0 },
		{ "threads", 0, LMF_OPT_INT, &o.threads, "N", 0, 4096,
		    "threads for the merge", "0 = all cores", NULL, 0 },
		LMF_OPT_LAST_ROWS,
	};
#undef S
	struct stat sb;
	int i;

	lmf_init(argc, argv);
	i = lmf_opt_parse(tab, &u, argc, argv);
	if (i < argc)
		die_usage("unexpected argument '%s'", argv[i]);
	check_args(&o);
	lmf_gemm_init(o.threads);
	if (!stat(o.dir, &sb) && !S_ISDIR(sb.st_mode))
		die("--export_dir '%s': not a directory", o.dir);
	if (o.adapter_only)
		export_adapter(&o);
	else
		export_model(&o);
	return 0;
}
