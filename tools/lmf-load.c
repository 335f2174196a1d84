/* lmf-load: read a Hugging Face model directory (config.json, safetensors,
 * one file or sharded; tokenizer files) into an lmf model stream, a PEFT
 * LoRA adapter directory into an adapter stream, or build a randomly
 * initialised model from a config. It converts F32/F16/BF16 to f32 or bf16
 * piece by piece, holding no whole tensor. It does not read
 * pytorch_model.bin, GGUF or quantized checkpoints. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lmf/model.h"
#include "lmf/safetensors.h"
#include "lmf/stream.h"
#include "lmf/util.h"
#include "lmf/banned.h"

#define CHUNK 65536                 /* elements converted at a time */
#define MAX_JSON (64u << 20)        /* bytes of config/index JSON */
#define MAX_TOKFILE (1ull << 30)    /* bytes of a tokenizer file */

static struct opts {
	const char *model;    /* --model_name_or_path or the positional DIR */
	const char *adapter;  /* --adapter_name_or_path */
	const char *config;   /* --config */
	const char *out;      /* -o, "-" for stdout */
	int dtype;            /* LMF_F32 or LMF_BF16 */
	int init;             /* --init */
	uint64_t seed;
	struct lmf_wropts wo;
} o = { .out = "-", .dtype = LMF_F32, .seed = 42 };

/* a tensor found in the checkpoint: which file, which entry */
struct found {
	struct lmf_safetensors *st;
	const struct lmf_st_tensor *t;
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

/* convert n elements of dtype src in `in` to o.dtype in `out`; returns
 * the bytes written */
static size_t
convert(int src, const unsigned char *in, unsigned char *out, size_t n)
{
	size_t i;
	uint32_t u;
	float f;

	for (i = 0; i < n; i++) {
		if (src == LMF_F32) {
			u = lmf_get_u32(in + 4 * i);
		} else if (src == LMF_BF16) {
			u = (uint32_t)lmf_get_u16(in + 2 * i) << 16;
		} else {
			f = lmf_f16_to_f32(lmf_get_u16(in + 2 * i));
			memcpy(&u, &f, 4);
		}
		if (o.dtype == LMF_F32) {
			lmf_put_u32(out + 4 * i, u);
		} else {
			memcpy(&f, &u, 4);
			lmf_put_u16(out + 2 * i, src == LMF_BF16 ?
			    (uint16_t)(u >> 16) : lmf_f32_to_bf16(f));
		}
	}
	return n * lmf_dtype_size(o.dtype);
}

static void
wr_check(struct lmf_wr *w, int rc)
{
	if (rc < 0)
		die("%s", lmf_wr_errmsg(w));
}

/* copy one checkpoint tensor into the stream under name, chunk by chunk */
static void
emit_tensor(struct lmf_wr *w, const char *name, const struct found *f)
{
	static unsigned char in[CHUNK * 4], out[CHUNK * 4];
	size_t es = lmf_dtype_size(f->t->dtype), n;
	uint64_t off;

	wr_check(w, lmf_wr_tensor_begin(w, name, o.dtype, f->t->ndim,
	    f->t->shape));
	for (off = 0; off < f->t->nbytes; off += n * es) {
		n = (f->t->nbytes - off) / es;
		if (n > CHUNK)
			n = CHUNK;
		if (lmf_safetensors_read(f->st, f->t, off, in, n * es) < 0)
			die("'%s': %s", f->st->path,
			    lmf_safetensors_errmsg(f->st));
		wr_check(w, lmf_wr_payload(w, out, convert(f->t->dtype, in, out,
		    n)));
	}
}

/* a parameter freshly initialised: normal(0, range), ones or zeros */
static void
emit_init(struct lmf_wr *w, const struct lmf_param *p, double range,
    struct lmf_rng *rng)
{
	static unsigned char out[CHUNK * 4];
	uint64_t left, n, i;
	float v;

	wr_check(w, lmf_wr_tensor_begin(w, p->name, o.dtype, p->ndim,
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
			if (o.dtype == LMF_F32)
				memcpy(out + 4 * i, &v, 4); /* host is LE */
			else
				lmf_put_u16(out + 2 * i, lmf_f32_to_bf16(v));
		}
		wr_check(w, lmf_wr_payload(w, out, n * lmf_dtype_size(o.dtype)));
	}
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
	static unsigned char buf[CHUNK];
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
		while (len > 0 && (got = fread(buf, 1, sizeof buf, f)) > 0) {
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
}

static int
float_dtype(int d)
{
	return d == LMF_F32 || d == LMF_F16 || d == LMF_BF16;
}

static int
same_shape(const struct lmf_st_tensor *t, int ndim, const int64_t *shape)
{
	return t->ndim == ndim && !memcmp(t->shape, shape, sizeof *shape *
	    (size_t)ndim);
}

static const char *
shape_str(const struct lmf_st_tensor *t, char *buf, size_t len)
{
	struct lmf_tensor x = { .ndim = t->ndim };

	memcpy(x.shape, t->shape, sizeof x.shape);
	return lmf_shape_str(&x, buf, len);
}

static int
has_suffix(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);

	return a >= b && !strcmp(s + a - b, suf);
}

/* open the checkpoint of dir: one file, or the shards of the index */
static struct lmf_safetensors **
open_shards(const char *dir, int *nshards)
{
	char *one = path_join(dir, "model.safetensors");
	char *ix = path_join(dir, "model.safetensors.index.json");
	struct lmf_safetensors **sh = NULL;
	json_t *j, *map, *v;
	const char *name;
	int n = 0, i;

	if (exists(one) || !exists(ix)) {
		if (!exists(one))
			die("'%s': no model.safetensors or "
			    "model.safetensors.index.json", dir);
		sh = xmalloc(sizeof *sh);
		sh[n++] = st_open_or_die(one);
		goto done;
	}
	j = load_json_or_die(ix);
	map = json_object_get(j, "weight_map");
	if (!json_is_object(map) || !json_object_size(map))
		die("'%s': no weight_map object", ix);
	sh = xmallocarray(json_object_size(map), sizeof *sh);
	json_object_foreach(map, name, v) {
		const char *file = json_string_value(v);
		const struct lmf_st_tensor *t = NULL;
		char *p;

		if (!file || !*file || strchr(file, '/') || !strcmp(file, "..") ||
		    !strcmp(file, "."))
			die("'%s': tensor '%s': bad shard file name", ix, name);
		for (i = 0; i < n; i++)
			if (!strcmp(strrchr(sh[i]->path, '/') + 1, file))
				break;
		if (i == n) {
			p = path_join(dir, file);
			sh[n++] = st_open_or_die(p);
			free(p);
		}
		t = lmf_safetensors_find(sh[i], name);
		if (!t)
			die("'%s': tensor '%s' is not in '%s'", ix, name, file);
	}
	json_decref(j);
done:
	free(one);
	free(ix);
	*nshards = n;
	return sh;
}

static void
load_model(struct lmf_wr **wp, json_t *meta, const struct lmf_config *c)
{
	struct lmf_param *p;
	struct found *f;
	struct lmf_safetensors **sh;
	char b1[128], b2[128];
	int np, ns, i, j, k, ntok = count_tokfiles(o.model);
	struct lmf_wr *w;

	p = lmf_model_params(c, &np);
	f = xcalloc((size_t)np, sizeof *f);
	sh = open_shards(o.model, &ns);
	for (i = 0; i < ns; i++) {
		for (j = 0; j < sh[i]->ntensors; j++) {
			const struct lmf_st_tensor *t = &sh[i]->t[j];
			const struct lmf_param *q = lmf_model_param_find(p, np,
			    t->name);

			if (!q && !strcmp(t->name, "lm_head.weight")) {
				if (lmf_verbose)
					warn("'%s': dropping lm_head.weight, the "
					    "embeddings are tied", sh[i]->path);
				continue;
			}
			if (!q && has_suffix(t->name, ".rotary_emb.inv_freq"))
				continue;
			if (!q)
				die("'%s': unexpected tensor '%s' for %s",
				    sh[i]->path, t->name, c->model_type_name);
			k = (int)(q - p);
			if (f[k].t)
				die("'%s': tensor '%s' is also in '%s'",
				    sh[i]->path, t->name, f[k].st->path);
			if (!float_dtype(t->dtype))
				die("'%s': tensor '%s': dtype %s is not F32, F16 "
				    "or BF16", sh[i]->path, t->name,
				    lmf_safetensors_dtype_name(t->dtype));
			if (!same_shape(t, q->ndim, q->shape)) {
				struct lmf_st_tensor x = { .ndim = q->ndim };

				memcpy(x.shape, q->shape, sizeof q->shape);
				die("'%s': tensor '%s' has shape %s, the config "
				    "says %s", sh[i]->path, t->name,
				    shape_str(t, b1, sizeof b1),
				    shape_str(&x, b2, sizeof b2));
			}
			f[k].st = sh[i];
			f[k].t = t;
		}
	}
	for (k = 0; k < np; k++)
		if (!f[k].t)
			die("'%s': tensor '%s' is missing from the checkpoint",
			    o.model, p[k].name);
	*wp = w = lmf_wr_open_or_die(o.out, meta, &o.wo);
	wr_check(w, lmf_wr_item(w, (uint32_t)(ntok + np)));
	emit_tokfiles(w, o.model);
	for (k = 0; k < np; k++)
		emit_tensor(w, p[k].name, &f[k]);
	if (lmf_verbose)
		warn("%s: %lld layers, %llu parameters in %d tensors (%s)",
		    c->model_type_name, (long long)c->num_hidden_layers,
		    (unsigned long long)lmf_model_numel(p, np), np,
		    lmf_dtype_name(o.dtype));
	for (i = 0; i < ns; i++)
		lmf_safetensors_close(sh[i]);
	free(sh);
	free(f);
	free(p);
}

static void
init_model(struct lmf_wr **wp, json_t *meta, const struct lmf_config *c)
{
	struct lmf_rng rng;
	struct lmf_param *p;
	int np, k;

	p = lmf_model_params(c, &np);
	lmf_rng_seed(&rng, o.seed);
	*wp = lmf_wr_open_or_die(o.out, meta, &o.wo);
	wr_check(*wp, lmf_wr_item(*wp, (uint32_t)(count_tokfiles(o.model) +
	    np)));
	emit_tokfiles(*wp, o.model);
	for (k = 0; k < np; k++)
		emit_init(*wp, &p[k], c->initializer_range, &rng);
	if (lmf_verbose)
		warn("%s: %lld layers, %llu parameters initialised with seed "
		    "%llu (%s)", c->model_type_name,
		    (long long)c->num_hidden_layers,
		    (unsigned long long)lmf_model_numel(p, np),
		    (unsigned long long)o.seed, lmf_dtype_name(o.dtype));
	free(p);
}

/* natural order: digit runs compare as numbers, so layers.2 < layers.10 */
static int
natcmp(const char *a, const char *b)
{
	const char *a0 = a, *b0 = b;
	size_t la, lb;
	int d;

	while (*a && *b) {
		if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
			while (*a == '0')
				a++;
			while (*b == '0')
				b++;
			for (la = 0; isdigit((unsigned char)a[la]); la++)
				;
			for (lb = 0; isdigit((unsigned char)b[lb]); lb++)
				;
			if (la != lb)
				return la < lb ? -1 : 1;
			if ((d = strncmp(a, b, la)))
				return d;
			a += la;
			b += lb;
			continue;
		}
		if (*a != *b)
			break;
		a++;
		b++;
	}
	if (*a != *b)
		return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
	return strcmp(a0, b0);
}

static int
cmp_found(const void *x, const void *y)
{
	return natcmp(((const struct found *)x)->t->name,
	    ((const struct found *)y)->t->name);
}

/* peft_type LORA, r, lora_alpha, target_modules; refuse what we lack */
static int64_t
check_adapter_config(const json_t *j, const char *path)
{
	static const char *refused[] = { "rank_pattern", "alpha_pattern",
		"modules_to_save", "layers_to_transform" };
	json_t *v = json_object_get(j, "peft_type"), *x;
	size_t i;

	if (!v)
		die("'%s': 'peft_type' is missing", path);
	if (!json_is_string(v) || strcmp(json_string_value(v), "LORA"))
		die("'%s': 'peft_type' is not LORA", path);
	v = json_object_get(j, "r");
	if (!json_is_integer(v) || json_integer_value(v) < 1 ||
	    json_integer_value(v) > 65536)
		die("'%s': 'r' is missing or not a positive integer", path);
	x = json_object_get(j, "lora_alpha");
	if (!json_is_number(x) || !(json_number_value(x) > 0) ||
	    json_number_value(x) > 1e30)
		die("'%s': 'lora_alpha' is missing or not a positive number",
		    path);
	x = json_object_get(j, "target_modules");
	if (!json_is_string(x) && !(json_is_array(x) && json_array_size(x)))
		die("'%s': 'target_modules' is missing or empty", path);
	for (i = 0; json_is_array(x) && i < json_array_size(x); i++)
		if (!json_is_string(json_array_get(x, i)))
			die("'%s': 'target_modules' holds a non-string", path);
	if (json_is_true(json_object_get(j, "use_dora")))
		die("'%s': 'use_dora' true is not supported", path);
	for (i = 0; i < sizeof refused / sizeof refused[0]; i++) {
		x = json_object_get(j, refused[i]);
		if (x && !json_is_null(x) && !(json_is_object(x) &&
		    !json_object_size(x)) && !(json_is_array(x) &&
		    !json_array_size(x)))
			die("'%s': '%s' is not supported", path, refused[i]);
	}
	return json_integer_value(v);
}

/* module is one of the target_modules (a list; a string is a regex, and
 * is not checked) */
static int
targeted(const json_t *tm, const char *module)
{
	size_t i, n = strlen(module), k;
	const char *s;

	if (!json_is_array(tm))
		return 1;
	for (i = 0; i < json_array_size(tm); i++) {
		s = json_string_value(json_array_get(tm, i));
		k = strlen(s);
		if (!strcmp(module, s) || (n > k && module[n - k - 1] == '.' &&
		    !strcmp(module + n - k, s)))
			return 1;
	}
	return 0;
}

/* check one lora_A/lora_B tensor against r, its partner and the model */
static void
check_lora(const struct found *f, const struct lmf_safetensors *st,
    int64_t r, const json_t *tm, const struct lmf_param *p, int np)
{
	const char *name = f->t->name, *path = st->path;
	int isa = has_suffix(name, ".lora_A.weight");
	size_t mlen = strlen(name) - strlen(".lora_A.weight");
	char *module = xstrndup(name, mlen), *partner, *base;
	const struct lmf_param *q;
	char b1[128];

	if (!float_dtype(f->t->dtype))
		die("'%s': tensor '%s': dtype %s is not F32, F16 or BF16", path,
		    name, lmf_safetensors_dtype_name(f->t->dtype));
	if (f->t->ndim != 2 || f->t->shape[isa ? 0 : 1] != r)
		die("'%s': tensor '%s' has shape %s, not rank %lld", path, name,
		    shape_str(f->t, b1, sizeof b1), (long long)r);
	if (!targeted(tm, module))
		die("'%s': tensor '%s' is not in target_modules", path, name);
	partner = xasprintf("%s.lora_%c.weight", module, isa ? 'B' : 'A');
	if (!lmf_safetensors_find(st, partner))
		die("'%s': tensor '%s' has no '%s'", path, name, partner);
	if (p) {
		base = xasprintf("%s.weight", module +
		    (strncmp(module, "base_model.model.", 17) ? 0 : 17));
		q = lmf_model_param_find(p, np, base);
		if (!q || q->kind != LMF_PARAM_LINEAR)
			die("'%s': tensor '%s' adapts '%s', not a linear layer "
			    "of the model", path, name, base);
		if (f->t->shape[isa ? 1 : 0] != q->shape[isa ? 1 : 0])
			die("'%s': tensor '%s' has shape %s, the model's '%s' "
			    "is [%lld, %lld]", path, name,
			    shape_str(f->t, b1, sizeof b1), base,
			    (long long)q->shape[0], (long long)q->shape[1]);
		free(base);
	}
	free(partner);
	free(module);
}

static void
load_adapter(struct lmf_wr **wp)
{
	char *cpath = path_join(o.adapter, "adapter_config.json");
	char *wpath = path_join(o.adapter, "adapter_model.safetensors");
	json_t *j = load_json_or_die(cpath), *mj = NULL, *meta;
	struct lmf_safetensors *st;
	struct lmf_param *p = NULL;
	struct lmf_config c;
	struct found *f;
	int64_t r = check_adapter_config(j, cpath);
	int np = 0, i;
	char *mpath;

	if (o.model) {
		mpath = path_join(o.model, "config.json");
		mj = load_json_or_die(mpath);
		config_or_die(&c, mj, mpath);
		p = lmf_model_params(&c, &np);
		free(mpath);
	}
	if (!exists(wpath))
		die("'%s': no adapter_model.safetensors", o.adapter);
	st = st_open_or_die(wpath);
	if (!st->ntensors)
		die("'%s': no tensors", wpath);
	f = xcalloc((size_t)st->ntensors, sizeof *f);
	for (i = 0; i < st->ntensors; i++) {
		f[i].st = st;
		f[i].t = &st->t[i];
		if (!has_suffix(st->t[i].name, ".lora_A.weight") &&
		    !has_suffix(st->t[i].name, ".lora_B.weight"))
			die("'%s': unexpected tensor '%s', not lora_A or lora_B",
			    wpath, st->t[i].name);
		check_lora(&f[i], st, r, json_object_get(j, "target_modules"),
		    p, np);
	}
	qsort(f, (size_t)st->ntensors, sizeof *f, cmp_found);
	meta = json_pack("{s:s, s:O, s:s, s:s}", "kind", "adapter",
	    "adapter_config", j, "dtype", lmf_dtype_name(o.dtype), "source",
	    o.adapter);
	if (o.model)
		json_object_set_new(meta, "base_model", json_string(o.model));
	*wp = lmf_wr_open_or_die(o.out, meta, &o.wo);
	wr_check(*wp, lmf_wr_item(*wp, (uint32_t)st->ntensors));
	for (i = 0; i < st->ntensors; i++)
		emit_tensor(*wp, f[i].t->name, &f[i]);
	if (lmf_verbose)
		warn("adapter: %d LoRA tensors of rank %lld (%s)",
		    st->ntensors, (long long)r, lmf_dtype_name(o.dtype));
	json_decref(meta);
	json_decref(mj);
	json_decref(j);
	lmf_safetensors_close(st);
	free(f);
	free(p);
	free(cpath);
	free(wpath);
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: lmf-load [--dtype f32|bf16] [-l level] [-q] [-o file] "
	    "[--model_name_or_path] dir\n"
	    "       lmf-load --init [--seed n] [--config file] [options] [dir]\n"
	    "       lmf-load --adapter_name_or_path dir [--model_name_or_path "
	    "dir] [options]\n"
	    "  --model_name_or_path dir    Hugging Face model directory\n"
	    "  --adapter_name_or_path dir  PEFT LoRA adapter directory\n"
	    "  --dtype f32|bf16            tensor dtype written (default f32)\n"
	    "  --init                      random weights from a config\n"
	    "  --config file               the config.json for --init\n"
	    "  --seed n                    seed of --init (default 42)\n"
	    "  -l, --level n               zstd level, 0 for raw (default 1)\n"
	    "  -o file                     write to file (default stdout)\n"
	    "  -q                          no summary or warnings\n"
	    "  -h, -V                      help, version\n");
}

enum { OPT_MODEL = 256, OPT_ADAPTER, OPT_DTYPE, OPT_INIT, OPT_CONFIG,
	OPT_SEED };

int
main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "model_name_or_path", required_argument, NULL, OPT_MODEL },
		{ "adapter_name_or_path", required_argument, NULL, OPT_ADAPTER },
		{ "dtype", required_argument, NULL, OPT_DTYPE },
		{ "init", no_argument, NULL, OPT_INIT },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "seed", required_argument, NULL, OPT_SEED },
		{ "level", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct lmf_config c;
	struct lmf_wr *w = NULL;
	json_t *cj, *meta;
	const char *cpath;
	char *cfree = NULL;
	int ch;

	lmf_init(argc, argv);
	o.wo = lmf_wropts_default;
	while ((ch = lmf_getopt(argc, argv, "hVqo:l:", lo)) != -1) {
		switch (ch) {
		case OPT_MODEL: o.model = optarg; break;
		case OPT_ADAPTER: o.adapter = optarg; break;
		case OPT_DTYPE:
			if (!strcmp(optarg, "f32"))
				o.dtype = LMF_F32;
			else if (!strcmp(optarg, "bf16"))
				o.dtype = LMF_BF16;
			else
				die_usage("--dtype: '%s' is not f32 or bf16",
				    optarg);
			break;
		case OPT_INIT: o.init = 1; break;
		case OPT_CONFIG: o.config = optarg; break;
		case OPT_SEED:
			o.seed = (uint64_t)lmf_parse_int("--seed", optarg, 0,
			    INT64_MAX);
			break;
		case 'l': o.wo.level = lmf_parse_level(optarg); break;
		case 'o': o.out = optarg; break;
		case 'q': lmf_verbose = 0; break;
		case 'h': lmf_help_exit(usage);
		case 'V': lmf_version_exit();
		default: BUG("option %d", ch);
		}
	}
	if (optind < argc && o.model)
		die_usage("give the model directory once, not also as '%s'",
		    argv[optind]);
	if (optind < argc)
		o.model = argv[optind++];
	if (optind < argc)
		die_usage("unexpected argument '%s'", argv[optind]);
	if (o.init && o.adapter)
		die_usage("--init and --adapter_name_or_path exclude each other");
	if (o.config && !o.init)
		die_usage("--config goes with --init");
	if (!o.model && !o.adapter && !o.config)
		die_usage("no model directory given");

	if (o.adapter) {
		load_adapter(&w);
	} else {
		cpath = o.config ? o.config : (cfree = path_join(o.model,
		    "config.json"));
		cj = load_json_or_die(cpath);
		config_or_die(&c, cj, cpath);
		meta = json_pack("{s:s, s:O, s:s, s:s, s:s}", "kind", "model",
		    "config", cj, "dtype", lmf_dtype_name(o.dtype), "source",
		    o.model ? o.model : cpath, "model_type", c.model_type_name);
		if (o.init) {
			json_object_set_new(meta, "init", json_true());
			json_object_set_new(meta, "seed",
			    json_integer((json_int_t)o.seed));
			init_model(&w, meta, &c);
		} else {
			load_model(&w, meta, &c);
		}
		json_decref(meta);
		json_decref(cj);
		free(cfree);
	}
	lmf_wr_close_or_die(w);
	return 0;
}
