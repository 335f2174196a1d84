#ifndef LMF_ST_WRITE_H
#define LMF_ST_WRITE_H
/* st_write.h: a writer of Hugging Face .safetensors files, byte for byte
 * as the safetensors library (and so transformers and PEFT) writes them.
 *
 * The header JSON is compact: "__metadata__": {"format": "pt"} first,
 * then the tensors as "name": {"dtype", "shape", "data_offsets"} in data
 * order, which is by dtype alignment (f64, f32/i32, bf16/f16/i16, i8/u8/
 * bool; safetensors' dtype order, descending) and then by name. The 8-byte
 * little-endian header length counts the JSON padded with spaces to a
 * multiple of 8.
 *
 * With max_shard_bytes > 0 the tensors are split as huggingface_hub's
 * split_torch_state_dict_into_shards does (in the order added: a new
 * shard when the next tensor would pass the limit; a bigger tensor alone)
 * into BASE-00001-of-0000N.safetensors plus BASE.safetensors.index.json
 * ({"metadata": {"total_size": N}, "weight_map": {...}}, indent 2, sorted
 * keys, as transformers writes it). One shard is written as
 * BASE.safetensors, without an index. Every file is written to a temporary
 * name, fsync'd and renamed only when all of them were written whole.
 *
 * Use: w = lmf_st_write_begin(dir, "model", 5000000000);
 * lmf_st_write_add(w, name, dtype, ndim, shape, data) for each tensor (the
 * data is borrowed: keep it until the end; lmf_st_write_add_copy copies);
 * lmf_st_write_end(w, err, errlen). */
#include <stddef.h>
#include <stdint.h>

#define LMF_ST_SHARD_DEFAULT 5000000000ull /* transformers' "5GB" */

struct lmf_st_writer;

/* a writer of dir/base.safetensors (or shards); never NULL */
struct lmf_st_writer *lmf_st_write_begin(const char *dir, const char *base,
    uint64_t max_shard_bytes);
/* add a tensor (dtype an lmf code from stream.h; data numel * size bytes,
 * little-endian, borrowed until lmf_st_write_end). 0, or LMF_E_DTYPE /
 * LMF_E_PARAM for an unknown dtype, a repeated or empty name */
int lmf_st_write_add(struct lmf_st_writer *w, const char *name, int dtype,
    int ndim, const int64_t *shape, const void *data);
int lmf_st_write_add_copy(struct lmf_st_writer *w, const char *name,
    int dtype, int ndim, const int64_t *shape, const void *data);
/* write the files and free w. 0, or -1 with a one-line message in err
 * (nothing was renamed into place then) */
int lmf_st_write_end(struct lmf_st_writer *w, char *err, size_t errlen);
/* the number of safetensors files lmf_st_write_end will write for the
 * tensors added so far: 1 (BASE.safetensors), or N shards plus the index */
int lmf_st_write_nshards(struct lmf_st_writer *w);
/* free w, writing nothing */
void lmf_st_write_abort(struct lmf_st_writer *w);
/* the safetensors name of an lmf dtype ("F32", "BF16", ...), or NULL */
const char *lmf_st_dtype_name(int dtype);

#endif
