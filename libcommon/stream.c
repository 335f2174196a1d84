/* stream.c: the lmf tensor stream (lmf-stream(5)): record framing, zstd,
 * bounds on every length read from input. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "lmf/stream.h"
#include "lmf/util.h"
#include "lmf/banned.h"

#define TAG_HEADER "LMFS"
#define TAG_ITEM "ITEM"
#define TAG_TENSOR "TNSR"
#define TAG_END "ENDS"
#define ZSTD_MAGIC_LE "\x28\xb5\x2f\xfd"
#define RAW_BUF (1u << 20)

const struct lmf_wropts lmf_wropts_default = { LMF_DEFAULT_LEVEL, 0, 0 };

static const struct {
	const char *name;
	size_t size;
} dtypes[] = {
	[LMF_F32] = { "f32", 4 },  [LMF_F16] = { "f16", 2 },
	[LMF_BF16] = { "bf16", 2 }, [LMF_F64] = { "f64", 8 },
	[LMF_I8] = { "i8", 1 },    [LMF_I16] = { "i16", 2 },
	[LMF_I32] = { "i32", 4 },  [LMF_I64] = { "i64", 8 },
	[LMF_U8] = { "u8", 1 },    [LMF_BOOL] = { "bool", 1 },
};
#define NDTYPES ((int)(sizeof dtypes / sizeof dtypes[0]))

size_t
lmf_dtype_size(int dtype)
{
	return dtype > 0 && dtype < NDTYPES ? dtypes[dtype].size : 0;
}

const char *
lmf_dtype_name(int dtype)
{
	return dtype > 0 && dtype < NDTYPES ? dtypes[dtype].name : NULL;
}

int
lmf_dtype_parse(const char *name)
{
	int i;

	for (i = 1; i < NDTYPES; i++)
		if (!strcmp(name, dtypes[i].name))
			return i;
	return LMF_E_DTYPE;
}

const char *
lmf_strerror(int err)
{
	switch (err) {
	case LMF_OK: return "no error";
	case LMF_E_MAGIC: return "not an lmf stream";
	case LMF_E_VERSION: return "unsupported stream version";
	case LMF_E_FORMAT: return "malformed record";
	case LMF_E_LIMIT: return "length past a limit";
	case LMF_E_TRUNCATED: return "truncated stream";
	case LMF_E_CORRUPT: return "corrupt stream";
	case LMF_E_IO: return "I/O error";
	case LMF_E_PARAM: return "invalid request";
	case LMF_E_DTYPE: return "unknown or wrong dtype";
	case LMF_E_SHAPE: return "wrong shape";
	}
	return "unknown error";
}

uint64_t
lmf_tensor_numel(const struct lmf_tensor *t)
{
	uint64_t n = 1;
	int i;

	for (i = 0; i < t->ndim; i++)
		n *= (uint64_t)t->shape[i];
	return n;
}

void
lmf_tensor_free(struct lmf_tensor *t)
{
	free(t->name);
	free(t->data);
	t->name = NULL;
	t->data = NULL;
}

size_t
lmf_dtype_convert(int dst, void *out, int src, const void *in, size_t n)
{
	const unsigned char *ib = in;
	unsigned char *ob = out;
	size_t i;
	uint32_t u;
	float f;

	for (i = 0; i < n; i++) {
		if (src == LMF_F32) {
			u = lmf_get_u32(ib + 4 * i);
		} else if (src == LMF_BF16) {
			u = (uint32_t)lmf_get_u16(ib + 2 * i) << 16;
		} else {
			f = lmf_f16_to_f32(lmf_get_u16(ib + 2 * i));
			memcpy(&u, &f, 4);
		}
		if (dst == LMF_F32) {
			lmf_put_u32(ob + 4 * i, u);
		} else {
			memcpy(&f, &u, 4);
			lmf_put_u16(ob + 2 * i, src == LMF_BF16 ?
			    (uint16_t)(u >> 16) : lmf_f32_to_bf16(f));
		}
	}
	return n * lmf_dtype_size(dst);
}

int
lmf_tensor_to_f32(struct lmf_tensor *t)
{
	uint64_t i, n = lmf_tensor_numel(t);
	float *out;

	if (t->dtype == LMF_F32)
		return 0;
	if (t->dtype != LMF_F16 && t->dtype != LMF_BF16 && t->dtype != LMF_F64)
		return LMF_E_DTYPE;
	out = xmallocarray(n ? n : 1, 4);
	for (i = 0; i < n; i++) {
		if (t->dtype == LMF_F64) {
			double d;

			memcpy(&d, (char *)t->data + 8 * i, 8);
			out[i] = (float)d;
		} else {
			uint16_t h;

			memcpy(&h, (char *)t->data + 2 * i, 2);
			out[i] = t->dtype == LMF_BF16 ? lmf_bf16_to_f32(h) :
			    lmf_f16_to_f32(h);
		}
	}
	free(t->data);
	t->data = out;
	t->dtype = LMF_F32;
	t->nbytes = n * 4;
	return 0;
}

const char *
lmf_shape_str(const struct lmf_tensor *t, char *buf, size_t len)
{
	size_t o = 0;
	int i;

	o += (size_t)snprintf(buf, len, "[");
	for (i = 0; i < t->ndim && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%lld", i ? ", " : "",
		    (long long)t->shape[i]);
	if (o < len)
		snprintf(buf + o, len - o, "]");
	return buf;
}

void
lmf_item_free(struct lmf_item *it)
{
	int i;

	for (i = 0; i < it->ntensors; i++)
		lmf_tensor_free(&it->t[i]);
	free(it->t);
	it->t = NULL;
	it->ntensors = 0;
}

struct lmf_tensor *
lmf_item_find(struct lmf_item *it, const char *name)
{
	int i;

	for (i = 0; i < it->ntensors; i++)
		if (!strcmp(it->t[i].name, name))
			return &it->t[i];
	return NULL;
}

struct lmf_tensor *
lmf_item_add_tensor(struct lmf_item *it, const char *name, int dtype,
    int ndim, const int64_t *shape)
{
	struct lmf_tensor *t;
	int i;

	it->t = xrealloc(it->t, ((size_t)it->ntensors + 1) * sizeof *it->t);
	t = &it->t[it->ntensors++];
	memset(t, 0, sizeof *t);
	t->name = xstrdup(name);
	t->dtype = dtype;
	t->ndim = ndim;
	for (i = 0; i < ndim; i++)
		t->shape[i] = shape[i];
	t->nbytes = lmf_tensor_numel(t) * lmf_dtype_size(dtype);
	t->data = xmalloc(t->nbytes);
	return t;
}

/* ---------------------------------------------------------------- reader */

struct lmf_rd {
	char *name;
	int fd;              /* -1 for memory */
	int own_fd;
	const unsigned char *mem; /* memory source */
	size_t memlen, mempos;
	int zstd;
	ZSTD_DCtx *dctx;
	unsigned char *ibuf; /* compressed input (or raw input) */
	size_t ibufcap;
	ZSTD_inBuffer in;
	int src_eof;
	uint64_t zin;        /* compressed bytes consumed */
	unsigned char *fbuf; /* zstd: the current frame, whole and verified */
	size_t fcap, flen, fpos;
	unsigned char *obuf; /* raw: bytes read ahead, not yet consumed */
	size_t obufcap, opos, olen;
	uint64_t offset;     /* decompressed bytes consumed */
	json_t *meta;
	uint64_t items;      /* items completed or begun */
	uint32_t item_left;  /* tensors still due in the current item */
	uint32_t item_total; /* tensors of the current item */
	int in_item;
	uint64_t payload_left;
	int done;            /* clean end reached */
	int failed;
	char *tname;
	char msg[512];
};

static char open_msg[512];

const char *
lmf_rd_open_errmsg(void)
{
	return open_msg;
}

static int
rd_fail(struct lmf_rd *r, int err, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(r->msg, sizeof r->msg, "%s: ", lmf_strerror(err));
	va_start(ap, fmt);
	if (n > 0 && (size_t)n < sizeof r->msg)
		lmf_vseterr(r->msg + n, sizeof r->msg - (size_t)n, fmt, ap);
	va_end(ap);
	r->failed = err;
	return err;
}

const char *
lmf_rd_errmsg(struct lmf_rd *r)
{
	return r->msg;
}

/* raw bytes from the source: >0 count, 0 at its end, <0 error */
static ssize_t
src_read(struct lmf_rd *r, void *buf, size_t n)
{
	ssize_t got;

	if (r->fd < 0) {
		size_t k = r->memlen - r->mempos;

		if (k > n)
			k = n;
		memcpy(buf, r->mem + r->mempos, k);
		r->mempos += k;
		return (ssize_t)k;
	}
	do
		got = read(r->fd, buf, n);
	while (got < 0 && errno == EINTR);
	if (got < 0)
		return rd_fail(r, LMF_E_IO, "reading '%s': %s", r->name,
		    strerror(errno));
	return got;
}

/* decompress the next whole zstd frame into fbuf. Returns 1 when fbuf
 * holds bytes, 0 at the end of the input, <0 on error. A frame's bytes
 * are released only once ZSTD_decompressStream returned 0 for it, which
 * it does after the frame's content checksum matched: no reader ever
 * hands out a byte that was not verified. A frame of more than
 * LMF_MAX_FRAME bytes cannot be held, so it is refused. */
static int
rd_frame(struct lmf_rd *r)
{
	for (;;) {
		uint64_t start = r->zin;
		size_t ret = 1;

		r->flen = r->fpos = 0;
		while (ret) {
			ZSTD_outBuffer out;
			size_t pos0;

			if (r->in.pos == r->in.size && !r->src_eof) {
				ssize_t got = 0;

				if (r->fd >= 0 && (got = src_read(r, r->ibuf,
				    r->ibufcap)) < 0)
					return (int)got;
				if (got == 0)
					r->src_eof = 1;
				else {
					r->in.src = r->ibuf;
					r->in.size = (size_t)got;
					r->in.pos = 0;
				}
			}
			if (r->in.pos == r->in.size && r->src_eof) {
				if (r->zin == start)
					return 0;
				return rd_fail(r, LMF_E_TRUNCATED, "'%s' ends inside "
				    "the zstd frame at byte %llu", r->name,
				    (unsigned long long)start);
			}
			if (r->flen == r->fcap && r->fcap < LMF_MAX_FRAME) {
				r->fcap = r->fcap ? r->fcap * 2 : 1u << 20;
				if (r->fcap > LMF_MAX_FRAME)
					r->fcap = LMF_MAX_FRAME;
				r->fbuf = xrealloc(r->fbuf, r->fcap);
			}
			out.dst = r->fbuf;
			out.size = r->fcap;
			out.pos = r->flen;
			pos0 = r->in.pos;
			ret = ZSTD_decompressStream(r->dctx, &out, &r->in);
			r->zin += r->in.pos - pos0;
			if (ZSTD_isError(ret))
				return rd_fail(r, LMF_E_CORRUPT, "'%s': zstd frame at "
				    "byte %llu: %s", r->name,
				    (unsigned long long)start, ZSTD_getErrorName(ret));
			if (ret && out.pos == r->flen && r->in.pos == pos0 &&
			    r->flen < r->fcap)
				return rd_fail(r, LMF_E_CORRUPT, "'%s': zstd frame at "
				    "byte %llu: the decoder is stuck", r->name,
				    (unsigned long long)start);
			if (ret && out.pos == r->flen && r->in.pos == pos0)
				return rd_fail(r, LMF_E_LIMIT, "'%s': zstd frame at "
				    "byte %llu holds more than %u MiB, too much to "
				    "verify before use; decompress it (zstd -d) or "
				    "write it again", r->name,
				    (unsigned long long)start, LMF_MAX_FRAME >> 20);
			r->flen = out.pos;
		}
		if (r->flen)
			return 1;
		/* an empty or skippable frame: on to the next */
	}
}

/* bytes into dst, up to n, from the verified frame (zstd) or the source
 * (raw); returns the count, 0 at the end of the input, <0 on error */
static ssize_t
rd_some(struct lmf_rd *r, unsigned char *dst, size_t n)
{
	size_t k;

	if (r->zstd) {
		if (r->fpos == r->flen) {
			int rc = rd_frame(r);

			if (rc <= 0)
				return rc;
		}
		k = r->flen - r->fpos;
		if (k > n)
			k = n;
		memcpy(dst, r->fbuf + r->fpos, k);
		r->fpos += k;
		return (ssize_t)k;
	}
	if (r->opos < r->olen) {
		k = r->olen - r->opos;
		if (k > n)
			k = n;
		memcpy(dst, r->obuf + r->opos, k);
		r->opos += k;
		return (ssize_t)k;
	}
	if (r->in.pos < r->in.size) {
		k = r->in.size - r->in.pos;
		if (k > n)
			k = n;
		memcpy(dst, (const char *)r->in.src + r->in.pos, k);
		r->in.pos += k;
		return (ssize_t)k;
	}
	return src_read(r, dst, n);
}

/* exactly n bytes; *eof_ok lets a clean end before the first byte be
 * reported as 0 */
static int
rd_exact(struct lmf_rd *r, void *dst, size_t n, int eof_ok)
{
	size_t got = 0;

	while (got < n) {
		size_t want = n - got;
		ssize_t k;

		/* small raw reads go through obuf so that read(2) runs in big
		 * steps */
		if (!r->zstd && want < 65536 && r->opos == r->olen) {
			k = rd_some(r, r->obuf, r->obufcap);
			if (k > 0) {
				r->olen = (size_t)k;
				r->opos = 0;
				continue;
			}
		} else {
			k = rd_some(r, (unsigned char *)dst + got, want);
		}
		if (k < 0)
			return (int)k;
		if (k == 0) {
			if (got == 0 && eof_ok)
				return 0;
			return rd_fail(r, LMF_E_TRUNCATED,
			    "'%s' ends at byte %llu, inside a record", r->name,
			    (unsigned long long)(r->offset + got));
		}
		got += (size_t)k;
	}
	r->offset += n;
	return 1;
}

static int
rd_header(struct lmf_rd *r, const unsigned char *tag)
{
	unsigned char b[12];
	uint64_t len;
	uint32_t version;
	char *js;
	json_t *meta, *kind;
	json_error_t jerr;
	int rc;

	if (memcmp(tag, TAG_HEADER, 4))
		return rd_fail(r, LMF_E_MAGIC, "'%s' does not start with an lmf "
		    "header", r->name);
	if ((rc = rd_exact(r, b, 12, 0)) < 0)
		return rc;
	len = lmf_get_u64(b);
	version = lmf_get_u32(b + 8);
	if (version != LMF_STREAM_VERSION)
		return rd_fail(r, LMF_E_VERSION, "'%s' is version %u, this build "
		    "reads version %d", r->name, version, LMF_STREAM_VERSION);
	if (len < 4 || len - 4 > LMF_MAX_META)
		return rd_fail(r, LMF_E_LIMIT, "'%s': header metadata of %llu "
		    "bytes (limit %u)", r->name, (unsigned long long)len,
		    LMF_MAX_META);
	js = xmalloc(len - 4 + 1);
	if ((rc = rd_exact(r, js, len - 4, 0)) < 0) {
		free(js);
		return rc;
	}
	meta = json_loadb(js, len - 4, JSON_REJECT_DUPLICATES, &jerr);
	free(js);
	if (!meta || !json_is_object(meta)) {
		json_decref(meta);
		return rd_fail(r, LMF_E_FORMAT, "'%s': header metadata is not a "
		    "JSON object (%s)", r->name, meta ? "other type" : jerr.text);
	}
	kind = json_object_get(meta, "kind");
	if (!json_is_string(kind)) {
		json_decref(meta);
		return rd_fail(r, LMF_E_FORMAT, "'%s': header metadata has no "
		    "\"kind\" string", r->name);
	}
	if (!r->meta) {
		r->meta = meta;
	} else {
		/* a concatenated stream: same kind, items continue */
		if (strcmp(json_string_value(kind), lmf_rd_kind(r))) {
			rc = rd_fail(r, LMF_E_FORMAT, "'%s': concatenated stream of "
			    "kind '%s' after kind '%s'", r->name,
			    json_string_value(kind), lmf_rd_kind(r));
			json_decref(meta);
			return rc;
		}
		json_decref(meta);
	}
	r->done = 0;
	return 1;
}

static struct lmf_rd *
rd_new(const char *name)
{
	struct lmf_rd *r = xcalloc(1, sizeof *r);

	r->name = xstrdup(name);
	r->fd = -1;
	r->obufcap = 1u << 17;
	r->obuf = xmalloc(r->obufcap);
	return r;
}

static struct lmf_rd *
rd_start(struct lmf_rd *r, int *err)
{
	unsigned char m[4];
	size_t got = 0;
	int rc;

	/* sniff the first 4 bytes of the source to choose zstd or raw */
	if (r->fd < 0) {
		r->in.src = r->mem;
		r->in.size = r->memlen;
		r->in.pos = 0;
		r->mempos = r->memlen;
		if (r->memlen >= 4)
			memcpy(m, r->mem, 4);
		got = r->memlen < 4 ? r->memlen : 4;
	} else {
		r->ibufcap = ZSTD_DStreamInSize();
		if (r->ibufcap < RAW_BUF)
			r->ibufcap = RAW_BUF;
		r->ibuf = xmalloc(r->ibufcap);
		while (got < 4) {
			ssize_t k = src_read(r, r->ibuf + got, r->ibufcap - got);

			if (k < 0)
				goto fail;
			if (k == 0)
				break;
			got += (size_t)k;
		}
		memcpy(m, r->ibuf, got < 4 ? got : 4);
		r->in.src = r->ibuf;
		r->in.size = got;
		r->in.pos = 0;
	}
	if (got == 0) {
		rd_fail(r, LMF_E_TRUNCATED, "'%s' is empty", r->name);
		goto fail;
	}
	if (got >= 4 && !memcmp(m, ZSTD_MAGIC_LE, 4)) {
		r->zstd = 1;
		r->dctx = ZSTD_createDCtx();
		if (!r->dctx)
			die("out of memory creating a zstd context");
	} else if (got < 4 || memcmp(m, TAG_HEADER, 4)) {
		rd_fail(r, LMF_E_MAGIC, "'%s' is neither an lmf stream nor "
		    "zstd-compressed", r->name);
		goto fail;
	}
	if ((rc = rd_exact(r, m, 4, 1)) <= 0) {
		if (rc == 0)
			rd_fail(r, LMF_E_TRUNCATED, "'%s' is empty", r->name);
		goto fail;
	}
	if (rd_header(r, m) < 0)
		goto fail;
	return r;
fail:
	*err = r->failed ? r->failed : LMF_E_IO;
	snprintf(open_msg, sizeof open_msg, "%s", r->msg);
	lmf_rd_close(r);
	return NULL;
}

struct lmf_rd *
lmf_rd_open_fd(int fd, const char *name, int *err)
{
	struct lmf_rd *r = rd_new(name);

	r->fd = fd;
	return rd_start(r, err);
}

struct lmf_rd *
lmf_rd_open(const char *path, int *err)
{
	struct lmf_rd *r;
	int fd;

	if (!strcmp(path, "-"))
		return lmf_rd_open_fd(STDIN_FILENO, "<stdin>", err);
	fd = open(path, O_RDONLY);
	if (fd < 0) {
		lmf_seterr(open_msg, sizeof open_msg, "cannot open '%s': %s", path,
		    strerror(errno));
		*err = LMF_E_IO;
		return NULL;
	}
	r = lmf_rd_open_fd(fd, path, err);
	if (r)
		r->own_fd = 1;
	else
		close(fd);
	return r;
}

struct lmf_rd *
lmf_rd_open_mem(const void *buf, size_t len, int *err)
{
	struct lmf_rd *r = rd_new("<memory>");

	r->mem = buf;
	r->memlen = len;
	return rd_start(r, err);
}

void
lmf_rd_close(struct lmf_rd *r)
{
	if (!r)
		return;
	if (r->own_fd)
		close(r->fd);
	ZSTD_freeDCtx(r->dctx);
	json_decref(r->meta);
	free(r->ibuf);
	free(r->obuf);
	free(r->fbuf);
	free(r->tname);
	free(r->name);
	free(r);
}

json_t *
lmf_rd_meta(struct lmf_rd *r)
{
	return r->meta;
}

const char *
lmf_rd_kind(struct lmf_rd *r)
{
	return json_string_value(json_object_get(r->meta, "kind"));
}

const char *
lmf_rd_name(struct lmf_rd *r)
{
	return r->name;
}

int
lmf_rd_compressed(struct lmf_rd *r)
{
	return r->zstd;
}

uint64_t
lmf_rd_items(struct lmf_rd *r)
{
	return r->items;
}

int
lmf_rd_skip(struct lmf_rd *r)
{
	unsigned char buf[65536];
	int rc;

	while (r->payload_left) {
		size_t n = r->payload_left < sizeof buf ? r->payload_left : sizeof buf;

		if ((rc = rd_exact(r, buf, n, 0)) < 0)
			return rc;
		r->payload_left -= n;
	}
	return 0;
}

int
lmf_rd_payload(struct lmf_rd *r, void *buf, size_t n)
{
	int rc;

	if (r->failed)
		return r->failed;
	if (n > r->payload_left)
		return rd_fail(r, LMF_E_PARAM, "'%s': asked for %zu payload bytes, "
		    "%llu left", r->name, n, (unsigned long long)r->payload_left);
	if ((rc = rd_exact(r, buf, n, 0)) < 0)
		return rc;
	r->payload_left -= n;
	return 0;
}

static int
rd_tensor(struct lmf_rd *r, uint64_t len, struct lmf_recinfo *rec)
{
	unsigned char b[2 + LMF_MAX_NAME + 2 + 8 * LMF_MAX_DIMS];
	uint64_t hdr, numel = 1, nbytes;
	size_t dsize;
	unsigned namelen;
	int rc, i, ndim, dtype;
	char where[64];

	snprintf(where, sizeof where, "item %llu, tensor %u",
	    (unsigned long long)r->items - 1, r->item_total - r->item_left);
	if (!r->in_item || r->item_left == 0)
		return rd_fail(r, LMF_E_FORMAT, "'%s': tensor record outside an "
		    "item, after item %llu", r->name,
		    (unsigned long long)r->items);
	if (len < 4)
		return rd_fail(r, LMF_E_FORMAT, "'%s': %s: record of %llu bytes",
		    r->name, where, (unsigned long long)len);
	if ((rc = rd_exact(r, b, 2, 0)) < 0)
		return rc;
	namelen = lmf_get_u16(b);
	if (namelen == 0 || namelen > LMF_MAX_NAME || 2 + namelen + 2 > len)
		return rd_fail(r, LMF_E_LIMIT, "'%s': %s: name of %u bytes",
		    r->name, where, namelen);
	if ((rc = rd_exact(r, b + 2, namelen + 2, 0)) < 0)
		return rc;
	if (memchr(b + 2, 0, namelen))
		return rd_fail(r, LMF_E_FORMAT, "'%s': %s: NUL in name", r->name,
		    where);
	free(r->tname);
	r->tname = xstrndup((char *)b + 2, namelen);
	snprintf(where, sizeof where, "tensor '%.40s'", r->tname);
	dtype = b[2 + namelen];
	ndim = b[3 + namelen];
	dsize = lmf_dtype_size(dtype);
	if (!dsize)
		return rd_fail(r, LMF_E_DTYPE, "'%s': %s: unknown dtype code %d",
		    r->name, where, dtype);
	if (ndim > LMF_MAX_DIMS)
		return rd_fail(r, LMF_E_LIMIT, "'%s': %s: %d dims (limit %d)",
		    r->name, where, ndim, LMF_MAX_DIMS);
	hdr = 2 + namelen + 2 + 8 * (uint64_t)ndim;
	if (hdr > len)
		return rd_fail(r, LMF_E_FORMAT, "'%s': %s: record of %llu bytes "
		    "cannot hold its header", r->name, where,
		    (unsigned long long)len);
	if ((rc = rd_exact(r, b, 8 * (size_t)ndim, 0)) < 0)
		return rc;
	memset(&rec->t, 0, sizeof rec->t);
	for (i = 0; i < ndim; i++) {
		uint64_t d = lmf_get_u64(b + 8 * i);

		if (d > LMF_MAX_TENSOR_BYTES || (d && numel > LMF_MAX_TENSOR_BYTES / d))
			return rd_fail(r, LMF_E_LIMIT, "'%s': %s: shape claims more "
			    "than 2^40 elements", r->name, where);
		numel *= d;
		rec->t.shape[i] = (int64_t)d;
	}
	if (numel > LMF_MAX_TENSOR_BYTES / dsize)
		return rd_fail(r, LMF_E_LIMIT, "'%s': %s: %llu elements of %s are "
		    "more than the 2^40-byte limit", r->name, where,
		    (unsigned long long)numel, lmf_dtype_name(dtype));
	nbytes = numel * dsize;
	if (len - hdr != nbytes)
		return rd_fail(r, LMF_E_FORMAT, "'%s': %s: record holds %llu data "
		    "bytes, shape and dtype need %llu", r->name, where,
		    (unsigned long long)(len - hdr), (unsigned long long)nbytes);
	rec->type = LMF_REC_TENSOR;
	rec->t.name = r->tname;
	rec->t.dtype = dtype;
	rec->t.ndim = ndim;
	rec->t.nbytes = nbytes;
	rec->len = nbytes;
	r->payload_left = nbytes;
	r->item_left--;
	return LMF_REC_TENSOR;
}

int
lmf_rd_next(struct lmf_rd *r, struct lmf_recinfo *rec)
{
	unsigned char b[12];
	uint64_t len;
	int rc;

	if (r->failed)
		return r->failed;
	if ((rc = lmf_rd_skip(r)) < 0)
		return rc;
	for (;;) {
		if ((rc = rd_exact(r, b, 4, 1)) < 0)
			return rc;
		if (rc == 0) {
			if (r->done)
				return LMF_REC_EOF;
			return rd_fail(r, LMF_E_TRUNCATED, "'%s' ends after %llu "
			    "items without an end record", r->name,
			    (unsigned long long)r->items);
		}
		if (r->done) {
			/* only another stream's header may follow an end */
			if (memcmp(b, TAG_HEADER, 4))
				return rd_fail(r, LMF_E_FORMAT, "'%s': data after the "
				    "end record at byte %llu", r->name,
				    (unsigned long long)r->offset - 4);
			if ((rc = rd_header(r, b)) < 0)
				return rc;
			continue;
		}
		if ((rc = rd_exact(r, b + 4, 8, 0)) < 0)
			return rc;
		len = lmf_get_u64(b + 4);
		if (len > LMF_MAX_RECORD_BYTES)
			return rd_fail(r, LMF_E_LIMIT, "'%s': record '%.4s' claims "
			    "%llu bytes", r->name, (char *)b,
			    (unsigned long long)len);
		if (r->in_item && r->item_left == 0)
			r->in_item = 0;
		if (!memcmp(b, TAG_TENSOR, 4))
			return rd_tensor(r, len, rec);
		if (r->in_item && memcmp(b, TAG_TENSOR, 4) &&
		    (!memcmp(b, TAG_ITEM, 4) || !memcmp(b, TAG_END, 4)))
			return rd_fail(r, LMF_E_FORMAT, "'%s': item %llu ends after "
			    "%u of its tensors", r->name,
			    (unsigned long long)r->items - 1,
			    r->item_total - r->item_left);
		if (!memcmp(b, TAG_ITEM, 4)) {
			unsigned char n[4];

			if (len != 4)
				return rd_fail(r, LMF_E_FORMAT, "'%s': item record "
				    "of %llu bytes", r->name, (unsigned long long)len);
			if ((rc = rd_exact(r, n, 4, 0)) < 0)
				return rc;
			rec->ntensors = lmf_get_u32(n);
			if (rec->ntensors > LMF_MAX_ITEM_TENSORS)
				return rd_fail(r, LMF_E_LIMIT, "'%s': item %llu claims "
				    "%u tensors", r->name,
				    (unsigned long long)r->items, rec->ntensors);
			r->items++;
			r->in_item = rec->ntensors > 0;
			r->item_left = rec->ntensors;
			r->item_total = rec->ntensors;
			rec->type = LMF_REC_ITEM;
			return LMF_REC_ITEM;
		}
		if (!memcmp(b, TAG_END, 4)) {
			unsigned char n[8];
			uint64_t count;

			if (len != 8)
				return rd_fail(r, LMF_E_FORMAT, "'%s': end record of "
				    "%llu bytes", r->name, (unsigned long long)len);
			if ((rc = rd_exact(r, n, 8, 0)) < 0)
				return rc;
			count = lmf_get_u64(n);
			/* items continue across concatenated streams: the end
			 * record counts its own stream's items */
			if (count > r->items)
				return rd_fail(r, LMF_E_TRUNCATED, "'%s': end record "
				    "counts %llu items, %llu were read", r->name,
				    (unsigned long long)count,
				    (unsigned long long)r->items);
			r->done = 1;
			continue;
		}
		if (!memcmp(b, TAG_HEADER, 4))
			return rd_fail(r, LMF_E_FORMAT, "'%s': header record inside "
			    "a stream at byte %llu", r->name,
			    (unsigned long long)r->offset - 12);
		memcpy(rec->tag, b, 4);
		rec->tag[4] = 0;
		rec->type = LMF_REC_OTHER;
		rec->len = len;
		r->payload_left = len;
		return LMF_REC_OTHER;
	}
}

int
lmf_rd_tensor_data(struct lmf_rd *r, const struct lmf_recinfo *rec,
    struct lmf_tensor *t)
{
	uint64_t have = 0, cap;
	int rc;

	*t = rec->t;
	t->name = xstrdup(rec->t.name);
	/* allocate as the data arrives, so that a corrupt size claim ends as
	 * truncation rather than as a huge allocation */
	cap = t->nbytes < (64u << 20) ? t->nbytes : (64u << 20);
	t->data = xmalloc(cap ? cap : 1);
	while (have < t->nbytes) {
		size_t n;

		if (have == cap) {
			cap = cap * 2 < t->nbytes ? cap * 2 : t->nbytes;
			t->data = xrealloc(t->data, cap);
		}
		n = cap - have;
		if ((rc = lmf_rd_payload(r, (char *)t->data + have, n)) < 0) {
			lmf_tensor_free(t);
			return rc;
		}
		have += n;
	}
	return 0;
}

/* the current TENSOR record's values, converted to dtype (LMF_F32 or
 * LMF_BF16), into dst: f32 into f32 straight from the frame, the rest
 * through a buffer of a few KiB */
static int
rd_place(struct lmf_rd *r, const struct lmf_tensor *t, void *dst, int dtype)
{
	unsigned char buf[16384];
	size_t es = lmf_dtype_size(t->dtype), chunk = sizeof buf / es, n;
	uint64_t left = lmf_tensor_numel(t);
	unsigned char *o = dst;
	int rc;

	if (t->dtype == dtype)
		return lmf_rd_payload(r, dst, (size_t)t->nbytes);
	for (; left > 0; left -= n) {
		n = left < chunk ? (size_t)left : chunk;
		if ((rc = lmf_rd_payload(r, buf, n * es)) < 0)
			return rc;
		o += lmf_dtype_convert(dtype, o, t->dtype, buf, n);
	}
	return 0;
}

static int
place_ok(int dtype)
{
	return dtype == LMF_F32 || dtype == LMF_BF16 || dtype == LMF_F16;
}

int
lmf_rd_item(struct lmf_rd *r, struct lmf_item *it)
{
	return lmf_rd_item_place(r, it, NULL, NULL);
}

int
lmf_rd_item_place(struct lmf_rd *r, struct lmf_item *it,
    void *(*place)(void *ctx, const struct lmf_tensor *t, int *dtype),
    void *ctx)
{
	struct lmf_recinfo rec;
	struct lmf_tensor *t;
	int rc, dtype;
	uint32_t i;
	void *dst;

	memset(it, 0, sizeof *it);
	for (;;) {
		rc = lmf_rd_next(r, &rec);
		if (rc < 0 || rc == LMF_REC_EOF)
			return rc;
		if (rc == LMF_REC_ITEM)
			break;
		if (rc == LMF_REC_TENSOR)
			BUG("tensor outside an item passed the reader");
	}
	it->t = xcalloc(rec.ntensors ? rec.ntensors : 1, sizeof *it->t);
	for (i = 0; i < rec.ntensors;) {
		rc = lmf_rd_next(r, &rec);
		if (rc < 0) {
			lmf_item_free(it);
			return rc;
		}
		if (rc != LMF_REC_TENSOR)
			continue; /* unknown records inside an item are skipped */
		t = &it->t[i];
		dst = place && place_ok(rec.t.dtype) ? place(ctx, &rec.t,
		    &dtype) : NULL;
		if (dst) {
			*t = rec.t;
			t->name = xstrdup(rec.t.name);
			t->data = NULL;
			rc = rd_place(r, &rec.t, dst, dtype);
			t->dtype = dtype;
			t->nbytes = lmf_tensor_numel(t) * lmf_dtype_size(dtype);
		} else {
			rc = lmf_rd_tensor_data(r, &rec, t);
		}
		if (rc < 0) {
			it->ntensors = (int)i + (dst != NULL);
			lmf_item_free(it);
			return rc;
		}
		it->ntensors = (int)++i;
	}
	return 1;
}

/* ---------------------------------------------------------------- writer */

struct lmf_wr {
	int fd;
	struct lmf_afile af;
	int atomic;
	int zstd;
	ZSTD_CCtx *cctx;
	unsigned char *buf;  /* raw: pending bytes; zstd: compressed output */
	size_t bufcap, buflen;
	uint64_t frame_bytes, in_frame;
	uint64_t items;
	uint32_t item_left;
	uint64_t payload_left;
	uint64_t out_bytes;
	int failed;
	char msg[512];
};

static char close_msg[512];

static int
wr_fail(struct lmf_wr *w, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	lmf_vseterr(w->msg, sizeof w->msg, fmt, ap);
	va_end(ap);
	w->failed = err;
	return err;
}

const char *
lmf_wr_errmsg(struct lmf_wr *w)
{
	return w->msg;
}

uint64_t
lmf_wr_bytes(struct lmf_wr *w)
{
	return w->out_bytes;
}

static int
fd_write(struct lmf_wr *w, const void *p, size_t n)
{
	const char *c = p;

	while (n) {
		ssize_t k = write(w->fd, c, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return wr_fail(w, LMF_E_IO, "write error on '%s': %s",
			    w->af.path ? w->af.path : w->fd == 1 ? "-" :
			    "the output", strerror(errno));
		c += k;
		n -= (size_t)k;
		w->out_bytes += (size_t)k;
	}
	return 0;
}

static int
wr_flushbuf(struct lmf_wr *w)
{
	int rc = fd_write(w, w->buf, w->buflen);

	w->buflen = 0;
	return rc;
}

/* compress n bytes into the current frame; ZSTD_e_end ends it */
static int
wr_zstd(struct lmf_wr *w, const void *p, size_t n, ZSTD_EndDirective end)
{
	ZSTD_inBuffer in = { p, n, 0 };

	w->in_frame += n;
	for (;;) {
		ZSTD_outBuffer out = { w->buf, w->bufcap, w->buflen };
		size_t left = ZSTD_compressStream2(w->cctx, &out, &in, end);

		if (ZSTD_isError(left))
			return wr_fail(w, LMF_E_IO, "zstd: %s",
			    ZSTD_getErrorName(left));
		w->buflen = out.pos;
		if (w->buflen == w->bufcap || (end != ZSTD_e_continue && left))
			if (wr_flushbuf(w) < 0)
				return w->failed;
		if (end == ZSTD_e_continue ? in.pos == in.size : left == 0)
			break;
	}
	if (end == ZSTD_e_end)
		w->in_frame = 0;
	return 0;
}

/* push bytes through the compressor (or the raw buffer) */
static int
wr_bytes(struct lmf_wr *w, const void *p, size_t n, ZSTD_EndDirective end)
{
	if (w->failed)
		return w->failed;
	if (!w->zstd) {
		if (w->buflen + n > w->bufcap) {
			if (wr_flushbuf(w) < 0)
				return w->failed;
			if (n >= w->bufcap)
				return fd_write(w, p, n);
		}
		memcpy(w->buf + w->buflen, p, n);
		w->buflen += n;
		return 0;
	}
	/* no frame takes more than frame_bytes, even inside a tensor, so
	 * that a reader can hold and verify each frame before using it */
	while (end == ZSTD_e_continue && w->in_frame + n > w->frame_bytes) {
		size_t k = (size_t)(w->frame_bytes - w->in_frame);

		if (wr_zstd(w, p, k, ZSTD_e_end) < 0)
			return w->failed;
		p = (const char *)p + k;
		n -= k;
	}
	return wr_zstd(w, p, n, end);
}

static int
wr_record(struct lmf_wr *w, const char *tag, uint64_t len)
{
	unsigned char b[12];

	memcpy(b, tag, 4);
	lmf_put_u64(b + 4, len);
	return wr_bytes(w, b, 12, ZSTD_e_continue);
}

static int
wr_check_payload_done(struct lmf_wr *w)
{
	if (w->payload_left)
		return wr_fail(w, LMF_E_PARAM, "record ended %llu bytes short of "
		    "its payload", (unsigned long long)w->payload_left);
	return 0;
}

static struct lmf_wr *
wr_start(struct lmf_wr *w, json_t *meta, const struct lmf_wropts *o, int *err)
{
	json_t *m;
	char *js;
	unsigned char v[4];
	size_t n;

	if (!o)
		o = &lmf_wropts_default;
	w->frame_bytes = o->frame_bytes ? o->frame_bytes : LMF_FRAME_BYTES;
	if (w->frame_bytes > LMF_MAX_FRAME) {
		wr_fail(w, LMF_E_PARAM, "zstd frames of %llu bytes are past "
		    "the %u MiB a reader holds",
		    (unsigned long long)w->frame_bytes, LMF_MAX_FRAME >> 20);
		goto fail;
	}
	if (o->level) {
		w->zstd = 1;
		w->cctx = ZSTD_createCCtx();
		if (!w->cctx)
			die("out of memory creating a zstd context");
		ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, o->level);
		ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_checksumFlag, 1);
		if (o->threads > 0)
			ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_nbWorkers, o->threads);
		w->bufcap = ZSTD_CStreamOutSize();
	} else {
		w->bufcap = RAW_BUF;
	}
	w->buf = xmalloc(w->bufcap);
	m = json_deep_copy(meta);
	if (!m || !json_is_object(m) ||
	    !json_is_string(json_object_get(m, "kind"))) {
		json_decref(m);
		wr_fail(w, LMF_E_PARAM, "stream metadata needs a \"kind\" string");
		goto fail;
	}
	if (!json_object_get(m, "command"))
		json_object_set_new(m, "command", json_string(lmf_cmdline()));
	js = json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(m);
	if (!js)
		die("out of memory encoding stream metadata");
	n = strlen(js);
	if (n > LMF_MAX_META) {
		free(js);
		wr_fail(w, LMF_E_LIMIT, "stream metadata of %zu bytes (limit %u)",
		    n, LMF_MAX_META);
		goto fail;
	}
	lmf_put_u32(v, LMF_STREAM_VERSION);
	wr_record(w, TAG_HEADER, 4 + (uint64_t)n);
	wr_bytes(w, v, 4, ZSTD_e_continue);
	wr_bytes(w, js, n, ZSTD_e_continue);
	free(js);
	if (w->failed)
		goto fail;
	return w;
fail:
	*err = w->failed;
	warn("%s", w->msg);
	lmf_wr_abort(w);
	return NULL;
}

struct lmf_wr *
lmf_wr_open_fd(int fd, json_t *meta, const struct lmf_wropts *o, int *err)
{
	struct lmf_wr *w = xcalloc(1, sizeof *w);

	w->fd = fd;
	return wr_start(w, meta, o, err);
}

struct lmf_wr *
lmf_wr_open(const char *path, json_t *meta, const struct lmf_wropts *o,
    int *err)
{
	struct lmf_wr *w;

	if (!strcmp(path, "-"))
		return lmf_wr_open_fd(STDOUT_FILENO, meta, o, err);
	w = xcalloc(1, sizeof *w);
	if (lmf_afile_open(&w->af, path) < 0) {
		warn("cannot create '%s': %s", path, strerror(errno));
		free(w);
		*err = LMF_E_IO;
		return NULL;
	}
	w->atomic = 1;
	w->fd = fileno(w->af.f);
	return wr_start(w, meta, o, err);
}

int
lmf_wr_item(struct lmf_wr *w, uint32_t ntensors)
{
	unsigned char b[4];

	if (w->failed)
		return w->failed;
	if (wr_check_payload_done(w) < 0)
		return w->failed;
	if (w->item_left)
		return wr_fail(w, LMF_E_PARAM, "item %llu begun with %u tensors "
		    "still due in the last", (unsigned long long)w->items,
		    w->item_left);
	if (ntensors > LMF_MAX_ITEM_TENSORS)
		return wr_fail(w, LMF_E_LIMIT, "item of %u tensors", ntensors);
	lmf_put_u32(b, ntensors);
	wr_record(w, TAG_ITEM, 4);
	wr_bytes(w, b, 4, ZSTD_e_continue);
	w->items++;
	w->item_left = ntensors;
	return w->failed;
}

int
lmf_wr_tensor_begin(struct lmf_wr *w, const char *name, int dtype, int ndim,
    const int64_t *shape)
{
	unsigned char b[2 + 2 + 8 * LMF_MAX_DIMS];
	size_t namelen = strlen(name), dsize = lmf_dtype_size(dtype);
	uint64_t numel = 1, hdr;
	int i;

	if (w->failed)
		return w->failed;
	if (wr_check_payload_done(w) < 0)
		return w->failed;
	if (!w->item_left)
		return wr_fail(w, LMF_E_PARAM, "tensor '%s' outside an item", name);
	if (namelen == 0 || namelen > LMF_MAX_NAME)
		return wr_fail(w, LMF_E_LIMIT, "tensor name of %zu bytes", namelen);
	if (!dsize)
		return wr_fail(w, LMF_E_DTYPE, "tensor '%s': unknown dtype %d",
		    name, dtype);
	if (ndim < 0 || ndim > LMF_MAX_DIMS)
		return wr_fail(w, LMF_E_LIMIT, "tensor '%s': %d dims", name, ndim);
	for (i = 0; i < ndim; i++) {
		if (shape[i] < 0 || (uint64_t)shape[i] > LMF_MAX_TENSOR_BYTES ||
		    (shape[i] && numel > LMF_MAX_TENSOR_BYTES / (uint64_t)shape[i]))
			return wr_fail(w, LMF_E_SHAPE, "tensor '%s': bad shape", name);
		numel *= (uint64_t)shape[i];
	}
	if (numel > LMF_MAX_TENSOR_BYTES / dsize)
		return wr_fail(w, LMF_E_LIMIT, "tensor '%s' past 2^40 bytes", name);
	hdr = 2 + namelen + 2 + 8 * (uint64_t)ndim;
	wr_record(w, TAG_TENSOR, hdr + numel * dsize);
	lmf_put_u16(b, (uint16_t)namelen);
	wr_bytes(w, b, 2, ZSTD_e_continue);
	wr_bytes(w, name, namelen, ZSTD_e_continue);
	b[0] = (unsigned char)dtype;
	b[1] = (unsigned char)ndim;
	for (i = 0; i < ndim; i++)
		lmf_put_u64(b + 2 + 8 * i, (uint64_t)shape[i]);
	wr_bytes(w, b, 2 + 8 * (size_t)ndim, ZSTD_e_continue);
	w->item_left--;
	w->payload_left = numel * dsize;
	return w->failed;
}

int
lmf_wr_payload(struct lmf_wr *w, const void *buf, size_t n)
{
	if (w->failed)
		return w->failed;
	if (n > w->payload_left)
		return wr_fail(w, LMF_E_PARAM, "%zu payload bytes where %llu are "
		    "due", n, (unsigned long long)w->payload_left);
	w->payload_left -= n;
	return wr_bytes(w, buf, n, ZSTD_e_continue);
}

int
lmf_wr_tensor(struct lmf_wr *w, const struct lmf_tensor *t)
{
	int rc = lmf_wr_tensor_begin(w, t->name, t->dtype, t->ndim, t->shape);
	uint64_t n = lmf_tensor_numel(t) * lmf_dtype_size(t->dtype);

	if (rc < 0)
		return rc;
	return lmf_wr_payload(w, t->data, n);
}

int
lmf_wr_other(struct lmf_wr *w, const char *tag, const void *buf, uint64_t len)
{
	if (w->failed)
		return w->failed;
	if (wr_check_payload_done(w) < 0)
		return w->failed;
	if (!memcmp(tag, TAG_HEADER, 4) || !memcmp(tag, TAG_ITEM, 4) ||
	    !memcmp(tag, TAG_TENSOR, 4) || !memcmp(tag, TAG_END, 4))
		return wr_fail(w, LMF_E_PARAM, "'%.4s' is not an unknown record",
		    tag);
	wr_record(w, tag, len);
	return wr_bytes(w, buf, len, ZSTD_e_continue);
}

int
lmf_wr_write_item(struct lmf_wr *w, const struct lmf_item *it)
{
	int i, rc;

	if ((rc = lmf_wr_item(w, (uint32_t)it->ntensors)) < 0)
		return rc;
	for (i = 0; i < it->ntensors; i++)
		if ((rc = lmf_wr_tensor(w, &it->t[i])) < 0)
			return rc;
	return 0;
}

static void
wr_free(struct lmf_wr *w)
{
	ZSTD_freeCCtx(w->cctx);
	free(w->buf);
	free(w);
}

int
lmf_wr_close(struct lmf_wr *w)
{
	unsigned char b[8];
	int rc;

	if (!w->failed && w->item_left)
		wr_fail(w, LMF_E_PARAM, "stream closed with %u tensors of item "
		    "%llu still due", w->item_left, (unsigned long long)w->items);
	if (!w->failed)
		wr_check_payload_done(w);
	if (!w->failed) {
		lmf_put_u64(b, w->items);
		wr_record(w, TAG_END, 8);
		wr_bytes(w, b, 8, w->zstd ? ZSTD_e_end : ZSTD_e_continue);
		if (!w->failed && w->buflen)
			wr_flushbuf(w);
	}
	if (w->failed) {
		rc = w->failed;
		snprintf(close_msg, sizeof close_msg, "%s", w->msg);
		if (w->atomic)
			lmf_afile_abort(&w->af);
		wr_free(w);
		return rc;
	}
	if (w->atomic && lmf_afile_commit(&w->af) < 0) {
		rc = wr_fail(w, LMF_E_IO, "cannot commit '%s': %s", w->af.path,
		    strerror(errno));
		snprintf(close_msg, sizeof close_msg, "%s", w->msg);
		wr_free(w);
		return rc;
	}
	wr_free(w);
	return 0;
}

void
lmf_wr_abort(struct lmf_wr *w)
{
	if (!w)
		return;
	if (w->atomic)
		lmf_afile_abort(&w->af);
	wr_free(w);
}

/* ---------------------------------------------------------- or-die forms */

struct lmf_rd *
lmf_rd_open_or_die(const char *path)
{
	int err;
	struct lmf_rd *r;

	if (!strcmp(path, "-"))
		lmf_stdin_binary_or_die();
	r = lmf_rd_open(path, &err);
	if (!r)
		die("%s", open_msg);
	return r;
}

int
lmf_rd_item_or_die(struct lmf_rd *r, struct lmf_item *it)
{
	int rc = lmf_rd_item(r, it);

	if (rc < 0)
		die("%s", r->msg);
	return rc;
}

void
lmf_rd_check_kind_or_die(struct lmf_rd *r, const char *kind)
{
	if (strcmp(lmf_rd_kind(r), kind))
		die("'%s' is a stream of kind '%s', not '%s'", r->name,
		    lmf_rd_kind(r), kind);
}

struct lmf_wr *
lmf_wr_open_or_die(const char *path, json_t *meta, const struct lmf_wropts *o)
{
	int err;
	struct lmf_wr *w;

	if (!strcmp(path, "-"))
		lmf_stdout_binary_or_die();
	w = lmf_wr_open(path, meta, o, &err);
	if (!w)
		exit(LMF_EXIT_FAIL); /* lmf_wr_open said why */
	return w;
}

void
lmf_wr_item_or_die(struct lmf_wr *w, const struct lmf_item *it)
{
	if (lmf_wr_write_item(w, it) < 0)
		die("%s", w->msg);
}

void
lmf_wr_tensor_or_die(struct lmf_wr *w, const struct lmf_tensor *t)
{
	if (lmf_wr_tensor(w, t) < 0)
		die("%s", w->msg);
}

void
lmf_wr_close_or_die(struct lmf_wr *w)
{
	if (lmf_wr_close(w) < 0)
		die("%s", close_msg); /* w is gone; its message was kept */
}

int
lmf_parse_level(const char *s)
{
	return (int)lmf_parse_int("--level", s, -7, 19);
}
