#ifndef LMF_TOK_H
#define LMF_TOK_H
/* tok.h: tokenizers from Hugging Face tokenizer.json (+ tokenizer_config.json),
 * encoding and decoding exactly as the `tokenizers` library does: model BPE
 * (byte-level, as LLaMA-3 and Qwen; SentencePiece-style with byte_fallback,
 * as Mistral / LLaMA-2), normalizers, pre-tokenizers, added tokens, post-
 * processors and decoders. A component this build does not implement is
 * refused by name when the tokenizer is loaded. Links with PCRE2 and
 * utf8proc: pkg-config libpcre2-8 libutf8proc (-lpcre2-8 -lutf8proc).
 * A struct lmf_tok is not safe to use from two threads at once. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "lmf/stream.h"

struct lmf_tok;

/* load from the text of tokenizer.json and (or NULL) tokenizer_config.json.
 * NULL with a one-line message in err on failure */
struct lmf_tok *lmf_tok_load(const char *json, size_t len, const char *cfg,
    size_t cfglen, char *err, size_t errlen);
/* from a directory holding tokenizer.json (+ tokenizer_config.json) */
struct lmf_tok *lmf_tok_load_dir(const char *dir, char *err, size_t errlen);
/* from a model stream's item: its u8 tensors "tokenizer.json" and
 * "tokenizer_config.json" (lmf-load(1)) */
struct lmf_tok *lmf_tok_load_item(const struct lmf_item *it, char *err,
    size_t errlen);
void lmf_tok_free(struct lmf_tok *t);

/* encode len bytes of UTF-8 text; add_special_tokens applies the post-
 * processor (e.g. Mistral's BOS). *ids is allocated (free it), *n set.
 * 0, or -1 when text is not valid UTF-8 (and err says where) */
int lmf_tok_encode(struct lmf_tok *t, const char *text, size_t len,
    int add_special_tokens, int32_t **ids, size_t *n, char *err,
    size_t errlen);
/* decode ids to text (allocated, NUL-terminated), as the library's
 * decode(ids, skip_special_tokens) */
char *lmf_tok_decode(struct lmf_tok *t, const int32_t *ids, size_t n,
    int skip_special_tokens);

int32_t lmf_tok_vocab_size(const struct lmf_tok *t); /* incl. added tokens */
int32_t lmf_tok_token_to_id(const struct lmf_tok *t, const char *token);
	/* -1 if absent */
const char *lmf_tok_id_to_token(const struct lmf_tok *t, int32_t id);
	/* NULL if absent */
/* special tokens per tokenizer_config.json (bos_token, eos_token,
 * pad_token, unk_token: a string or an AddedToken object); -1 if unset */
int32_t lmf_tok_bos_id(const struct lmf_tok *t);
int32_t lmf_tok_eos_id(const struct lmf_tok *t);
/* tokenizer_config's additional_special_tokens in the vocabulary: their
 * count, *ids borrowed */
size_t lmf_tok_additional_special(const struct lmf_tok *t,
    const int32_t **ids);
int32_t lmf_tok_pad_id(const struct lmf_tok *t);
int32_t lmf_tok_unk_id(const struct lmf_tok *t);
int lmf_tok_add_bos(const struct lmf_tok *t);  /* add_bos_token */
/* tokenizer_config.json's jinja chat_template (the one named "default"
 * when it is a list), or NULL */
const char *lmf_tok_chat_template(const struct lmf_tok *t);
int lmf_tok_add_eos(const struct lmf_tok *t);  /* add_eos_token */
/* set a special token (template fixes, spec 3.3): which is "eos", "pad",
 * "bos", "unk", or "additional" (appended to additional_special_tokens
 * unless there already); the token must exist (or be added as a new special token when
 * add is set). 0, or -1 */
int lmf_tok_set_special(struct lmf_tok *t, const char *which,
    const char *token, int add);
/* additional_special_tokens_ids: tokenizer_config.json's
 * additional_special_tokens (those in the vocabulary) and the template's
 * stop words after the eos; the count, the ids in *ids */
size_t lmf_tok_additional_ids(const struct lmf_tok *t, const int32_t **ids);
/* the ByteLevel alphabet (GPT-2's bytes_to_unicode): byte b's character,
 * UTF-8 and NUL-terminated in out; printable bytes stand for themselves,
 * the others for U+0100 onwards in byte order */
void lmf_tok_byte_symbol(int b, char out[3]);

/* one line of the JSON Lines interface (lmf-tokenize(1) --encode and
 * --decode): {"text", "add_special_tokens"} to {"ids": [...]}, or
 * {"ids", "skip_special_tokens"} to {"text"}, written to out as a line.
 * 0, or -1 with a one-line message in err (nothing written) */
int lmf_tok_json_line(struct lmf_tok *t, int decode, const char *line,
    size_t len, FILE *out, char *err, size_t errlen);

#endif
