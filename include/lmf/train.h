#ifndef LMF_TRAIN_H
#define LMF_TRAIN_H
/* train.h: the Trainer every trainer tool shares (Hugging Face's Trainer
 * as LLaMA-Factory runs it): the output directory (lock, dead temp files,
 * the resume rule), the batches and the step plan, AdamW and the lr
 * schedule, logs (stderr, trainer_log.jsonl, log_history), checkpoints,
 * resume, the final files and plots, SIGINT/SIGTERM. The tool keeps the
 * model: its main is a loop of verbs,
 *
 *	while (tr.step < tr.total && read micro-batches with
 *	    lmf_train_next/lmf_train_micro) {
 *		forward; backward; lmf_train_update(&tr, loss);
 *		if (lmf_train_should_eval(&tr)) evaluate, lmf_train_log_eval;
 *		if (lmf_train_should_save(&tr)) lmf_train_save(&tr);
 *		lmf_train_check_signal(&tr);
 *	}
 *	lmf_train_end(&tr);
 */
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <jansson.h>

#include "lmf/bucket.h"
#include "lmf/llama.h"
#include "lmf/optim.h"
#include "lmf/opt.h"
#include "lmf/stream.h"

enum lmf_strategy { LMF_ST_NO, LMF_ST_STEPS, LMF_ST_EPOCH };

/* the TrainingArguments a trainer takes, LLaMA-Factory's names */
struct lmf_train_args {
	const char *output_dir, *resume_from_checkpoint, *tokenizer_dir;
	const char *lr_scheduler_kwargs;
	double learning_rate, num_train_epochs, weight_decay;
	double adam_beta1, adam_beta2, adam_epsilon, max_grad_norm;
	double warmup_ratio;
	double ddp_bucket_cap_mb;    /* under mpirun: buckets (bucket.h) of
	                                this many MiB; 0: one allreduce */
	long max_steps, gradient_accumulation_steps, warmup_steps;
	long logging_steps, save_steps, save_total_limit, eval_steps;
	int lr_scheduler_type;       /* enum lmf_sched_type */
	int save_strategy, eval_strategy;   /* enum lmf_strategy */
	int logging_strategy;        /* enum lmf_strategy */
	int overwrite_output_dir, plot_loss;
	int print_resume;            /* print the rule's answer, exit */
	int epochs_given;            /* num_train_epochs was given */
};
void lmf_train_args_default(struct lmf_train_args *a);

void lmf_train_opt_sched(const struct lmf_opt *o, const char *v);
/* the rows of the option table for struct lmf_train_args *a */
#define LMF_TRAIN_OPTIONS(a) \
	LMF_OPT_ROW("learning_rate", 0, LMF_OPT_FLOAT, &(a)->learning_rate, \
	    "X", 0, 1e30, "the peak learning rate"), \
	{ "num_train_epochs", 0, LMF_OPT_FLOAT, &(a)->num_train_epochs, "X", \
	    1e-9, 1e9, "epochs", "3.0, or the header's", NULL, 0 }, \
	LMF_OPT_ROW("max_steps", 0, LMF_OPT_LONG, &(a)->max_steps, "N", -1, \
	    9.3e18, "steps; -1 counts them from the epochs"), \
	LMF_OPT_ROW("gradient_accumulation_steps", 0, LMF_OPT_LONG, \
	    &(a)->gradient_accumulation_steps, "N", 1, 1000000, \
	    "micro-batches per optimizer step"), \
	LMF_OPT_ROW("weight_decay", 0, LMF_OPT_FLOAT, &(a)->weight_decay, "X", \
	    0, 1e6, "decoupled weight decay"), \
	LMF_OPT_ROW("adam_beta1", 0, LMF_OPT_FLOAT, &(a)->adam_beta1, "X", 0, \
	    0.999999, "AdamW beta1"), \
	LMF_OPT_ROW("adam_beta2", 0, LMF_OPT_FLOAT, &(a)->adam_beta2, "X", 0, \
	    0.999999, "AdamW beta2"), \
	LMF_OPT_ROW("adam_epsilon", 0, LMF_OPT_FLOAT, &(a)->adam_epsilon, "X", \
	    0, 1, "AdamW epsilon"), \
	LMF_OPT_ROW("max_grad_norm", 0, LMF_OPT_FLOAT, &(a)->max_grad_norm, \
	    "X", 0, 1e30, "clip the gradient norm; 0 = off"), \
	{ "lr_scheduler_type", 0, LMF_OPT_FUNC, &(a)->lr_scheduler_type, "T", \
	    0, 0, "linear, cosine, constant, ...", "linear", \
	    lmf_train_opt_sched, 0 }, \
	LMF_OPT_ROW("lr_scheduler_kwargs", 0, LMF_OPT_STRING, \
	    &(a)->lr_scheduler_kwargs, "JSON", 0, 0, "the schedule's arguments"), \
	LMF_OPT_ROW("warmup_steps", 0, LMF_OPT_LONG, &(a)->warmup_steps, "N", \
	    0, 9.3e18, "warmup steps"), \
	LMF_OPT_ROW("warmup_ratio", 0, LMF_OPT_FLOAT, &(a)->warmup_ratio, "X", \
	    0, 1, "warmup as a share of the steps"), \
	LMF_OPT_ROW("logging_steps", 0, LMF_OPT_LONG, &(a)->logging_steps, \
	    "N", 1, 9.3e18, "log every N steps"), \
	LMF_OPT_ROW("logging_strategy", 0, LMF_OPT_CHOICE, \
	    &(a)->logging_strategy, "no|steps|epoch", 0, 0, "when to log"), \
	LMF_OPT_ROW("overwrite_output_dir", 0, LMF_OPT_BOOL, \
	    &(a)->overwrite_output_dir, NULL, 0, 0, \
	    "train over output_dir, a new log"), \
	LMF_OPT_ROW("save_strategy", 0, LMF_OPT_CHOICE, &(a)->save_strategy, \
	    "no|steps|epoch", 0, 0, "when to write checkpoints"), \
	LMF_OPT_ROW("save_steps", 0, LMF_OPT_LONG, &(a)->save_steps, "N", 1, \
	    9.3e18, "a checkpoint every N steps"), \
	{ "save_total_limit", 0, LMF_OPT_LONG, &(a)->save_total_limit, "N", 0, \
	    9.3e18, "keep the newest N checkpoints", "0 = all", NULL, 0 }, \
	{ "resume_from_checkpoint", 0, LMF_OPT_STRING, \
	    &(a)->resume_from_checkpoint, "DIR", 0, 0, \
	    "resume from this checkpoint", "the last checkpoint-N", NULL, 0 }, \
	LMF_OPT_ROW("eval_strategy", 0, LMF_OPT_CHOICE, &(a)->eval_strategy, \
	    "no|steps|epoch", 0, 0, "when to evaluate"), \
	{ "eval_steps", 0, LMF_OPT_LONG, &(a)->eval_steps, "N", 1, 9.3e18, \
	    "evaluate every N steps", "logging_steps", NULL, 0 }, \
	LMF_OPT_ROW("plot_loss", 0, LMF_OPT_BOOL, &(a)->plot_loss, NULL, 0, 0, \
	    "write the loss plots"), \
	LMF_OPT_ROW("tokenizer_dir", 0, LMF_OPT_STRING, &(a)->tokenizer_dir, \
	    "DIR", 0, 0, "copy its tokenizer files into output_dir"), \
	LMF_OPT_ROW("print_resume", 0, LMF_OPT_BOOL, &(a)->print_resume, \
	    NULL, 0, 0, "print the checkpoint a run would resume from")

/* the rows for what to train, struct lmf_train_opts *t: the type and
 * LoRA's; then freeze's */
#define LMF_FT_OPTIONS(t) \
	LMF_OPT_ROW("finetuning_type", 0, LMF_OPT_CHOICE, \
	    &(t)->finetuning_type, "lora|full|freeze", 0, 0, "what to train"), \
	LMF_OPT_ROW("lora_rank", 0, LMF_OPT_INT, &(t)->lora_rank, "N", 1, \
	    65536, "LoRA rank"), \
	{ "lora_alpha", 0, LMF_OPT_FLOAT, &(t)->lora_alpha, "X", 0, 1e9, \
	    "LoRA alpha", "2 rank", NULL, 0 }, \
	LMF_OPT_ROW("lora_dropout", 0, LMF_OPT_FLOAT, &(t)->lora_dropout, \
	    "X", 0, 0.999, "LoRA dropout"), \
	{ "lora_target", 0, LMF_OPT_FUNC, &(t)->lora_target, \
	    "all|q_proj,...", 0, 0, "the modules LoRA adapts", "all", \
	    lmf_train_opt_target, 0 }, \
	LMF_OPT_ROW("use_rslora", 0, LMF_OPT_BOOL, &(t)->use_rslora, NULL, 0, \
	    0, "scale LoRA by alpha / sqrt(rank)"), \
	LMF_OPT_ROW("bf16", 0, LMF_OPT_BOOL, &(t)->bf16, NULL, 0, 0, \
	    "the linear layers' products in bf16 (fp32 masters)")
#define LMF_FREEZE_OPTIONS(t) \
	LMF_OPT_ROW("freeze_trainable_layers", 0, LMF_OPT_INT, \
	    &(t)->freeze_trainable_layers, "N", -100000, 100000, \
	    "freeze: the last N layers train (-N: first)"), \
	LMF_OPT_ROW("freeze_trainable_modules", 0, LMF_OPT_STRING, \
	    &(t)->freeze_trainable_modules, "M", 0, 0, \
	    "freeze: the modules that train"), \
	LMF_OPT_ROW("freeze_extra_modules", 0, LMF_OPT_STRING, \
	    &(t)->freeze_extra_modules, "M", 0, 0, "freeze: also train these"), \
	LMF_OPT_ROW("use_llama_pro", 0, LMF_OPT_BOOL, &(t)->use_llama_pro, \
	    NULL, 0, 0, "freeze: the last of each L/N layers train")
void lmf_train_opt_target(const struct lmf_opt *o, const char *v);

/* the trainer; fields the tool reads are above the line */
struct lmf_trainer {
	struct lmf_train_args a;
	const char *data_path;       /* the batches, "-" for stdin */
	const char *out;             /* -o: the result also here, or NULL */
	const struct lmf_wropts *wo;
	const char *result_name;     /* "adapter.lmf" or "model.lmf" */
	/* the model written as the result (its stream, and the Hugging Face
	 * files made from its weights in memory); NULL: tr->model */
	struct lmf_llama *result;
	void *ctx;                   /* the tool's, for its callbacks */
	const char *const *plot_keys; /* NULL-terminated; NULL: "loss" */
	/* the log window's values of the metrics from their sums over the
	 * window's steps (NULL: each sum / steps): names and v (16 at most)
	 * set, their number returned (LLaMA-Factory's kto ratios of sums) */
	int (*window)(char *const *mname, const double *msum, int n,
	    long steps, const char **names, double *v);
	int log_metrics;             /* trainer_log.jsonl gets every metric
	                                (after LLaMA-Factory's keys) */
	uint64_t seed;               /* recorded in lmf_state.json */
	/* the tool's other files into a result directory: a checkpoint's
	 * (being written, committed with it) or output_dir at the end;
	 * NULL: none */
	void (*write_extra)(struct lmf_trainer *tr, const char *dir);
	/* what else a resume needs, kept under "tool" in a checkpoint's
	 * lmf_state.json (a new reference); NULL: nothing */
	json_t *(*save_state)(struct lmf_trainer *tr);
	json_t *resumed;             /* that object of the checkpoint resumed
	                                from (lmf_train_open), or NULL */
	int updates_vary;            /* the optimizer steps once or more a
	                                step (lmf-ppo), not exactly once */
	struct lmf_llama *model;     /* lmf_train_tool_open's */
	char *resume_dir;            /* the checkpoint resumed from, or NULL */
	long resume_total;           /* its plan's total steps */
	struct lmf_rd *data;
	long step, total;            /* optimizer steps done, T */
	uint64_t micro, bpe;         /* micro-batches read; per epoch (0: ?) */
	int epoch_end;               /* the last micro-batch ended an epoch */
	/* data parallelism (dist.h): this rank of world; a step reads ga =
	 * GA x world micro-batches, rank-strided: this rank keeps those
	 * whose place k in the step has k % world == rank. nmicro: the
	 * step's micro-batches on all ranks; gidx[i]: the index in the run
	 * of the i-th kept one (the dropout seed an unsplit run gives it) */
	int rank, world;
	long ga, nmicro;
	uint64_t *gidx;
	/* ---- */
	struct lmf_tparam *tp;
	int ntp;
	struct lmf_adamw adam;
	struct lmf_sched sched;
	uint64_t tokens, tokens0, log_tokens, samples;
	uint64_t flos_params;        /* Trainer.floating_point_ops' count */
	double flos;                 /* total_flos */
	int ft;                      /* enum lmf_ft_type, for README.md */
	json_t *model_meta;          /* the model stream's header */
	double train_loss_sum, loss_sum, last_norm, t0, log_t, start;
	long log_steps, batch_size, saved, step0, log_lines, log_keep;
	int nmetric;
	char *mname[16];             /* extra metrics of the log window */
	double msum[16];
	json_t *history;             /* trainer_state.json's log_history */
	FILE *log;                   /* trainer_log.jsonl */
	int tty, shown;              /* the progress line */
	double shown_at;
	float *flat;                 /* the gradients packed for allreduce,
	                              * NULL when they lie back to back */
	uint64_t nflat;
	struct lmf_buckets bk;       /* or in buckets (bucket.h) */
	int bucketed;
	pid_t loader;                /* lmf-load reading a PEFT directory */
	int lock;                    /* the fd holding output_dir's lock */
};

/* zero tr, take a copy of a; start is when main began */
void lmf_train_init(struct lmf_trainer *tr, const struct lmf_train_args *a,
    double start);
/* the output_dir rule (LLaMA-Factory's, spec 1.2), the one place it is:
 * the checkpoint to resume from (new string), or NULL to start afresh;
 * *weights set to the weight file of a finished output_dir that must not
 * be trained over (then NULL is returned), else NULL. Reads only */
char *lmf_train_resume_rule(const char *output_dir, int overwrite,
    const char *resume, const char **weights);
/* --print_resume: the checkpoint lmf_train_resume_rule gives for
 * output_dir on stdout (nothing to start afresh), exit 0; exit 2 with one
 * line when the output_dir is a finished run */
LMF_NORETURN void lmf_train_print_resume(const struct lmf_train_args *a);
/* output_dir created and locked, a dead run's temp files cleaned, and
 * tr->resume_dir found (dies on a finished output_dir); without
 * output_dir resume_dir is resume_from_checkpoint */
void lmf_train_begin(struct lmf_trainer *tr);
/* an adapter stream, or a PEFT directory read through lmf-load; close it
 * with lmf_train_adapter_close (1 if the loader failed and said why) */
struct lmf_rd *lmf_train_adapter_open(struct lmf_trainer *tr,
    const char *path);
int lmf_train_adapter_close(struct lmf_trainer *tr, struct lmf_rd *r);
/* open the batches (tr->data_path) and plan T from their header; then
 * the resumed counters and log history, trainer_log.jsonl opened */
void lmf_train_open(struct lmf_trainer *tr);
/* the trainable tensors: AdamW and the schedule set up; on resume the
 * optimizer state read and the batches consumed skipped; signals
 * caught; the clock started */
void lmf_train_start(struct lmf_trainer *tr, struct lmf_tparam *tp,
    int ntp, uint64_t numel);
/* the next micro-batch: 1, or 0 at the end (a file is read again from
 * its start once when it ends) */
int lmf_train_next(struct lmf_trainer *tr, struct lmf_item *it);
/* count a micro-batch of B rows of T tokens read; 1 if it ended an epoch
 * (the step's accumulation ends there) */
int lmf_train_micro(struct lmf_trainer *tr, long B, long T);
/* a metric of this step for the log (mean over the log window), before
 * lmf_train_update */
void lmf_train_metric(struct lmf_trainer *tr, const char *name, double v);
/* the gradients are in tp: with several ranks, the gradients and loss
 * (each rank's share, already divided by the step's global normaliser)
 * summed over the ranks; then clip, AdamW with the step's lr, count,
 * log, progress. A loss or norm not finite writes the state and dies */
void lmf_train_update(struct lmf_trainer *tr, double loss);
int lmf_train_should_eval(const struct lmf_trainer *tr);
int lmf_train_should_save(const struct lmf_trainer *tr);
/* checkpoint-N: result, HF files, optimizer, states; atomic; pruned */
void lmf_train_save(struct lmf_trainer *tr);
/* after SIGINT/SIGTERM: a checkpoint, then exit 128 + signal */
void lmf_train_check_signal(struct lmf_trainer *tr);
/* an evaluation's metrics (names[0] is the one trainer_log.jsonl gets):
 * final LMF_EVAL_STEP logs them; LMF_EVAL_FINAL also writes
 * eval_results.json and all_results.json; LMF_EVAL_PREDICT (names
 * predict_*, as Trainer.predict) only writes predict_results.json with
 * predict_runtime, predict_samples_per_second, predict_steps_per_second
 * and merges them into all_results.json, nothing logged */
enum { LMF_EVAL_STEP, LMF_EVAL_FINAL, LMF_EVAL_PREDICT };
void lmf_train_log_eval(struct lmf_trainer *tr, const char *const *names,
    const double *v, int n, uint64_t rows, uint64_t batches, double dt,
    int final);
/* mean loss of the steps done */
double lmf_train_loss(const struct lmf_trainer *tr);
/* the line of trainer_log.jsonl that LLaMA-Factory's LogCallback writes
 * on the Trainer's final log (train_runtime, train_loss, ...): the step,
 * epoch, percentage and times, no loss and no lr; every run ends with
 * it, one shorter than logging_steps too (PPO's loop has no final log) */
void lmf_train_log_final(struct lmf_trainer *tr);
/* the end of training: the result, tokenizer, train_results.json,
 * all_results.json, trainer_state.json, the plots in output_dir */
void lmf_train_end(struct lmf_trainer *tr);
/* the rest of piped batches read, everything closed and freed, the
 * output_dir lock released */
void lmf_train_free(struct lmf_trainer *tr);

/* ---- what every trainer tool does around its model ---- */
/* a trainer tool's inputs and outputs */
struct lmf_train_paths {
	const char *model, *data;   /* streams, "-" for stdin */
	const char *out;            /* -o, or NULL */
	const char *adapter;        /* adapter_name_or_path, or NULL */
	const char *dump_grads, *eval_data;
};
/* the checks every trainer makes of them and of a (exit 2 with one
 * line); a->epochs_given set from tab; --dump_grads clears output_dir
 * and resume_from_checkpoint */
void lmf_train_check_paths(struct lmf_train_args *a, struct lmf_opt *tab,
    const struct lmf_train_paths *p, const struct lmf_train_opts *t);
/* the option function of --lora_target (lmf_opt_level and lmf_opt_quiet
 * of opt.h serve -l and -q) */
void lmf_train_opt_target(const struct lmf_opt *o, const char *v);
/* a frozen model (a reference, a reward model) from a model stream, with
 * an adapter stream over it when adapter is not NULL; no gradients; its
 * products in bf16 when bf16 (as the policy's, so that both agree at the
 * start). Dies with one line */
struct lmf_llama *lmf_train_frozen_open(const char *model,
    const char *adapter, int bf16);
/* the model stream (or on resume the checkpoint's model.lmf) opened for
 * training per t, with the adapter (a stream or a PEFT directory; on a
 * LoRA resume the checkpoint's adapter.lmf) when there is one; dies with
 * one line on failure. Call after lmf_train_begin */
struct lmf_llama *lmf_train_model_open(struct lmf_trainer *tr,
    const char *model, const char *adapter, const struct lmf_train_opts *t);
/* point b at batch item it of m's vocabulary (lmf_batch_from_item), or
 * die with one line naming path and batch k */
void lmf_train_batch_or_die(struct lmf_llama *m, struct lmf_batch *b,
    struct lmf_item *it, const char *path, uint64_t k);
/* m's result stream (adapter or model, global_step and train_loss in
 * its header) to path or "-", written with tr->wo */
void lmf_train_model_write(struct lmf_trainer *tr, struct lmf_llama *m,
    const char *path);
/* --dump_grads: a "grads" stream of one item to path or "-" with header
 * meta: the n f64 scalars names[i] = v[i] (the loss first), then the f32
 * gradient of each trainable tensor under its name */
void lmf_train_dump_grads(const char *path, const struct lmf_wropts *wo,
    json_t *meta, const char *const *names, double *v, int n,
    const struct lmf_tparam *tp, int ntp);

/* ---- a trainer tool: the state, options and verbs every one shares ---- */
struct lmf_train_tool {
	struct lmf_train_paths p;
	struct lmf_train_args a;
	struct lmf_train_opts t;
	struct lmf_wropts wo;
	int threads, nockpt;
	int value_head;              /* the model gets a value head (rm) */
	int dist_ok;                 /* runs data-parallel under mpirun */
	struct lmf_tparam *tp;       /* the trainable tensors, copied */
	int ntp;
};
/* the rows of x's options: the streams first; then what to train, the
 * TrainingArguments and eval_data; last seed, threads, -l and -q */
#define LMF_TRAIN_TOOL_IO(x, data_help, dump_help) \
	LMF_OPT_ROW("model", 0, LMF_OPT_STRING, &(x)->p.model, "FILE", 0, 0, \
	    "the model stream"), \
	LMF_OPT_ROW("data", 0, LMF_OPT_STRING, &(x)->p.data, "FILE", 0, 0, \
	    data_help), \
	LMF_OPT_ROW("output_dir", 0, LMF_OPT_STRING, &(x)->a.output_dir, \
	    "DIR", 0, 0, "logs, checkpoints and the result"), \
	LMF_OPT_ROW(NULL, 'o', LMF_OPT_STRING, &(x)->p.out, "FILE", 0, 0, \
	    "also write the result to FILE or '-'"), \
	LMF_OPT_ROW("dump_grads", 0, LMF_OPT_STRING, &(x)->p.dump_grads, \
	    "FILE", 0, 0, dump_help)
#define LMF_TRAIN_TOOL_MODEL(x, eval_help) \
	LMF_FT_OPTIONS(&(x)->t), \
	LMF_OPT_ROW("adapter_name_or_path", 0, LMF_OPT_STRING, \
	    &(x)->p.adapter, "PATH", 0, 0, \
	    "adapter stream or PEFT directory to continue"), \
	LMF_FREEZE_OPTIONS(&(x)->t), \
	LMF_OPT_ROW("disable_gradient_checkpointing", 0, LMF_OPT_BOOL, \
	    &(x)->nockpt, NULL, 0, 0, "keep every activation"), \
	LMF_TRAIN_OPTIONS(&(x)->a), \
	{ "ddp_bucket_cap_mb", 0, LMF_OPT_FLOAT, &(x)->a.ddp_bucket_cap_mb, \
	    "X", 0, 1e6, "under mpirun: gradient buckets of X MiB, sent " \
	    "during the backward", "0 = one allreduce after it", NULL, 0 }, \
	LMF_OPT_ROW("eval_data", 0, LMF_OPT_STRING, &(x)->p.eval_data, \
	    "FILE", 0, 0, eval_help)
#define LMF_TRAIN_TOOL_TAIL(x, seed_help) \
	LMF_OPT_ROW("seed", 0, LMF_OPT_U64, &(x)->t.seed, "N", 0, 9.3e18, \
	    seed_help), \
	{ "threads", 0, LMF_OPT_INT, &(x)->threads, "N", 0, 4096, \
	    "threads for matrix products", "0 = all cores", NULL, 0 }, \
	{ "level", 'l', LMF_OPT_FUNC, &(x)->wo.level, "N", 0, 0, \
	    "zstd level of the output", "1", lmf_opt_level, 0 }, \
	{ "quiet", 'q', LMF_OPT_FUNC, NULL, NULL, 0, 0, \
	    "no progress lines", NULL, lmf_opt_quiet, 0 }, \
	LMF_OPT_LAST_ROWS
/* x's defaults (model and data "-"), before lmf_opt_parse */
void lmf_train_tool_defaults(struct lmf_train_tool *x);
/* after lmf_opt_parse returned i: exit 2 on an argument left over,
 * --print_resume answered */
void lmf_train_tool_parsed(struct lmf_train_tool *x, int i, int argc,
    char **argv);
/* tr set up for x after its checks: MPI when launched by mpirun (dies
 * there unless x->dist_ok; streams must be files; ranks past 0 quiet),
 * gradient checkpointing, threads (0: the cores / the ranks on this
 * machine), lmf_train_init, the paths, seed, result and ctx; the result
 * is tr->model's (lmf_train_model_write) */
void lmf_train_tool_init(struct lmf_train_tool *x, struct lmf_trainer *tr,
    void *ctx);
/* lmf_train_begin, the model opened (with a value head when
 * x->value_head) and its trainable tensors copied into x->tp (dies when
 * there are none), lmf_train_open: the model, also tr->model */
struct lmf_llama *lmf_train_tool_open(struct lmf_train_tool *x,
    struct lmf_trainer *tr);
/* lmf_train_start, then the loop of verbs: step (its micro-batches read
 * into items, GA of them; 0 when the batches ran out or after a gradient
 * dump), evaluate (with eval_data) and save when due, signals; then,
 * unless dump_grads, lmf_train_log_final, lmf_train_end, evaluate(tr,
 * 1) with eval_data and
 * output_dir, and the result to -o */
void lmf_train_tool_run(struct lmf_train_tool *x, struct lmf_trainer *tr,
    int (*step)(struct lmf_trainer *tr, struct lmf_item *items),
    void (*evaluate)(struct lmf_trainer *tr, int final));
/* lmf_train_free, tr->model and x->tp freed, MPI finished */
void lmf_train_tool_free(struct lmf_train_tool *x, struct lmf_trainer *tr);
/* a step's micro-batches read into items (GA, fewer at an epoch's end)
 * and counted by lmf_train_micro from their input_ids (dies without):
 * their number, 0 when the batches ran out; *rows their rows. One rank
 * only (tools that are not dist_ok) */
int lmf_train_read_step(struct lmf_trainer *tr, struct lmf_item *items,
    long *rows);
/* a step's micro-batches read into items and pointed at by b
 * (lmf_train_batch_or_die of m), GA, fewer at an epoch's end: their
 * number, 0 when the batches ran out. With several ranks, this rank's
 * share of the step's GA x world (tr->nmicro, 0 when they ran out; the
 * number returned may be 0 at an epoch's end while others have some) */
int lmf_train_read_batches(struct lmf_trainer *tr, struct lmf_llama *m,
    struct lmf_item *items, struct lmf_batch *b);
/* an evaluation pass over the eval batches at path: fn(ctx, it, k) gives
 * batch k's loss (the mean over its rows); the mean over rows (Hugging Face's
 * evaluation loop), *rows and *nb counted; dies when there are none */
double lmf_train_eval_pass(const char *path, double (*fn)(void *ctx,
    struct lmf_item *it, uint64_t k), void *ctx, uint64_t *rows,
    uint64_t *nb);

#endif
