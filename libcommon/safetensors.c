/* safetensors.c: the strict safetensors reader of safetensors.h. Every
 * length and offset read from the file is checked before it is used. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lmf/model.h"
#include "lmf/safetensors.h"
#include "lmf/util.h"
#include "lmf/banned.h"

static const struct {
	const char *name;
	int dtype;
} dtypes[] = {
	{ "F32", LMF_F32 }, { "F16", LMF_F16 }, { "BF16", LMF_BF16 },
	{ "F64", LMF_F64 }, { "I8", LMF_I8 }, { "I16", LMF_I16 },
	{ "I32", LMF_I32 }, { "I64", LMF_I64 }, { "U8", LMF_U8 },
	{ "BOOL", LMF_BOOL },
};

int
lmf_safetensors_dtype(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
		if (!strcmp(dtypes[i].name, name))
			return dtypes[i].dtype;
	return LMF_E_DTYPE;
}

const char *
lmf_safetensors_dtype_name(int dtype)
{
	size_t i;

	for (i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
		if (dtypes[i].dtype == dtype)
			return dtypes[i].name;
	return NULL;
}

static int st_fail(struct lmf_safetensors *st, int code, const char *fmt, ...)
	LMF_PRINTF(3, 4);

static int
st_fail(struct lmf_safetensors *st, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	lmf_vseterr(st->msg, sizeof st->msg, fmt, ap);
	va_end(ap);
	return code;
}

/* a JSON integer in [0, 2^62], or -1 */
static int64_t
json_uint(const json_t *v)
{
	json_int_t i;

	if (!json_is_integer(v))
		return -1;
	i = json_integer_value(v);
	if (i < 0 || i > ((json_int_t)1 << 62))
		return -1;
	return (int64_t)i;
}

static int
parse_tensor(struct lmf_safetensors *st, const char *name, json_t *v,
    struct lmf_st_tensor *t)
{
	json_t *dt, *shape, *offs;
	uint64_t numel = 1, begin, end;
	size_t i, namelen = strlen(name);
	int64_t d;

	if (namelen == 0 || namelen > LMF_MAX_NAME)
		return st_fail(st, LMF_E_FORMAT, "tensor name of %zu bytes",
		    namelen);
	if (!json_is_object(v))
		return st_fail(st, LMF_E_FORMAT,
		    "tensor '%s': entry is not an object", name);
	dt = json_object_get(v, "dtype");
	shape = json_object_get(v, "shape");
	offs = json_object_get(v, "data_offsets");
	if (!json_is_string(dt))
		return st_fail(st, LMF_E_FORMAT, "tensor '%s': no dtype", name);
	t->dtype = lmf_safetensors_dtype(json_string_value(dt));
	if (t->dtype < 0)
		return st_fail(st, LMF_E_DTYPE, "tensor '%s': unknown dtype '%s'",
		    name, json_string_value(dt));
	if (!json_is_array(shape) || json_array_size(shape) > LMF_MAX_DIMS)
		return st_fail(st, LMF_E_FORMAT,
		    "tensor '%s': shape is not an array of at most %d sizes",
		    name, LMF_MAX_DIMS);
	t->ndim = (int)json_array_size(shape);
	for (i = 0; i < json_array_size(shape); i++) {
		d = json_uint(json_array_get(shape, i));
		if (d < 0)
			return st_fail(st, LMF_E_FORMAT,
			    "tensor '%s': bad size in shape", name);
		if (d && numel > LMF_MAX_TENSOR_BYTES / (uint64_t)d)
			return st_fail(st, LMF_E_LIMIT,
			    "tensor '%s': shape past 2^40 elements", name);
		numel *= (uint64_t)d;
		t->shape[i] = d;
	}
	if (!json_is_array(offs) || json_array_size(offs) != 2 ||
	    json_uint(json_array_get(offs, 0)) < 0 ||
	    json_uint(json_array_get(offs, 1)) < 0)
		return st_fail(st, LMF_E_FORMAT,
		    "tensor '%s': data_offsets is not a pair of offsets", name);
	begin = (uint64_t)json_uint(json_array_get(offs, 0));
	end = (uint64_t)json_uint(json_array_get(offs, 1));
	if (begin > end || end > st->data_size)
		return st_fail(st, LMF_E_FORMAT, "tensor '%s': data_offsets "
		    "[%llu, %llu] outside the data block of %llu bytes", name,
		    (unsigned long long)begin, (unsigned long long)end,
		    (unsigned long long)st->data_size);
	if (numel * lmf_dtype_size(t->dtype) != end - begin)
		return st_fail(st, LMF_E_SHAPE, "tensor '%s': %llu bytes of data "
		    "for %llu elements of %s", name,
		    (unsigned long long)(end - begin), (unsigned long long)numel,
		    json_string_value(dt));
	t->begin = begin;
	t->nbytes = end - begin;
	t->name = xstrdup(name);
	return 0;
}

static const struct lmf_st_tensor *sort_base;

static int
cmp_begin(const void *a, const void *b)
{
	const struct lmf_st_tensor *x = &sort_base[*(const int *)a];
	const struct lmf_st_tensor *y = &sort_base[*(const int *)b];

	if (x->begin != y->begin)
		return x->begin < y->begin ? -1 : 1;
	return *(const int *)a - *(const int *)b;
}

/* no two tensors share a byte of the data block */
static int
check_overlaps(struct lmf_safetensors *st)
{
	int *ix, i, n = 0, prev = -1, rc = 0;

	ix = xmallocarray((size_t)st->ntensors + 1, sizeof *ix);
	for (i = 0; i < st->ntensors; i++)
		if (st->t[i].nbytes)
			ix[n++] = i;
	sort_base = st->t;
	qsort(ix, (size_t)n, sizeof *ix, cmp_begin);
	for (i = 0; i < n; i++) {
		const struct lmf_st_tensor *t = &st->t[ix[i]];
		const struct lmf_st_tensor *pt = prev >= 0 ? &st->t[prev] : NULL;

		if (pt && t->begin < pt->begin + pt->nbytes) {
			rc = st_fail(st, LMF_E_FORMAT, "tensors '%s' and '%s' "
			    "overlap in the data block", pt->name, t->name);
			break;
		}
		prev = ix[i];
	}
	free(ix);
	return rc;
}

/* parse the header JSON hdr of n bytes; st->data_size is set */
static int
parse_header(struct lmf_safetensors *st, const char *hdr, size_t n)
{
	json_error_t jerr;
	json_t *root, *v;
	const char *key;
	size_t cap;
	int rc = 0;

	root = json_loadb(hdr, n, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return st_fail(st, LMF_E_FORMAT, "header is not JSON: %s at "
		    "byte %d", jerr.text, jerr.position);
	if (!json_is_object(root)) {
		json_decref(root);
		return st_fail(st, LMF_E_FORMAT, "header is not a JSON object");
	}
	cap = json_object_size(root);
	st->t = xcalloc(cap ? cap : 1, sizeof *st->t);
	json_object_foreach(root, key, v) {
		if (!strcmp(key, "__metadata__")) {
			if (!json_is_object(v)) {
				rc = st_fail(st, LMF_E_FORMAT,
				    "__metadata__ is not an object");
				break;
			}
			st->metadata = json_incref(v);
			continue;
		}
		rc = parse_tensor(st, key, v, &st->t[st->ntensors]);
		if (rc < 0)
			break;
		st->ntensors++;
	}
	json_decref(root);
	if (rc == 0)
		rc = check_overlaps(st);
	return rc;
}

static void
set_err(int code, int *err, char *errbuf, size_t errlen, const char *msg)
{
	if (err)
		*err = code;
	if (errbuf && errlen)
		snprintf(errbuf, errlen, "%s", msg);
}

struct lmf_safetensors *
lmf_safetensors_open_mem(const void *buf, size_t len, int *err, char *errbuf,
    size_t errlen)
{
	struct lmf_safetensors *st = xcalloc(1, sizeof *st);
	const unsigned char *p = buf;
	uint64_t n;
	int rc;

	st->fd = -1;
	st->mem = buf;
	st->path = xstrdup("<memory>");
	if (len < 8) {
		rc = st_fail(st, LMF_E_TRUNCATED, "file of %zu bytes has no "
		    "header length", len);
		goto fail;
	}
	n = lmf_get_u64(p);
	if (n > LMF_ST_MAX_HEADER || n > len - 8) {
		rc = st_fail(st, LMF_E_FORMAT, "header length %llu past the file "
		    "of %zu bytes or the limit of %u", (unsigned long long)n,
		    len, LMF_ST_MAX_HEADER);
		goto fail;
	}
	st->data_start = 8 + n;
	st->data_size = len - 8 - n;
	rc = parse_header(st, (const char *)p + 8, (size_t)n);
	if (rc < 0)
		goto fail;
	return st;
fail:
	set_err(rc, err, errbuf, errlen, st->msg);
	lmf_safetensors_close(st);
	return NULL;
}

/* read exactly n bytes at off; LMF_E_TRUNCATED on a short file */
static int
pread_all(struct lmf_safetensors *st, void *buf, size_t n, uint64_t off)
{
	unsigned char *p = buf;
	ssize_t got;

	while (n > 0) {
		got = pread(st->fd, p, n, (off_t)off);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return st_fail(st, LMF_E_IO, "read error: %s",
			    strerror(errno));
		if (got == 0)
			return st_fail(st, LMF_E_TRUNCATED, "file ends early");
		p += got;
		n -= (size_t)got;
		off += (uint64_t)got;
	}
	return 0;
}

struct lmf_safetensors *
lmf_safetensors_open(const char *path, int *err, char *errbuf, size_t errlen)
{
	struct lmf_safetensors *st = xcalloc(1, sizeof *st);
	unsigned char b[8];
	struct stat sb;
	char *hdr = NULL;
	uint64_t n, size;
	int rc;

	st->path = xstrdup(path);
	st->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (st->fd < 0 || fstat(st->fd, &sb) < 0) {
		rc = st_fail(st, LMF_E_IO, "cannot open: %s", strerror(errno));
		goto fail;
	}
	if (!S_ISREG(sb.st_mode)) {
		rc = st_fail(st, LMF_E_IO, "not a regular file");
		goto fail;
	}
	size = (uint64_t)sb.st_size;
	if (size < 8) {
		rc = st_fail(st, LMF_E_TRUNCATED, "file of %llu bytes has no "
		    "header length", (unsigned long long)size);
		goto fail;
	}
	if ((rc = pread_all(st, b, 8, 0)) < 0)
		goto fail;
	n = lmf_get_u64(b);
	if (n > LMF_ST_MAX_HEADER || n > size - 8) {
		rc = st_fail(st, LMF_E_FORMAT, "header length %llu past the file "
		    "of %llu bytes or the limit of %u", (unsigned long long)n,
		    (unsigned long long)size, LMF_ST_MAX_HEADER);
		goto fail;
	}
	hdr = xmalloc((size_t)n + 1);
	if ((rc = pread_all(st, hdr, (size_t)n, 8)) < 0)
		goto fail;
	st->data_start = 8 + n;
	st->data_size = size - 8 - n;
	rc = parse_header(st, hdr, (size_t)n);
	free(hdr);
	hdr = NULL;
	if (rc < 0)
		goto fail;
	return st;
fail:
	free(hdr);
	set_err(rc, err, errbuf, errlen, st->msg);
	lmf_safetensors_close(st);
	return NULL;
}

void
lmf_safetensors_close(struct lmf_safetensors *st)
{
	int i;

	if (!st)
		return;
	if (st->fd >= 0)
		close(st->fd);
	for (i = 0; i < st->ntensors; i++)
		free(st->t[i].name);
	free(st->t);
	json_decref(st->metadata);
	free(st->path);
	free(st);
}

const struct lmf_st_tensor *
lmf_safetensors_find(const struct lmf_safetensors *st, const char *name)
{
	int i;

	for (i = 0; i < st->ntensors; i++)
		if (!strcmp(st->t[i].name, name))
			return &st->t[i];
	return NULL;
}

int
lmf_safetensors_read(struct lmf_safetensors *st, const struct lmf_st_tensor *t,
    uint64_t off, void *buf, size_t n)
{
	int rc;

	if (off > t->nbytes || n > t->nbytes - off)
		return st_fail(st, LMF_E_PARAM, "tensor '%s': read past its data",
		    t->name);
	if (st->mem) {
		memcpy(buf, st->mem + st->data_start + t->begin + off, n);
		return 0;
	}
	rc = pread_all(st, buf, n, st->data_start + t->begin + off);
	if (rc < 0) {
		char why[sizeof st->msg];

		memcpy(why, st->msg, sizeof why);
		return st_fail(st, rc, "tensor '%s': %s", t->name, why);
	}
	return 0;
}

const char *
lmf_safetensors_errmsg(const struct lmf_safetensors *st)
{
	return st->msg;
}

/* a model directory's checkpoint being opened; what went wrong in msg */
struct stdir {
	const char *dir;
	struct lmf_safetensors **sh;
	int n;
	int code;
	char msg[700];
};

static int stdir_fail(struct stdir *d, int code, const char *fmt, ...)
    LMF_PRINTF(3, 4);

static int
stdir_fail(struct stdir *d, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->msg, sizeof d->msg, fmt, ap);
	va_end(ap);
	d->code = code;
	return code;
}

static int
is_file(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0;
}

/* open dir/file and append it to d->sh */
static int
stdir_add(struct stdir *d, const char *file)
{
	char *p = xasprintf("%s/%s", d->dir, file), m[600];
	int err = 0;
	struct lmf_safetensors *st = lmf_safetensors_open(p, &err, m, sizeof m);

	if (st)
		d->sh[d->n++] = st;
	else
		stdir_fail(d, err, "'%s': %s", p, m);
	free(p);
	return st ? 0 : err;
}

/* the index of the shard named file in d->sh, opening it when new */
static int
stdir_shard(struct stdir *d, const char *ix, const char *name,
    const char *file)
{
	int i, rc;

	if (!file || !*file || strchr(file, '/') || !strcmp(file, "..") ||
	    !strcmp(file, "."))
		return stdir_fail(d, LMF_E_FORMAT, "'%s': tensor '%s': bad "
		    "shard file name", ix, name);
	for (i = 0; i < d->n; i++)
		if (!strcmp(strrchr(d->sh[i]->path, '/') + 1, file))
			return i;
	if ((rc = stdir_add(d, file)) < 0)
		return rc;
	return d->n - 1;
}

/* check the index ix and return its weight_map, or NULL */
static json_t *
stdir_map(struct stdir *d, const char *ix, json_t *j)
{
	json_t *map = json_object_get(j, "weight_map");

	if (!json_is_object(j))
		stdir_fail(d, LMF_E_FORMAT, "'%s': not a JSON object", ix);
	else if (!json_is_object(map) || !json_object_size(map))
		stdir_fail(d, LMF_E_FORMAT, "'%s': no weight_map object", ix);
	else
		return map;
	return NULL;
}

/* open every shard the index ix names, checking each holds its tensors */
static int
stdir_index(struct stdir *d, const char *ix)
{
	json_error_t jerr;
	json_t *j = json_load_file(ix, JSON_REJECT_DUPLICATES, &jerr), *map, *v;
	const char *name;
	int i, rc = 0;

	if (!j)
		return stdir_fail(d, LMF_E_FORMAT, "'%s': not JSON: %s at line "
		    "%d", ix, jerr.text, jerr.line);
	if (!(map = stdir_map(d, ix, j))) {
		json_decref(j);
		return d->code;
	}
	d->sh = xmallocarray(json_object_size(map), sizeof *d->sh);
	json_object_foreach(map, name, v) {
		const char *file = json_string_value(v);

		if ((rc = i = stdir_shard(d, ix, name, file)) < 0)
			break;
		rc = 0;
		if (!lmf_safetensors_find(d->sh[i], name)) {
			rc = stdir_fail(d, LMF_E_FORMAT, "'%s': tensor '%s' is "
			    "not in '%s'", ix, name, file);
			break;
		}
	}
	json_decref(j);
	return rc;
}

struct lmf_safetensors_dir *
lmf_safetensors_dir_open(const char *dir, int *err, char *errbuf,
    size_t errlen)
{
	struct stdir d = { .dir = dir };
	struct lmf_safetensors_dir *sd;
	char *one = xasprintf("%s/model.safetensors", dir);
	char *ix = xasprintf("%s/model.safetensors.index.json", dir);
	int rc, i;

	if (is_file(one) || !is_file(ix)) {
		d.sh = xmalloc(sizeof *d.sh);
		rc = is_file(one) ? stdir_add(&d, "model.safetensors") :
		    stdir_fail(&d, LMF_E_IO, "'%s': no model.safetensors or "
		    "model.safetensors.index.json", dir);
	} else {
		rc = stdir_index(&d, ix);
	}
	free(one);
	free(ix);
	if (rc < 0) {
		set_err(rc, err, errbuf, errlen, d.msg);
		for (i = 0; i < d.n; i++)
			lmf_safetensors_close(d.sh[i]);
		free(d.sh);
		return NULL;
	}
	sd = xmalloc(sizeof *sd);
	*sd = (struct lmf_safetensors_dir){ .dir = xstrdup(dir), .sh = d.sh,
	    .nshards = d.n };
	return sd;
}

void
lmf_safetensors_dir_close(struct lmf_safetensors_dir *sd)
{
	int i;

	if (!sd)
		return;
	for (i = 0; i < sd->nshards; i++)
		lmf_safetensors_close(sd->sh[i]);
	free(sd->sh);
	free(sd->dir);
	free(sd);
}

static int
has_suffix(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);

	return a >= b && !strcmp(s + a - b, suf);
}

static const char *
st_shape_str(int ndim, const int64_t *shape, char *buf, size_t len)
{
	struct lmf_tensor x = { .ndim = ndim };

	memcpy(x.shape, shape, sizeof *shape * (size_t)ndim);
	return lmf_shape_str(&x, buf, len);
}

/* check tensor t of st against parameter q and record it in *f */
static int
find_one(struct stdir *d, struct lmf_safetensors *st,
    const struct lmf_st_tensor *t, const struct lmf_param *q,
    struct lmf_st_found *f)
{
	char b1[128], b2[128];

	if (f->t)
		return stdir_fail(d, LMF_E_FORMAT, "'%s': tensor '%s' is also "
		    "in '%s'", st->path, t->name, f->st->path);
	if (t->dtype != LMF_F32 && t->dtype != LMF_F16 && t->dtype != LMF_BF16)
		return stdir_fail(d, LMF_E_DTYPE, "'%s': tensor '%s': dtype %s "
		    "is not F32, F16 or BF16", st->path, t->name,
		    lmf_safetensors_dtype_name(t->dtype));
	if (t->ndim != q->ndim || memcmp(t->shape, q->shape, sizeof *q->shape *
	    (size_t)q->ndim))
		return stdir_fail(d, LMF_E_SHAPE, "'%s': tensor '%s' has shape "
		    "%s, the config says %s", st->path, t->name,
		    st_shape_str(t->ndim, t->shape, b1, sizeof b1),
		    st_shape_str(q->ndim, q->shape, b2, sizeof b2));
	f->st = st;
	f->t = t;
	return 0;
}

/* find every tensor of st in p, or fail */
static int
find_in(struct stdir *d, struct lmf_safetensors *st,
    const struct lmf_param *p, int np, const char *what,
    struct lmf_st_found *f)
{
	const struct lmf_param *q;
	int j, rc;

	for (j = 0; j < st->ntensors; j++) {
		const struct lmf_st_tensor *t = &st->t[j];

		if (!(q = lmf_model_param_find(p, np, t->name)) &&
		    (!strcmp(t->name, "lm_head.weight") ||
		    has_suffix(t->name, ".rotary_emb.inv_freq")))
			continue;
		if (!q)
			return stdir_fail(d, LMF_E_FORMAT, "'%s': unexpected "
			    "tensor '%s' for %s", st->path, t->name, what);
		if ((rc = find_one(d, st, t, q, &f[q - p])) < 0)
			return rc;
	}
	return 0;
}

int
lmf_safetensors_dir_find(const struct lmf_safetensors_dir *sd,
    const struct lmf_param *p, int np, const char *what,
    struct lmf_st_found *f, char *errbuf, size_t errlen)
{
	struct stdir d = { .dir = sd->dir };
	int i, rc = 0;

	memset(f, 0, sizeof *f * (size_t)np);
	for (i = 0; i < sd->nshards && !rc; i++)
		rc = find_in(&d, sd->sh[i], p, np, what, f);
	for (i = 0; i < np && !rc; i++)
		if (!f[i].t)
			rc = stdir_fail(&d, LMF_E_FORMAT, "'%s': tensor "
			    "'%s' is missing from the checkpoint", sd->dir,
			    p[i].name);
	if (rc < 0)
		set_err(rc, NULL, errbuf, errlen, d.msg);
	return rc;
}
