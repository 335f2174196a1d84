#ifndef LMF_STREAM_H
#define LMF_STREAM_H
/* stream.h: the lmf tensor stream, as specified in lmf-stream(5).
 *
 * A stream is a header record (magic, version, JSON metadata), then items,
 * each a group of named tensors, then an end record with the item count.
 * The bytes are zstd-compressed or raw. Compressed streams are frames of
 * at most LMF_MAX_FRAME bytes of content, each with its checksum; a reader
 * decompresses a whole frame and verifies it before it hands out any of
 * its bytes. Reading and writing go record by record and payload chunk by
 * chunk, so a stream of any size needs only the memory of one frame plus
 * what the caller keeps.
 *
 * Functions return 0 (or a count) on success and a negative LMF_E_* on
 * failure; lmf_rd_errmsg()/lmf_wr_errmsg() then say exactly what, where. */
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#define LMF_STREAM_VERSION 1
#define LMF_MAX_DIMS 8
#define LMF_MAX_NAME 1024                    /* bytes of a tensor name */
#define LMF_MAX_META (64u << 20)             /* bytes of header JSON */
#define LMF_MAX_ITEM_TENSORS 1000000u
#define LMF_MAX_TENSOR_BYTES (1ull << 40)    /* 1 TiB: a claim past it is corrupt */
#define LMF_MAX_RECORD_BYTES (LMF_MAX_TENSOR_BYTES + 4096)
#define LMF_MAX_FRAME (64u << 20)            /* bytes of one zstd frame's
                                                content a reader holds */
#define LMF_FRAME_BYTES (4u << 20)           /* writers' default frame */

/* error codes, grouped zstd-style: 1x format, 2x corruption, 4x parameter */
enum {
	LMF_OK = 0,
	LMF_E_MAGIC = -10,      /* not an lmf stream */
	LMF_E_VERSION = -11,    /* a version this build does not read */
	LMF_E_FORMAT = -12,     /* a record that breaks the grammar */
	LMF_E_LIMIT = -13,      /* a length past a hard limit */
	LMF_E_TRUNCATED = -20,  /* input ended inside the stream */
	LMF_E_CORRUPT = -21,    /* checksum or decompression failure */
	LMF_E_IO = -30,         /* read or write error (errno kept) */
	LMF_E_PARAM = -40,      /* the caller asked for something impossible */
	LMF_E_DTYPE = -41,      /* unknown or wrong dtype */
	LMF_E_SHAPE = -42,      /* wrong shape */
};
const char *lmf_strerror(int err); /* a short text for an LMF_E_* code */

/* dtypes; the numbers are the wire codes */
enum lmf_dtype {
	LMF_F32 = 1,
	LMF_F16 = 2,
	LMF_BF16 = 3,
	LMF_F64 = 4,
	LMF_I8 = 5,
	LMF_I16 = 6,
	LMF_I32 = 7,
	LMF_I64 = 8,
	LMF_U8 = 9,
	LMF_BOOL = 10,
};
size_t lmf_dtype_size(int dtype);            /* 0 for an unknown code */
const char *lmf_dtype_name(int dtype);       /* "f32", ...; NULL if unknown */
int lmf_dtype_parse(const char *name);       /* code, or LMF_E_DTYPE */

/* a tensor: its description, and its data when held in memory */
struct lmf_tensor {
	char *name;
	int dtype;
	int ndim;
	int64_t shape[LMF_MAX_DIMS];
	void *data;      /* nbytes bytes, or NULL when not loaded */
	uint64_t nbytes; /* numel * dtype size */
};
uint64_t lmf_tensor_numel(const struct lmf_tensor *t);
void lmf_tensor_free(struct lmf_tensor *t);  /* frees name and data */
/* convert any float dtype to f32 in place of data (dtype becomes f32) */
int lmf_tensor_to_f32(struct lmf_tensor *t);
/* n little-endian values of dtype src (F32, F16 or BF16) in in, as dst
 * (F32 or BF16) in out: f16 and bf16 widen exactly, bf16 is copied, the
 * rest rounds to nearest even. Returns the bytes written */
size_t lmf_dtype_convert(int dst, void *out, int src, const void *in,
    size_t n);
/* "[2, 3]" into buf */
const char *lmf_shape_str(const struct lmf_tensor *t, char *buf, size_t len);

/* an item held in memory: its tensors in stream order */
struct lmf_item {
	int ntensors;
	struct lmf_tensor *t;
};
void lmf_item_free(struct lmf_item *it);
struct lmf_tensor *lmf_item_find(struct lmf_item *it, const char *name);
/* append a tensor of that name, dtype and shape with its data allocated
 * (uninitialised); pointers to it->t[] taken before are then stale */
struct lmf_tensor *lmf_item_add_tensor(struct lmf_item *it, const char *name,
    int dtype, int ndim, const int64_t *shape);

/* ---- reading ---- */

enum lmf_rec {
	LMF_REC_EOF = 0,     /* clean end: an end record was read, nothing follows */
	LMF_REC_ITEM = 1,    /* an item begins; rec.ntensors tensors follow */
	LMF_REC_TENSOR = 2,  /* a tensor; rec.t has name, dtype, shape, nbytes */
	LMF_REC_OTHER = 3,   /* an unknown record; rec.tag, payload of rec.len */
	LMF_REC_HEADER = 4,  /* a concatenated stream's header (only with
	                        LMF_RD_RAW_RECORDS; otherwise folded in) */
};

struct lmf_rd;

/* open a file, or "-" for stdin; reads the header. NULL and *err set on
 * failure (the message through lmf_rd_open_errmsg()) */
struct lmf_rd *lmf_rd_open(const char *path, int *err);
const char *lmf_rd_open_errmsg(void);
struct lmf_rd *lmf_rd_open_fd(int fd, const char *name, int *err);
/* open from memory (tests, fuzzers); buf must outlive the reader */
struct lmf_rd *lmf_rd_open_mem(const void *buf, size_t len, int *err);
void lmf_rd_close(struct lmf_rd *r);

json_t *lmf_rd_meta(struct lmf_rd *r);       /* header JSON (borrowed) */
const char *lmf_rd_kind(struct lmf_rd *r);   /* meta "kind" */
const char *lmf_rd_name(struct lmf_rd *r);   /* the path, for messages */
int lmf_rd_compressed(struct lmf_rd *r);     /* 1 if zstd */
uint64_t lmf_rd_items(struct lmf_rd *r);     /* items read so far */

/* the next record; the payload of a TENSOR or OTHER record must be read
 * with lmf_rd_payload or skipped with lmf_rd_skip (the next lmf_rd_next
 * skips what is left). A tensor's name stays valid until the next call. */
struct lmf_recinfo {
	int type;               /* enum lmf_rec */
	uint32_t ntensors;      /* ITEM */
	struct lmf_tensor t;    /* TENSOR: data NULL, name owned by reader */
	char tag[5];            /* OTHER: the 4-byte tag */
	uint64_t len;           /* OTHER: payload bytes; TENSOR: t.nbytes */
};
int lmf_rd_next(struct lmf_rd *r, struct lmf_recinfo *rec);
/* read n bytes of the current record's payload (exactly n, or an error) */
int lmf_rd_payload(struct lmf_rd *r, void *buf, size_t n);
int lmf_rd_skip(struct lmf_rd *r);

/* convenience: read a whole item into memory (tensors with data).
 * Returns 1 for an item, 0 at the clean end, negative on error. Unknown
 * records between items are skipped. */
int lmf_rd_item(struct lmf_rd *r, struct lmf_item *it);
/* the same, except that place(ctx, t) may say where the values of a float
 * tensor (F32, F16 or BF16; t has its name, dtype and shape, data NULL)
 * go instead: it returns an address for numel values of *dtype (LMF_F32,
 * or LMF_BF16 rounded to nearest even) and the reader converts them into
 * it as they arrive, with no copy of the whole tensor between. A placed
 * tensor stays in the item with that dtype and data NULL; NULL from place
 * reads the tensor as lmf_rd_item does. The caller checks the shape */
int lmf_rd_item_place(struct lmf_rd *r, struct lmf_item *it,
    void *(*place)(void *ctx, const struct lmf_tensor *t, int *dtype),
    void *ctx);
/* read the current TENSOR record's payload into t->data (allocated; grows
 * as the data arrives, so a false size claim fails as truncation, not as
 * an allocation); t is a copy of rec.t with its own name */
int lmf_rd_tensor_data(struct lmf_rd *r, const struct lmf_recinfo *rec,
    struct lmf_tensor *t);

const char *lmf_rd_errmsg(struct lmf_rd *r); /* what went wrong, and where */

/* ---- writing ---- */

struct lmf_wr;

/* options for a writer */
struct lmf_wropts {
	int level;      /* zstd level; 0 = raw (uncompressed) stream */
	int threads;    /* zstd worker threads; 0 = none */
	uint64_t frame_bytes; /* bytes of content per zstd frame, at most
	                         LMF_MAX_FRAME (0: LMF_FRAME_BYTES, 4 MiB) */
};
#define LMF_DEFAULT_LEVEL 1
extern const struct lmf_wropts lmf_wropts_default;

/* open a file (written atomically: temp + rename at close) or "-" for
 * stdout. meta is a JSON object with at least "kind"; the writer adds
 * "version" and "command" if absent and keeps its own reference. */
struct lmf_wr *lmf_wr_open(const char *path, json_t *meta,
    const struct lmf_wropts *o, int *err);
struct lmf_wr *lmf_wr_open_fd(int fd, json_t *meta, const struct lmf_wropts *o,
    int *err);
int lmf_wr_item(struct lmf_wr *w, uint32_t ntensors);
/* a whole tensor from memory */
int lmf_wr_tensor(struct lmf_wr *w, const struct lmf_tensor *t);
/* a tensor's record header, then its payload in any number of pieces */
int lmf_wr_tensor_begin(struct lmf_wr *w, const char *name, int dtype,
    int ndim, const int64_t *shape);
int lmf_wr_payload(struct lmf_wr *w, const void *buf, size_t n);
/* an unknown record, passed through (tag of 4 bytes) */
int lmf_wr_other(struct lmf_wr *w, const char *tag, const void *buf,
    uint64_t len);
int lmf_wr_write_item(struct lmf_wr *w, const struct lmf_item *it);
/* write the end record, flush, and (for a file) rename into place */
int lmf_wr_close(struct lmf_wr *w);
/* give up: remove the temp file; nothing reaches path */
void lmf_wr_abort(struct lmf_wr *w);
const char *lmf_wr_errmsg(struct lmf_wr *w);
uint64_t lmf_wr_bytes(struct lmf_wr *w); /* bytes written after compression */

/* ---- or-die wrappers for tools: the message names the stream ---- */
struct lmf_rd *lmf_rd_open_or_die(const char *path);
int lmf_rd_item_or_die(struct lmf_rd *r, struct lmf_item *it);
void lmf_rd_check_kind_or_die(struct lmf_rd *r, const char *kind);
struct lmf_wr *lmf_wr_open_or_die(const char *path, json_t *meta,
    const struct lmf_wropts *o);
void lmf_wr_item_or_die(struct lmf_wr *w, const struct lmf_item *it);
void lmf_wr_tensor_or_die(struct lmf_wr *w, const struct lmf_tensor *t);
void lmf_wr_close_or_die(struct lmf_wr *w);
/* parse the common -l LEVEL / --level: 0..19, or -1..-7 fast */
int lmf_parse_level(const char *s);

#endif
