#ifndef LMF_PREDICT_H
#define LMF_PREDICT_H
/* predict.h: LLaMA-Factory's sft predict with predict_with_generate (spec
 * 8.2): every row of a prompt batches stream (lmf-tokenize
 * --predict_with_generate, lmf-pack: input_ids and attention_mask, the
 * reference answers as unaligned labels) continued by the live training
 * model with the generating arguments, in batches as the stream holds
 * them; output_dir/generated_predictions.jsonl gets one line per row
 * ({"prompt", "predict", "label"}, json.dumps(ensure_ascii=False), each
 * followed by "\n") and predict_results.json the predict_bleu-4,
 * predict_rouge-1/2/l means of ComputeSimilarity (textmetric.h) with the
 * runtime keys (train.h's LMF_EVAL_PREDICT). */
#include <stdint.h>

#include "lmf/infer.h"
#include "lmf/opt.h"
#include "lmf/sample.h"

struct lmf_predict_opts {
	struct lmf_gen_opts g;      /* stop ids: filled by lmf_predict_sft */
	int skip_special;           /* skip_special_tokens (for predict) */
	const char *jieba_dir;      /* NULL: jieba's default */
	int infer_dtype;            /* a choice of LMF_INFER_DTYPES
	                               (infer.h): the weights copied to
	                               bf16 or int8 for it, else f32 */
};
/* GeneratingArguments' defaults: do_sample, temperature 0.95, top_p 0.7,
 * top_k 50, repetition_penalty 1, max_new_tokens 1024, skip special */
void lmf_predict_defaults(struct lmf_predict_opts *o);

#define LMF_PREDICT_OPTIONS(o) \
	LMF_OPT_ROW("do_sample", 0, LMF_OPT_BOOL, &(o)->g.s.do_sample, NULL, \
	    0, 0, "predict: sample, or decode greedily"), \
	LMF_OPT_ROW("temperature", 0, LMF_OPT_FLOAT, \
	    &(o)->g.s.temperature, "X", 1e-6, 1e6, "predict: 0.95"), \
	LMF_OPT_ROW("top_k", 0, LMF_OPT_INT, &(o)->g.s.top_k, "N", 0, \
	    1 << 30, "predict: 50; 0 = all"), \
	LMF_OPT_ROW("top_p", 0, LMF_OPT_FLOAT, &(o)->g.s.top_p, "X", 1e-6, \
	    1, "predict: nucleus, 0.7"), \
	LMF_OPT_ROW("repetition_penalty", 0, LMF_OPT_FLOAT, \
	    &(o)->g.s.repetition_penalty, "X", 1e-6, 1e6, "predict: 1"), \
	LMF_OPT_ROW("max_new_tokens", 0, LMF_OPT_INT, &(o)->g.max_new_tokens, \
	    "N", 0, 1 << 20, "predict: 1024"), \
	LMF_OPT_ROW("skip_special_tokens", 0, LMF_OPT_BOOL, \
	    &(o)->skip_special, NULL, 0, 0, "predict: in predict text"), \
	LMF_OPT_ROW("jieba_dir", 0, LMF_OPT_STRING, &(o)->jieba_dir, "DIR", \
	    0, 0, "jieba's dictionary for ROUGE"), \
	LMF_OPT_ROW("infer_dtype", 0, LMF_OPT_CHOICE, &(o)->infer_dtype, \
	    LMF_INFER_DTYPES, 0, 0, \
	    "predict: weights of the products; auto = float32")

/* dies (exit 1) unless path is a prompt batches stream: before training */
void lmf_predict_check(const char *path);
struct lmf_trainer;
struct lmf_llama;
/* predict on the batches stream path with tr's model m (its current
 * weights, LoRA applied on the fly; the stream's tokenizer, else
 * tr->a.tokenizer_dir's) and write the files in
 * tr->a.output_dir; seed seeds the sampling. Dies on failure (exit 1) */
void lmf_predict_sft(struct lmf_trainer *tr, struct lmf_llama *m,
    const char *path, const struct lmf_predict_opts *o, uint64_t seed);
/* dies (exit 1) unless m's tokenizer (or tr->a.tokenizer_dir's) and
 * jieba's dictionary load: before training, so that a run never fails
 * at its first generating evaluation or at its prediction */
void lmf_predict_ready(struct lmf_trainer *tr, struct lmf_llama *m,
    const struct lmf_predict_opts *o);
/* the same as an evaluation (do_eval with predict_with_generate): no
 * file; eval_bleu-4, eval_rouge-1/2/l logged as train.h's
 * lmf_train_log_eval does with final (LMF_EVAL_*), no eval_loss */
void lmf_predict_eval(struct lmf_trainer *tr, struct lmf_llama *m,
    const char *path, const struct lmf_predict_opts *o, uint64_t seed,
    int final);

#endif
