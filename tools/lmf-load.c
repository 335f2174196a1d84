/* lmf-load: read a Hugging Face model directory (config.json, safetensors,
 * one file or sharded; tokenizer files) into an lmf model stream, a PEFT
 * LoRA adapter directory into an adapter stream, or build a randomly
 * initialised model from a config. It converts F32/F16/BF16 to f32 or bf16
 * piece by piece, holding no whole tensor. It does not read
 * pytorch_model.bin, GGUF or quantized checkpoints. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lmf/lora.h"
#include "lmf/model.h"
#include "lmf/opt.h"
#include "lmf/safetensors.h"
#include "lmf/stream.h"
#include "lmf/util.h"
#include "lmf/banned.h"

#define CHUNK 65536                 /* elements converted at a time */
#define MAX_JSON (64u << 20)        /* bytes of config/index JSON */
#define MAX_TOKFILE (1ull << 30)    /* bytes of a tokenizer file */

struct opts {
	const char *model;    /* --model_name_or_path or the positional DIR */
	const char *adapter;  /* --adapter_name_or_path */
	const char *config;   /* --config */
	const char *out;      /* -o, "-" for stdout */
	int dtype;            /* LMF_F32 or LMF_BF16 */
	int dtype_word;       /* --dtype: 0 f32, 1 bf16 */
	int init;             /* --init */
	uint64_t seed;
	struct lmf_wropts wo;
};

static const char *tokfiles[] = { "tokenizer.json", "tokenizer_config.json" };

static char *
path_join(const char *dir, const char *file)
{
	return xasprintf("%s/%s", dir, file);
}

static int
exists(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0;
}

static json_t *
load_json_or_die(const char *path)
{
	json_error_t jerr;
	size_t len;
	char *s = lmf_read_file_or_die(path, &len, MAX_JSON);
	json_t *j = json_loadb(s, len, JSON_REJECT_DUPLICATES, &jerr);

	if (!j)
		die("'%s': not JSON: %s at line %d", path, jerr.text, jerr.line);
	if (!json_is_object(j))
		die("'%s': not a JSON object", path);
	free(s);
	return j;
}

static void
config_or_die(struct lmf_config *c, const json_t *j, const char *path)
{
	char msg[256];

	if (lmf_config_parse(c, j, msg, sizeof msg) < 0)
		die("'%s': %s", path, msg);
}

static struct lmf_safetensors *
st_open_or_die(const char *path)
{
	char msg[600];
	int err;
	struct lmf_safetensors *st = lmf_safetensors_open(path, &err, msg,
	    sizeof msg);

	if (!st)
		die("'%s': %s", path, msg);
	return st;
}

static void
wr_check(struct lmf_wr *w, int rc)
{
	if (rc < 0)
		die("%s", lmf_wr_errmsg(w));
}

/* copy one checkpoint tensor into the stream under name, chunk by chunk */
static void
emit_tensor(const struct opts *o, struct lmf_wr *w, const char *name,
    const struct lmf_st_found *f)
{
	unsigned char *in = xmalloc(CHUNK * 4), *out = xmalloc(CHUNK * 4);
	size_t es = lmf_dtype_size(f->t->dtype), n;
	uint64_t off;

	wr_check(w, lmf_wr_tensor_begin(w, name, o->dtype, f->t->ndim,
	    f->t->shape));
	for (off = 0; off < f->t->nbytes; off += n * es) {
		n = (f->t->nbytes - off) / es;
		if (n > CHUNK)
			n = CHUNK;
		if (lmf_safetensors_read(f->st, f->t, off, in, n * es) < 0)
			die("'%s': %s", f->st->path,
			    lmf_safetensors_errmsg(f->st));
		wr_check(w, lmf_wr_payload(w, out, lmf_dtype_convert(o->dtype,
		    out, f->t->dtype, in, n)));
	}
	free(in);
	free(out);
}

/* a parameter freshly initialised: normal(0, range), ones or zeros */
static void
emit_init(const struct opts *o, struct lmf_wr *w, const struct lmf_param *p,
    double range, struct lmf_rng *rng)
{
	unsigned char *out = xmalloc(CHUNK * 4);
	uint64_t left, n, i;
	float v;

	wr_check(w, lmf_wr_tensor_begin(w, p->name, o->dtype, p->ndim,
	    p->shape));
	for (left = p->numel; left > 0; left -= n) {
		n = left < CHUNK ? left : CHUNK;
		for (i = 0; i < n; i++) {
			if (p->kind == LMF_PARAM_NORM)
				v = 1.0f;
			else if (p->kind == LMF_PARAM_BIAS)
				v = 0.0f;
			else
				v = (float)(lmf_rng_normal(rng) * range);
			if (o->dtype == LMF_F32)
				memcpy(out + 4 * i, &v, 4); /* host is LE */
			else
				lmf_put_u16(out + 2 * i, lmf_f32_to_bf16(v));
		}
		wr_check(w, lmf_wr_payload(w, out, n * lmf_dtype_size(o->dtype)));
	}
	free(out);
}

/* the tokenizer files present in dir, as u8 tensors */
static int
count_tokfiles(const char *dir)
{
	int i, n = 0;

	for (i = 0; dir && i < 2; i++) {
		char *p = path_join(dir, tokfiles[i]);

		n += exists(p);
		free(p);
	}
	return n;
}

static void
emit_tokfiles(struct lmf_wr *w, const char *dir)
{
	unsigned char *buf = xmalloc(CHUNK);
	struct stat sb;
	int64_t len;
	size_t got;
	FILE *f;
	int i;

	for (i = 0; dir && i < 2; i++) {
		char *p = path_join(dir, tokfiles[i]);

		if (!exists(p)) {
			free(p);
			continue;
		}
		f = xfopen(p, "rb");
		if (fstat(fileno(f), &sb) < 0 || !S_ISREG(sb.st_mode) ||
		    (uint64_t)sb.st_size > MAX_TOKFILE)
			die("'%s': not a regular file of at most 1 GiB", p);
		len = sb.st_size;
		wr_check(w, lmf_wr_tensor_begin(w, tokfiles[i], LMF_U8, 1, &len));
		while (len > 0 && (got = fread(buf, 1, CHUNK, f)) > 0) {
			if ((int64_t)got > len)
				got = (size_t)len;
			wr_check(w, lmf_wr_payload(w, buf, got));
			len -= (int64_t)got;
		}
		if (ferror(f))
			die_errno("cannot read '%s'", p);
		if (len > 0)
			die("'%s' shrank while being read", p);
		fclose(f);
		free(p);
	}
	free(buf);
}

/* the checkpoint of dir, every parameter of p found in it */
static struct lmf_safetensors_dir *
open_checkpoint(const char *dir, const struct lmf_config *c,
    const struct lmf_param *p, int np, struct lmf_st_found *f)
{
	char msg[700];
	int err, i;
	struct lmf_safetensors_dir *sd = lmf_safetensors_dir_open(dir, &err,
	    msg, sizeof msg);

	if (!sd || lmf_safetensors_dir_find(sd, p, np, c->model_type_name, f,
	    msg, sizeof msg) < 0)
		die("%s", msg);
	for (i = 0; lmf_verbose && i < sd->nshards; i++)
		if (lmf_safetensors_find(sd->sh[i], "lm_head.weight") &&
		    !lmf_model_param_find(p, np, "lm_head.weight"))
			warn("'%s': dropping lm_head.weight, the embeddings "
			    "are tied", sd->sh[i]->path);
	return sd;
}

/* dir's value_head.safetensors (LLaMA-Factory's rm and ppo results), its
 * v_head.summary.weight [1, C] and .bias [1] into f[2] (C < 0: any C);
 * NULL when there is none */
static struct lmf_safetensors *
open_vhead(const char *dir, int64_t C, struct lmf_st_found *f)
{
	static const char *const nm[2] = { "v_head.summary.weight",
		"v_head.summary.bias" };
	char *p = path_join(dir, "value_head.safetensors"), b[128];
	struct lmf_safetensors *st;
	struct lmf_tensor x;
	int j;

	if (!exists(p)) {
		free(p);
		return NULL;
	}
	st = st_open_or_die(p);
	for (j = 0; j < 2; j++) {
		const struct lmf_st_tensor *t = lmf_safetensors_find(st, nm[j]);

		if (!t)
			die("'%s': no tensor '%s'", p, nm[j]);
		if ((t->dtype != LMF_F32 && t->dtype != LMF_F16 &&
		    t->dtype != LMF_BF16) || t->ndim != 2 - j ||
		    t->shape[0] != 1 || (!j && C >= 0 && t->shape[1] != C)) {
			x.ndim = t->ndim;
			memcpy(x.shape, t->shape, sizeof *t->shape * t->ndim);
			die("'%s': tensor '%s' has shape %s, not [1%s]", p,
			    nm[j], lmf_shape_str(&x, b, sizeof b), j ? "" :
			    ", hidden_size");
		}
		f[j].st = st;
		f[j].t = t;
	}
	free(p);
	return st;
}

/* the value head's two tensors after the others, when there is one */
static void
emit_vhead(const struct opts *o, struct lmf_wr *w,
    struct lmf_safetensors *vst, const struct lmf_st_found *vf)
{
	int k;

	for (k = 0; vst && k < 2; k++)
		emit_tensor(o, w, vf[k].t->name, &vf[k]);
	if (vst)
		lmf_safetensors_close(vst);
}

static void
load_model(const struct opts *o, struct lmf_wr **wp, json_t *meta,
    const struct lmf_config *c)
{
	struct lmf_param *p;
	struct lmf_st_found *f, vf[2];
	struct lmf_safetensors_dir *sd;
	struct lmf_safetensors *vst;
	int np, k, ntok = count_tokfiles(o->model);
	struct lmf_wr *w;

	p = lmf_model_params(c, &np);
	f = xcalloc((size_t)np, sizeof *f);
	sd = open_checkpoint(o->model, c, p, np, f);
	vst = open_vhead(o->model, c->hidden_size, vf);
	*wp = w = lmf_wr_open_or_die(o->out, meta, &o->wo);
	wr_check(w, lmf_wr_item(w, (uint32_t)(ntok + np + (vst ? 2 : 0))));
	emit_tokfiles(w, o->model);
	for (k = 0; k < np; k++)
		emit_tensor(o, w, p[k].name, &f[k]);
	emit_vhead(o, w, vst, vf);
	if (lmf_verbose)
		warn("%s: %lld layers, %llu parameters in %d tensors (%s)",
		    c->model_type_name, (long long)c->num_hidden_layers,
		    (unsigned long long)lmf_model_numel(p, np), np,
		    lmf_dtype_name(o->dtype));
	lmf_safetensors_dir_close(sd);
	free(f);
	free(p);
}

static void
init_model(const struct opts *o, struct lmf_wr **wp, json_t *meta,
    const struct lmf_config *c)
{
	struct lmf_rng rng;
	struct lmf_param *p;
	int np, k;

	p = lmf_model_params(c, &np);
	lmf_rng_seed(&rng, o->seed);
	lmf_space_or_die(o->out, lmf_model_numel(p, np) *
	    lmf_dtype_size(o->dtype));
	*wp = lmf_wr_open_or_die(o->out, meta, &o->wo);
	wr_check(*wp, lmf_wr_item(*wp, (uint32_t)(count_tokfiles(o->model) +
	    np)));
	emit_tokfiles(*wp, o->model);
	for (k = 0; k < np; k++)
		emit_init(o, *wp, &p[k], c->initializer_range, &rng);
	if (lmf_verbose)
		warn("%s: %lld layers, %llu parameters initialised with seed "
		    "%llu (%s)", c->model_type_name,
		    (long long)c->num_hidden_layers,
		    (unsigned long long)lmf_model_numel(p, np),
		    (unsigned long long)o->seed, lmf_dtype_name(o->dtype));
	free(p);
}

static void
load_adapter(const struct opts *o, struct lmf_wr **wp)
{
	char *cpath = path_join(o->adapter, "adapter_config.json");
	char *wpath = path_join(o->adapter, "adapter_model.safetensors");
	json_t *j = load_json_or_die(cpath), *mj = NULL, *meta;
	const struct lmf_st_tensor **t;
	struct lmf_safetensors *st, *vst;
	struct lmf_param *p = NULL;
	struct lmf_config c;
	struct lmf_st_found f, vf[2];
	char *mpath, err[600];
	int64_t r;
	int np = 0, i;

	if ((r = lmf_lora_peft_check_config(j, err, sizeof err)) < 0)
		die("'%s': %s", cpath, err);
	if (o->model) {
		mpath = path_join(o->model, "config.json");
		mj = load_json_or_die(mpath);
		config_or_die(&c, mj, mpath);
		p = lmf_model_params(&c, &np);
		free(mpath);
	}
	if (!exists(wpath))
		die("'%s': no adapter_model.safetensors", o->adapter);
	st = st_open_or_die(wpath);
	if (!st->ntensors)
		die("'%s': no tensors", wpath);
	t = xmallocarray((size_t)st->ntensors, sizeof *t);
	for (i = 0; i < st->ntensors; i++) {
		t[i] = &st->t[i];
		if (lmf_lora_peft_check_tensor(st, t[i], r, json_object_get(j,
		    "target_modules"), p, np, err, sizeof err) < 0)
			die("'%s': %s", wpath, err);
	}
	qsort(t, (size_t)st->ntensors, sizeof *t, lmf_lora_peft_cmp);
	meta = json_pack("{s:s, s:O, s:s, s:s}", "kind", "adapter",
	    "adapter_config", j, "dtype", lmf_dtype_name(o->dtype), "source",
	    o->adapter);
	if (o->model)
		json_object_set_new(meta, "base_model", json_string(o->model));
	vst = open_vhead(o->adapter, o->model ? c.hidden_size : -1, vf);
	*wp = lmf_wr_open_or_die(o->out, meta, &o->wo);
	wr_check(*wp, lmf_wr_item(*wp, (uint32_t)(st->ntensors + (vst ? 2 :
	    0))));
	for (i = 0; i < st->ntensors; i++) {
		f.st = st;
		f.t = t[i];
		emit_tensor(o, *wp, t[i]->name, &f);
	}
	emit_vhead(o, *wp, vst, vf);
	if (lmf_verbose)
		warn("adapter: %d LoRA tensors of rank %lld (%s)",
		    st->ntensors, (long long)r, lmf_dtype_name(o->dtype));
	json_decref(meta);
	json_decref(mj);
	json_decref(j);
	lmf_safetensors_close(st);
	free(t);
	free(p);
	free(cpath);
	free(wpath);
}

/* the model stream of a checkpoint or of --init */
static void
write_model(const struct opts *o, struct lmf_wr **w)
{
	const char *cpath = o->config;
	char *cfree = NULL;
	struct lmf_config c;
	json_t *cj, *meta;

	if (!cpath)
		cpath = cfree = path_join(o->model, "config.json");
	cj = load_json_or_die(cpath);
	config_or_die(&c, cj, cpath);
	meta = json_pack("{s:s, s:O, s:s, s:s, s:s}", "kind", "model",
	    "config", cj, "dtype", lmf_dtype_name(o->dtype), "source",
	    o->model ? o->model : cpath, "model_type", c.model_type_name);
	if (o->init) {
		json_object_set_new(meta, "init", json_true());
		json_object_set_new(meta, "seed",
		    json_integer((json_int_t)o->seed));
		init_model(o, w, meta, &c);
	} else {
		load_model(o, w, meta, &c);
	}
	json_decref(meta);
	json_decref(cj);
	free(cfree);
}

int
main(int argc, char **argv)
{
	static const struct lmf_opt_usage u = { "[--dtype f32|bf16] [-l N] "
	    "[-q] [-o FILE] [--model_name_or_path] DIR\n"
	    "       lmf-load --init [--seed N] [--config FILE] [options] "
	    "[DIR]\n"
	    "       lmf-load --adapter_name_or_path DIR "
	    "[--model_name_or_path DIR] [options]",
	    "Read a Hugging Face model or PEFT adapter directory into a "
	    "stream." };
	struct opts o = { .out = "-", .seed = 42 };
#define S LMF_OPT_STRING
	struct lmf_opt tab[] = {
		LMF_OPT_ROW("model_name_or_path", 0, S, &o.model, "DIR", 0, 0,
		    "Hugging Face model directory"),
		LMF_OPT_ROW("adapter_name_or_path", 0, S, &o.adapter, "DIR", 0,
		    0, "PEFT LoRA adapter directory"),
		LMF_OPT_ROW("dtype", 0, LMF_OPT_CHOICE, &o.dtype_word,
		    "f32|bf16", 0, 0, "tensor dtype written"),
		{ "init", 0, LMF_OPT_FUNC, &o.init, NULL, 0, 0,
		    "random weights from a config", NULL, lmf_opt_set, 0 },
		LMF_OPT_ROW("config", 0, S, &o.config, "FILE", 0, 0,
		    "the config.json for --init"),
		LMF_OPT_ROW("seed", 0, LMF_OPT_U64, &o.seed, "N", 0, 9.3e18,
		    "seed of --init"),
		{ "level", 'l', LMF_OPT_FUNC, &o.wo.level, "N", 0, 0,
		    "zstd level, 0 for raw", "1", lmf_opt_level, 0 },
		LMF_OPT_ROW(NULL, 'o', S, &o.out, "FILE", 0, 0,
		    "write the stream to FILE"),
		{ NULL, 'q', LMF_OPT_FUNC, NULL, NULL, 0, 0,
		    "no summary or warnings", NULL, lmf_opt_quiet, 0 },
		LMF_OPT_LAST_ROWS,
	};
#undef S
	struct lmf_wr *w = NULL;
	int i;

	lmf_init(argc, argv);
	o.wo = lmf_wropts_default;
	i = lmf_opt_parse(tab, &u, argc, argv);
	o.dtype = o.dtype_word ? LMF_BF16 : LMF_F32;
	if (i < argc && o.model)
		die_usage("give the model directory once, not also as '%s'",
		    argv[i]);
	if (i < argc)
		o.model = argv[i++];
	if (i < argc)
		die_usage("unexpected argument '%s'", argv[i]);
	if (o.init && o.adapter)
		die_usage("--init and --adapter_name_or_path exclude each other");
	if (o.config && !o.init)
		die_usage("--config goes with --init");
	if (!o.model && !o.adapter && !o.config)
		die_usage("no model directory given");
	if (o.adapter)
		load_adapter(&o, &w);
	else
		write_model(&o, &w);
	lmf_wr_close_or_die(w);
	return 0;
}
