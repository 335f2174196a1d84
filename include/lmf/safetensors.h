#ifndef LMF_SAFETENSORS_H
#define LMF_SAFETENSORS_H
/* safetensors.h: a strict reader of Hugging Face .safetensors files.
 *
 * A file is an 8-byte little-endian header length N, N bytes of JSON
 * ({"name": {"dtype", "shape", "data_offsets": [begin, end]}, ...,
 * "__metadata__": {...}}), then the data block; offsets are relative to the
 * data block. Opening parses and checks the whole header: the length within
 * the file and at most LMF_ST_MAX_HEADER, every tensor's offsets inside the
 * data block, its byte size equal to numel * dtype size, no two tensors
 * overlapping. Tensor data is then read one piece at a time (pread, or from
 * memory), so no more than the caller's buffer is ever held.
 *
 * Functions return 0 on success and a negative LMF_E_* (stream.h) on
 * failure; lmf_safetensors_errmsg() then says what, naming the tensor. */
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "lmf/stream.h"

#define LMF_ST_MAX_HEADER (100u << 20) /* bytes of header JSON */

/* one tensor of the header; dtype is an lmf dtype code (stream.h) */
struct lmf_st_tensor {
	char *name;
	int dtype;
	int ndim;
	int64_t shape[LMF_MAX_DIMS];
	uint64_t begin;  /* offset in the data block */
	uint64_t nbytes; /* end - begin */
};

struct lmf_safetensors {
	char *path;          /* for messages; "<memory>" for a buffer */
	int fd;              /* -1 when reading from memory */
	const unsigned char *mem; /* the whole file, when from memory */
	uint64_t data_start; /* file offset of the data block */
	uint64_t data_size;  /* bytes in the data block */
	int ntensors;
	struct lmf_st_tensor *t; /* in header order */
	json_t *metadata;    /* "__metadata__" object, or NULL */
	char msg[512];       /* the last error */
};

/* open and check a file; NULL on failure, with *err set and the message
 * in errbuf (when not NULL) */
struct lmf_safetensors *lmf_safetensors_open(const char *path, int *err,
    char *errbuf, size_t errlen);
/* the same over a buffer holding a whole file; buf must outlive st */
struct lmf_safetensors *lmf_safetensors_open_mem(const void *buf, size_t len,
    int *err, char *errbuf, size_t errlen);
void lmf_safetensors_close(struct lmf_safetensors *st);

/* the checkpoint of a Hugging Face model directory: dir/model.safetensors
 * when there is one, else every shard that
 * dir/model.safetensors.index.json's weight_map names (a plain file name in
 * dir), each checked, when opened, to hold the tensors the map puts in it */
struct lmf_safetensors_dir {
	char *dir;
	int nshards;
	struct lmf_safetensors **sh; /* (nshards) */
};

/* a model parameter found in a checkpoint: which file, which entry */
struct lmf_st_found {
	struct lmf_safetensors *st;
	const struct lmf_st_tensor *t;
};

struct lmf_param;

/* open the checkpoint of dir; NULL on failure, with *err set and the
 * message, naming the file, in errbuf */
struct lmf_safetensors_dir *lmf_safetensors_dir_open(const char *dir,
    int *err, char *errbuf, size_t errlen);
void lmf_safetensors_dir_close(struct lmf_safetensors_dir *sd);
/* where each of the np parameters p (model.h) is: f[k] for p[k]. A tensor
 * that is no parameter is skipped when it is lm_head.weight (tied
 * embeddings) or a rotary_emb.inv_freq buffer, and an error otherwise
 * (what, the model type, says for what); so are a parameter in two
 * shards or in none, a dtype other than F32, F16 or BF16, and a shape
 * other than p's. @return 0, or a negative LMF_E_* with the message in
 * errbuf */
int lmf_safetensors_dir_find(const struct lmf_safetensors_dir *sd,
    const struct lmf_param *p, int np, const char *what,
    struct lmf_st_found *f, char *errbuf, size_t errlen);

/* the tensor named name, or NULL */
const struct lmf_st_tensor *lmf_safetensors_find(
    const struct lmf_safetensors *st, const char *name);
/* read n bytes of tensor t's data from byte offset off within it */
int lmf_safetensors_read(struct lmf_safetensors *st,
    const struct lmf_st_tensor *t, uint64_t off, void *buf, size_t n);
const char *lmf_safetensors_errmsg(const struct lmf_safetensors *st);

/* "F32" -> LMF_F32, ...; LMF_E_DTYPE for a name this reader does not know */
int lmf_safetensors_dtype(const char *name);
/* LMF_F32 -> "F32", ...; NULL for a code with no safetensors name */
const char *lmf_safetensors_dtype_name(int dtype);

#endif
