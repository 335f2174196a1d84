/* model.c: config.json parsing and checking, and the parameter table of
 * model.h. Defaults are Hugging Face's (LlamaConfig, MistralConfig,
 * Qwen2Config); the sizes of the model have no default and must be given. */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "lmf/model.h"
#include "lmf/stream.h"
#include "lmf/util.h"
#include "lmf/banned.h"

#define MAX_DIM 2147483647LL

struct perr {
	char *buf;
	size_t len;
};

static int fail(struct perr *e, const char *fmt, ...) LMF_PRINTF(2, 3);

static int
fail(struct perr *e, const char *fmt, ...)
{
	va_list ap;

	if (e->buf && e->len) {
		va_start(ap, fmt);
		lmf_vseterr(e->buf, e->len, fmt, ap);
		va_end(ap);
	}
	return LMF_E_FORMAT;
}

/* the value of key, or NULL when absent or null */
static json_t *
get(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_null(v) ? NULL : v;
}

/* an integer field in [lo, MAX_DIM]; def < 0 means required */
static int
get_int(struct perr *e, const json_t *o, const char *key, int64_t def,
    int64_t lo, int64_t *out)
{
	json_t *v = get(o, key);
	json_int_t i;

	if (!v) {
		if (def < 0)
			return fail(e, "'%s' is missing", key);
		*out = def;
		return 0;
	}
	if (!json_is_integer(v))
		return fail(e, "'%s' is not an integer", key);
	i = json_integer_value(v);
	if (i < lo)
		return fail(e, "'%s' must be %s, not %lld", key,
		    lo > 0 ? "positive" : "non-negative", (long long)i);
	if (i > MAX_DIM)
		return fail(e, "'%s' is %lld, past the limit of %lld", key,
		    (long long)i, MAX_DIM);
	*out = i;
	return 0;
}

/* a positive (or, with zero_ok, non-negative) finite number */
static int
get_num(struct perr *e, const json_t *o, const char *key, double def,
    int zero_ok, double *out)
{
	json_t *v = get(o, key);
	double d;

	if (!v) {
		*out = def;
		return 0;
	}
	if (!json_is_number(v))
		return fail(e, "'%s' is not a number", key);
	d = json_number_value(v);
	if (!isfinite(d) || d < 0 || (d == 0 && !zero_ok))
		return fail(e, "'%s' must be %s, not %g", key,
		    zero_ok ? "non-negative" : "positive", d);
	*out = d;
	return 0;
}

static int
get_bool(struct perr *e, const json_t *o, const char *key, int def, int *out)
{
	json_t *v = get(o, key);

	if (!v) {
		*out = def;
		return 0;
	}
	if (!json_is_boolean(v))
		return fail(e, "'%s' is not true or false", key);
	*out = json_is_true(v);
	return 0;
}

/* a token id: an integer >= 0, or -1 when absent */
static int
get_id(struct perr *e, const json_t *o, const char *key, int64_t *out)
{
	*out = -1;
	if (!get(o, key))
		return 0;
	return get_int(e, o, key, 0, 0, out);
}

static int
get_eos(struct perr *e, const json_t *o, struct lmf_config *c)
{
	json_t *v = get(o, "eos_token_id"), *x;
	size_t i;

	c->n_eos = 0;
	if (!v)
		return 0;
	if (json_is_integer(v))
		return get_int(e, o, "eos_token_id", 0, 0,
		    &c->eos_token_ids[c->n_eos++]);
	if (!json_is_array(v) || json_array_size(v) > LMF_CONFIG_MAX_EOS)
		return fail(e, "'eos_token_id' is not an id or a list of at most "
		    "%d ids", LMF_CONFIG_MAX_EOS);
	json_array_foreach(v, i, x) {
		if (!json_is_integer(x) || json_integer_value(x) < 0 ||
		    json_integer_value(x) > MAX_DIM)
			return fail(e, "'eos_token_id' holds a bad id");
		c->eos_token_ids[c->n_eos++] = json_integer_value(x);
	}
	return 0;
}

/* yarn's get_mscale */
static double
yarn_mscale(double scale, double mscale)
{
	return scale <= 1 ? 1.0 : 0.1 * mscale * log(scale) + 1.0;
}

/* a number of rope_scaling; def < 0: required */
static int
rs_num(struct perr *e, const json_t *rs, const char *key, double def,
    double *out)
{
	json_t *v = get(rs, key);

	if (!v && def < 0)
		return fail(e, "'rope_scaling' has no '%s'", key);
	if (!v) {
		*out = def;
		return 0;
	}
	if (!json_is_number(v) || !isfinite(json_number_value(v)) ||
	    json_number_value(v) <= 0)
		return fail(e, "'rope_scaling' '%s' is not a positive number",
		    key);
	*out = json_number_value(v);
	return 0;
}

/* rope_scaling, as transformers' rope_init functions read it */
static int
parse_rope_scaling(struct perr *e, const json_t *o, struct lmf_config *c)
{
	static const char *names[] = { "default", "linear", "dynamic",
		"llama3", "yarn" };
	json_t *rs = get(o, "rope_scaling"), *t;
	double d, ms, msa, orig = 0;
	const char *s;
	int i;

	c->rope_type = LMF_ROPE_DEFAULT;
	c->rope_factor = 1;
	c->rope_attention_factor = 1;
	if (!rs)
		return 0;
	if (!json_is_object(rs))
		return fail(e, "'rope_scaling' is not an object");
	t = get(rs, "rope_type");
	if (!t)
		t = get(rs, "type");
	if (!t)
		return fail(e, "'rope_scaling' has no 'rope_type'");
	s = json_is_string(t) ? json_string_value(t) : "?";
	for (i = 0; i < 5; i++)
		if (!strcmp(s, names[i]))
			break;
	if (i == 5)
		return fail(e, "'rope_scaling' of type '%s' is not supported "
		    "(default, linear, dynamic, llama3, yarn)", s);
	c->rope_type = i;
	if (i == LMF_ROPE_DEFAULT)
		return 0;
	if (rs_num(e, rs, "factor", -1, &c->rope_factor) < 0)
		return LMF_E_FORMAT;
	if (get(rs, "original_max_position_embeddings")) {
		if (rs_num(e, rs, "original_max_position_embeddings", -1,
		    &orig) < 0)
			return LMF_E_FORMAT;
		if (orig != floor(orig) || orig > MAX_DIM)
			return fail(e, "'rope_scaling' "
			    "'original_max_position_embeddings' is not an "
			    "integer");
	}
	c->rope_orig_max_pos = (int64_t)orig;
	switch (i) {
	case LMF_ROPE_DYNAMIC:
		if (c->head_dim <= 2)
			return fail(e, "'rope_scaling' dynamic needs a "
			    "head_dim above 2");
		break;
	case LMF_ROPE_LLAMA3:
		if (!orig)
			return fail(e, "'rope_scaling' has no "
			    "'original_max_position_embeddings'");
		if (rs_num(e, rs, "low_freq_factor", -1,
		    &c->rope_low_freq_factor) < 0 ||
		    rs_num(e, rs, "high_freq_factor", -1,
		    &c->rope_high_freq_factor) < 0)
			return LMF_E_FORMAT;
		if (c->rope_high_freq_factor <= c->rope_low_freq_factor)
			return fail(e, "'rope_scaling' 'high_freq_factor' "
			    "must exceed 'low_freq_factor'");
		break;
	case LMF_ROPE_YARN:
		/* with the pretrained length given, the factor is the ratio
		 * of the two lengths (transformers' DeepSeek-V3 rule) */
		if (orig)
			c->rope_factor = (double)c->max_position_embeddings /
			    orig;
		else
			c->rope_orig_max_pos = c->max_position_embeddings;
		if (rs_num(e, rs, "beta_fast", 32, &c->rope_beta_fast) < 0 ||
		    rs_num(e, rs, "beta_slow", 1, &c->rope_beta_slow) < 0 ||
		    rs_num(e, rs, "mscale", 0, &ms) < 0 ||
		    rs_num(e, rs, "mscale_all_dim", 0, &msa) < 0 ||
		    get_bool(e, rs, "truncate", 1, &c->rope_truncate) < 0)
			return LMF_E_FORMAT;
		if (get(rs, "attention_factor")) {
			if (rs_num(e, rs, "attention_factor", -1, &d) < 0)
				return LMF_E_FORMAT;
		} else if (ms > 0 && msa > 0) {
			d = yarn_mscale(c->rope_factor, ms) /
			    yarn_mscale(c->rope_factor, msa);
		} else {
			d = yarn_mscale(c->rope_factor, 1);
		}
		c->rope_attention_factor = d;
		break;
	}
	return 0;
}

/* the features this build does not implement, refused by name */
static int
check_unsupported(struct perr *e, const json_t *o, const struct lmf_config *c)
{
	json_t *v;
	const char *s;
	int b;

	if ((v = get(o, "hidden_act"))) {
		s = json_is_string(v) ? json_string_value(v) : "?";
		if (strcmp(s, "silu") && strcmp(s, "swish"))
			return fail(e, "'hidden_act' '%s' is not supported (silu "
			    "only)", s);
	}
	if (get_bool(e, o, "mlp_bias", 0, &b) < 0)
		return LMF_E_FORMAT;
	if (b)
		return fail(e, "'mlp_bias' true is not supported");
	if (c->model_type == LMF_MODEL_MISTRAL) {
		if (get_bool(e, o, "attention_bias", 0, &b) < 0)
			return LMF_E_FORMAT;
		if (b)
			return fail(e, "'attention_bias' true is not supported "
			    "for mistral");
	}
	if (c->model_type == LMF_MODEL_QWEN2 ||
	    c->model_type == LMF_MODEL_QWEN3) {
		if (get_bool(e, o, "use_sliding_window", 0, &b) < 0)
			return LMF_E_FORMAT;
		if (b)
			return fail(e, "'use_sliding_window' true is not "
			    "supported");
	}
	if (get(o, "quantization_config"))
		return fail(e, "'quantization_config' is not supported");
	return 0;
}

int
lmf_config_parse(struct lmf_config *c, const json_t *o, char *errbuf,
    size_t errlen)
{
	struct perr e = { errbuf, errlen };
	json_t *mt;
	const char *s;
	int64_t maxpos = 2048, kvdef;
	int b;

	memset(c, 0, sizeof *c);
	if (errbuf && errlen)
		errbuf[0] = 0;
	if (!json_is_object(o))
		return fail(&e, "the config is not a JSON object");
	mt = get(o, "model_type");
	if (!mt)
		return fail(&e, "'model_type' is missing");
	s = json_is_string(mt) ? json_string_value(mt) : "?";
	if (!strcmp(s, "llama")) {
		c->model_type = LMF_MODEL_LLAMA;
		c->model_type_name = "llama";
	} else if (!strcmp(s, "mistral")) {
		c->model_type = LMF_MODEL_MISTRAL;
		c->model_type_name = "mistral";
		maxpos = 4096 * 32;
	} else if (!strcmp(s, "qwen2")) {
		c->model_type = LMF_MODEL_QWEN2;
		c->model_type_name = "qwen2";
		maxpos = 32768;
	} else if (!strcmp(s, "qwen3")) {
		c->model_type = LMF_MODEL_QWEN3;
		c->model_type_name = "qwen3";
		c->qk_norm = 1;
		maxpos = 32768;
	} else {
		return fail(&e, "'model_type' '%s' is not supported (llama, "
		    "mistral, qwen2, qwen3)", s);
	}
	if (get_int(&e, o, "hidden_size", -1, 1, &c->hidden_size) < 0 ||
	    get_int(&e, o, "intermediate_size", -1, 1,
	    &c->intermediate_size) < 0 ||
	    get_int(&e, o, "num_hidden_layers", -1, 1,
	    &c->num_hidden_layers) < 0 ||
	    get_int(&e, o, "num_attention_heads", -1, 1,
	    &c->num_attention_heads) < 0 ||
	    get_int(&e, o, "vocab_size", -1, 1, &c->vocab_size) < 0)
		return LMF_E_FORMAT;
	if (c->num_hidden_layers > 65536)
		return fail(&e, "'num_hidden_layers' is %lld, past the limit of "
		    "65536", (long long)c->num_hidden_layers);
	/* Qwen3Config's signature defaults: 32 kv heads, head_dim 128 */
	kvdef = c->model_type == LMF_MODEL_MISTRAL ? 8 :
	    c->model_type == LMF_MODEL_QWEN3 ? 32 : c->num_attention_heads;
	if (get_int(&e, o, "num_key_value_heads", kvdef, 1,
	    &c->num_key_value_heads) < 0)
		return LMF_E_FORMAT;
	if (c->num_attention_heads % c->num_key_value_heads)
		return fail(&e, "'num_key_value_heads' %lld does not divide "
		    "'num_attention_heads' %lld",
		    (long long)c->num_key_value_heads,
		    (long long)c->num_attention_heads);
	if (!get(o, "head_dim") && c->model_type != LMF_MODEL_QWEN3 &&
	    c->hidden_size % c->num_attention_heads)
		return fail(&e, "'hidden_size' %lld is not a multiple of "
		    "'num_attention_heads' %lld", (long long)c->hidden_size,
		    (long long)c->num_attention_heads);
	if (get_int(&e, o, "head_dim", c->model_type == LMF_MODEL_QWEN3 ? 128 :
	    c->hidden_size / c->num_attention_heads, 1, &c->head_dim) < 0 ||
	    get_int(&e, o, "max_position_embeddings", maxpos, 1,
	    &c->max_position_embeddings) < 0)
		return LMF_E_FORMAT;
	if (c->head_dim * c->num_attention_heads > MAX_DIM)
		return fail(&e, "'head_dim' times 'num_attention_heads' is past "
		    "the limit of %lld", MAX_DIM);
	if (get_num(&e, o, "rms_norm_eps", 1e-6, 0, &c->rms_norm_eps) < 0 ||
	    get_num(&e, o, "rope_theta", 10000.0, 0, &c->rope_theta) < 0 ||
	    get_num(&e, o, "initializer_range", 0.02, 1,
	    &c->initializer_range) < 0 ||
	    get_bool(&e, o, "tie_word_embeddings", 0,
	    &c->tie_word_embeddings) < 0)
		return LMF_E_FORMAT;
	if (c->model_type == LMF_MODEL_MISTRAL &&
	    get_int(&e, o, "sliding_window", 4096, 1, &c->sliding_window) < 0)
		return LMF_E_FORMAT;
	if (c->model_type == LMF_MODEL_QWEN2) {
		c->qkv_bias = 1;
	} else if (c->model_type == LMF_MODEL_LLAMA ||
	    c->model_type == LMF_MODEL_QWEN3) {
		if (get_bool(&e, o, "attention_bias", 0, &b) < 0)
			return LMF_E_FORMAT;
		c->qkv_bias = c->o_bias = b;
	}
	if (get_id(&e, o, "bos_token_id", &c->bos_token_id) < 0 ||
	    get_id(&e, o, "pad_token_id", &c->pad_token_id) < 0 ||
	    get_eos(&e, o, c) < 0 || parse_rope_scaling(&e, o, c) < 0)
		return LMF_E_FORMAT;
	return check_unsupported(&e, o, c);
}

static void
add(struct lmf_param *p, int *n, int kind, int layer, const char *name,
    int64_t d0, int64_t d1)
{
	struct lmf_param *q = &p[(*n)++];

	snprintf(q->name, sizeof q->name, "%s", name);
	q->kind = kind;
	q->layer = layer;
	q->ndim = d1 ? 2 : 1;
	q->shape[0] = d0;
	q->shape[1] = d1;
	q->numel = (uint64_t)d0 * (uint64_t)(d1 ? d1 : 1);
}

static void
add_layer(struct lmf_param *p, int *n, const struct lmf_config *c, int l,
    const char *what, int kind, int64_t d0, int64_t d1)
{
	char name[LMF_PARAM_NAME];

	snprintf(name, sizeof name, "model.layers.%d.%s", l, what);
	add(p, n, kind, l, name, d0, d1);
}

struct lmf_param *
lmf_model_params(const struct lmf_config *c, int *n)
{
	int64_t C = c->hidden_size, FF = c->intermediate_size;
	int64_t Q = c->num_attention_heads * c->head_dim;
	int64_t KV = c->num_key_value_heads * c->head_dim;
	int L = (int)c->num_hidden_layers, l, max = 3 + 18 * L;
	struct lmf_param *p = xcalloc((size_t)max, sizeof *p);

	*n = 0;
	add(p, n, LMF_PARAM_EMBED, -1, "model.embed_tokens.weight",
	    c->vocab_size, C);
	for (l = 0; l < L; l++) {
		add_layer(p, n, c, l, "input_layernorm.weight", LMF_PARAM_NORM,
		    C, 0);
		add_layer(p, n, c, l, "self_attn.q_proj.weight", LMF_PARAM_LINEAR,
		    Q, C);
		if (c->qkv_bias)
			add_layer(p, n, c, l, "self_attn.q_proj.bias",
			    LMF_PARAM_BIAS, Q, 0);
		add_layer(p, n, c, l, "self_attn.k_proj.weight", LMF_PARAM_LINEAR,
		    KV, C);
		if (c->qkv_bias)
			add_layer(p, n, c, l, "self_attn.k_proj.bias",
			    LMF_PARAM_BIAS, KV, 0);
		add_layer(p, n, c, l, "self_attn.v_proj.weight", LMF_PARAM_LINEAR,
		    KV, C);
		if (c->qkv_bias)
			add_layer(p, n, c, l, "self_attn.v_proj.bias",
			    LMF_PARAM_BIAS, KV, 0);
		add_layer(p, n, c, l, "self_attn.o_proj.weight", LMF_PARAM_LINEAR,
		    C, Q);
		if (c->o_bias)
			add_layer(p, n, c, l, "self_attn.o_proj.bias",
			    LMF_PARAM_BIAS, C, 0);
		if (c->qk_norm) {
			add_layer(p, n, c, l, "self_attn.q_norm.weight",
			    LMF_PARAM_NORM, c->head_dim, 0);
			add_layer(p, n, c, l, "self_attn.k_norm.weight",
			    LMF_PARAM_NORM, c->head_dim, 0);
		}
		add_layer(p, n, c, l, "post_attention_layernorm.weight",
		    LMF_PARAM_NORM, C, 0);
		add_layer(p, n, c, l, "mlp.gate_proj.weight", LMF_PARAM_LINEAR,
		    FF, C);
		add_layer(p, n, c, l, "mlp.up_proj.weight", LMF_PARAM_LINEAR,
		    FF, C);
		add_layer(p, n, c, l, "mlp.down_proj.weight", LMF_PARAM_LINEAR,
		    C, FF);
	}
	add(p, n, LMF_PARAM_NORM, -1, "model.norm.weight", C, 0);
	if (!c->tie_word_embeddings)
		add(p, n, LMF_PARAM_LINEAR, -1, "lm_head.weight",
		    c->vocab_size, C);
	return p;
}

const struct lmf_param *
lmf_model_param_find(const struct lmf_param *p, int n, const char *name)
{
	int i;

	for (i = 0; i < n; i++)
		if (!strcmp(p[i].name, name))
			return &p[i];
	return NULL;
}

uint64_t
lmf_model_numel(const struct lmf_param *p, int n)
{
	uint64_t s = 0;
	int i;

	for (i = 0; i < n; i++)
		s += p[i].numel;
	return s;
}

double
lmf_rope_frequencies(const struct lmf_config *c, int64_t seq_len,
    double *inv_freq)
{
	int HS = (int)c->head_dim, half = HS / 2, i;
	double base = c->rope_theta, f = c->rope_factor;

	if (c->rope_type == LMF_ROPE_DYNAMIC) {
		/* NTK: the base grows with the sequence past the trained
		 * length, base * (f s / max - (f - 1))^(HS / (HS - 2)) */
		double mx = (double)c->max_position_embeddings;
		double s = seq_len > c->max_position_embeddings ?
		    (double)seq_len : mx;

		base *= pow(f * s / mx - (f - 1), (double)HS / (HS - 2));
	}
	for (i = 0; i < half; i++)
		inv_freq[i] = 1.0 / pow(base, 2.0 * i / HS);
	switch (c->rope_type) {
	case LMF_ROPE_LINEAR:
		for (i = 0; i < half; i++)
			inv_freq[i] /= f;
		break;
	case LMF_ROPE_LLAMA3: {
		/* wavelengths longer than old / low_freq_factor are slowed by
		 * the factor, shorter than old / high_freq_factor kept, and
		 * those between blended by old / wavelen */
		double old = (double)c->rope_orig_max_pos;
		double lo = c->rope_low_freq_factor;
		double hi = c->rope_high_freq_factor;

		for (i = 0; i < half; i++) {
			double wl = 2 * M_PI / inv_freq[i], sm;

			if (wl > old / lo) {
				inv_freq[i] /= f;
			} else if (!(wl < old / hi)) {
				sm = (old / wl - lo) / (hi - lo);
				inv_freq[i] = (1 - sm) * inv_freq[i] / f +
				    sm * inv_freq[i];
			}
		}
		break;
	}
	case LMF_ROPE_YARN: {
		/* dimensions below the ramp keep their frequency
		 * (extrapolation), those above it take it / factor
		 * (interpolation), a linear ramp between: the ramp ends are
		 * the dimensions that turn beta_fast and beta_slow times
		 * over the pretrained length */
		double mx = (double)c->rope_orig_max_pos, lo, hi, r;

		lo = HS * log(mx / (c->rope_beta_fast * 2 * M_PI)) /
		    (2 * log(base));
		hi = HS * log(mx / (c->rope_beta_slow * 2 * M_PI)) /
		    (2 * log(base));
		if (c->rope_truncate) {
			lo = floor(lo);
			hi = ceil(hi);
		}
		lo = lo > 0 ? lo : 0;
		hi = hi < HS - 1 ? hi : HS - 1;
		if (lo == hi)
			hi += 0.001;
		for (i = 0; i < half; i++) {
			r = (i - lo) / (hi - lo);
			r = r < 0 ? 0 : r > 1 ? 1 : r;
			/* r is the weight of the interpolated frequency */
			inv_freq[i] = inv_freq[i] / f * r +
			    inv_freq[i] * (1 - r);
		}
		return c->rope_attention_factor;
	}
	default:
		break;
	}
	return 1.0;
}

void
lmf_rope_init(struct lmf_rope *r, const struct lmf_config *c)
{
	r->inv_freq = xcalloc((size_t)c->head_dim / 2 + 1,
	    sizeof *r->inv_freq);
	r->cached = c->max_position_embeddings;
	r->scale = lmf_rope_frequencies(c, r->cached, r->inv_freq);
}

void
lmf_rope_update(struct lmf_rope *r, const struct lmf_config *c,
    int64_t seq_len)
{
	int64_t mx = c->max_position_embeddings;

	if (c->rope_type != LMF_ROPE_DYNAMIC)
		return;
	if (seq_len > r->cached) {
		r->scale = lmf_rope_frequencies(c, seq_len, r->inv_freq);
		r->cached = seq_len;
	}
	if (seq_len < mx && r->cached > mx) {
		r->scale = lmf_rope_frequencies(c, mx, r->inv_freq);
		r->cached = mx;
	}
}

void
lmf_rope_free(struct lmf_rope *r)
{
	free(r->inv_freq);
	r->inv_freq = NULL;
}
