/* st_write.c: safetensors files as the safetensors library writes them,
 * sharded as huggingface_hub splits them (st_write.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "lmf/st_write.h"
#include "lmf/stream.h"
#include "lmf/util.h"
#include "lmf/banned.h"

struct ent {
	char *name;
	int dtype, ndim;
	int64_t shape[LMF_MAX_DIMS];
	uint64_t nbytes;
	const void *data;
	void *own;        /* the copy, when copied */
	int shard;
};

struct lmf_st_writer {
	char *dir, *base;
	uint64_t max;
	int n, cap;
	struct ent *e;
};

/* safetensors' Dtype enum order (the sort key, descending) */
static int
dtype_rank(int dtype)
{
	switch (dtype) {
	case LMF_BOOL: return 0;
	case LMF_U8: return 1;
	case LMF_I8: return 2;
	case LMF_I16: return 3;
	case LMF_F16: return 4;
	case LMF_BF16: return 5;
	case LMF_I32: return 6;
	case LMF_F32: return 7;
	case LMF_F64: return 8;
	case LMF_I64: return 9;
	}
	return -1;
}

const char *
lmf_st_dtype_name(int dtype)
{
	switch (dtype) {
	case LMF_BOOL: return "BOOL";
	case LMF_U8: return "U8";
	case LMF_I8: return "I8";
	case LMF_I16: return "I16";
	case LMF_F16: return "F16";
	case LMF_BF16: return "BF16";
	case LMF_I32: return "I32";
	case LMF_F32: return "F32";
	case LMF_F64: return "F64";
	case LMF_I64: return "I64";
	}
	return NULL;
}

struct lmf_st_writer *
lmf_st_write_begin(const char *dir, const char *base, uint64_t max_shard_bytes)
{
	struct lmf_st_writer *w = xcalloc(1, sizeof *w);

	w->dir = xstrdup(dir);
	w->base = xstrdup(base);
	w->max = max_shard_bytes;
	return w;
}

static int
add(struct lmf_st_writer *w, const char *name, int dtype, int ndim,
    const int64_t *shape, const void *data, int copy)
{
	struct ent *e;
	uint64_t n = 1;
	int i;

	if (!lmf_st_dtype_name(dtype))
		return LMF_E_DTYPE;
	if (!name || !*name || ndim < 0 || ndim > LMF_MAX_DIMS)
		return LMF_E_PARAM;
	for (i = 0; i < w->n; i++)
		if (!strcmp(w->e[i].name, name))
			return LMF_E_PARAM;
	for (i = 0; i < ndim; i++) {
		if (shape[i] < 0)
			return LMF_E_SHAPE;
		n *= (uint64_t)shape[i];
	}
	if (w->n == w->cap) {
		w->cap = w->cap ? 2 * w->cap : 64;
		w->e = xrealloc(w->e, (size_t)w->cap * sizeof *w->e);
	}
	e = &w->e[w->n++];
	memset(e, 0, sizeof *e);
	e->name = xstrdup(name);
	e->dtype = dtype;
	e->ndim = ndim;
	memcpy(e->shape, shape, (size_t)ndim * sizeof *shape);
	e->nbytes = n * lmf_dtype_size(dtype);
	e->data = data;
	if (copy) {
		e->own = xmalloc(e->nbytes ? e->nbytes : 1);
		memcpy(e->own, data, e->nbytes);
		e->data = e->own;
	}
	return 0;
}

int
lmf_st_write_add(struct lmf_st_writer *w, const char *name, int dtype,
    int ndim, const int64_t *shape, const void *data)
{
	return add(w, name, dtype, ndim, shape, data, 0);
}

int
lmf_st_write_add_copy(struct lmf_st_writer *w, const char *name, int dtype,
    int ndim, const int64_t *shape, const void *data)
{
	return add(w, name, dtype, ndim, shape, data, 1);
}

void
lmf_st_write_abort(struct lmf_st_writer *w)
{
	int i;

	if (!w)
		return;
	for (i = 0; i < w->n; i++) {
		free(w->e[i].name);
		free(w->e[i].own);
	}
	free(w->e);
	free(w->dir);
	free(w->base);
	free(w);
}

static int
cmp_ent(const void *a, const void *b)
{
	const struct ent *x = *(const struct ent *const *)a;
	const struct ent *y = *(const struct ent *const *)b;
	int rx = dtype_rank(x->dtype), ry = dtype_rank(y->dtype);

	if (rx != ry)
		return ry - rx;
	return strcmp(x->name, y->name);
}

/* the header of shard s: JSON padded to a multiple of 8 */
static char *
header(struct lmf_st_writer *w, struct ent **v, int nv, size_t *len)
{
	json_t *h = json_object(), *t, *sh;
	uint64_t off = 0;
	size_t n;
	char *s;
	int i, d;

	json_object_set_new(h, "__metadata__", json_pack("{s:s}", "format",
	    "pt"));
	for (i = 0; i < nv; i++) {
		sh = json_array();
		for (d = 0; d < v[i]->ndim; d++)
			json_array_append_new(sh, json_integer(v[i]->shape[d]));
		t = json_pack("{s:s, s:o, s:[I, I]}", "dtype",
		    lmf_st_dtype_name(v[i]->dtype), "shape", sh,
		    "data_offsets", (json_int_t)off,
		    (json_int_t)(off + v[i]->nbytes));
		off += v[i]->nbytes;
		json_object_set_new(h, v[i]->name, t);
	}
	s = json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(h);
	if (!s)
		BUG("cannot serialise a safetensors header");
	n = strlen(s);
	s = xrealloc(s, n + 8);
	while (n % 8)
		s[n++] = ' ';
	s[n] = '\0';
	*len = n;
	(void)w;
	return s;
}

static int
write_shard(struct lmf_st_writer *w, struct lmf_afile *af, const char *path,
    int shard, char *err, size_t errlen)
{
	struct ent **v = xmallocarray((size_t)w->n + 1, sizeof *v);
	unsigned char len8[8];
	size_t hlen;
	char *h;
	int i, nv = 0, rc = 0;

	for (i = 0; i < w->n; i++)
		if (w->e[i].shard == shard)
			v[nv++] = &w->e[i];
	qsort(v, (size_t)nv, sizeof *v, cmp_ent);
	h = header(w, v, nv, &hlen);
	if (lmf_afile_open(af, path) < 0) {
		snprintf(err, errlen, "cannot create '%s': %s", path,
		    strerror(errno));
		free(h);
		free(v);
		return -1;
	}
	lmf_put_u64(len8, hlen);
	if (fwrite(len8, 1, 8, af->f) != 8 || fwrite(h, 1, hlen, af->f) !=
	    hlen)
		rc = -1;
	for (i = 0; i < nv && !rc; i++)
		if (v[i]->nbytes && fwrite(v[i]->data, 1, v[i]->nbytes,
		    af->f) != v[i]->nbytes)
			rc = -1;
	if (rc < 0 || fflush(af->f) == EOF || ferror(af->f)) {
		snprintf(err, errlen, "cannot write '%s': %s", path,
		    strerror(errno));
		rc = -1;
	}
	free(h);
	free(v);
	return rc;
}

/* huggingface_hub's split: shard numbers in e[].shard, in the order the
 * shards are closed (a giant tensor when met, a running shard when the
 * next tensor does not fit or at the end); the count */
static int
split(struct lmf_st_writer *w)
{
	uint64_t cur = 0;
	int i, j, nsh = 0, open = 0;

	for (i = 0; i < w->n; i++) {
		struct ent *e = &w->e[i];

		if (!w->max) {
			e->shard = 0;
			nsh = 1;
			continue;
		}
		if (e->nbytes > w->max) {
			e->shard = nsh++;
			continue;
		}
		if (open && cur + e->nbytes > w->max) {
			for (j = 0; j < i; j++)
				if (w->e[j].shard == -1)
					w->e[j].shard = nsh;
			nsh++;
			open = 0;
			cur = 0;
		}
		e->shard = -1;
		open = 1;
		cur += e->nbytes;
	}
	if (open) {
		for (j = 0; j < w->n; j++)
			if (w->e[j].shard == -1)
				w->e[j].shard = nsh;
		nsh++;
	}
	return nsh;
}

int
lmf_st_write_nshards(struct lmf_st_writer *w)
{
	int n = split(w);

	return n ? n : 1;
}

static int
write_index(struct lmf_st_writer *w, struct lmf_afile *af, char **names,
    char *err, size_t errlen)
{
	json_t *idx, *map = json_object();
	uint64_t total = 0;
	char *s, *path;
	int i, rc = 0;

	for (i = 0; i < w->n; i++) {
		total += w->e[i].nbytes;
		json_object_set_new(map, w->e[i].name,
		    json_string(names[w->e[i].shard]));
	}
	idx = json_pack("{s:{s:I}, s:o}", "metadata", "total_size",
	    (json_int_t)total, "weight_map", map);
	s = json_dumps(idx, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(idx);
	path = xasprintf("%s/%s.safetensors.index.json", w->dir, w->base);
	if (lmf_afile_open(af, path) < 0) {
		snprintf(err, errlen, "cannot create '%s': %s", path,
		    strerror(errno));
		rc = -1;
	} else if (fprintf(af->f, "%s\n", s) < 0 || fflush(af->f) == EOF) {
		snprintf(err, errlen, "cannot write '%s': %s", path,
		    strerror(errno));
		rc = -1;
	}
	free(s);
	free(path);
	return rc;
}

int
lmf_st_write_end(struct lmf_st_writer *w, char *err, size_t errlen)
{
	int nsh = split(w), i, rc = 0;
	struct lmf_afile *af = xcalloc((size_t)nsh + 2, sizeof *af);
	const char *bad = "";
	char **names = xcalloc((size_t)nsh + 1, sizeof *names);

	if (nsh == 0)
		nsh = 1;   /* no tensors: one file with a header only */
	for (i = 0; i < nsh; i++)
		names[i] = nsh == 1 ? xasprintf("%s.safetensors", w->base) :
		    xasprintf("%s-%05d-of-%05d.safetensors", w->base, i + 1,
		    nsh);
	for (i = 0; i < nsh && !rc; i++) {
		char *path = xasprintf("%s/%s", w->dir, names[i]);

		rc = write_shard(w, &af[i], path, i, err, errlen);
		free(path);
	}
	if (!rc && nsh > 1)
		rc = write_index(w, &af[nsh], names, err, errlen);
	/* the shards and the index renamed together, once all are on disk:
	 * a failure leaves the directory's old files as they were */
	if (!rc && lmf_afile_commit_all(af, nsh + 1, &bad) < 0) {
		snprintf(err, errlen, "cannot write '%s': %s", bad,
		    strerror(errno));
		rc = -1;
	}
	for (i = 0; i < nsh + 1; i++) {
		if (af[i].f)
			lmf_afile_abort(&af[i]);
		free(af[i].tmp);
		free(af[i].path);
	}
	for (i = 0; i < nsh; i++)
		free(names[i]);
	free(names);
	free(af);
	lmf_st_write_abort(w);
	return rc;
}
