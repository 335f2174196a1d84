/* lora.c: LoRA naming, adapter_config.json and the merge (lora.h), the
 * parts of LoRA that training (llama.c), inference (infer.c) and export
 * share. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmf/gemm.h"
#include "lmf/lora.h"
#include "lmf/util.h"
#include "lmf/banned.h"

#define NPROJ LMF_LORA_NPROJ

static const char *pname[NPROJ] = {
	"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
	"down_proj",
};
static const char *pmodule[NPROJ] = {
	"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
	"self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj",
};
/* by name: down, gate, k, o, q, up, v */
static const int psorted[NPROJ] = { 6, 4, 1, 3, 0, 5, 2 };

const char *
lmf_lora_proj_name(int j)
{
	return pname[j];
}

const char *
lmf_lora_module(int j)
{
	return pmodule[j];
}

int
lmf_lora_sorted(int k)
{
	return psorted[k];
}

static int
proj_index(const char *s, size_t n)
{
	int j;

	for (j = 0; j < NPROJ; j++)
		if (strlen(pname[j]) == n && !strncmp(s, pname[j], n))
			return j;
	return -1;
}

int
lmf_lora_target_parse(const char *s, char *bad, size_t badlen)
{
	int bits = 0, j;
	size_t n;

	if (!strcmp(s, "all"))
		return LMF_PROJ_ALL;
	for (;;) {
		n = strcspn(s, ",");
		while (n && (*s == ' ')) {
			s++;
			n--;
		}
		while (n && s[n - 1] == ' ')
			n--;
		j = proj_index(s, n);
		if (j < 0) {
			snprintf(bad, badlen, "%.*s", (int)(n > 64 ? 64 : n),
			    s);
			return -1;
		}
		bits |= 1 << j;
		s += strcspn(s, ",");
		if (!*s)
			break;
		s++;
	}
	return bits;
}

void
lmf_lora_tensor_name(char *buf, size_t len, int l, int j, int ab)
{
	snprintf(buf, len, "base_model.model.model.layers.%d.%s.lora_%c."
	    "weight", l, pmodule[j], ab ? 'B' : 'A');
}

int
lmf_lora_parse_name(const char *name, int L, int *layer, int *proj)
{
	static const char pre[] = "base_model.model.model.layers.";
	const char *s = name;
	char *end;
	long l;
	int j, ab;
	size_t n;

	if (strncmp(s, pre, sizeof pre - 1))
		return -1;
	s += sizeof pre - 1;
	if (*s < '0' || *s > '9')
		return -1;
	l = strtol(s, &end, 10);
	if (l < 0 || l >= L || *end != '.')
		return -1;
	s = end + 1;
	for (j = 0; j < NPROJ; j++) {
		n = strlen(pmodule[j]);
		if (!strncmp(s, pmodule[j], n) && s[n] == '.')
			break;
	}
	if (j == NPROJ)
		return -1;
	s += strlen(pmodule[j]);
	if (!strcmp(s, ".lora_A.weight"))
		ab = 0;
	else if (!strcmp(s, ".lora_B.weight"))
		ab = 1;
	else
		return -1;
	*layer = (int)l;
	*proj = j;
	return ab;
}

/* ------------------------------------------------------------------ */
/* adapter_config.json */

double
lmf_lora_scaling(const struct lmf_lora_config *lc)
{
	return lc->rslora ? lc->alpha / sqrt((double)lc->r) :
	    lc->alpha / lc->r;
}

int
lmf_lora_config_parse(struct lmf_lora_config *lc, const json_t *ac,
    char *err, size_t errlen)
{
	json_t *v;

	v = json_object_get(ac, "r");
	if (!json_is_integer(v) || json_integer_value(v) < 1 ||
	    json_integer_value(v) > 65536) {
		lmf_seterr(err, errlen,
		    "adapter 'r' is not a positive integer");
		return -1;
	}
	lc->r = (int)json_integer_value(v);
	v = json_object_get(ac, "lora_alpha");
	if (!json_is_number(v) || !(json_number_value(v) > 0)) {
		lmf_seterr(err, errlen,
		    "adapter 'lora_alpha' is not a positive number");
		return -1;
	}
	lc->alpha = json_number_value(v);
	v = json_object_get(ac, "use_rslora");
	if (v && !json_is_boolean(v) && !json_is_null(v)) {
		lmf_seterr(err, errlen, "adapter 'use_rslora' is not true or "
		    "false");
		return -1;
	}
	lc->rslora = json_is_true(v);
	v = json_object_get(ac, "lora_dropout");
	lc->dropout = json_is_number(v) && json_number_value(v) >= 0 &&
	    json_number_value(v) < 1 ? json_number_value(v) : -1;
	return 0;
}

int
lmf_lora_targets_parse(const json_t *tm, char *err, size_t errlen)
{
	size_t i;
	int bits = 0, j;
	const char *s;

	if (!json_is_array(tm) || !json_array_size(tm)) {
		lmf_seterr(err, errlen,
		    "adapter 'target_modules' is not a list "
		    "of module names");
		return -1;
	}
	for (i = 0; i < json_array_size(tm); i++) {
		s = json_string_value(json_array_get(tm, i));
		j = s ? proj_index(s, strlen(s)) : -1;
		if (j < 0) {
			lmf_seterr(err, errlen,
			    "adapter target module '%s' is not "
			    "one of q_proj ... down_proj", s ? s : "?");
			return -1;
		}
		bits |= 1 << j;
	}
	return bits;
}

json_t *
lmf_lora_config_json(const struct lmf_lora_config *lc, int targets,
    const json_t *src)
{
	json_t *ac = json_object(), *tm = json_array();
	int k;

	for (k = 0; k < NPROJ; k++)
		if (targets & 1 << psorted[k])
			json_array_append_new(tm,
			    json_string(pname[psorted[k]]));
	json_object_set_new(ac, "alora_invocation_tokens", json_null());
	json_object_set_new(ac, "alpha_pattern", json_object());
	json_object_set_new(ac, "arrow_config", json_null());
	json_object_set_new(ac, "auto_mapping", json_null());
	json_object_set_new(ac, "base_model_name_or_path",
	    json_is_string(src) ? json_copy((json_t *)src) : json_null());
	json_object_set_new(ac, "bias", json_string("none"));
	json_object_set_new(ac, "corda_config", json_null());
	json_object_set_new(ac, "ensure_weight_tying", json_false());
	json_object_set_new(ac, "eva_config", json_null());
	json_object_set_new(ac, "exclude_modules", json_null());
	json_object_set_new(ac, "fan_in_fan_out", json_false());
	json_object_set_new(ac, "inference_mode", json_true());
	json_object_set_new(ac, "init_lora_weights", json_true());
	json_object_set_new(ac, "layer_replication", json_null());
	json_object_set_new(ac, "layers_pattern", json_null());
	json_object_set_new(ac, "layers_to_transform", json_null());
	json_object_set_new(ac, "loftq_config", json_object());
	if (lc->alpha == floor(lc->alpha) && lc->alpha < 1e15)
		json_object_set_new(ac, "lora_alpha",
		    json_integer((json_int_t)lc->alpha));
	else
		json_object_set_new(ac, "lora_alpha", json_real(lc->alpha));
	json_object_set_new(ac, "lora_bias", json_false());
	json_object_set_new(ac, "lora_dropout", json_real(lc->dropout));
	json_object_set_new(ac, "megatron_config", json_null());
	json_object_set_new(ac, "megatron_core",
	    json_string("megatron.core"));
	json_object_set_new(ac, "modules_to_save", json_null());
	json_object_set_new(ac, "peft_type", json_string("LORA"));
	json_object_set_new(ac, "peft_version", json_string("0.18.1"));
	json_object_set_new(ac, "qalora_group_size", json_integer(16));
	json_object_set_new(ac, "r", json_integer(lc->r));
	json_object_set_new(ac, "rank_pattern", json_object());
	json_object_set_new(ac, "revision", json_null());
	json_object_set_new(ac, "target_modules", tm);
	json_object_set_new(ac, "target_parameters", json_null());
	json_object_set_new(ac, "task_type", json_string("CAUSAL_LM"));
	json_object_set_new(ac, "trainable_token_indices", json_null());
	json_object_set_new(ac, "use_dora", json_false());
	json_object_set_new(ac, "use_qalora", json_false());
	json_object_set_new(ac, "use_rslora", json_boolean(lc->rslora));
	return ac;
}

/* ------------------------------------------------------------------ */
/* merge */

/* the model weight name a PEFT tensor adapts ("model.layers.0.self_attn.
 * q_proj.weight"), and whether it is lora_A (0) or lora_B (1); -1 if the
 * name is not a LoRA weight */
static int
lora_target(const char *name, char *out, size_t outlen)
{
	static const char pre[] = "base_model.model.";
	size_t n = strlen(name), k;
	int ab;

	if (strncmp(name, pre, sizeof pre - 1))
		return -1;
	k = strlen(".lora_A.weight");
	if (n < sizeof pre - 1 + k)
		return -1;
	if (!strcmp(name + n - k, ".lora_A.weight"))
		ab = 0;
	else if (!strcmp(name + n - k, ".lora_B.weight"))
		ab = 1;
	else
		return -1;
	if (n - k - (sizeof pre - 1) + 8 > outlen)
		return -1;
	snprintf(out, outlen, "%.*s.weight", (int)(n - k - (sizeof pre - 1)),
	    name + sizeof pre - 1);
	return ab;
}

int
lmf_lora_merge(struct lmf_item *model, const struct lmf_config *c,
    json_t *adapter_meta, struct lmf_item *adapter, char *err,
    size_t errlen)
{
	json_t *ac = json_object_get(adapter_meta, "adapter_config");
	struct lmf_lora_config lc;
	struct lmf_param *p;
	const struct lmf_param *pp;
	struct lmf_tensor *a, *b, *w;
	char wn[LMF_PARAM_NAME + 8], bn[LMF_MAX_NAME + 1];
	double scaling;
	int np, i, r, rc = -1;
	size_t k;

	if (!json_is_object(ac)) {
		lmf_seterr(err, errlen, "the adapter stream has no "
		    "'adapter_config'");
		return -1;
	}
	if (lmf_lora_config_parse(&lc, ac, err, errlen))
		return -1;
	r = lc.r;
	scaling = lmf_lora_scaling(&lc);
	p = lmf_model_params(c, &np);
	for (i = 0; i < adapter->ntensors; i++) {
		a = &adapter->t[i];
		if (lora_target(a->name, wn, sizeof wn) != 0)
			continue;
		k = strlen(a->name) - strlen("A.weight");
		snprintf(bn, sizeof bn, "%.*sB.weight", (int)k, a->name);
		if (!(b = lmf_item_find(adapter, bn))) {
			lmf_seterr(err, errlen, "adapter tensor '%s' has no "
			    "lora_B", a->name);
			goto out;
		}
		pp = lmf_model_param_find(p, np, wn);
		w = lmf_item_find(model, wn);
		if (!pp || !w || pp->kind != LMF_PARAM_LINEAR) {
			lmf_seterr(err, errlen, "adapter tensor '%s' adapts no "
			    "linear layer of the model", a->name);
			goto out;
		}
		if (lmf_tensor_to_f32(a) < 0 || lmf_tensor_to_f32(b) < 0 ||
		    lmf_tensor_to_f32(w) < 0) {
			lmf_seterr(err, errlen, "adapter tensor '%s' is not a "
			    "float tensor", a->name);
			goto out;
		}
		if (a->ndim != 2 || b->ndim != 2 || a->shape[0] != r ||
		    b->shape[1] != r || a->shape[1] != pp->shape[1] ||
		    b->shape[0] != pp->shape[0]) {
			lmf_seterr(err, errlen, "adapter tensors '%s' and its "
			    "lora_B do not fit rank %d and '%s'", a->name, r,
			    wn);
			goto out;
		}
		/* W (out, in) += scaling * B (out, r) @ A (r, in) */
		lmf_gemm(LMF_NOTRANS, LMF_NOTRANS, (int)pp->shape[0],
		    (int)pp->shape[1], r, (float)scaling, b->data, r, a->data,
		    (int)pp->shape[1], 1.0f, w->data, (int)pp->shape[1]);
	}
	for (i = 0; i < adapter->ntensors; i++)
		if (strncmp(adapter->t[i].name, "v_head.", 7) &&
		    lora_target(adapter->t[i].name, wn, sizeof wn) < 0) {
			lmf_seterr(err, errlen, "adapter tensor '%s' is not a "
			    "LoRA weight", adapter->t[i].name);
			goto out;
		}
	rc = 0;
out:
	free(p);
	return rc;
}

static int
has_suffix(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);

	return a >= b && !strcmp(s + a - b, suf);
}

int64_t
lmf_lora_peft_check_config(const json_t *j, char *err, size_t errlen)
{
	static const char *refused[] = { "rank_pattern", "alpha_pattern",
		"modules_to_save", "layers_to_transform" };
	json_t *v = json_object_get(j, "peft_type"), *x;
	size_t i;

	if (!v)
		return lmf_seterr(err, errlen, "'peft_type' is missing"), -1;
	if (!json_is_string(v) || strcmp(json_string_value(v), "LORA"))
		return lmf_seterr(err, errlen, "'peft_type' is not LORA"), -1;
	v = json_object_get(j, "r");
	if (!json_is_integer(v) || json_integer_value(v) < 1 ||
	    json_integer_value(v) > 65536)
		return lmf_seterr(err, errlen, "'r' is missing or not a "
		    "positive integer"), -1;
	x = json_object_get(j, "lora_alpha");
	if (!json_is_number(x) || !(json_number_value(x) > 0) ||
	    json_number_value(x) > 1e30)
		return lmf_seterr(err, errlen, "'lora_alpha' is missing or "
		    "not a positive number"), -1;
	x = json_object_get(j, "target_modules");
	if (!json_is_string(x) && !(json_is_array(x) && json_array_size(x)))
		return lmf_seterr(err, errlen, "'target_modules' is missing "
		    "or empty"), -1;
	for (i = 0; json_is_array(x) && i < json_array_size(x); i++)
		if (!json_is_string(json_array_get(x, i)))
			return lmf_seterr(err, errlen, "'target_modules' holds "
			    "a non-string"), -1;
	/* PEFT takes any truthy value: another type is refused, not read
	 * as false */
	for (i = 0; i < 2; i++) {
		const char *k = i ? "use_dora" : "use_rslora";

		x = json_object_get(j, k);
		if (x && !json_is_boolean(x) && !json_is_null(x))
			return lmf_seterr(err, errlen, "'%s' is not true or "
			    "false", k), -1;
	}
	if (json_is_true(json_object_get(j, "use_dora")))
		return lmf_seterr(err, errlen, "'use_dora' true is not "
		    "supported"), -1;
	for (i = 0; i < sizeof refused / sizeof refused[0]; i++) {
		x = json_object_get(j, refused[i]);
		if (x && !json_is_null(x) && !(json_is_object(x) &&
		    !json_object_size(x)) && !(json_is_array(x) &&
		    !json_array_size(x)))
			return lmf_seterr(err, errlen, "'%s' is not supported",
			    refused[i]), -1;
	}
	return json_integer_value(v);
}

/* module is one of the target_modules (a list; a string is a regex, and
 * is not checked) */
static int
targeted(const json_t *tm, const char *module)
{
	size_t i, n = strlen(module), k;
	const char *s;

	if (!json_is_array(tm))
		return 1;
	for (i = 0; i < json_array_size(tm); i++) {
		s = json_string_value(json_array_get(tm, i));
		k = strlen(s);
		if (!strcmp(module, s) || (n > k && module[n - k - 1] == '.' &&
		    !strcmp(module + n - k, s)))
			return 1;
	}
	return 0;
}

static const char *
st_shape_str(const struct lmf_st_tensor *t, char *buf, size_t len)
{
	struct lmf_tensor x = { .ndim = t->ndim };

	memcpy(x.shape, t->shape, sizeof x.shape);
	return lmf_shape_str(&x, buf, len);
}

/* the checks of lmf_lora_peft_check_tensor; module is the name without
 * ".lora_A.weight" */
static int
check_tensor(const struct lmf_safetensors *st, const struct lmf_st_tensor *t,
    int64_t r, const json_t *tm, const struct lmf_param *p, int np,
    const char *module, char *err, size_t errlen)
{
	const char *name = t->name;
	int isa = has_suffix(name, ".lora_A.weight"), rc = -1;
	char *partner = NULL, *base = NULL, b1[128];
	const struct lmf_param *q;

	if (t->dtype != LMF_F32 && t->dtype != LMF_F16 && t->dtype != LMF_BF16)
		lmf_seterr(err, errlen, "tensor '%s': dtype %s is not F32, F16 "
		    "or BF16", name, lmf_safetensors_dtype_name(t->dtype));
	else if (t->ndim != 2 || t->shape[isa ? 0 : 1] != r)
		lmf_seterr(err, errlen, "tensor '%s' has shape %s, not rank "
		    "%lld", name, st_shape_str(t, b1, sizeof b1), (long long)r);
	else if (!targeted(tm, module))
		lmf_seterr(err, errlen, "tensor '%s' is not in target_modules",
		    name);
	else if (!lmf_safetensors_find(st, partner = xasprintf(
	    "%s.lora_%c.weight", module, isa ? 'B' : 'A')))
		lmf_seterr(err, errlen, "tensor '%s' has no '%s'", name,
		    partner);
	else if (p && (!(q = lmf_model_param_find(p, np, base = xasprintf(
	    "%s.weight", module + (strncmp(module, "base_model.model.", 17) ?
	    0 : 17)))) || q->kind != LMF_PARAM_LINEAR))
		lmf_seterr(err, errlen, "tensor '%s' adapts '%s', not a linear "
		    "layer of the model", name, base);
	else if (p && t->shape[isa ? 1 : 0] != q->shape[isa ? 1 : 0])
		lmf_seterr(err, errlen, "tensor '%s' has shape %s, the model's "
		    "'%s' is [%lld, %lld]", name, st_shape_str(t, b1, sizeof b1),
		    base, (long long)q->shape[0], (long long)q->shape[1]);
	else
		rc = 0;
	free(partner);
	free(base);
	return rc;
}

int
lmf_lora_peft_check_tensor(const struct lmf_safetensors *st,
    const struct lmf_st_tensor *t, int64_t r, const json_t *tm,
    const struct lmf_param *p, int np, char *err, size_t errlen)
{
	char *module;
	int rc;

	if (!has_suffix(t->name, ".lora_A.weight") &&
	    !has_suffix(t->name, ".lora_B.weight")) {
		lmf_seterr(err, errlen, "unexpected tensor '%s', not lora_A or "
		    "lora_B", t->name);
		return -1;
	}
	module = xstrndup(t->name, strlen(t->name) - strlen(".lora_A.weight"));
	rc = check_tensor(st, t, r, tm, p, np, module, err, errlen);
	free(module);
	return rc;
}

int
lmf_lora_peft_cmp(const void *a, const void *b)
{
	return lmf_natcmp((*(const struct lmf_st_tensor *const *)a)->name,
	    (*(const struct lmf_st_tensor *const *)b)->name);
}
