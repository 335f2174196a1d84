#ifndef LMF_MODEL_H
#define LMF_MODEL_H
/* model.h: the model config (a Hugging Face config.json, checked) and the
 * parameter table: every weight's Hugging Face name, shape and kind, in
 * model order. That order is the order of a model stream's tensors, so a
 * trainer fills its parameter block by walking the table.
 *
 * Supported: model_type llama, mistral, qwen2 and qwen3 (dense); SiLU
 * MLPs; RoPE plain or with rope_scaling of type linear, dynamic, llama3
 * or yarn, as transformers computes them. What is not supported is
 * refused by name. */
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

enum lmf_model_type {
	LMF_MODEL_LLAMA = 1,
	LMF_MODEL_MISTRAL = 2,
	LMF_MODEL_QWEN2 = 3,
	LMF_MODEL_QWEN3 = 4,
};

/* rope_scaling's type (rope_type, or the older key type) */
enum lmf_rope_type {
	LMF_ROPE_DEFAULT = 0,  /* rope_scaling null or "default" */
	LMF_ROPE_LINEAR = 1,   /* positions / factor */
	LMF_ROPE_DYNAMIC = 2,  /* NTK base growth past max_position_embeddings */
	LMF_ROPE_LLAMA3 = 3,   /* Llama 3.1: low/high frequency bands */
	LMF_ROPE_YARN = 4,     /* ramp blend, attention_factor on cos/sin */
};

#define LMF_CONFIG_MAX_EOS 16

struct lmf_config {
	int model_type;                  /* enum lmf_model_type */
	const char *model_type_name;     /* "llama", "mistral", "qwen2",
	                                    "qwen3" */
	int64_t hidden_size;             /* C */
	int64_t intermediate_size;       /* FF */
	int64_t num_hidden_layers;       /* L */
	int64_t num_attention_heads;     /* NH */
	int64_t num_key_value_heads;     /* default NH; divides NH */
	int64_t head_dim;                /* HS; default C / NH */
	int64_t vocab_size;              /* V */
	int64_t max_position_embeddings;
	int64_t sliding_window;          /* mistral: window, 0 for none */
	double rms_norm_eps;
	double rope_theta;
	double initializer_range;        /* default 0.02 */
	int tie_word_embeddings;         /* lm_head is embed_tokens */
	int qkv_bias;                    /* q/k/v projections have biases */
	int o_bias;                      /* o_proj has a bias (llama
	                                    attention_bias) */
	int qk_norm;                     /* qwen3: RMSNorm of each head of q
	                                    and k (q_norm, k_norm (HS)) */
	/* rope_scaling */
	int rope_type;                   /* enum lmf_rope_type */
	double rope_factor;              /* factor */
	double rope_low_freq_factor;     /* llama3 */
	double rope_high_freq_factor;    /* llama3 */
	int64_t rope_orig_max_pos;       /* llama3, yarn:
	                                    original_max_position_embeddings */
	double rope_attention_factor;    /* yarn: cos/sin scale */
	double rope_beta_fast, rope_beta_slow; /* yarn: 32, 1 */
	int rope_truncate;               /* yarn: floor/ceil the ramp ends */
	int64_t bos_token_id;            /* -1 when absent */
	int64_t pad_token_id;            /* -1 when absent */
	int n_eos;                       /* eos_token_id: one id or a list */
	int64_t eos_token_ids[LMF_CONFIG_MAX_EOS];
};

/* fill c from a config.json object, applying Hugging Face's defaults and
 * refusing what this build does not implement. Returns 0, or LMF_E_FORMAT
 * (stream.h) with a one-line message naming the field in errbuf. */
int lmf_config_parse(struct lmf_config *c, const json_t *obj, char *errbuf,
    size_t errlen);

/* the rotary frequencies of c for sequences of seq_len positions (the
 * largest position + 1; only dynamic depends on it): inv_freq (HS / 2)
 * as transformers' rope_init functions compute them. Returns the
 * attention scaling that multiplies cos and sin (1 but for yarn) */
double lmf_rope_frequencies(const struct lmf_config *c, int64_t seq_len,
    double *inv_freq);

/* the rotary frequencies a model holds, updated as transformers'
 * dynamic_rope_update does: they grow with the longest sequence seen past
 * max_position_embeddings, and return to the original ones for a sequence
 * shorter than it */
struct lmf_rope {
	double *inv_freq;     /* (HS / 2) */
	double scale;         /* attention scaling of cos and sin */
	int64_t cached;       /* the sequence length they were made for */
};
void lmf_rope_init(struct lmf_rope *r, const struct lmf_config *c);
void lmf_rope_update(struct lmf_rope *r, const struct lmf_config *c,
    int64_t seq_len);   /* before a forward whose largest position + 1
                           is seq_len */
void lmf_rope_free(struct lmf_rope *r);

/* how a parameter is initialised, and what it is */
enum lmf_param_kind {
	LMF_PARAM_EMBED = 1,   /* embedding: normal(0, initializer_range) */
	LMF_PARAM_LINEAR = 2,  /* linear weight [out, in]: normal(0, range) */
	LMF_PARAM_NORM = 3,    /* RMSNorm weight: ones */
	LMF_PARAM_BIAS = 4,    /* linear bias: zeros */
};

#define LMF_PARAM_NAME 96

/* one parameter of the table */
struct lmf_param {
	char name[LMF_PARAM_NAME]; /* Hugging Face name */
	int kind;                  /* enum lmf_param_kind */
	int layer;                 /* 0..L-1, or -1 outside the blocks */
	int ndim;                  /* 1 or 2 */
	int64_t shape[2];
	uint64_t numel;
};

/* the parameter table in model order: model.embed_tokens.weight; per layer
 * input_layernorm, self_attn q/k/v/o (+ biases), (qwen3) self_attn q_norm
 * and k_norm, post_attention_layernorm,
 * mlp gate/up/down; model.norm.weight; lm_head.weight unless tied.
 * Allocated (free() it); *n is the count. */
struct lmf_param *lmf_model_params(const struct lmf_config *c, int *n);
/* the entry of the table named name, or NULL */
const struct lmf_param *lmf_model_param_find(const struct lmf_param *p, int n,
    const char *name);
/* total elements of all parameters */
uint64_t lmf_model_numel(const struct lmf_param *p, int n);

#endif
