#ifndef LMF_BPE_TRAIN_H
#define LMF_BPE_TRAIN_H
/* bpe_train.h: learning a byte-level BPE vocabulary (lmf-bpe-train).
 *
 * The caller pre-tokenizes its text and counts each word with
 * lmf_bpe_train_word; lmf_bpe_train_learn then starts from the 256 byte
 * symbols (tok.h's lmf_tok_byte_symbol) and merges, greedily, the most
 * frequent adjacent pair over the distinct words, weighted by their
 * counts; a tie goes to the pair of smaller ids, so the same words always
 * give the same merges. Start from a zeroed struct. */
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

/* a distinct word: its bytes, its count, and its current symbols */
struct lmf_bpe_word {
	char *s;
	size_t n;
	uint64_t count;
	int32_t *sym;           /* (nsym) token ids */
	size_t nsym;
};

struct lmf_bpe_train {
	struct lmf_bpe_word *words;
	size_t nwords, capwords;
	size_t *wslot;          /* open addressing: index + 1, 0 empty */
	size_t wcap;            /* slots, a power of two */
	char **tok;             /* (ntok) token strings in byte-level symbols */
	size_t ntok;
};

/* count one occurrence of the word s[0..n) (nothing when n is 0) */
void lmf_bpe_train_word(struct lmf_bpe_train *bp, const char *s, size_t n);
/* learn merges until there are nbpe tokens (nbpe >= 256), no pair is left,
 * or the best pair occurs fewer than min_freq times; bp->tok then holds
 * the vocabulary in id order. @return the merges, "a b" strings in the
 * order learned */
json_t *lmf_bpe_train_learn(struct lmf_bpe_train *bp, size_t nbpe,
    uint64_t min_freq);
void lmf_bpe_train_free(struct lmf_bpe_train *bp); /* and zero it */

#endif
