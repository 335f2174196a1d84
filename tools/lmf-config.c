/* lmf-config: resolve a LLaMA-Factory training configuration (a YAML or
 * JSON file, then key=value overrides and --key value flags) against the
 * table of every key lmf knows, with LLaMA-Factory's defaults, and print
 * it for the shell drivers as cfg_KEY='value' lines (or one value, or
 * JSON). It refuses unknown keys, wrong types, keys no tool implements and
 * impossible combinations. It does not run anything. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <yaml.h>

#include "lmf/util.h"
#include "lmf/banned.h"

enum type { B, I, F, S };
enum use { USE, IGN, NO };   /* used by a tool; accepted, no effect; refused */

struct key {
	const char *name;
	enum type type;
	const char *def;       /* NULL: null */
	enum use use;
	const char *choices;   /* space-separated, or NULL */
	double lo;             /* numbers: smallest value allowed */
};

#define ANY (-1e300)
static const struct key keys[] = {
	/* model */
	{ "model_name_or_path", S, NULL, USE, NULL, 0 },
	{ "adapter_name_or_path", S, NULL, USE, NULL, 0 },
	{ "train_from_scratch", B, "false", USE, NULL, 0 },
	{ "disable_gradient_checkpointing", B, "false", USE, NULL, 0 },
	{ "trust_remote_code", B, "false", IGN, NULL, 0 },
	{ "cache_dir", S, NULL, IGN, NULL, 0 },
	{ "use_fast_tokenizer", B, "true", IGN, NULL, 0 },
	{ "model_revision", S, "main", IGN, NULL, 0 },
	{ "low_cpu_mem_usage", B, "true", IGN, NULL, 0 },
	{ "flash_attn", S, "auto", IGN, NULL, 0 },
	{ "enable_liger_kernel", B, "false", IGN, NULL, 0 },
	{ "upcast_layernorm", B, "false", IGN, NULL, 0 },
	{ "upcast_lmhead_output", B, "false", IGN, NULL, 0 },
	{ "infer_backend", S, "huggingface", IGN, NULL, 0 },
	{ "use_cache", B, "true", IGN, NULL, 0 },
	{ "hf_hub_token", S, NULL, IGN, NULL, 0 },
	{ "ms_hub_token", S, NULL, IGN, NULL, 0 },
	{ "print_param_status", B, "false", IGN, NULL, 0 },
	{ "resize_vocab", B, "false", NO, NULL, 0 },
	{ "split_special_tokens", B, "false", NO, NULL, 0 },
	{ "new_special_tokens", S, NULL, NO, NULL, 0 },
	{ "rope_scaling", S, NULL, NO, NULL, 0 },
	{ "shift_attn", B, "false", NO, NULL, 0 },
	{ "use_unsloth", B, "false", NO, NULL, 0 },
	{ "quantization_bit", I, NULL, NO, NULL, 0 },
	{ "quantization_method", S, "bnb", NO, NULL, 0 },
	{ "quantization_type", S, "nf4", IGN, NULL, 0 },
	{ "double_quantization", B, "true", IGN, NULL, 0 },
	/* export */
	{ "export_dir", S, NULL, USE, NULL, 0 },
	{ "export_size", I, "5", USE, NULL, 1 },
	{ "export_device", S, "cpu", IGN, NULL, 0 },
	{ "export_legacy_format", B, "false", NO, NULL, 0 },
	{ "export_quantization_bit", I, NULL, NO, NULL, 0 },
	{ "export_hub_model_id", S, NULL, NO, NULL, 0 },
	/* data */
	{ "template", S, NULL, USE, NULL, 0 },
	{ "dataset", S, NULL, USE, NULL, 0 },
	{ "eval_dataset", S, NULL, NO, NULL, 0 },
	{ "dataset_dir", S, "data", USE, NULL, 0 },
	{ "media_dir", S, NULL, IGN, NULL, 0 },
	{ "cutoff_len", I, "2048", USE, NULL, 1 },
	{ "train_on_prompt", B, "false", USE, NULL, 0 },
	{ "mask_history", B, "false", USE, NULL, 0 },
	{ "streaming", B, "false", NO, NULL, 0 },
	{ "buffer_size", I, "16384", IGN, NULL, 1 },
	{ "mix_strategy", S, "concat", USE,
	    "concat interleave_under interleave_over", 0 },
	{ "interleave_probs", S, NULL, USE, NULL, 0 },
	{ "overwrite_cache", B, "false", IGN, NULL, 0 },
	{ "preprocessing_batch_size", I, "1000", USE, NULL, 1 },
	{ "preprocessing_num_workers", I, NULL, IGN, NULL, 1 },
	{ "max_samples", I, NULL, USE, NULL, 1 },
	{ "eval_num_beams", I, NULL, IGN, NULL, 1 },
	{ "ignore_pad_token_for_loss", B, "true", IGN, NULL, 0 },
	{ "val_size", F, "0.0", USE, NULL, 0 },
	{ "eval_on_each_dataset", B, "false", NO, NULL, 0 },
	{ "packing", B, NULL, USE, NULL, 0 },
	{ "neat_packing", B, "false", USE, NULL, 0 },
	{ "tool_format", S, NULL, USE, NULL, 0 },
	{ "default_system", S, NULL, USE, NULL, 0 },
	{ "enable_thinking", B, "true", USE, NULL, 0 },
	{ "tokenized_path", S, NULL, NO, NULL, 0 },
	{ "data_shared_file_system", B, "false", IGN, NULL, 0 },
	/* training */
	{ "output_dir", S, "trainer_output", USE, NULL, 0 },
	{ "overwrite_output_dir", B, "false", USE, NULL, 0 },
	{ "do_train", B, "false", USE, NULL, 0 },
	{ "do_eval", B, "false", USE, NULL, 0 },
	{ "do_predict", B, "false", NO, NULL, 0 },
	{ "eval_strategy", S, "no", USE, "no steps epoch", 0 },
	{ "eval_steps", I, NULL, USE, NULL, 1 },
	{ "eval_delay", F, "0", IGN, NULL, 0 },
	{ "per_device_train_batch_size", I, "8", USE, NULL, 1 },
	{ "per_device_eval_batch_size", I, "8", USE, NULL, 1 },
	{ "gradient_accumulation_steps", I, "1", USE, NULL, 1 },
	{ "learning_rate", F, "5e-05", USE, NULL, 0 },
	{ "weight_decay", F, "0.0", USE, NULL, 0 },
	{ "adam_beta1", F, "0.9", USE, NULL, 0 },
	{ "adam_beta2", F, "0.999", USE, NULL, 0 },
	{ "adam_epsilon", F, "1e-08", USE, NULL, 0 },
	{ "max_grad_norm", F, "1.0", USE, NULL, 0 },
	{ "num_train_epochs", F, "3.0", USE, NULL, 0 },
	{ "max_steps", I, "-1", USE, NULL, -1 },
	{ "lr_scheduler_type", S, "linear", USE, "linear cosine constant "
	    "constant_with_warmup polynomial inverse_sqrt cosine_with_min_lr "
	    "warmup_stable_decay", 0 },
	{ "lr_scheduler_kwargs", S, NULL, USE, NULL, 0 },
	{ "warmup_ratio", F, "0.0", USE, NULL, 0 },
	{ "warmup_steps", I, "0", USE, NULL, 0 },
	{ "optim", S, "adamw_torch", USE,
	    "adamw_torch adamw_torch_fused adamw_hf", 0 },
	{ "logging_steps", I, "500", USE, NULL, 1 },
	{ "logging_strategy", S, "steps", IGN, NULL, 0 },
	{ "logging_first_step", B, "false", IGN, NULL, 0 },
	{ "logging_dir", S, NULL, IGN, NULL, 0 },
	{ "save_strategy", S, "steps", USE, "no steps epoch", 0 },
	{ "save_steps", I, "500", USE, NULL, 1 },
	{ "save_total_limit", I, NULL, USE, NULL, 1 },
	{ "save_only_model", B, "false", USE, NULL, 0 },
	{ "resume_from_checkpoint", S, NULL, USE, NULL, 0 },
	{ "seed", I, "42", USE, NULL, 0 },
	{ "data_seed", I, NULL, IGN, NULL, 0 },
	{ "bf16", B, "false", IGN, NULL, 0 },
	{ "fp16", B, "false", IGN, NULL, 0 },
	{ "tf32", B, NULL, IGN, NULL, 0 },
	{ "pure_bf16", B, "false", NO, NULL, 0 },
	{ "dataloader_num_workers", I, "0", IGN, NULL, 0 },
	{ "dataloader_pin_memory", B, "true", IGN, NULL, 0 },
	{ "dataloader_drop_last", B, "false", NO, NULL, 0 },
	{ "report_to", S, "none", IGN, NULL, 0 },
	{ "run_name", S, NULL, IGN, NULL, 0 },
	{ "ddp_timeout", I, "1800", IGN, NULL, 0 },
	{ "ddp_find_unused_parameters", B, NULL, IGN, NULL, 0 },
	{ "disable_tqdm", B, "false", IGN, NULL, 0 },
	{ "remove_unused_columns", B, "true", IGN, NULL, 0 },
	{ "include_num_input_tokens_seen", B, "false", IGN, NULL, 0 },
	{ "include_effective_tokens_per_second", B, "false", IGN, NULL, 0 },
	{ "torch_compile", B, "false", IGN, NULL, 0 },
	{ "gradient_checkpointing", B, "false", IGN, NULL, 0 },
	{ "full_determinism", B, "false", IGN, NULL, 0 },
	{ "use_cpu", B, "false", IGN, NULL, 0 },
	{ "local_rank", I, "-1", IGN, NULL, ANY },
	{ "load_best_model_at_end", B, "false", NO, NULL, 0 },
	{ "metric_for_best_model", S, NULL, NO, NULL, 0 },
	{ "push_to_hub", B, "false", NO, NULL, 0 },
	{ "hub_model_id", S, NULL, IGN, NULL, 0 },
	{ "deepspeed", S, NULL, NO, NULL, 0 },
	{ "fsdp", S, NULL, NO, NULL, 0 },
	{ "label_smoothing_factor", F, "0.0", NO, NULL, 0 },
	{ "group_by_length", B, "false", NO, NULL, 0 },
	/* finetuning */
	{ "stage", S, "sft", USE, "pt sft rm ppo dpo kto", 0 },
	{ "finetuning_type", S, "lora", USE, "lora full freeze", 0 },
	{ "lora_rank", I, "8", USE, NULL, 1 },
	{ "lora_alpha", I, NULL, USE, NULL, 0 },
	{ "lora_dropout", F, "0.0", USE, NULL, 0 },
	{ "lora_target", S, "all", USE, NULL, 0 },
	{ "use_rslora", B, "false", USE, NULL, 0 },
	{ "additional_target", S, NULL, NO, NULL, 0 },
	{ "loraplus_lr_ratio", F, NULL, NO, NULL, 0 },
	{ "loraplus_lr_embedding", F, "1e-06", IGN, NULL, 0 },
	{ "use_dora", B, "false", NO, NULL, 0 },
	{ "pissa_init", B, "false", NO, NULL, 0 },
	{ "pissa_iter", I, "16", IGN, NULL, ANY },
	{ "pissa_convert", B, "false", NO, NULL, 0 },
	{ "create_new_adapter", B, "false", USE, NULL, 0 },
	{ "freeze_trainable_layers", I, "2", USE, NULL, ANY },
	{ "freeze_trainable_modules", S, "all", USE, NULL, 0 },
	{ "freeze_extra_modules", S, NULL, USE, NULL, 0 },
	{ "freeze_vision_tower", B, "true", IGN, NULL, 0 },
	{ "freeze_multi_modal_projector", B, "true", IGN, NULL, 0 },
	{ "use_llama_pro", B, "false", NO, NULL, 0 },
	{ "plot_loss", B, "false", USE, NULL, 0 },
	{ "compute_accuracy", B, "false", NO, NULL, 0 },
	{ "disable_shuffling", B, "false", USE, NULL, 0 },
	{ "early_stopping_steps", I, NULL, NO, NULL, 1 },
	{ "use_galore", B, "false", NO, NULL, 0 },
	{ "use_apollo", B, "false", NO, NULL, 0 },
	{ "use_badam", B, "false", NO, NULL, 0 },
	{ "use_muon", B, "false", NO, NULL, 0 },
	{ "use_swanlab", B, "false", NO, NULL, 0 },
	{ "use_asft_loss", B, "false", NO, NULL, 0 },
	{ "use_dft_loss", B, "false", NO, NULL, 0 },
	{ "pref_beta", F, "0.1", USE, NULL, 0 },
	{ "pref_ftx", F, "0.0", USE, NULL, 0 },
	{ "pref_bco_weight", F, "0.0", USE, NULL, 0 },
	{ "pref_loss", S, "sigmoid", USE,
	    "sigmoid hinge ipo kto_pair orpo simpo", 0 },
	{ "dpo_label_smoothing", F, "0.0", USE, NULL, 0 },
	{ "kto_chosen_weight", F, "1.0", USE, NULL, 0 },
	{ "kto_rejected_weight", F, "1.0", USE, NULL, 0 },
	{ "simpo_gamma", F, "0.5", USE, NULL, 0 },
	{ "ppo_buffer_size", I, "1", USE, NULL, 1 },
	{ "ppo_epochs", I, "4", USE, NULL, 1 },
	{ "ppo_score_norm", B, "false", USE, NULL, 0 },
	{ "ppo_target", F, "6.0", USE, NULL, 0 },
	{ "ppo_whiten_rewards", B, "false", USE, NULL, 0 },
	{ "ref_model", S, NULL, USE, NULL, 0 },
	{ "ref_model_adapters", S, NULL, USE, NULL, 0 },
	{ "reward_model", S, NULL, USE, NULL, 0 },
	{ "reward_model_adapters", S, NULL, USE, NULL, 0 },
	{ "reward_model_type", S, "lora", USE, "lora full api", 0 },
	{ "ref_model_quantization_bit", I, NULL, NO, NULL, 0 },
	{ "reward_model_quantization_bit", I, NULL, NO, NULL, 0 },
	/* generation */
	{ "predict_with_generate", B, "false", USE, NULL, 0 },
	{ "do_sample", B, "true", USE, NULL, 0 },
	{ "temperature", F, "0.95", USE, NULL, 0 },
	{ "top_p", F, "0.7", USE, NULL, 0 },
	{ "top_k", I, "50", USE, NULL, 0 },
	{ "num_beams", I, "1", NO, NULL, 1 },
	{ "max_length", I, "1024", USE, NULL, 1 },
	{ "max_new_tokens", I, "1024", USE, NULL, 1 },
	{ "repetition_penalty", F, "1.0", USE, NULL, 0 },
	{ "length_penalty", F, "1.0", IGN, NULL, ANY },
	{ "skip_special_tokens", B, "true", USE, NULL, 0 },
	{ "generation_max_length", I, NULL, IGN, NULL, 1 },
	{ "generation_num_beams", I, NULL, IGN, NULL, 1 },
	/* lmf's own */
	{ "dry_run", B, "false", USE, NULL, 0 },
	{ "print_pipeline", B, "false", USE, NULL, 0 },
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static struct opts {
	const char *get;
	int json, list;
} o;

static char *val[NKEYS];      /* the resolved value, NULL: null */
static int given[NKEYS];      /* set by the file or an override */
static const char *where[NKEYS];

static int
lev(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j;
	int *d = xcalloc(lb + 1, sizeof(*d)), r;

	for (j = 0; j <= lb; j++)
		d[j] = (int)j;
	for (i = 1; i <= la; i++) {
		int prev = d[0], t;
		d[0] = (int)i;
		for (j = 1; j <= lb; j++) {
			t = d[j];
			d[j] = prev + (a[i - 1] != b[j - 1]);
			if (d[j - 1] + 1 < d[j])
				d[j] = d[j - 1] + 1;
			if (t + 1 < d[j])
				d[j] = t + 1;
			prev = t;
		}
	}
	r = d[lb];
	free(d);
	return r;
}

static long
find(const char *name)
{
	size_t i;

	for (i = 0; i < NKEYS; i++)
		if (!strcmp(keys[i].name, name))
			return (long)i;
	return -1;
}

static const char *
closest(const char *name)
{
	size_t i;
	int best = 1 << 30, d;
	const char *b = keys[0].name;

	for (i = 0; i < NKEYS; i++) {
		d = lev(name, keys[i].name);
		if (d < best) {
			best = d;
			b = keys[i].name;
		}
	}
	return b;
}

static int
is_null(const char *s)
{
	return !*s || !strcmp(s, "null") || !strcmp(s, "Null") ||
	    !strcmp(s, "NULL") || !strcmp(s, "~") || !strcmp(s, "None");
}

/* a boolean word as YAML 1.1 reads one: 1 true, 0 false, -1 neither */
static int
boolword(const char *s)
{
	static const char *t[] = { "true", "True", "TRUE", "yes", "Yes", "YES",
		"on", "On", "ON" };
	static const char *f[] = { "false", "False", "FALSE", "no", "No", "NO",
		"off", "Off", "OFF" };
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (!strcmp(s, t[i]))
			return 1;
		if (!strcmp(s, f[i]))
			return 0;
	}
	return -1;
}

static int
in_choices(const char *choices, const char *s)
{
	size_t n = strlen(s);
	const char *p = choices;

	if (!n)
		return 0;   /* strstr would find "" everywhere, forever */
	while ((p = strstr(p, s))) {
		if ((p == choices || p[-1] == ' ') && (p[n] == ' ' || !p[n]))
			return 1;
		p += n;
	}
	return 0;
}

/* set key NAME to S (NULL or quoted = 0 and null word: null) from SRC */
static void
set(const char *name, const char *s, int quoted, const char *src)
{
	long k = find(name);
	const struct key *kp;
	double d;
	long long ll;

	if (k < 0) {
		const char *e = getenv("ALLOW_EXTRA_ARGS");
		if (e && !strcmp(e, "1"))
			return;
		die_usage("unknown key '%s' in %s (did you mean '%s'?)", name,
		    src, closest(name));
	}
	kp = &keys[k];
	if (given[k] && where[k] == src && strcmp(src, "the arguments"))
		die_usage("%s: given twice in %s", name, src);
	/* only a key whose default is null can be null: the others are
	 * needed, as their value, to resolve the configuration */
	if ((!s || (!quoted && is_null(s))) && kp->def)
		die_usage("%s: null is not a value it takes in %s (its "
		    "default is %s)", name, src, kp->def);
	given[k] = 1;
	where[k] = src;
	free(val[k]);
	val[k] = NULL;
	if (!s || (!quoted && is_null(s)))
		return;
	switch (kp->type) {
	case B:
		if (quoted || boolword(s) < 0)
			die_usage("%s: '%s' is not a boolean (true or false) "
			    "in %s", name, s, src);
		val[k] = xstrdup(boolword(s) ? "true" : "false");
		return;
	case I:
		if (lmf_strtoll(s, &ll) < 0)
			die_usage("%s: '%s' is not an integer in %s", name, s,
			    src);
		if ((double)ll < kp->lo)
			die_usage("%s: %s is below %g in %s", name, s, kp->lo,
			    src);
		break;
	case F:
		if (lmf_strtod(s, &d) < 0)
			die_usage("%s: '%s' is not a number in %s", name, s,
			    src);
		if (d < kp->lo || d != d)
			die_usage("%s: %s is below %g in %s", name, s, kp->lo,
			    src);
		break;
	case S:
		if (kp->choices && !in_choices(kp->choices, s))
			die_usage("%s: '%s' is not one of: %s (in %s)", name, s,
			    kp->choices, src);
		break;
	}
	val[k] = xstrdup(s);
}

/* YAML: one mapping of scalars, or of sequences of scalars (joined by
 * commas, as LLaMA-Factory's comma lists) */
static int
yaml_next(yaml_parser_t *p, yaml_event_t *e, const char *path)
{
	if (!yaml_parser_parse(p, e))
		die("%s: line %lu: %s", path,
		    (unsigned long)p->problem_mark.line + 1,
		    p->problem ? p->problem : "bad YAML");
	return e->type;
}

static void
read_yaml(const char *path, const char *text, size_t len)
{
	yaml_parser_t p;
	yaml_event_t e;
	char *key = NULL;
	struct lmf_buf b = { 0 };
	int depth = 0, t, quoted;

	if (!yaml_parser_initialize(&p))
		die("%s: cannot start the YAML parser", path);
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	for (;;) {
		t = yaml_next(&p, &e, path);
		if (t == YAML_STREAM_END_EVENT) {
			yaml_event_delete(&e);
			break;
		}
		if (t == YAML_STREAM_START_EVENT || t == YAML_DOCUMENT_START_EVENT
		    || t == YAML_DOCUMENT_END_EVENT) {
			yaml_event_delete(&e);
			continue;
		}
		if (t == YAML_MAPPING_START_EVENT && depth == 0) {
			depth = 1;
		} else if (t == YAML_MAPPING_END_EVENT && depth == 1) {
			depth = 0;
		} else if (depth == 0 && t == YAML_SCALAR_EVENT &&
		    !e.data.scalar.length) {
			;   /* an empty document */
		} else if (depth != 1) {
			die("%s: line %lu: the configuration must be one mapping "
			    "of keys to values", path,
			    (unsigned long)e.start_mark.line + 1);
		} else if (!key) {
			if (t != YAML_SCALAR_EVENT)
				die("%s: line %lu: a key must be a plain word",
				    path, (unsigned long)e.start_mark.line + 1);
			key = xstrdup((char *)e.data.scalar.value);
		} else if (t == YAML_SCALAR_EVENT) {
			quoted = e.data.scalar.style !=
			    YAML_PLAIN_SCALAR_STYLE;
			set(key, (char *)e.data.scalar.value, quoted, path);
			free(key);
			key = NULL;
		} else if (t == YAML_SEQUENCE_START_EVENT) {
			b.n = 0;
			lmf_buf_add(&b, "", 0);
			for (;;) {
				yaml_event_delete(&e);
				t = yaml_next(&p, &e, path);
				if (t == YAML_SEQUENCE_END_EVENT)
					break;
				if (t != YAML_SCALAR_EVENT)
					die("%s: line %lu: %s: a list holds "
					    "plain values only", path,
					    (unsigned long)e.start_mark.line + 1,
					    key);
				if (b.n)
					lmf_buf_puts(&b, ",");
				lmf_buf_puts(&b, (char *)e.data.scalar.value);
			}
			set(key, b.s, 1, path);
			free(key);
			key = NULL;
		} else {
			die("%s: line %lu: %s: a mapping is not a value lmf "
			    "takes", path, (unsigned long)e.start_mark.line + 1,
			    key);
		}
		yaml_event_delete(&e);
	}
	free(b.s);
	yaml_parser_delete(&p);
}

/* a JSON list of strings or numbers as a comma list */
static char *
list(json_t *a, const char *k, const char *path)
{
	static struct lmf_buf b;
	size_t i;
	json_t *e;

	b.n = 0;
	lmf_buf_add(&b, "", 0);
	json_array_foreach(a, i, e) {
		char *s;
		if (json_is_string(e))
			s = xstrdup(json_string_value(e));
		else if (json_is_number(e))
			s = json_dumps(e, JSON_ENCODE_ANY);
		else
			die_usage("%s: a list holds plain values only in %s",
			    k, path);
		if (i)
			lmf_buf_puts(&b, ",");
		lmf_buf_puts(&b, s);
		free(s);
	}
	return b.s;
}

static void
read_json(const char *path, const char *text, size_t len)
{
	json_error_t err;
	json_t *root = json_loadb(text, len, 0, &err), *v;
	const char *k;
	char *s;

	if (!root)
		die("%s: line %d: %s", path, err.line, err.text);
	if (!json_is_object(root))
		die("%s: the configuration must be a JSON object", path);
	json_object_foreach(root, k, v) {
		if (json_is_null(v)) {
			set(k, NULL, 0, path);
		} else if (json_is_string(v)) {
			set(k, json_string_value(v), 1, path);
		} else if (json_is_array(v) || json_is_object(v)) {
			long i = find(k);
			if (i >= 0 && !strcmp(k, "lr_scheduler_kwargs") &&
			    json_is_object(v)) {
				s = json_dumps(v, JSON_COMPACT);
				set(k, s, 1, path);
				free(s);
				continue;
			}
			if (i < 0)
				set(k, NULL, 0, path);
			if (json_is_object(v))
				die_usage("%s: an object is not a value lmf "
				    "takes in %s", k, path);
			set(k, list(v, k, path), 1, path);
		} else {
			s = json_dumps(v, JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
			set(k, s, 0, path);
			free(s);
		}
	}
	json_decref(root);
}

static void
read_config(const char *path)
{
	size_t len;
	char *text = lmf_read_file_or_die(path, &len, 1 << 24);
	size_t n = strlen(path);

	if (n > 5 && !strcmp(path + n - 5, ".json"))
		read_json(path, text, len);
	else
		read_yaml(path, text, len);
	free(text);
}

static int
ends_with(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);

	return n >= m && !strcmp(s + n - m, suf);
}

static int
truth(const char *name)
{
	long k = find(name);

	return val[k] && !strcmp(val[k], "true");
}

static const char *
v(const char *name)
{
	return val[find(name)];
}

static void
derive(const char *name, const char *s)
{
	long k = find(name);

	if (!val[k])
		val[k] = xstrdup(s);
}

/* LLaMA-Factory's post-processing (spec 1.2) and lmf's refusals */
static void
resolve(void)
{
	char *alpha;
	size_t i;
	const char *stage = v("stage");
	int sft = !strcmp(stage, "sft");
	static const char *sftonly[] = { "predict_with_generate",
		"neat_packing", "train_on_prompt", "mask_history" };
	double vs = 0;

	for (i = 0; i < NKEYS; i++) {
		const char *d = keys[i].def;
		if (keys[i].use != NO || !given[i] || !val[i])
			continue;
		if (d && !strcmp(d, val[i]))
			continue;
		die_usage("%s: not implemented by lmf yet (in %s)",
		    keys[i].name, where[i]);
	}
	for (i = 0; i < sizeof(sftonly) / sizeof(sftonly[0]); i++)
		if (!sft && truth(sftonly[i]))
			die_usage("%s: only stage sft takes it (stage is %s)",
			    sftonly[i], stage);
	if (!strcmp(stage, "ppo") && !truth("do_train"))
		die_usage("do_train: stage ppo needs it true");
	if (truth("do_train") && !v("dataset"))
		die_usage("dataset: required with do_train");
	if (v("val_size"))
		lmf_strtod(v("val_size"), &vs);
	if ((truth("do_eval") || strcmp(v("eval_strategy"), "no")) &&
	    !v("eval_dataset") && vs <= 1e-6)
		die_usage("%s: evaluation needs val_size > 0",
		    truth("do_eval") ? "do_eval" : "eval_strategy");
	if (v("adapter_name_or_path") && strcmp(v("finetuning_type"), "lora"))
		die_usage("adapter_name_or_path: only finetuning_type lora "
		    "takes an adapter (finetuning_type is %s)",
		    v("finetuning_type"));
	if (truth("neat_packing"))
		val[find("packing")] = xstrdup("true");
	derive("packing", !strcmp(stage, "pt") ? "true" : "false");
	alpha = xasprintf("%lld", 2 * strtoll(v("lora_rank"), NULL, 10));
	derive("lora_alpha", alpha);
	free(alpha);
	derive("eval_steps", v("logging_steps"));
	derive("generation_max_length", v("cutoff_len"));
}

/* one shell word: 'it'\''s' */
static void
shquote(FILE *f, const char *s)
{
	fputc('\'', f);
	for (; *s; s++)
		if (*s == '\'')
			fputs("'\\''", f);
		else
			fputc(*s, f);
	fputc('\'', f);
}

static void
print_shell(void)
{
	size_t i;
	int first = 1;

	for (i = 0; i < NKEYS; i++) {
		printf("cfg_%s=", keys[i].name);
		shquote(stdout, val[i] ? val[i] : "");
		putchar('\n');
	}
	fputs("cfg_given='", stdout);
	for (i = 0; i < NKEYS; i++)
		if (given[i] && val[i]) {
			printf("%s%s", first ? "" : " ", keys[i].name);
			first = 0;
		}
	fputs("'\n", stdout);
}

static void
print_json(void)
{
	json_t *root = json_object();
	size_t i;
	double d;
	long long ll;

	for (i = 0; i < NKEYS; i++) {
		json_t *j;
		if (!val[i])
			j = json_null();
		else if (keys[i].type == B)
			j = json_boolean(!strcmp(val[i], "true"));
		else if (keys[i].type == I && !lmf_strtoll(val[i], &ll))
			j = json_integer(ll);
		else if (keys[i].type == F && !lmf_strtod(val[i], &d))
			j = json_real(d);
		else
			j = json_string(val[i]);
		json_object_set_new(root, keys[i].name, j);
	}
	json_dumpf(root, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(17));
	putchar('\n');
	json_decref(root);
}

static void
print_list(void)
{
	static const char *tn[] = { "bool", "int", "float", "str" };
	static const char *un[] = { "", " (no effect)", " (not implemented)" };
	size_t i;

	for (i = 0; i < NKEYS; i++)
		printf("%s %s %s%s\n", keys[i].name, tn[keys[i].type],
		    keys[i].def ? keys[i].def : "null", un[keys[i].use]);
}

static void
usage(FILE *f)
{
	fputs("usage: lmf-config [--get key | --json | --list] [config.yaml|"
	    "config.json]\n"
	    "       [key=value ...] [--key value ...] [--flag ...]\n"
	    "  config.yaml   LLaMA-Factory configuration (YAML or .json)\n"
	    "  key=value     override a key (after the file)\n"
	    "  --key value   the same, argparse style; --flag alone is true\n"
	    "  --get key     print one resolved value\n"
	    "  --json        print the resolved configuration as JSON\n"
	    "  --list        print every known key: name, type, default\n"
	    "  -h, -V        help, version\n"
	    "Without --get or --json: cfg_KEY='value' lines for sh eval.\n", f);
}

int
main(int argc, char **argv)
{
	int i, nargs = 0;
	char *eq, *name;
	size_t k;

	lmf_init(argc, argv);
	for (k = 0; k < NKEYS; k++)
		val[k] = keys[k].def ? xstrdup(keys[k].def) : NULL;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-h") || !strcmp(a, "--help"))
			lmf_help_exit(usage);
		if (!strcmp(a, "-V") || !strcmp(a, "--version"))
			lmf_version_exit();
		if (!strcmp(a, "--json")) {
			o.json = 1;
		} else if (!strcmp(a, "--list")) {
			o.list = 1;
		} else if (!strcmp(a, "--get")) {
			if (++i >= argc)
				die_usage("--get: a key is required");
			o.get = argv[i];
		} else if (!nargs++ && (ends_with(a, ".yaml") ||
		    ends_with(a, ".yml") || ends_with(a, ".json"))) {
			read_config(a);
		} else if (a[0] == '-' && a[1] == '-' && a[2]) {
			name = xstrdup(a + 2);
			if ((eq = strchr(name, '='))) {
				*eq = '\0';
				set(name, eq + 1, 0, "the arguments");
			} else if (find(name) >= 0 &&
			    keys[find(name)].type == B) {
				if (i + 1 < argc && boolword(argv[i + 1]) >= 0)
					set(name, argv[++i], 0, "the arguments");
				else
					set(name, "true", 0, "the arguments");
			} else if (i + 1 < argc) {
				set(name, argv[++i], 0, "the arguments");
			} else if (find(name) < 0) {
				set(name, NULL, 0, "the arguments");
			} else {
				die_usage("--%s: a value is required", name);
			}
			free(name);
		} else if ((eq = strchr(a, '=')) && eq != a) {
			name = xstrndup(a, (size_t)(eq - a));
			set(name, eq + 1, 0, "the arguments");
			free(name);
		} else {
			die_usage("'%s': not key=value, --key value or a "
			    ".yaml/.json file first", a);
		}
	}
	if (o.list) {
		print_list();
		lmf_close_out();
		return 0;
	}
	resolve();
	if (o.get) {
		long g = find(o.get);
		if (g < 0)
			die_usage("--get: unknown key '%s' (did you mean '%s'?)",
			    o.get, closest(o.get));
		if (val[g])
			puts(val[g]);
	} else if (o.json) {
		print_json();
	} else {
		print_shell();
	}
	lmf_close_out();
	return 0;
}
