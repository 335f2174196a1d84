/* model_test: lmf_config_parse defaults and refusals, and the parameter
 * table's names, shapes and order for llama (GQA, untied) and qwen2 (biases,
 * tied). TAP output. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lmf/model.h"
#include "lmf/stream.h"
#include "lmf/util.h"
#include "lmf/banned.h"
#include "tap.h"


static int
parse(const char *json, struct lmf_config *c, char *msg, size_t n)
{
	json_t *j = json_loads(json, 0, NULL);
	int rc = j ? lmf_config_parse(c, j, msg, n) : -1;

	json_decref(j);
	return rc;
}

/* the config fails with a message containing want */
static void
refused(const char *json, const char *want)
{
	struct lmf_config c;
	char msg[256], what[400];

	snprintf(what, sizeof what, "refused: %s", want);
	ok(parse(json, &c, msg, sizeof msg) == LMF_E_FORMAT &&
	    strstr(msg, want) != NULL, "%s", what);
}

#define BASE "\"hidden_size\": 16, \"intermediate_size\": 24, " \
	"\"num_hidden_layers\": 2, \"num_attention_heads\": 4, " \
	"\"vocab_size\": 32"

int
main(void)
{
	struct lmf_config c;
	struct lmf_param *p;
	char msg[256];
	int n;

	ok(parse("{\"model_type\": \"llama\", " BASE "}", &c, msg,
	    sizeof msg) == 0, "minimal llama config parses");
	ok(c.num_key_value_heads == 4 && c.head_dim == 4 &&
	    c.rms_norm_eps == 1e-6 && c.rope_theta == 10000.0 &&
	    c.initializer_range == 0.02 && !c.tie_word_embeddings &&
	    c.bos_token_id == -1 && c.n_eos == 0 && !c.qkv_bias,
	    "Hugging Face defaults");
	p = lmf_model_params(&c, &n);
	ok(n == 1 + 2 * 9 + 2, "llama: 21 parameters");
	ok(!strcmp(p[0].name, "model.embed_tokens.weight") &&
	    p[0].shape[0] == 32 && p[0].shape[1] == 16 &&
	    p[0].kind == LMF_PARAM_EMBED, "embed_tokens first, [V, C]");
	ok(!strcmp(p[1].name, "model.layers.0.input_layernorm.weight") &&
	    p[1].ndim == 1 && p[1].kind == LMF_PARAM_NORM && p[1].layer == 0,
	    "then layer 0's input_layernorm");
	ok(!strcmp(p[n - 1].name, "lm_head.weight") &&
	    !strcmp(p[n - 2].name, "model.norm.weight"),
	    "model.norm then lm_head last");
	ok(lmf_model_param_find(p, n, "model.layers.1.mlp.down_proj.weight")
	    ->shape[1] == 24, "down_proj is [C, FF]");
	ok(lmf_model_numel(p, n) == 32 * 16 * 2 + 16 +
	    2 * (16 + 16 * 16 * 4 + 16 + 3 * 24 * 16), "numel");
	free(p);

	ok(parse("{\"model_type\": \"qwen2\", " BASE ", \"num_key_value_heads\":"
	    " 2, \"tie_word_embeddings\": true, \"eos_token_id\": [5, 6],"
	    " \"head_dim\": 8, \"rope_scaling\": null}", &c, msg,
	    sizeof msg) == 0, "qwen2 config parses");
	p = lmf_model_params(&c, &n);
	ok(n == 1 + 2 * 12 + 1, "qwen2 tied: 26 parameters, no lm_head");
	ok(!strcmp(p[3].name, "model.layers.0.self_attn.q_proj.bias") &&
	    p[3].kind == LMF_PARAM_BIAS && p[3].shape[0] == 32,
	    "q bias after q_proj, [NH * HS]");
	ok(lmf_model_param_find(p, n, "model.layers.0.self_attn.k_proj.weight")
	    ->shape[0] == 16, "k_proj is [KV * HS, C]");
	ok(lmf_model_param_find(p, n, "model.layers.0.self_attn.o_proj.weight")
	    ->shape[1] == 32, "o_proj is [C, NH * HS]");
	ok(c.n_eos == 2 && c.eos_token_ids[1] == 6, "eos list");
	free(p);

	/* qwen3: Qwen3Config's defaults, q_norm and k_norm of head_dim */
	ok(parse("{\"model_type\": \"qwen3\", " BASE ", \"num_key_value_heads\":"
	    " 2}", &c, msg, sizeof msg) == 0 && c.head_dim == 128 &&
	    c.qk_norm && !c.qkv_bias && !c.o_bias && c.rope_type == 0,
	    "qwen3 parses: head_dim 128 by default, no biases");
	p = lmf_model_params(&c, &n);
	ok(n == 1 + 2 * 11 + 2 && !strcmp(p[6].name,
	    "model.layers.0.self_attn.q_norm.weight") && p[6].shape[0] == 128
	    && p[6].kind == LMF_PARAM_NORM && !strcmp(p[7].name,
	    "model.layers.0.self_attn.k_norm.weight"),
	    "qwen3: q_norm, k_norm [HS] after o_proj");
	free(p);
	ok(parse("{\"model_type\": \"qwen3\", " BASE ", \"num_key_value_heads\":"
	    " 2, \"attention_bias\": true}", &c, msg, sizeof msg) == 0 &&
	    c.qkv_bias && c.o_bias, "qwen3 attention_bias: q/k/v/o biases");
	/* rope_scaling */
	ok(parse("{\"model_type\": \"llama\", " BASE ", \"head_dim\": 8, "
	    "\"max_position_embeddings\": 64, \"rope_scaling\": {\"rope_type\":"
	    " \"yarn\", \"factor\": 4}}", &c, msg, sizeof msg) == 0 &&
	    c.rope_type == LMF_ROPE_YARN &&
	    fabs(c.rope_attention_factor - (0.1 * log(4.0) + 1)) < 1e-12 &&
	    c.rope_orig_max_pos == 64, "yarn: attention factor 0.1 ln f + 1");
	{
		double inv[4], sc = lmf_rope_frequencies(&c, 1, inv);

		/* the ramp runs from dimension 0 (beta_fast 32 gives -0.50,
		 * floored, clamped to 0) to 2 (beta_slow 1 gives 1.01, ceiled) */
		ok(sc == c.rope_attention_factor && inv[0] == 1.0 &&
		    fabs(inv[3] - pow(10000, -0.75) / 4) < 1e-15,
		    "yarn: dimension 0 kept, the last interpolated");
	}
	ok(parse("{\"model_type\": \"llama\", " BASE ", \"rope_scaling\": "
	    "{\"type\": \"linear\", \"factor\": 2}}", &c, msg, sizeof msg) == 0
	    && c.rope_type == LMF_ROPE_LINEAR && c.rope_factor == 2,
	    "linear under the old key 'type'");
	refused("{\"model_type\": \"llama\", " BASE ", \"rope_scaling\": "
	    "{\"rope_type\": \"llama3\", \"factor\": 8, \"low_freq_factor\":"
	    " 4, \"high_freq_factor\": 1, \"original_max_position_embeddings\":"
	    " 8192}}", "'high_freq_factor' must exceed");
	refused("{\"model_type\": \"llama\", " BASE ", \"rope_scaling\": "
	    "{\"rope_type\": \"dynamic\"}}", "has no 'factor'");

	refused("{" BASE "}", "'model_type' is missing");
	refused("{\"model_type\": \"gpt2\", " BASE "}", "'model_type' 'gpt2'");
	refused("{\"model_type\": \"llama\", \"hidden_size\": 16}",
	    "'intermediate_size' is missing");
	refused("{\"model_type\": \"llama\", \"hidden_size\": -16, "
	    "\"intermediate_size\": 24, \"num_hidden_layers\": 2, "
	    "\"num_attention_heads\": 4, \"vocab_size\": 32}",
	    "'hidden_size' must be positive");
	refused("{\"model_type\": \"llama\", " BASE ", "
	    "\"num_key_value_heads\": 3}",
	    "does not divide");
	refused("{\"model_type\": \"llama\", " BASE ", \"rope_scaling\": "
	    "{\"type\": \"longrope\", \"factor\": 2}}", "'rope_scaling'");
	refused("{\"model_type\": \"llama\", " BASE ", \"hidden_act\": \"gelu\"}",
	    "'hidden_act'");
	refused("{\"model_type\": \"llama\", " BASE ", \"mlp_bias\": true}",
	    "'mlp_bias'");
	refused("{\"model_type\": \"qwen2\", " BASE ", \"use_sliding_window\": "
	    "true}", "'use_sliding_window'");
	refused("{\"model_type\": \"llama\", " BASE ", \"rms_norm_eps\": 0}",
	    "'rms_norm_eps' must be positive");
	refused("{\"model_type\": \"llama\", " BASE ", \"vocab_size\": 1.5}",
	    "'vocab_size' is not an integer");
	return tap_done();
}
