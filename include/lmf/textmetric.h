#ifndef LMF_TEXTMETRIC_H
#define LMF_TEXTMETRIC_H
/* textmetric.h: LLaMA-Factory's ComputeSimilarity (spec 8.2, 8.3): BLEU-4
 * as nltk's sentence_bleu([list(label)], list(pred)) with
 * SmoothingFunction().method3 (tokens are code points), ROUGE-1/2/L as
 * rouge_chinese 1.0.3's Rouge().get_scores on the jieba words joined by
 * spaces, each score kept as round(100 * f, 4), and the mean over
 * examples as numpy's (pairwise summation). */
#include <stddef.h>

#include "lmf/jieba.h"

enum { LMF_SIM_BLEU4, LMF_SIM_ROUGE1, LMF_SIM_ROUGE2, LMF_SIM_ROUGEL,
    LMF_SIM_N };

/* "bleu-4", "rouge-1", "rouge-2", "rouge-l" */
extern const char *const lmf_sim_names[LMF_SIM_N];

/* nltk's sentence BLEU-4 with method3 on the code points of two UTF-8
 * texts (0 when no character of pred is in label) */
double lmf_bleu4_chars(const char *pred, size_t plen, const char *label,
    size_t llen);
/* rouge_chinese's F-scores of hyp against ref, both space-joined words;
 * f[0..2]: rouge-1, rouge-2, rouge-l. Either side blank (no word once
 * split on whitespace): all 0, as LLaMA-Factory's guard gives */
void lmf_rouge_f(const char *hyp, const char *ref, double f[3]);
/* jieba's words of s joined by single spaces (a new string) */
char *lmf_jieba_join(const struct lmf_jieba *j, const char *s, size_t len);
/* ComputeSimilarity of one example: raw[] the unscaled scores (may be
 * NULL), out[] round(100 * raw, 4) */
void lmf_similarity(const struct lmf_jieba *j, const char *pred,
    size_t plen, const char *label, size_t llen, double raw[LMF_SIM_N],
    double out[LMF_SIM_N]);
/* Python's round(x, nd) (the correctly rounded decimal, half to even) */
double lmf_pyround(double x, int nd);
/* numpy's mean of n doubles (pairwise summation, blocks of 8) */
double lmf_np_mean(const double *x, size_t n);
/* Python's repr of a float into buf ("12.5", "100.0", "1e-05") */
void lmf_pyrepr(double x, char *buf, size_t len);

#endif
