#ifndef LMF_HF_H
#define LMF_HF_H
/* hf.h: the one writer of Hugging Face and PEFT directories, for every
 * tool that leaves one (lmf-sft's results and checkpoints, lmf-export).
 *
 * A model item becomes what transformers' save_pretrained writes:
 * model.safetensors, or shards model-0000k-of-0000n.safetensors with
 * model.safetensors.index.json past shard_bytes (st_write.h); config.json
 * (torch_dtype that of the weights written); generation_config.json
 * (GenerationConfig.from_model_config's); the stream's u8 tensors, its
 * tokenizer files, as files of their names, and special_tokens_map.json
 * from its tokenizer_config.json. An adapter item becomes PEFT's adapter_model.safetensors and
 * adapter_config.json. Either item's value head (v_head.summary.weight and
 * .bias, TRL's names) goes to value_head.safetensors, in f32, as
 * LLaMA-Factory leaves a reward model. JSON files are written as Python's
 * json.dumps(indent=2, sort_keys=True) (pyjson.h), config files with a
 * final newline, adapter_config.json without (PEFT's).
 *
 * Only the directory's own files are written; every other file stays. Each
 * file goes to a temporary name beside it; the weights are renamed into
 * place first, then the small files, so a failure leaves each file the old
 * one or the new one. After that, what the new weights make stale goes: the
 * shards an older model.safetensors.index.json named that were not written
 * again, and the index under one file or model.safetensors under shards. A
 * file that is, or links to, one of the inputs is never replaced: nothing
 * is written then. */
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "lmf/stream.h"

struct lmf_hf_opts {
	int adapter;                /* a PEFT directory */
	uint64_t shard_bytes;       /* model: the largest shard; 0: one file */
	int dtype;                  /* weights written as LMF_F32 or LMF_BF16,
	                               converted from any float dtype in place
	                               in the item; -1: as stored */
	const char *src;            /* the item's stream, for messages */
	const char *input[2];       /* paths never to replace, or NULL */
};

/* write it (tensors converted in place per o->dtype) and config (the
 * config.json or adapter_config.json object; NULL: none) into dir, made
 * with its parents when missing. 0; LMF_E_PARAM when a file to write is
 * an input (nothing written); LMF_E_FORMAT for a tensor that cannot be
 * written (a file name that is not a plain name or is taken, a weight of
 * another dtype); LMF_E_IO for a failed write. A one-line message in err */
int lmf_hf_write(const char *dir, json_t *config, struct lmf_item *it,
    const struct lmf_hf_opts *o, char *err, size_t errlen);

/* the tokenizer files of directory src (tokenizer.json,
 * tokenizer_config.json, special_tokens_map.json, chat_template.jinja,
 * tokenizer.model: those it has) into dir, each atomically, with
 * special_tokens_map.json made from tokenizer_config.json where src has
 * none, as a tokenizer's save_pretrained leaves them. 0 or LMF_E_IO */
int lmf_hf_write_tokenizer(const char *dir, const char *src, char *err,
    size_t errlen);

/* save_pretrained's special_tokens_map.json of a tokenizer_config.json
 * object (new reference) */
json_t *lmf_hf_special_tokens_map(json_t *tc);

#endif
