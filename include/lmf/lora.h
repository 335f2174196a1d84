#ifndef LMF_LORA_H
#define LMF_LORA_H
/* lora.h: LoRA as PEFT names and stores it: the seven projections a pair
 * may adapt, the PEFT tensor names, adapter_config.json (built and read),
 * and the merge W += scaling * B A. The LoRA terms of the forward and
 * backward in training are llama.c's (llama.h). */
#include <stddef.h>
#include <jansson.h>

#include "lmf/model.h"
#include "lmf/safetensors.h"
#include "lmf/stream.h"

/* the seven projections LoRA may target, in PEFT's module order, as a
 * bit set (bit j is projection j) */
enum {
	LMF_PROJ_Q = 1 << 0,
	LMF_PROJ_K = 1 << 1,
	LMF_PROJ_V = 1 << 2,
	LMF_PROJ_O = 1 << 3,
	LMF_PROJ_GATE = 1 << 4,
	LMF_PROJ_UP = 1 << 5,
	LMF_PROJ_DOWN = 1 << 6,
	LMF_PROJ_ALL = 0x7f,
};
#define LMF_LORA_NPROJ 7

/* "all" or a comma list of q_proj,...,down_proj: the bit set, or -1 with
 * the offending name in bad (size badlen) */
int lmf_lora_target_parse(const char *s, char *bad, size_t badlen);
const char *lmf_lora_proj_name(int j);   /* "q_proj" */
const char *lmf_lora_module(int j);      /* "self_attn.q_proj" */
int lmf_lora_sorted(int k);  /* the k-th projection by name (down_proj
                                first): PEFT's target_modules order and
                                the order lmf-load writes tensors in */

/* "base_model.model.model.layers.L.self_attn.q_proj.lora_A.weight" for
 * lora_A (ab 0) or lora_B (ab 1) of projection j of layer l */
void lmf_lora_tensor_name(char *buf, size_t len, int l, int j, int ab);
/* the reverse for a model of L layers: ab, with *l and *j set, or -1
 * when name is not a LoRA tensor of such a model */
int lmf_lora_parse_name(const char *name, int L, int *l, int *j);

/* what an adapter_config says, as far as lmf uses it */
struct lmf_lora_config {
	int r;
	double alpha;        /* lora_alpha */
	double dropout;      /* lora_dropout; -1 when absent or out of [0, 1) */
	int rslora;          /* use_rslora */
};
double lmf_lora_scaling(const struct lmf_lora_config *lc);
	/* alpha / r, or alpha / sqrt(r) with rslora */
int lmf_lora_config_parse(struct lmf_lora_config *lc, const json_t *ac,
    char *err, size_t errlen);
	/* r and lora_alpha checked (0, or -1 with a one-line message in err,
	 * "adapter 'r' is not a positive integer"); the rest read */
int lmf_lora_targets_parse(const json_t *target_modules, char *err,
    size_t errlen);
	/* a list of projection names: the bit set, or -1 with err */
json_t *lmf_lora_config_json(const struct lmf_lora_config *lc, int targets,
    const json_t *base_model);
	/* adapter_config.json as PEFT 0.18 writes it (new reference);
	 * base_model a string or NULL */

/* a PEFT adapter directory as lmf-load(1) reads it. The config:
 * peft_type LORA, r and lora_alpha positive, target_modules a string (a
 * regex) or a list of strings, and none of use_dora, rank_pattern,
 * alpha_pattern, modules_to_save or layers_to_transform. r, or -1 with a
 * one-line message in err ("'peft_type' is not LORA") */
int64_t lmf_lora_peft_check_config(const json_t *ac, char *err,
    size_t errlen);
/* one tensor t of st, adapter_model.safetensors: a float lora_A [r, in]
 * or lora_B [out, r] of a module of target_modules (a string is a regex,
 * not checked) whose partner st holds; with p (np parameters), of a
 * linear layer of that model with its shape. 0, or -1 with a one-line
 * message in err ("tensor '...' has no '...'") */
int lmf_lora_peft_check_tensor(const struct lmf_safetensors *st,
    const struct lmf_st_tensor *t, int64_t r, const json_t *target_modules,
    const struct lmf_param *p, int np, char *err, size_t errlen);
/* the order lmf-load writes adapter tensors in: natural order of names
 * (lmf_natcmp), for qsort over const struct lmf_st_tensor * */
int lmf_lora_peft_cmp(const void *a, const void *b);

/* merge a LoRA adapter (an adapter stream's header and item, lmf-load(1))
 * into the f32 weights of a model item: for each adapted module W (out,
 * in) += scaling * B (out, r) @ A (r, in), in f32. Checks names and
 * shapes against c. A value head of the adapter (v_head.*, a reward
 * model's) is no LoRA weight: it is left in the adapter item for the
 * caller. 0, or -1 with a one-line message in err */
int lmf_lora_merge(struct lmf_item *model, const struct lmf_config *c,
    json_t *adapter_meta, struct lmf_item *adapter, char *err,
    size_t errlen);

#endif
