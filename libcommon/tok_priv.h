#ifndef LMF_TOK_PRIV_H
#define LMF_TOK_PRIV_H
/* tok_priv.h: internals of the tokenizer shared by tok.c (loading, added
 * tokens, the pipeline), tok_bpe.c (the BPE model and its hash maps) and
 * tok_text.c (normalizers, pre-tokenizers, decoders, UTF-8). Never included
 * by tools. */
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* a growable byte buffer */
struct tbuf {
	char *p;
	size_t n, cap;
};
void tok_buf_put(struct tbuf *b, const void *s, size_t n);
void tok_buf_putc(struct tbuf *b, int c);
void tok_buf_reserve(struct tbuf *b, size_t n);

/* a list of pieces (words) held in one buffer */
struct tsplits {
	struct tbuf b;
	size_t *off, *len;
	size_t *src;           /* where each piece began in the pre-tokenized
	                          text, as far as the stages keep track */
	size_t n, cap;
	const char *cs;        /* the piece being split, its length, where */
	size_t cslen, cbase;   /* it began: for src */
};
void tok_splits_add(struct tsplits *s, const char *p, size_t n);
void tok_splits_clear(struct tsplits *s);
void tok_splits_free(struct tsplits *s);

/* a string -> int32 map with open addressing */
struct tmap {
	uint64_t *slot;       /* hash's top 32 bits << 32 | index+1 into
	                         keys; 0 empty */
	size_t cap;           /* power of two */
	char **key;
	uint32_t *klen;
	int32_t *val;
	size_t n, kcap;
};
void tok_map_init(struct tmap *m, size_t hint);
void tok_map_free(struct tmap *m);
int32_t tok_map_get(const struct tmap *m, const char *k, size_t n); /* -1 */
void tok_map_set(struct tmap *m, const char *k, size_t n, int32_t v);
uint64_t tok_hash(const void *p, size_t n);

/* model.vocab and model.merges scanned from tokenizer.json's text
 * (tok_json.c); strings are NUL-terminated in sbuf */
struct tok_raw {
	char *rest;                /* the text with vocab {} and merges [] */
	size_t restlen;
	char *sbuf;
	size_t slen;
	uint32_t *voff, *vlen;     /* vocab keys in sbuf, and their ids */
	int64_t *vid;
	size_t nv, vcap;
	struct tok_raw_merge {
		uint32_t loff, llen, roff, rlen;
	} *merge;
	size_t nm, mcap;
	size_t vstart, vend, mstart, mend;  /* where they were in the text */
	int seen_model;
};
/* 0, or -1 when jansson must read the whole text (it says what is wrong) */
int tok_raw_scan(const char *text, size_t len, struct tok_raw *r);
void tok_raw_free(struct tok_raw *r);

/* the BPE model: vocab and merges from raw when not NULL, else from the
 * model's JSON */
struct bpe;
struct bpe *tok_bpe_load(json_t *model, const struct tok_raw *raw,
    char *err, size_t errlen);
void tok_bpe_free(struct bpe *b);
/* append the ids of one word (a pre-token) */
void tok_bpe_word(struct bpe *b, const char *w, size_t n, int32_t **ids,
    size_t *nids, size_t *cap);
int32_t tok_bpe_token_to_id(const struct bpe *b, const char *s, size_t n);
const char *tok_bpe_id_to_token(const struct bpe *b, int32_t id);
int32_t tok_bpe_size(const struct bpe *b); /* max id + 1 */

/* normalizers, pre-tokenizers, decoders: parsed from their JSON */
struct tnorm;
struct tpre;
struct tdec;
struct tnorm *tok_norm_load(json_t *j, char *err, size_t errlen);
struct tpre *tok_pre_load(json_t *j, char *err, size_t errlen);
struct tdec *tok_dec_load(json_t *j, char *err, size_t errlen);
void tok_norm_free(struct tnorm *n);
void tok_pre_free(struct tpre *p);
void tok_dec_free(struct tdec *d);
/* normalize s into out (cleared first) */
void tok_norm_apply(const struct tnorm *n, const char *s, size_t len,
    struct tbuf *out);
/* pre-tokenize one normalized piece into words; a split that begins
 * before first_span came from the first character of the original text
 * (Metaspace's prepend_scheme "first"); 0 when the piece is not first */
void tok_pre_apply(const struct tpre *p, const char *s, size_t len,
    size_t first_span, struct tsplits *out, struct tsplits *tmp);
/* decode a token list into text (allocated); NULL d joins with spaces */
char *tok_dec_apply(const struct tdec *d, char **toks, size_t n);

/* UTF-8 */
size_t tok_utf8_valid(const char *s, size_t n); /* n if valid, else offset */
int tok_utf8_len(unsigned char c); /* sequence length from the lead byte */
/* Rust's String::from_utf8_lossy: each maximal invalid subpart -> U+FFFD */
void tok_utf8_lossy(const char *s, size_t n, struct tbuf *out);

#endif
