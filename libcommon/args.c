/* args.c: the table of every LLaMA-Factory key lmf knows, with
 * LLaMA-Factory's defaults; reading a configuration from YAML, JSON and
 * overrides into a struct lmf_args, checking each value; and resolving it
 * as LLaMA-Factory's post-processing does (spec 1.2), with lmf's
 * refusals. */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <yaml.h>

#include "lmf/args.h"
#include "lmf/stream.h"
#include "lmf/util.h"
#include "lmf/banned.h"

/* short names for the table only */
#define B LMF_ARG_BOOL
#define I LMF_ARG_INT
#define F LMF_ARG_FLOAT
#define S LMF_ARG_STR
#define USE LMF_ARG_USED
#define IGN LMF_ARG_IGNORED
#define NO LMF_ARG_REFUSED
#define ANY (-1e300)

static const struct lmf_args_key keys[] = {
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
	{ "infer_dtype", S, "auto", USE, "auto float32 bfloat16 int8",
	    0 },
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
	/* evaluation (EvaluationArguments) */
	{ "task", S, NULL, USE, NULL, 0 },
	{ "task_dir", S, "evaluation", USE, NULL, 0 },
	{ "batch_size", I, "4", USE, NULL, 1 },
	{ "lang", S, "en", USE, "en zh", 0 },
	{ "n_shot", I, "5", USE, NULL, 0 },
	{ "save_dir", S, NULL, USE, NULL, 0 },
	{ "download_mode", S, "reuse_dataset_if_exists", IGN, NULL, 0 },
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
	{ "eval_dataset", S, NULL, USE, NULL, 0 },
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
	{ "do_predict", B, "false", USE, NULL, 0 },
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
	{ "logging_strategy", S, "steps", USE, "no steps epoch", 0 },
	{ "logging_first_step", B, "false", IGN, NULL, 0 },
	{ "logging_dir", S, NULL, IGN, NULL, 0 },
	{ "save_strategy", S, "steps", USE, "no steps epoch", 0 },
	{ "save_steps", I, "500", USE, NULL, 1 },
	{ "save_total_limit", I, NULL, USE, NULL, 1 },
	{ "save_only_model", B, "false", IGN, NULL, 0 },
	{ "resume_from_checkpoint", S, NULL, USE, NULL, 0 },
	{ "seed", I, "42", USE, NULL, 0 },
	{ "nproc_per_node", I, "1", USE, NULL, 1 },
	{ "hostfile", S, NULL, USE, NULL, 0 },
	{ "data_seed", I, NULL, IGN, NULL, 0 },
	{ "bf16", B, "false", USE, NULL, 0 },
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
	{ "ddp_bucket_cap_mb", F, NULL, USE, NULL, 0 },
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
	{ "deepspeed", S, NULL, IGN, NULL, 0 },
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
	{ "use_llama_pro", B, "false", USE, NULL, 0 },
	{ "plot_loss", B, "false", USE, NULL, 0 },
	{ "compute_accuracy", B, "false", USE, NULL, 0 },
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
	{ "ld_alpha", F, NULL, NO, NULL, 0 },
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
#undef B
#undef I
#undef F
#undef S
#undef USE
#undef IGN
#undef NO
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

/* how lmf treats each key that has no effect here: one line, said when
 * the configuration gives the key (lmf_args_note) */
static const struct {
	const char *name, *text;
} notes[] = {
	{ "trust_remote_code", "no model code is run; lmf's own C code "
	    "implements each architecture" },
	{ "cache_dir", "nothing is downloaded, so nothing is cached" },
	{ "use_fast_tokenizer", "lmf has one tokenizer, its own reading of "
	    "tokenizer.json" },
	{ "model_revision", "models are local directories, with no revisions" },
	{ "low_cpu_mem_usage", "weights are read straight into lmf's own "
	    "buffers" },
	{ "flash_attn", "attention is lmf's own CPU kernel; there is no "
	    "backend to pick" },
	{ "enable_liger_kernel", "lmf's own CPU kernels are used" },
	{ "upcast_layernorm", "lmf computes in fp32 throughout" },
	{ "upcast_lmhead_output", "lmf computes in fp32 throughout" },
	{ "infer_backend", "lmf generates with its own code (lmf-generate)" },
	{ "use_cache", "generation always keeps a KV cache, training never" },
	{ "hf_hub_token", "nothing is downloaded; the token is not used" },
	{ "ms_hub_token", "nothing is downloaded; the token is not used" },
	{ "print_param_status", "not printed; lmf-dump shows a model's "
	    "parameters" },
	{ "quantization_type", "lmf does not quantize" },
	{ "double_quantization", "lmf does not quantize" },
	{ "download_mode", "benchmarks are read from task_dir, never "
	    "downloaded" },
	{ "export_device", "lmf exports on the CPU" },
	{ "media_dir", "lmf trains text models; no media files are read" },
	{ "buffer_size", "used by streaming only, which lmf does not do" },
	{ "overwrite_cache", "lmf keeps no dataset cache; each run tokenizes "
	    "anew" },
	{ "preprocessing_num_workers", "lmf-tokenize works in one process" },
	{ "ignore_pad_token_for_loss", "padding never counts in lmf's loss" },
	{ "data_shared_file_system", "lmf runs on one machine" },
	{ "logging_dir", "no TensorBoard logs; trainer_log.jsonl is in "
	    "output_dir" },
	{ "save_only_model", "lmf checkpoints always hold the optimizer "
	    "state, so each can be resumed" },
	{ "data_seed", "the data order follows seed" },
	{ "fp16", "lmf's mixed precision is bf16 (bf16: true); fp16 is not "
	    "done" },
	{ "tf32", "lmf computes in fp32 on CPUs; TF32 is a GPU mode" },
	{ "dataloader_num_workers", "lmf-pack makes the batches before "
	    "training starts" },
	{ "dataloader_pin_memory", "there is no GPU memory to pin" },
	{ "report_to", "lmf reports to no tracker; its logs are "
	    "trainer_log.jsonl in output_dir" },
	{ "run_name", "lmf reports to no tracker that would name the run" },
	{ "ddp_timeout", "lmf trains in one process; there is no "
	    "distributed group" },
	{ "ddp_find_unused_parameters", "lmf trains in one process; there is "
	    "no distributed group" },
	{ "local_rank", "lmf trains in one process" },
	{ "deepspeed", "the DeepSpeed config is not read; lmf trains in one "
	    "process on CPUs" },
	{ "remove_unused_columns", "lmf's streams carry only the columns a "
	    "stage uses" },
	{ "torch_compile", "lmf's kernels are compiled C already" },
	{ "gradient_checkpointing", "lmf keeps every activation in memory" },
	{ "full_determinism", "lmf is deterministic for a fixed seed and "
	    "thread count anyway" },
	{ "use_cpu", "lmf always runs on CPUs" },
	{ "hub_model_id", "nothing is uploaded" },
	{ "freeze_vision_tower", "lmf trains text models only" },
	{ "freeze_multi_modal_projector", "lmf trains text models only" },
	{ "eval_num_beams", "used by beam search only, which lmf does not "
	    "do" },
	{ "generation_num_beams", "used by beam search only, which lmf does "
	    "not do" },
	{ "logging_first_step", "logs follow logging_strategy; the first "
	    "step is not logged apart" },
	{ "disable_tqdm", "progress is one line on a terminal, a log line "
	    "per logging_steps otherwise" },
	{ "length_penalty", "used by beam search only, which lmf does not do" },
	{ "loraplus_lr_embedding", "used with loraplus_lr_ratio only, which "
	    "lmf does not implement" },
	{ "pissa_iter", "used with pissa_init only, which lmf does not "
	    "implement" },
};

/* a message into (err, errlen); returns code */
static int LMF_PRINTF(4, 5)
fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	lmf_vseterr(err, errlen, fmt, ap);
	va_end(ap);
	return code;
}

const struct lmf_args_key *
lmf_args_keys(size_t *n)
{
	*n = NKEYS;
	return keys;
}

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

long
lmf_args_find(const char *name)
{
	size_t i;

	for (i = 0; i < NKEYS; i++)
		if (!strcmp(keys[i].name, name))
			return (long)i;
	return -1;
}

const char *
lmf_args_closest(const char *name)
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

int
lmf_args_boolword(const char *s)
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

void
lmf_args_init(struct lmf_args *a)
{
	size_t k;

	a->val = xcalloc(NKEYS, sizeof(*a->val));
	a->given = xcalloc(NKEYS, sizeof(*a->given));
	a->where = xcalloc(NKEYS, sizeof(*a->where));
	a->allow_extra = 0;
	for (k = 0; k < NKEYS; k++)
		a->val[k] = keys[k].def ? xstrdup(keys[k].def) : NULL;
}

void
lmf_args_free(struct lmf_args *a)
{
	size_t k;

	if (!a->val)
		return;
	for (k = 0; k < NKEYS; k++)
		free(a->val[k]);
	free(a->val);
	free(a->given);
	free(a->where);
	a->val = NULL;
	a->given = NULL;
	a->where = NULL;
}

/* S, not null, checked against key K's type, range and choices */
static int
check_value(const struct lmf_args_key *kp, const char *s, int quoted,
    const char *src, char *err, size_t errlen)
{
	const char *name = kp->name;
	double d;
	long long ll;

	switch (kp->type) {
	case LMF_ARG_BOOL:
		if (quoted || lmf_args_boolword(s) < 0)
			return fail(err, errlen, LMF_E_PARAM, "%s: '%s' is not "
			    "a boolean (true or false) in %s", name, s, src);
		break;
	case LMF_ARG_INT:
		if (lmf_strtoll(s, &ll) < 0)
			return fail(err, errlen, LMF_E_PARAM, "%s: '%s' is not "
			    "an integer in %s", name, s, src);
		if ((double)ll < kp->lo)
			return fail(err, errlen, LMF_E_PARAM, "%s: %s is below "
			    "%g in %s", name, s, kp->lo, src);
		break;
	case LMF_ARG_FLOAT:
		if (lmf_strtod(s, &d) < 0)
			return fail(err, errlen, LMF_E_PARAM, "%s: '%s' is not "
			    "a number in %s", name, s, src);
		if (d < kp->lo || d != d)
			return fail(err, errlen, LMF_E_PARAM, "%s: %s is below "
			    "%g in %s", name, s, kp->lo, src);
		break;
	case LMF_ARG_STR:
		/* a path that names nothing: refused before anything runs */
		if (!*s && (!strcmp(name, "output_dir") ||
		    !strcmp(name, "model_name_or_path") ||
		    !strcmp(name, "export_dir")))
			return fail(err, errlen, LMF_E_PARAM, "%s: an empty "
			    "path in %s", name, src);
		if (kp->choices && !in_choices(kp->choices, s))
			return fail(err, errlen, LMF_E_PARAM, "%s: '%s' is not "
			    "one of: %s (in %s)", name, s, kp->choices, src);
		break;
	}
	return 0;
}

int
lmf_args_set(struct lmf_args *a, const char *name, const char *s,
    int quoted, const char *src, char *err, size_t errlen)
{
	long k = lmf_args_find(name);
	const struct lmf_args_key *kp;
	int null = !s || (!quoted && is_null(s)), r;

	if (k < 0) {
		if (a->allow_extra)
			return 0;
		return fail(err, errlen, LMF_E_PARAM, "unknown key '%s' in %s "
		    "(did you mean '%s'?)", name, src, lmf_args_closest(name));
	}
	kp = &keys[k];
	if (a->given[k] && a->where[k] == src && strcmp(src, LMF_ARGS_CMDLINE))
		return fail(err, errlen, LMF_E_PARAM, "%s: given twice in %s",
		    name, src);
	/* only a key whose default is null can be null: the others are
	 * needed, as their value, to resolve the configuration */
	if (null && kp->def)
		return fail(err, errlen, LMF_E_PARAM, "%s: null is not a value "
		    "it takes in %s (its default is %s)", name, src, kp->def);
	if (!null && (r = check_value(kp, s, quoted, src, err, errlen)) < 0)
		return r;   /* the key keeps its value */
	a->given[k] = 1;
	a->where[k] = src;
	free(a->val[k]);
	a->val[k] = NULL;
	if (null)
		return 0;
	if (kp->type == LMF_ARG_BOOL)
		a->val[k] = xstrdup(lmf_args_boolword(s) ? "true" : "false");
	else
		a->val[k] = xstrdup(s);
	return 0;
}

/* YAML: one mapping of scalars, or of sequences of scalars (joined by
 * commas, as LLaMA-Factory's comma lists) */
struct yaml_rd {
	struct lmf_args *a;
	const char *src;
	yaml_parser_t p;
	yaml_event_t e;
	char *key;             /* the key whose value comes next */
	int depth;
	struct lmf_buf b;
	char *err;
	size_t errlen;
};

/* the next event's type, or LMF_E_FORMAT */
static int
yaml_next(struct yaml_rd *r)
{
	if (!yaml_parser_parse(&r->p, &r->e))
		return fail(r->err, r->errlen, LMF_E_FORMAT, "%s: line %lu: %s",
		    r->src, (unsigned long)r->p.problem_mark.line + 1,
		    r->p.problem ? r->p.problem : "bad YAML");
	return (int)r->e.type;
}

static unsigned long
yaml_line(const struct yaml_rd *r)
{
	return (unsigned long)r->e.start_mark.line + 1;
}

/* a sequence of scalars, after its start event, as a comma list */
static int
yaml_list(struct yaml_rd *r)
{
	int t;

	r->b.n = 0;
	lmf_buf_add(&r->b, "", 0);
	for (;;) {
		yaml_event_delete(&r->e);
		if ((t = yaml_next(r)) < 0)
			return t;
		if (t == YAML_SEQUENCE_END_EVENT)
			break;
		if (t != YAML_SCALAR_EVENT)
			return fail(r->err, r->errlen, LMF_E_FORMAT, "%s: line "
			    "%lu: %s: a list holds plain values only", r->src,
			    yaml_line(r), r->key);
		if (r->b.n)
			lmf_buf_puts(&r->b, ",");
		lmf_buf_puts(&r->b, (char *)r->e.data.scalar.value);
	}
	return lmf_args_set(r->a, r->key, r->b.s, 1, r->src, r->err,
	    r->errlen);
}

/* is v, less one leading sign, digits of base (at least one) and
 * underscores, as PyYAML's int resolver reads them? its value in *out */
static int
yaml_digits(const char *v, int base, json_int_t *out)
{
	json_int_t x = 0;
	int n = 0, neg = *v == '-';

	v += *v == '-' || *v == '+';
	v += base == 16 || base == 2 ? 2 : 0;   /* 0x, 0b */
	for (; *v; v++) {
		int d = *v >= '0' && *v <= '9' ? *v - '0' : *v >= 'a' &&
		    *v <= 'f' ? *v - 'a' + 10 : *v >= 'A' && *v <= 'F' ?
		    *v - 'A' + 10 : *v == '_' ? -1 : 99;

		if (d == -1)
			continue;
		if (d >= base || x > (INT64_MAX - d) / base)
			return 0;
		x = x * base + d;
		n++;
	}
	*out = neg ? -x : x;
	return n > 0;
}

/* a plain scalar of a YAML mapping as PyYAML resolves it (YAML 1.1):
 * booleans (true, yes, on, ... in their three cases), null (~, null),
 * integers (decimal, 0b, 0x, a leading 0 for octal, underscores), floats
 * (a dot needed: 1.0e-5, not 1e-5), anything else a string; a quoted
 * scalar is a string */
static json_t *
yaml_json_scalar(const yaml_event_t *e)
{
	static const char *yes[] = { "yes", "Yes", "YES", "true", "True",
		"TRUE", "on", "On", "ON" };
	static const char *no[] = { "no", "No", "NO", "false", "False",
		"FALSE", "off", "Off", "OFF" };
	const char *v = (const char *)e->data.scalar.value, *u, *dot;
	json_int_t x;
	size_t i;
	int ok;

	if (e->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return json_string(v);
	for (i = 0; i < sizeof yes / sizeof yes[0]; i++) {
		if (!strcmp(v, yes[i]))
			return json_true();
		if (!strcmp(v, no[i]))
			return json_false();
	}
	if (!*v || !strcmp(v, "~") || !strcmp(v, "null") ||
	    !strcmp(v, "Null") || !strcmp(v, "NULL"))
		return json_null();
	u = v + (*v == '-' || *v == '+');
	if (u[0] == '0' && (u[1] == 'x' || u[1] == 'b'))
		ok = yaml_digits(v, u[1] == 'x' ? 16 : 2, &x);
	else if (u[0] == '0' && u[1])
		ok = yaml_digits(v, 8, &x);
	else
		ok = u[0] != '_' && yaml_digits(v, 10, &x);
	if (ok)
		return json_integer(x);
	/* [-+]?[0-9][0-9_]*.[0-9_]*([eE][-+][0-9]+)? or .5: finite only */
	dot = strchr(u, '.');
	if (dot && strspn(u, "0123456789_") == (size_t)(dot - u) &&
	    (dot > u ? u[0] != '_' : dot[1] >= '0' && dot[1] <= '9')) {
		const char *p = dot + 1 + strspn(dot + 1, "0123456789_");
		char *clean = xstrdup(v), *c, *end;
		double d;

		if (*p && !((p[0] == 'e' || p[0] == 'E') && (p[1] == '-' ||
		    p[1] == '+') && p[2] && strspn(p + 2, "0123456789") ==
		    strlen(p + 2))) {
			free(clean);
			return json_string(v);
		}
		for (c = clean, p = v; *p; p++)
			if (*p != '_')
				*c++ = *p;
		*c = '\0';
		d = strtod(clean, &end);
		ok = !*end && isfinite(d);
		free(clean);
		if (ok)
			return json_real(d);
	}
	return json_string(v);
}

/* a mapping of scalars, after its start event: lr_scheduler_kwargs takes
 * it (as LLaMA-Factory's dict, kept as its JSON), no other key does */
static int
yaml_map(struct yaml_rd *r)
{
	json_t *o = json_object();
	char *k = NULL, *s;
	int t, ret;

	for (;;) {
		yaml_event_delete(&r->e);
		if ((t = yaml_next(r)) < 0) {
			ret = t;
			goto out;
		}
		if (t == YAML_MAPPING_END_EVENT)
			break;
		if (t != YAML_SCALAR_EVENT) {
			ret = fail(r->err, r->errlen, LMF_E_PARAM, "%s: line "
			    "%lu: %s: a mapping holds plain values only",
			    r->src, yaml_line(r), r->key);
			goto out;
		}
		if (!k) {
			k = xstrdup((char *)r->e.data.scalar.value);
			continue;
		}
		json_object_set_new(o, k, yaml_json_scalar(&r->e));
		free(k);
		k = NULL;
	}
	if (strcmp(r->key, "lr_scheduler_kwargs")) {
		ret = fail(r->err, r->errlen, LMF_E_PARAM, "%s: line %lu: %s: "
		    "a mapping is not a value lmf takes", r->src,
		    yaml_line(r), r->key);
		goto out;
	}
	s = json_dumps(o, JSON_COMPACT);
	ret = lmf_args_set(r->a, r->key, s, 1, r->src, r->err, r->errlen);
	free(s);
out:
	free(k);
	json_decref(o);
	return ret;
}

/* a key or its value inside the top mapping */
static int
yaml_entry(struct yaml_rd *r, int t)
{
	int ret, quoted;

	if (!r->key) {
		if (t != YAML_SCALAR_EVENT)
			return fail(r->err, r->errlen, LMF_E_FORMAT, "%s: line "
			    "%lu: a key must be a plain word", r->src,
			    yaml_line(r));
		r->key = xstrdup((char *)r->e.data.scalar.value);
		return 0;
	}
	if (t == YAML_SCALAR_EVENT) {
		quoted = r->e.data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
		ret = lmf_args_set(r->a, r->key, (char *)r->e.data.scalar.value,
		    quoted, r->src, r->err, r->errlen);
	} else if (t == YAML_SEQUENCE_START_EVENT) {
		ret = yaml_list(r);
	} else if (t == YAML_MAPPING_START_EVENT) {
		ret = yaml_map(r);
	} else {
		return fail(r->err, r->errlen, LMF_E_FORMAT, "%s: line %lu: %s: "
		    "not a value lmf takes", r->src, yaml_line(r), r->key);
	}
	free(r->key);
	r->key = NULL;
	return ret;
}

/* one event: 1 at the end of the stream, 0 to go on, or an error */
static int
yaml_event(struct yaml_rd *r)
{
	int t = yaml_next(r);

	if (t < 0)
		return t;
	if (t == YAML_STREAM_END_EVENT)
		return 1;
	if (t == YAML_STREAM_START_EVENT || t == YAML_DOCUMENT_START_EVENT ||
	    t == YAML_DOCUMENT_END_EVENT)
		return 0;
	if (t == YAML_MAPPING_START_EVENT && r->depth == 0)
		r->depth = 1;
	else if (t == YAML_MAPPING_END_EVENT && r->depth == 1)
		r->depth = 0;
	else if (r->depth == 0 && t == YAML_SCALAR_EVENT &&
	    !r->e.data.scalar.length)
		;   /* an empty document */
	else if (r->depth != 1)
		return fail(r->err, r->errlen, LMF_E_FORMAT, "%s: line %lu: the "
		    "configuration must be one mapping of keys to values",
		    r->src, yaml_line(r));
	else
		return yaml_entry(r, t);
	return 0;
}

int
lmf_args_read_yaml(struct lmf_args *a, const char *src, const char *text,
    size_t len, char *err, size_t errlen)
{
	struct yaml_rd r;
	int ret;

	memset(&r, 0, sizeof r);
	r.a = a;
	r.src = src;
	r.err = err;
	r.errlen = errlen;
	if (!yaml_parser_initialize(&r.p))
		return fail(err, errlen, LMF_E_FORMAT, "%s: cannot start the "
		    "YAML parser", src);
	yaml_parser_set_input_string(&r.p, (const unsigned char *)text, len);
	while (!(ret = yaml_event(&r)))
		yaml_event_delete(&r.e);
	yaml_event_delete(&r.e);
	yaml_parser_delete(&r.p);
	free(r.key);
	free(r.b.s);
	return ret < 0 ? ret : 0;
}

/* a JSON list of strings or numbers as a comma list, into b */
static int
json_list(json_t *arr, const char *k, const char *src, struct lmf_buf *b,
    char *err, size_t errlen)
{
	size_t i;
	json_t *e;
	char *s;

	b->n = 0;
	lmf_buf_add(b, "", 0);
	json_array_foreach(arr, i, e) {
		if (json_is_string(e))
			s = xstrdup(json_string_value(e));
		else if (json_is_number(e))
			s = json_dumps(e, JSON_ENCODE_ANY);
		else
			return fail(err, errlen, LMF_E_PARAM, "%s: a list holds "
			    "plain values only in %s", k, src);
		if (i)
			lmf_buf_puts(b, ",");
		lmf_buf_puts(b, s);
		free(s);
	}
	return 0;
}

/* a list or an object as the value of key K */
static int
json_compound(struct lmf_args *a, const char *src, const char *k, json_t *v,
    char *err, size_t errlen)
{
	struct lmf_buf b = { 0 };
	char *s;
	int r;

	if (lmf_args_find(k) >= 0 && !strcmp(k, "lr_scheduler_kwargs") &&
	    json_is_object(v)) {
		s = json_dumps(v, JSON_COMPACT);
		r = lmf_args_set(a, k, s, 1, src, err, errlen);
		free(s);
		return r;
	}
	if (lmf_args_find(k) < 0 &&
	    (r = lmf_args_set(a, k, NULL, 0, src, err, errlen)) < 0)
		return r;
	if (json_is_object(v))
		return fail(err, errlen, LMF_E_PARAM, "%s: an object is not a "
		    "value lmf takes in %s", k, src);
	r = json_list(v, k, src, &b, err, errlen);
	if (r == 0)
		r = lmf_args_set(a, k, b.s, 1, src, err, errlen);
	free(b.s);
	return r;
}

/* V is key K's default: lmf-config --json writes every key, and one read
 * back that way is not "given" (it changes nothing, and is not routed) */
static int
json_is_default(const char *k, json_t *v)
{
	long i = lmf_args_find(k);
	const char *d = i < 0 ? NULL : keys[i].def;
	double x;

	if (!d)
		return 0;
	switch (keys[i].type) {
	case LMF_ARG_BOOL:
		return json_is_boolean(v) &&
		    json_is_true(v) == lmf_args_boolword(d);
	case LMF_ARG_INT:
	case LMF_ARG_FLOAT:
		return json_is_number(v) && !lmf_strtod(d, &x) &&
		    json_number_value(v) == x;
	case LMF_ARG_STR:
		return json_is_string(v) && !strcmp(json_string_value(v), d);
	}
	return 0;
}

static int
json_entry(struct lmf_args *a, const char *src, const char *k, json_t *v,
    char *err, size_t errlen)
{
	char *s;
	int r;

	if (json_is_default(k, v))
		return 0;
	if (json_is_null(v))
		return lmf_args_set(a, k, NULL, 0, src, err, errlen);
	if (json_is_string(v))
		return lmf_args_set(a, k, json_string_value(v), 1, src, err,
		    errlen);
	if (json_is_array(v) || json_is_object(v))
		return json_compound(a, src, k, v, err, errlen);
	s = json_dumps(v, JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
	r = lmf_args_set(a, k, s, 0, src, err, errlen);
	free(s);
	return r;
}

int
lmf_args_read_json(struct lmf_args *a, const char *src, const char *text,
    size_t len, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root = json_loadb(text, len, 0, &jerr), *v;
	const char *k;
	int r = 0;

	if (!root)
		return fail(err, errlen, LMF_E_FORMAT, "%s: line %d: %s", src,
		    jerr.line, jerr.text);
	if (!json_is_object(root))
		r = fail(err, errlen, LMF_E_FORMAT, "%s: the configuration must "
		    "be a JSON object", src);
	else
		json_object_foreach(root, k, v)
			if ((r = json_entry(a, src, k, v, err, errlen)) < 0)
				break;
	json_decref(root);
	return r;
}

const char *
lmf_args_get(const struct lmf_args *a, const char *name)
{
	long k = lmf_args_find(name);

	return k < 0 ? NULL : a->val[k];
}

static int
truth(const struct lmf_args *a, const char *name)
{
	const char *s = lmf_args_get(a, name);

	return s && !strcmp(s, "true");
}

/* key NAME, when null, takes S; given as S by a .json configuration (as
 * lmf-config --json writes the derived values), it is as if not given */
static void
derive(struct lmf_args *a, const char *name, const char *s)
{
	long k = lmf_args_find(name);
	size_t n = a->where[k] ? strlen(a->where[k]) : 0;

	if (!a->val[k])
		a->val[k] = xstrdup(s);
	else if (a->given[k] && n > 5 && !strcmp(a->where[k] + n - 5,
	    ".json") && !strcmp(a->val[k], s))
		a->given[k] = 0;
}

/* a key no tool implements, given a value other than its default */
static int
refuse_unimplemented(const struct lmf_args *a, char *err, size_t errlen)
{
	size_t i;
	const char *d;

	for (i = 0; i < NKEYS; i++) {
		d = keys[i].def;
		if (keys[i].use != LMF_ARG_REFUSED || !a->given[i] ||
		    !a->val[i])
			continue;
		if (d && !strcmp(d, a->val[i]))
			continue;
		return fail(err, errlen, LMF_E_PARAM, "%s: not implemented by "
		    "lmf yet (in %s)", keys[i].name, a->where[i]);
	}
	return 0;
}

/* combinations LLaMA-Factory refuses */
static int
refuse_combinations(const struct lmf_args *a, char *err, size_t errlen)
{
	static const char *sftonly[] = { "predict_with_generate",
		"neat_packing", "train_on_prompt", "mask_history" };
	const char *stage = lmf_args_get(a, "stage");
	const char *ft = lmf_args_get(a, "finetuning_type");
	double vs = 0;
	size_t i;

	for (i = 0; i < sizeof(sftonly) / sizeof(sftonly[0]); i++)
		if (strcmp(stage, "sft") && truth(a, sftonly[i]))
			return fail(err, errlen, LMF_E_PARAM, "%s: only stage "
			    "sft takes it (stage is %s)", sftonly[i], stage);
	if (!strcmp(stage, "ppo") && !truth(a, "do_train"))
		return fail(err, errlen, LMF_E_PARAM, "do_train: stage ppo "
		    "needs it true");
	if (truth(a, "do_train") && !lmf_args_get(a, "dataset"))
		return fail(err, errlen, LMF_E_PARAM, "dataset: required with "
		    "do_train");
	if (lmf_args_get(a, "val_size"))
		lmf_strtod(lmf_args_get(a, "val_size"), &vs);
	if ((truth(a, "do_eval") || strcmp(lmf_args_get(a, "eval_strategy"),
	    "no")) && !lmf_args_get(a, "eval_dataset") && vs <= 1e-6)
		return fail(err, errlen, LMF_E_PARAM, "%s: evaluation needs "
		    "val_size > 0", truth(a, "do_eval") ? "do_eval" :
		    "eval_strategy");
	if (lmf_args_get(a, "eval_dataset") && vs > 1e-6)
		return fail(err, errlen, LMF_E_PARAM, "val_size: cannot be "
		    "given with eval_dataset");
	if (truth(a, "predict_with_generate") && truth(a, "compute_accuracy"))
		return fail(err, errlen, LMF_E_PARAM, "compute_accuracy: "
		    "cannot be used with predict_with_generate");
	if (lmf_args_get(a, "adapter_name_or_path") && strcmp(ft, "lora"))
		return fail(err, errlen, LMF_E_PARAM, "adapter_name_or_path: "
		    "only finetuning_type lora takes an adapter "
		    "(finetuning_type is %s)", ft);
	return 0;
}

int
lmf_args_resolve(struct lmf_args *a, char *err, size_t errlen)
{
	long packing = lmf_args_find("packing");
	const char *stage = lmf_args_get(a, "stage");
	char *alpha;
	int r;

	if ((r = refuse_unimplemented(a, err, errlen)) < 0 ||
	    (r = refuse_combinations(a, err, errlen)) < 0)
		return r;
	if (truth(a, "neat_packing")) {
		free(a->val[packing]);
		a->val[packing] = xstrdup("true");
	}
	derive(a, "packing", !strcmp(stage, "pt") ? "true" : "false");
	alpha = xasprintf("%lld",
	    2 * strtoll(lmf_args_get(a, "lora_rank"), NULL, 10));
	derive(a, "lora_alpha", alpha);
	free(alpha);
	derive(a, "eval_steps", lmf_args_get(a, "logging_steps"));
	derive(a, "generation_max_length", lmf_args_get(a, "cutoff_len"));
	return 0;
}

json_t *
lmf_args_to_json(const struct lmf_args *a)
{
	json_t *root = json_object(), *j;
	size_t i;
	double d;
	long long ll;

	for (i = 0; i < NKEYS; i++) {
		const char *s = a->val[i];
		if (!s)
			j = json_null();
		else if (keys[i].type == LMF_ARG_BOOL)
			j = json_boolean(!strcmp(s, "true"));
		else if (keys[i].type == LMF_ARG_INT && !lmf_strtoll(s, &ll))
			j = json_integer(ll);
		else if (keys[i].type == LMF_ARG_FLOAT && !lmf_strtod(s, &d))
			j = json_real(d);
		else
			j = json_string(s);
		json_object_set_new(root, keys[i].name, j);
	}
	return root;
}

const char *
lmf_args_note(const struct lmf_args *a, size_t k)
{
	size_t i;

	if (k >= NKEYS || keys[k].use != LMF_ARG_IGNORED || !a->given[k] ||
	    !a->val[k])
		return NULL;
	/* what lmf does anyway: nothing to say */
	if (!strcmp(keys[k].name, "report_to") && !strcmp(a->val[k], "none"))
		return NULL;
	for (i = 0; i < sizeof(notes) / sizeof(notes[0]); i++)
		if (!strcmp(notes[i].name, keys[k].name))
			return notes[i].text;
	return "accepted; it has no effect in lmf";
}
