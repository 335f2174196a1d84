#ifndef LMF_JIEBA_H
#define LMF_JIEBA_H
/* jieba.h: Chinese word segmentation as jieba 0.42's jieba.cut(text) with
 * HMM=True and cut_all=False: the text split into blocks of Han, ASCII
 * letters, digits and +#&._%- (each cut by a DAG of the prefix
 * dictionary and the route of highest summed log frequency, runs of
 * single characters that are no dictionary word cut by the HMM's Viterbi
 * (finalseg)), whitespace (\r\n counts as one) and every other character
 * alone. The dictionary (dict.txt) and the HMM tables (finalseg's
 * prob_start.py, prob_trans.py, prob_emit.py) are read at run time from
 * jieba's own files, as Debian's python3-jieba installs them. */
#include <stddef.h>

/* where python3-jieba puts them; $LMF_JIEBA_DIR overrides */
#define LMF_JIEBA_DIR "/usr/lib/python3/dist-packages/jieba"

struct lmf_jieba;

/* one word: a slice of the text that was cut (bytes) */
struct lmf_jieba_word {
	size_t off, len;
};

struct lmf_jieba_words {
	struct lmf_jieba_word *w;
	size_t n, cap;
};

/* load dir/dict.txt and dir/finalseg/prob_*.py (dir NULL: $LMF_JIEBA_DIR,
 * else LMF_JIEBA_DIR). 0, or -1 with err naming the file and the line */
int lmf_jieba_load(struct lmf_jieba **jp, const char *dir, char *err,
    size_t errlen);
void lmf_jieba_free(struct lmf_jieba *j);
/* cut len bytes of UTF-8 text into w (appended; w zeroed or reset by the
 * caller); a byte that is no valid UTF-8 counts as one character */
void lmf_jieba_cut(const struct lmf_jieba *j, const char *text, size_t len,
    struct lmf_jieba_words *w);
void lmf_jieba_words_free(struct lmf_jieba_words *w);

#endif
