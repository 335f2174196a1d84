/* hf.c: Hugging Face and PEFT directories from model and adapter items
 * (hf.h). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lmf/hf.h"
#include "lmf/pyjson.h"
#include "lmf/st_write.h"
#include "lmf/util.h"
#include "lmf/banned.h"

/* a directory being written */
struct hfdir {
	const char *dir;
	const struct lmf_hf_opts *o;
	char **name;              /* the small files, written or to be */
	struct lmf_afile *af;     /* their temporary files (f NULL: none) */
	int n, cap;
	char **old;               /* the shards an older index names */
	int nold;
	char *err;
	size_t errlen;
};

/* model-00001-of-00002.safetensors: a shard name a model directory has */
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

/* the names the directory's writer owns */
static int
is_own_name(struct hfdir *h, const char *name)
{
	static const char *const model[] = { "model.safetensors",
		"model.safetensors.index.json", "config.json",
		"value_head.safetensors", NULL };
	static const char *const adapter[] = { "adapter_model.safetensors",
		"adapter_config.json", "value_head.safetensors", NULL };
	const char *const *v = h->o->adapter ? adapter : model;
	int i;

	for (i = 0; v[i]; i++)
		if (!strcmp(name, v[i]))
			return 1;
	for (i = 0; i < h->n; i++)
		if (!strcmp(name, h->name[i]))
			return 1;
	return !h->o->adapter && is_shard_name(name);
}

/* a u8 vector of a model item is a file of the directory */
static int
is_file(const struct hfdir *h, const struct lmf_tensor *t)
{
	return !h->o->adapter && t->dtype == LMF_U8 && t->ndim == 1;
}

/* TRL's value head (v_head.summary.weight, .bias) goes to
 * value_head.safetensors, as LLaMA-Factory's fix_valuehead_checkpoint
 * leaves it, always f32 */
static int
is_vhead(const struct lmf_tensor *t)
{
	return !strncmp(t->name, "v_head.", 7);
}

/* "cannot <what> 'p': <errno>"; p freed */
static int
io_error(struct hfdir *h, const char *what, char *p)
{
	lmf_seterr(h->err, h->errlen, "cannot %s '%s': %s", what, p,
	    strerror(errno));
	free(p);
	return LMF_E_IO;
}

static void
add_name(struct hfdir *h, const char *name)
{
	if (h->n == h->cap) {
		h->cap = h->cap ? 2 * h->cap : 8;
		h->name = xrealloc(h->name, (size_t)h->cap * sizeof *h->name);
		h->af = xrealloc(h->af, (size_t)h->cap * sizeof *h->af);
	}
	h->name[h->n] = xstrdup(name);
	memset(&h->af[h->n], 0, sizeof h->af[h->n]);
	h->n++;
}

/* a file of the item: a plain name, not one the directory has already */
static int
add_file_name(struct hfdir *h, const char *name)
{
	if (!*name || name[0] == '.' || strchr(name, '/') ||
	    strlen(name) > 255) {
		lmf_seterr(h->err, h->errlen, "'%s': tokenizer file name '%s' "
		    "is not a plain file name", h->o->src, name);
		return LMF_E_FORMAT;
	}
	if (is_own_name(h, name)) {
		lmf_seterr(h->err, h->errlen, "'%s': tokenizer file '%s' is "
		    "named twice or as a weight file", h->o->src, name);
		return LMF_E_FORMAT;
	}
	add_name(h, name);
	return 0;
}

static int
mkdir_p(struct hfdir *h)
{
	char *p = xstrdup(h->dir), *s;
	int rc = 0;

	for (s = p + 1; *s && !rc; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0777) < 0 && errno != EEXIST)
			rc = -1;
		else
			*s = '/';
	}
	if (!rc && mkdir(p, 0777) < 0 && errno != EEXIST)
		rc = -1;
	if (rc)
		return io_error(h, "create", p);
	free(p);
	return 0;
}

/* a file of the directory that would be written and is (or links to) an
 * input */
static int
check_inputs(struct hfdir *h)
{
	const char *in[2] = { h->o->input[0], h->o->input[1] };
	struct stat sin[2], sb;
	struct dirent *d;
	DIR *dp;
	char *p;
	int i, rc = 0;

	for (i = 0; i < 2; i++)
		if (!in[i] || !strcmp(in[i], "-") || stat(in[i], &sin[i]) < 0)
			in[i] = NULL;
	if (!in[0] && !in[1])
		return 0;
	if (!(dp = opendir(h->dir))) {
		lmf_seterr(h->err, h->errlen, "cannot read '%s': %s", h->dir,
		    strerror(errno));
		return LMF_E_IO;
	}
	while (!rc && (d = readdir(dp))) {
		if (!is_own_name(h, d->d_name))
			continue;
		p = xasprintf("%s/%s", h->dir, d->d_name);
		for (i = 0; i < 2 && !rc; i++)
			if (in[i] && !stat(p, &sb) && sb.st_dev ==
			    sin[i].st_dev && sb.st_ino == sin[i].st_ino) {
				lmf_seterr(h->err, h->errlen, "'%s': writing "
				    "'%s' would replace the input '%s'",
				    h->dir, d->d_name, in[i]);
				rc = LMF_E_PARAM;
			}
		free(p);
	}
	closedir(dp);
	return rc;
}

/* the shards the directory's model.safetensors.index.json names */
static void
read_old_index(struct hfdir *h)
{
	char *p = xasprintf("%s/model.safetensors.index.json", h->dir);
	json_t *j = json_load_file(p, 0, NULL), *v;
	const char *k;
	int i;

	json_object_foreach(json_object_get(j, "weight_map"), k, v) {
		const char *name = json_string_value(v);

		if (!name || !is_shard_name(name))
			continue;
		for (i = 0; i < h->nold && strcmp(h->old[i], name); i++)
			;
		if (i < h->nold)
			continue;
		h->old = xrealloc(h->old, (size_t)(h->nold + 1) *
		    sizeof *h->old);
		h->old[h->nold++] = xstrdup(name);
	}
	json_decref(j);
	free(p);
}

/* a small file to its temporary name, renamed into place by commit() */
static int
put_file(struct hfdir *h, const char *name, const void *buf, size_t n)
{
	char *p = xasprintf("%s/%s", h->dir, name);
	struct lmf_afile *a;
	int i;

	for (i = 0; i < h->n && strcmp(h->name[i], name); i++)
		;
	if (i == h->n)
		add_name(h, name);
	a = &h->af[i];
	if (lmf_afile_open(a, p) < 0) {
		a->f = NULL;
		return io_error(h, "create", p);
	}
	if ((n && fwrite(buf, 1, n, a->f) != n) || fflush(a->f))
		return io_error(h, "write", p);
	free(p);
	return 0;
}

/* json.dumps(j, indent=2, sort_keys=True), + "\n" if nl (pyjson.h) */
static int
put_json(struct hfdir *h, const char *name, json_t *j, int nl)
{
	char *s = lmf_pyjson_dumps(j, 2, LMF_PYJSON_SORT_KEYS |
	    (strcmp(name, "special_tokens_map.json") ? LMF_PYJSON_ASCII : 0));
	size_t n = strlen(s);
	int rc;

	s = xrealloc(s, n + 2);
	if (nl)
		s[n++] = '\n';
	rc = put_file(h, name, s, n);
	free(s);
	return rc;
}

/* the generation attributes transformers' GenerationConfig takes from a
 * model's config (from_model_config), with their defaults: to_json_file
 * writes those that differ */
static const struct { const char *key, *dflt; } gen_keys[] = {
	{ "max_length", "20" }, { "min_length", "0" },
	{ "do_sample", "false" }, { "early_stopping", "false" },
	{ "num_beams", "1" }, { "num_beam_groups", "1" },
	{ "diversity_penalty", "0.0" }, { "temperature", "1.0" },
	{ "top_k", "50" }, { "top_p", "1.0" }, { "typical_p", "1.0" },
	{ "repetition_penalty", "1.0" }, { "length_penalty", "1.0" },
	{ "no_repeat_ngram_size", "0" },
	{ "encoder_no_repeat_ngram_size", "0" }, { "bad_words_ids", NULL },
	{ "num_return_sequences", "1" }, { "output_scores", "false" },
	{ "return_dict_in_generate", "false" },
	{ "forced_bos_token_id", NULL }, { "forced_eos_token_id", NULL },
	{ "remove_invalid_values", "false" },
	{ "exponential_decay_length_penalty", NULL },
	{ "suppress_tokens", NULL }, { "begin_suppress_tokens", NULL },
	{ "pad_token_id", NULL }, { "bos_token_id", NULL },
	{ "eos_token_id", NULL }, { "decoder_start_token_id", NULL },
	{ "use_cache", "true" },
};

/* generation_config.json as save_pretrained writes it for a model loaded
 * without one: GenerationConfig.from_model_config(config), its diff
 * against the defaults, "_from_model_config": true */
static json_t *
generation_config(json_t *config)
{
	json_t *g = json_pack("{s:b}", "_from_model_config", 1), *v, *d;
	size_t i;

	for (i = 0; i < sizeof gen_keys / sizeof gen_keys[0]; i++) {
		v = json_object_get(config, gen_keys[i].key);
		if (!v || json_is_null(v))
			continue;
		d = gen_keys[i].dflt ? json_loads(gen_keys[i].dflt,
		    JSON_DECODE_ANY, NULL) : NULL;
		if (!d || !json_equal(v, d))
			json_object_set(g, gen_keys[i].key, v);
		json_decref(d);
	}
	if ((v = json_object_get(config, "transformers_version")))
		json_object_set(g, "transformers_version", v);
	return g;
}

/* special_tokens_map.json from tokenizer_config.json, as a fast
 * tokenizer's save_pretrained writes it: each special token named, as the
 * AddedToken of added_tokens_decoder it is (content, lstrip, normalized,
 * rstrip, single_word) or as its string; additional_special_tokens as
 * listed; the pad token the eos token where none is set, as
 * LLaMA-Factory's fix_special_tokens does before saving */
json_t *
lmf_hf_special_tokens_map(json_t *tc)
{
	static const char *const keys[] = { "bos_token", "eos_token",
		"unk_token", "sep_token", "pad_token", "cls_token",
		"mask_token", NULL };
	json_t *m = json_object(), *dec = json_object_get(tc,
	    "added_tokens_decoder"), *v, *a, *t;
	const char *content, *k;
	int i;

	for (i = 0; keys[i]; i++) {
		v = json_object_get(tc, keys[i]);
		if (!v && !strcmp(keys[i], "pad_token"))
			v = json_object_get(m, "eos_token");
		if (json_is_object(v)) {
			t = json_deep_copy(v);
			json_object_del(t, "__type");
			json_object_set_new(m, keys[i], t);
			continue;
		}
		if (!(content = json_string_value(v)))
			continue;
		t = NULL;
		json_object_foreach(dec, k, a)
			if (!t && !strcmp(content, json_string_value(
			    json_object_get(a, "content")) ?
			    json_string_value(json_object_get(a, "content")) :
			    ""))
				t = a;
		if (t)
			json_object_set_new(m, keys[i], json_pack("{s:s, s:O*, "
			    "s:O*, s:O*, s:O*}", "content", content, "lstrip",
			    json_object_get(t, "lstrip"), "normalized",
			    json_object_get(t, "normalized"), "rstrip",
			    json_object_get(t, "rstrip"), "single_word",
			    json_object_get(t, "single_word")));
		else
			json_object_set(m, keys[i], v);
	}
	a = json_object_get(tc, "additional_special_tokens");
	if (json_is_array(a) && json_array_size(a))
		json_object_set(m, "additional_special_tokens", a);
	return m;
}

static int
remove_stale(struct hfdir *h, const char *name)
{
	char *p = xasprintf("%s/%s", h->dir, name);

	if (unlink(p) < 0 && errno != ENOENT)
		return io_error(h, "remove", p);
	free(p);
	return 0;
}

/* whether this write made the shard name (nshards > 1: it made shards) */
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
 * stale: the shards an older index named that were not written again,
 * and the index (one file now) or model.safetensors (shards now) */
static int
commit(struct hfdir *h, int nshards)
{
	int i, rc = 0;

	for (i = 0; i < h->n && !rc; i++)
		if (h->af[i].f && lmf_afile_commit(&h->af[i]) < 0) {
			lmf_seterr(h->err, h->errlen, "cannot write '%s': %s",
			    h->af[i].path, strerror(errno));
			rc = LMF_E_IO;
		}
	if (rc || h->o->adapter)
		return rc;
	for (i = 0; i < h->nold && !rc; i++)
		if (!written_shard(h->old[i], nshards))
			rc = remove_stale(h, h->old[i]);
	return rc ? rc : remove_stale(h, nshards > 1 ? "model.safetensors" :
	    "model.safetensors.index.json");
}

static void
hfdir_free(struct hfdir *h)
{
	int i;

	for (i = 0; i < h->n; i++) {
		if (h->af[i].f)
			lmf_afile_abort(&h->af[i]);
		free(h->name[i]);
	}
	for (i = 0; i < h->nold; i++)
		free(h->old[i]);
	free(h->name);
	free(h->af);
	free(h->old);
}

/* t as o->dtype, converted in place */
static int
convert(struct hfdir *h, struct lmf_tensor *t)
{
	uint16_t *b = t->data;
	float *f = t->data;
	uint64_t k, n;

	if (h->o->dtype < 0)
		return 0;
	if (lmf_tensor_to_f32(t) < 0) {
		lmf_seterr(h->err, h->errlen, "'%s': tensor '%s' is not a "
		    "model weight", h->o->src, t->name);
		return LMF_E_FORMAT;
	}
	if (h->o->dtype == LMF_BF16) {
		n = lmf_tensor_numel(t);
		for (k = 0; k < n; k++)
			b[k] = lmf_f32_to_bf16(f[k]);
		t->dtype = LMF_BF16;
		t->nbytes = n * 2;
	}
	return 0;
}

/* tokenizer_config.json's special_tokens_map.json when buf (n bytes) is
 * one and the directory gets none */
static int
put_tokens_map(struct hfdir *h, const char *buf, size_t n)
{
	json_t *tc = json_loadb(buf, n, 0, NULL), *m;
	int rc = 0;

	if (json_is_object(tc)) {
		m = lmf_hf_special_tokens_map(tc);
		rc = put_json(h, "special_tokens_map.json", m, 1);
		json_decref(m);
	}
	json_decref(tc);
	return rc;
}

/* a model's config.json, torch_dtype that of the weights written (the
 * first weight's), and its generation_config.json and
 * special_tokens_map.json unless the item carries them */
static int
put_model_json(struct hfdir *h, json_t *config, struct lmf_item *it,
    int wdtype)
{
	json_t *c = json_deep_copy(config), *g;
	struct lmf_tensor *t;
	int rc;

	if (wdtype == LMF_F32 || wdtype == LMF_BF16 || wdtype == LMF_F16)
		json_object_set_new(c, "torch_dtype", json_string(wdtype ==
		    LMF_F32 ? "float32" : wdtype == LMF_BF16 ? "bfloat16" :
		    "float16"));
	rc = put_json(h, "config.json", c, 1);
	if (!rc && !lmf_item_find(it, "generation_config.json")) {
		g = generation_config(c);
		rc = put_json(h, "generation_config.json", g, 1);
		json_decref(g);
	}
	json_decref(c);
	if (!rc && !lmf_item_find(it, "special_tokens_map.json") &&
	    (t = lmf_item_find(it, "tokenizer_config.json")) &&
	    t->dtype == LMF_U8)
		rc = put_tokens_map(h, t->data, t->nbytes);
	return rc;
}

int
lmf_hf_write(const char *dir, json_t *config, struct lmf_item *it,
    const struct lmf_hf_opts *o, char *err, size_t errlen)
{
	struct hfdir h = { .dir = dir, .o = o, .err = err, .errlen = errlen };
	struct lmf_st_writer *w = NULL, *vw = NULL;
	int i, rc = 0, nshards = 1, wdtype = -1;

	for (i = 0; i < it->ntensors && !rc; i++)
		if (is_file(&h, &it->t[i]))
			rc = add_file_name(&h, it->t[i].name);
	if (!rc)
		rc = mkdir_p(&h);
	if (!rc)
		rc = check_inputs(&h);
	if (rc)
		goto out;
	if (!o->adapter)
		read_old_index(&h);
	w = lmf_st_write_begin(dir, o->adapter ? "adapter_model" : "model",
	    o->adapter ? 0 : o->shard_bytes);
	for (i = 0; i < it->ntensors && !rc; i++) {
		struct lmf_tensor *t = &it->t[i];

		if (is_file(&h, t)) {
			rc = put_file(&h, t->name, t->data, t->nbytes);
			continue;
		}
		if (is_vhead(t)) {
			if (!vw)
				vw = lmf_st_write_begin(dir, "value_head", 0);
			if (lmf_tensor_to_f32(t) < 0 || lmf_st_write_add(vw,
			    t->name, t->dtype, t->ndim, t->shape, t->data) < 0) {
				lmf_seterr(err, errlen, "'%s': tensor '%s' "
				    "cannot go to safetensors", o->src,
				    t->name);
				rc = LMF_E_FORMAT;
			}
			continue;
		}
		if ((rc = convert(&h, t)))
			break;
		if (wdtype < 0)
			wdtype = t->dtype;
		if (lmf_st_write_add(w, t->name, t->dtype, t->ndim, t->shape,
		    t->data) < 0) {
			lmf_seterr(err, errlen, "'%s': tensor '%s' cannot go "
			    "to safetensors", o->src, t->name);
			rc = LMF_E_FORMAT;
		}
	}
	if (!rc && config && o->adapter)
		rc = put_json(&h, "adapter_config.json", config, 0);
	if (!rc && config && !o->adapter)
		rc = put_model_json(&h, config, it, wdtype);
	if (rc)
		goto out;
	nshards = lmf_st_write_nshards(w);
	rc = lmf_st_write_end(w, err, errlen) ? LMF_E_IO : 0;
	w = NULL;
	if (!rc && vw)
		rc = lmf_st_write_end(vw, err, errlen) ? LMF_E_IO : 0;
	vw = NULL;
	if (!rc)
		rc = commit(&h, nshards);
out:
	lmf_st_write_abort(w);
	lmf_st_write_abort(vw);
	hfdir_free(&h);
	return rc;
}

/* all of f, allocated; NULL on a read error */
static char *
read_all(FILE *f, size_t *n)
{
	size_t cap = 1 << 16, k;
	char *b = xmalloc(cap);

	*n = 0;
	while ((k = fread(b + *n, 1, cap - *n, f)) > 0)
		if ((*n += k) == cap)
			b = xrealloc(b, cap *= 2);
	if (ferror(f)) {
		free(b);
		return NULL;
	}
	return b;
}

int
lmf_hf_write_tokenizer(const char *dir, const char *src, char *err,
    size_t errlen)
{
	static const char *const names[] = { "tokenizer.json",
		"tokenizer_config.json", "special_tokens_map.json",
		"chat_template.jinja", "tokenizer.model", NULL };
	struct lmf_hf_opts o = { .adapter = 1, .dtype = -1, .src = src };
	struct hfdir h = { .dir = dir, .o = &o, .err = err, .errlen = errlen };
	char *p, *buf, *tc = NULL;
	size_t n, ntc = 0;
	int i, rc = 0, have_map = 0;
	FILE *f;

	for (i = 0; names[i] && !rc; i++) {
		p = xasprintf("%s/%s", src, names[i]);
		if (!(f = fopen(p, "rb"))) {
			free(p);
			continue;
		}
		if (!(buf = read_all(f, &n))) {
			fclose(f);
			rc = io_error(&h, "read", p);
			break;
		}
		fclose(f);
		free(p);
		rc = put_file(&h, names[i], buf, n);
		have_map |= i == 2;
		if (i == 1) {
			tc = buf;
			ntc = n;
		} else {
			free(buf);
		}
	}
	if (!rc && tc && !have_map)
		rc = put_tokens_map(&h, tc, ntc);
	free(tc);
	if (!rc)
		rc = commit(&h, 1);
	hfdir_free(&h);
	return rc;
}
