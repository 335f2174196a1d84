/* lmf-ppo: PPO on prompt batches (LLaMA-Factory's ppo stage, trl 0.9.6's
 * PPOTrainer): rollouts from the current policy, scores from a reward
 * model's value head, KL rewards against the reference, GAE, clipped
 * updates, the adaptive KL controller (ppo.c). --dump_step writes one
 * step's rollout and first mini-batch gradients; --rollout replays a
 * saved rollout. It does not tokenize or pack prompts, and it does not
 * query reward APIs (reward_model_type api). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmf/dist.h"
#include "lmf/infer.h"
#include "lmf/llama.h"
#include "lmf/model.h"
#include "lmf/opt.h"
#include "lmf/optim.h"
#include "lmf/ppo.h"
#include "lmf/sample.h"
#include "lmf/stream.h"
#include "lmf/train.h"
#include "lmf/util.h"
#include "lmf/banned.h"

enum { RM_LORA, RM_FULL, RM_API };

struct opts {
	const char *model, *data, *out, *adapter, *dump, *rollout;
	const char *reward_model, *reward_adapters, *ref_model, *ref_adapters;
	int threads, nockpt, rm_type, mbs, time, infer_dtype;
	struct lmf_train_opts t;
	struct lmf_train_args a;
	struct lmf_ppo_config c;
	struct lmf_gen_opts g;
	struct lmf_wropts wo;
};

struct run {
	struct opts *o;
	struct lmf_trainer *tr;
	struct lmf_llama *model, *ref, *rm;
	struct lmf_tparam *tp;
	int ntp;
	struct lmf_infer *inf;
	struct lmf_infer_layer *layers;
	struct lmf_ppo_state s;
	struct lmf_item reward;   /* lora: the adapter output_dir/reward gets */
	json_t *reward_cfg;
	int32_t pad, eos;
	long cutoff;   /* the batches' cutoff_len, 0 if not known */
};

/* the reward model: its own (full), or the rm adapter over the policy's
 * base (lora); its vocabulary must be the policy's */
static void
open_rm(struct run *r)
{
	struct opts *o = r->o;
	const char *p = o->rm_type == RM_FULL ? o->reward_model : o->model;
	const char *a = o->rm_type == RM_FULL ? o->reward_adapters :
	    o->reward_model;
	char err[512];

	r->rm = lmf_train_frozen_open(p, a, o->t.bf16);
	if (o->rm_type == RM_LORA && !o->dump && lmf_ppo_reward_read(a,
	    &r->reward, &r->reward_cfg, err, sizeof err) < 0)
		die("%s", err);
	if (!lmf_llama_has_value_head(r->rm))
		die("'%s': no value head (v_head.summary): not a reward model",
		    a ? a : p);
	if (lmf_llama_config(r->rm)->vocab_size !=
	    lmf_llama_config(r->model)->vocab_size)
		die("'%s': the reward model's vocabulary (%lld) is not the "
		    "policy's (%lld)", o->reward_model,
		    (long long)lmf_llama_config(r->rm)->vocab_size,
		    (long long)lmf_llama_config(r->model)->vocab_size);
}

static void
open_models(struct run *r)
{
	struct opts *o = r->o;
	const struct lmf_config *c;
	struct lmf_infer_weights w;
	char err[512];
	int i;

	r->model = lmf_train_model_open(r->tr, o->model, o->adapter, &o->t);
	lmf_llama_value_head(r->model, -1);
	r->ntp = lmf_llama_ntrainable(r->model);
	r->tp = xmallocarray((size_t)r->ntp, sizeof *r->tp);
	for (i = 0; i < r->ntp; i++)
		r->tp[i] = *lmf_llama_trainable(r->model, i);
	c = lmf_llama_config(r->model);
	if (o->t.finetuning_type != LMF_FT_LORA || o->ref_model)
		r->ref = lmf_train_frozen_open(o->ref_model ? o->ref_model :
		    o->model, o->ref_adapters, o->t.bf16);
	if (r->ref && lmf_llama_config(r->ref)->vocab_size != c->vocab_size)
		die("'%s': the reference's vocabulary (%lld) is not the "
		    "policy's (%lld)", o->ref_model, (long long)
		    lmf_llama_config(r->ref)->vocab_size, (long long)c->vocab_size);
	if (o->reward_model)
		open_rm(r);
	r->eos = c->n_eos ? (int32_t)c->eos_token_ids[0] : -1;
	if (o->rollout)
		return;
	r->layers = xcalloc((size_t)c->num_hidden_layers, sizeof *r->layers);
	if (lmf_llama_infer_weights(r->model, &w, r->layers, err,
	    sizeof err) < 0 || !(r->inf = lmf_infer_borrow(c, &w, err,
	    sizeof err)) || lmf_infer_set_dtype(r->inf,
	    lmf_infer_dtype(o->infer_dtype), err, sizeof err))
		die("'%s': %s", o->model, err);
	o->g.nstop = lmf_sample_stop_ids(c, NULL, NULL,
	    (int32_t **)&o->g.stop);
}

/* the last step: the optimizer as train.c runs it, once per backward
 * batch at the step's learning rate; the step's last one is
 * lmf_train_update's, after the statistics are in */
static void
update(void *ctx, int last, double loss)
{
	struct run *r = ctx;
	struct lmf_trainer *tr = r->tr;

	(void)loss;
	if (last)
		return;
	lmf_ppo_rank0_grads(tr->tp, tr->ntp, 0);
	lmf_grad_clip(tr->tp, tr->ntp, tr->a.max_grad_norm);
	lmf_adamw_step(&tr->adam, tr->tp, tr->ntp,
	    lmf_sched_lr(&tr->sched, tr->step));
	lmf_llama_weights_changed(r->model);
}

/* the prompts of GA x buffer micro-batches: each row's tokens (its
 * attention mask, either padding side); 0 at the end of the batches */
static int
prompts(struct run *r, struct lmf_rollout *ro)
{
	struct lmf_trainer *tr = r->tr;
	long nb = tr->ga, k;    /* GA x buffer (x ranks) */
	struct lmf_item *items = xcalloc((size_t)nb, sizeof *items);
	int32_t **q = NULL;
	int *ql = NULL, n = 0, i, ended = 0;
	struct lmf_batch b;
	char err[256];

	for (k = 0; k < nb && !ended && lmf_train_next(tr, &items[k]) == 1;
	    k++) {
		if (lmf_batch_from_prompts(&b, &items[k],
		    lmf_llama_config(r->model)->vocab_size, r->cutoff, err,
		    sizeof err) < 0)
			die("'%s': batch %llu: %s", tr->data_path,
			    (unsigned long long)tr->micro, err);
		ended = lmf_train_micro(tr, b.B, b.T);
		if (!r->o->c.mbs)
			r->o->c.mbs = b.B;
		q = xrealloc(q, (size_t)(n + b.B) * sizeof *q);
		ql = xrealloc(ql, (size_t)(n + b.B) * sizeof *ql);
		for (i = 0; i < b.B; i++, n++) {
			q[n] = xmallocarray((size_t)b.T, sizeof **q);
			ql[n] = lmf_batch_row_tokens(&b, i, q[n]);
		}
	}
	/* bf16, int8 rollouts: the weights as the step starts (LoRA: the
	 * base frozen, its pairs live) */
	if (n && r->o->t.finetuning_type != LMF_FT_LORA &&
	    lmf_infer_set_dtype(r->inf, lmf_infer_dtype(r->o->infer_dtype),
	    err, sizeof err))
		die("%s", err);
	if (n)
		lmf_ppo_rollout(ro, r->inf, n, (const int32_t *const *)q, ql,
		    r->o->c.mbs, &r->o->g, &r->s.gen, r->pad, r->eos);
	for (i = 0; i < n; i++)
		free(q[i]);
	for (i = 0; i < k; i++)
		lmf_item_free(&items[i]);
	free(q), free(ql), free(items);
	return n > 0;
}

/* one PPO step on the rollout: 0 after a dump */
static int
step(struct run *r, struct lmf_rollout *ro, int scored)
{
	struct lmf_ppo_step_stats st = { 0 };
	struct lmf_ppo_config *c = &r->o->c;
	double t0;

	if (!c->mbs)
		c->mbs = ro->n;
	if (!scored)
		lmf_ppo_score(r->rm, ro, c->mbs);
	lmf_ppo_forward(r->model, r->ref, ro, c->mbs, r->o->dump != NULL);
	lmf_ppo_advantages(ro, c, &r->s, &st);
	t0 = lmf_now();
	lmf_ppo_optimize(r->model, ro, c, &r->s, &st, update, r, r->o->dump
	    != NULL);
	if (r->o->time)
		lmf_ppo_print_times(ro, r->tr->step + 1, lmf_now() - t0);
	if (r->o->dump) {
		lmf_ppo_dump(r->o->dump, &r->o->wo, ro, &st, r->tp, r->ntp);
		return 0;
	}
	lmf_ppo_metrics(r->tr, &st);
	lmf_ppo_rank0_grads(r->tp, r->ntp, 1);
	lmf_train_update(r->tr, r->tr->rank > 0 ? 0 : st.loss);
	return 1;
}

static void
replay(struct run *r)
{
	struct lmf_rd *rd = lmf_rd_open_or_die(r->o->rollout);
	struct lmf_rollout ro;
	struct lmf_item it;
	char err[512];
	int scored;

	if (lmf_rd_item_or_die(rd, &it) != 1)
		die("'%s': no rollout item", r->o->rollout);
	if (lmf_rollout_from_item(&ro, &it, lmf_llama_config(r->model)->
	    vocab_size, r->pad, &scored, err, sizeof err) < 0)
		die("'%s': %s", r->o->rollout, err);
	if (!scored && !r->rm)
		die_usage("'%s' has no scores: give --reward_model",
		    r->o->rollout);
	lmf_item_free(&it);
	lmf_rd_close(rd);
	step(r, &ro, scored);
	lmf_rollout_free(&ro);
}

/* reward_model_type lora: dir/reward as PEFT saves the second adapter */
static void
write_extra(struct lmf_trainer *tr, const char *dir)
{
	struct run *r = tr->ctx;
	char err[512];

	if (r->reward.ntensors && lmf_ppo_reward_write(dir, &r->reward,
	    r->reward_cfg, err, sizeof err) < 0)
		die("%s", err);
}

static json_t *
save_state(struct lmf_trainer *tr)
{
	struct run *r = tr->ctx;

	return lmf_ppo_state_save(&r->s, r->model);
}

static void
train(struct run *r)
{
	static const char *const plots[] = { "loss", "reward", NULL };
	struct lmf_trainer *tr = r->tr;
	struct lmf_rollout ro;
	json_t *s, *p, *m;
	char err[512];
	int i;

	tr->result_name = r->o->t.finetuning_type == LMF_FT_LORA ?
	    "adapter.lmf" : "model.lmf";
	tr->write_extra = write_extra;
	tr->save_state = save_state;
	tr->updates_vary = 1;
	tr->plot_keys = plots;
	tr->log_metrics = 1;
	lmf_train_begin(tr);
	open_models(r);
	tr->result = r->model;
	lmf_train_open(tr);
	if (tr->resume_dir && lmf_ppo_state_load(&r->s, r->model, tr->resumed,
	    err, sizeof err) < 0)   /* the KL controller, moments, RNGs */
		die("'%s/lmf_state.json': %s", tr->resume_dir, err);
	m = lmf_rd_meta(tr->data);
	s = json_object_get(m, "stage");
	if (json_is_string(s) && strcmp(json_string_value(s), "ppo"))
		die("'%s': batches of stage '%s', not ppo prompts",
		    tr->data_path, json_string_value(s));
	p = json_object_get(m, "pad_token_id");
	r->pad = json_is_integer(p) ? (int32_t)json_integer_value(p) : 0;
	if (json_integer_value(p) < 0 || json_integer_value(p) >=
	    lmf_llama_config(r->model)->vocab_size)
		die("'%s': pad_token_id %lld is outside the vocabulary",
		    tr->data_path, (long long)json_integer_value(p));
	r->cutoff = (long)json_integer_value(json_object_get(m, "cutoff_len"));
	lmf_ppo_add_stops(&r->o->g, m, &r->eos);
	lmf_train_start(tr, r->tp, r->ntp,
	    lmf_llama_trainable_numel(r->model));
	while (tr->step < tr->total && prompts(r, &ro)) {
		i = step(r, &ro, 0);
		lmf_rollout_free(&ro);
		if (!i)
			return;   /* --dump_step */
		if (lmf_train_should_save(tr))
			lmf_train_save(tr);
		lmf_train_check_signal(tr);
	}
	lmf_train_end(tr);
	if (r->o->out)
		lmf_train_model_write(tr, r->model, r->o->out);
}

/* under mpirun a step's prompts are GA x buffer x ranks micro-batches,
 * each rank generating its share (ppo.c); rank 0 alone writes */
static void
dist_setup(struct opts *o)
{
	lmf_dist_start(o->threads);
	if (lmf_dist_tool(o->model, o->data) < 2)
		return;
	if (o->dump || o->rollout)
		die_usage("--dump_step and --rollout run on one process only");
	if (lmf_dist_rank() > 0)
		o->out = NULL;
	o->c.ga *= lmf_dist_size();
}

static void
check_args(struct opts *o, struct lmf_opt *tab)
{
	o->a.epochs_given = lmf_opt_given(tab, "num_train_epochs");
	if (o->rm_type == RM_API)
		die_usage("reward_model_type api is not supported: lmf "
		    "works offline");
	if (o->rollout && !o->dump)
		die_usage("--rollout replays one step: give --dump_step");
	if (!o->rollout && !o->reward_model)
		die_usage("no reward model: give --reward_model");
	if (!o->rollout && !strcmp(o->model, "-") && !strcmp(o->data, "-"))
		die_usage("the model and the batches cannot both come from "
		    "stdin: give --model or --data");
	if (!o->a.output_dir && !o->out && !o->dump)
		die_usage("nowhere to write the result: give --output_dir or "
		    "-o");
	if (o->g.max_new_tokens < 1)
		die_usage("max_new_tokens must be at least 1");
	if (o->rm_type == RM_LORA && o->reward_model &&
	    o->t.finetuning_type != LMF_FT_LORA)
		die_usage("reward_model_type lora goes with finetuning_type "
		    "lora; use full");
	if (((o->rm_type == RM_LORA && o->reward_model) ||
	    (o->t.finetuning_type != LMF_FT_LORA && !o->ref_model)) &&
	    !strcmp(o->model, "-"))
		die_usage("--model must be a file: it is read again for the "
		    "%s", o->rm_type == RM_LORA ? "reward model" : "reference");
	if (o->ref_adapters && !o->ref_model)
		die_usage("--ref_model_adapters goes with --ref_model");
	if (o->adapter && o->t.finetuning_type != LMF_FT_LORA)
		die_usage("--adapter_name_or_path goes with --finetuning_type "
		    "lora");
	if (o->dump)
		o->a.output_dir = o->a.resume_from_checkpoint = NULL;
}

int
main(int argc, char **argv)
{
	static const struct lmf_opt_usage u = { "--reward_model FILE "
	    "[--model FILE] [--data FILE] [--output_dir DIR]\n"
	    "               [-o FILE] [--finetuning_type lora|full|freeze] "
	    "[--dump_step FILE]\n"
	    "               [--rollout FILE] [-l N] [-q] [options]",
	    "Train a policy with PPO on prompt batches against a reward "
	    "model." };
	struct opts o = { .model = "-", .data = "-" };
	struct lmf_trainer tr;
	struct run r = { .o = &o, .tr = &tr };
	struct lmf_train_opts *t = &o.t;
	struct lmf_ppo_config *c = &o.c;
	struct lmf_gen_opts *g = &o.g;
#define S LMF_OPT_STRING
#define F LMF_OPT_FLOAT
#define I LMF_OPT_INT
#define B LMF_OPT_BOOL
	struct lmf_opt tab[] = {
		LMF_OPT_ROW("model", 0, S, &o.model, "FILE", 0, 0,
		    "the policy's model stream"),
		LMF_OPT_ROW("data", 0, S, &o.data, "FILE", 0, 0,
		    "the prompt batches (lmf-pack, stage ppo)"),
		LMF_OPT_ROW("output_dir", 0, S, &o.a.output_dir, "DIR", 0, 0,
		    "logs, checkpoints and the result"),
		LMF_OPT_ROW(NULL, 'o', S, &o.out, "FILE", 0, 0,
		    "also write the result to FILE or '-'"),
		LMF_OPT_ROW("reward_model", 0, S, &o.reward_model, "FILE", 0,
		    0, "the reward model (lora: its adapter stream)"),
		LMF_OPT_ROW("reward_model_type", 0, LMF_OPT_CHOICE, &o.rm_type,
		    "lora|full|api", 0, 0, "how the reward model is held"),
		LMF_OPT_ROW("reward_model_adapters", 0, S, &o.reward_adapters,
		    "FILE", 0, 0, "full: an adapter over the reward model"),
		LMF_OPT_ROW("ref_model", 0, S, &o.ref_model, "FILE", 0, 0,
		    "the reference (default: --model, lora: the adapter off)"),
		LMF_OPT_ROW("ref_model_adapters", 0, S, &o.ref_adapters,
		    "FILE", 0, 0, "an adapter over --ref_model"),
		LMF_OPT_ROW("dump_step", 0, S, &o.dump, "FILE", 0, 0,
		    "write one step's rollout and gradients, then stop"),
		LMF_OPT_ROW("rollout", 0, S, &o.rollout, "FILE", 0, 0,
		    "take this rollout instead of generating"),
		LMF_FT_OPTIONS(t),
		LMF_OPT_ROW("adapter_name_or_path", 0, S, &o.adapter, "PATH",
		    0, 0, "adapter stream or PEFT directory to continue"),
		LMF_FREEZE_OPTIONS(t),
		LMF_OPT_ROW("disable_gradient_checkpointing", 0, B, &o.nockpt,
		    NULL, 0, 0, "keep every activation"),
		LMF_TRAIN_OPTIONS(&o.a),
		{ "per_device_train_batch_size", 0, I, &c->mbs, "N", 0, 1 << 20,
		    "mini-batch size", "the batches' rows", NULL, 0 },
		LMF_OPT_ROW("ppo_epochs", 0, I, &c->epochs, "N", 1, 1000,
		    "optimisation epochs per step"),
		LMF_OPT_ROW("ppo_buffer_size", 0, I, &c->buffer, "N", 1, 1000000,
		    "mini-batches x GA per step"),
		LMF_OPT_ROW("ppo_target", 0, F, &c->target, "X", 1e-9, 1e9,
		    "target KL of the adaptive controller"),
		LMF_OPT_ROW("ppo_score_norm", 0, B, &c->score_norm, NULL, 0, 0,
		    "normalise scores by running moments"),
		LMF_OPT_ROW("ppo_whiten_rewards", 0, B, &c->whiten_rewards,
		    NULL, 0, 0, "whiten the rewards before GAE"),
		LMF_OPT_ROW("init_kl_coef", 0, F, &c->init_kl_coef, "X", 0, 1e9,
		    "the KL coefficient at first"),
		LMF_OPT_ROW("do_sample", 0, B, &g->s.do_sample, NULL, 0, 0,
		    "sample (else greedy)"),
		LMF_OPT_ROW("temperature", 0, F, &g->s.temperature,
		    "X", 1e-6, 1e6, "sampling temperature"),
		LMF_OPT_ROW("top_p", 0, F, &g->s.top_p, "X", 1e-9,
		    1, "nucleus sampling"),
		LMF_OPT_ROW("top_k", 0, I, &g->s.top_k, "N", 0, 1 << 30,
		    "top-k sampling; 0 = off"),
		LMF_OPT_ROW("repetition_penalty", 0, F,
		    &g->s.repetition_penalty, "X", 1e-6, 1e6,
		    "repetition penalty"),
		LMF_OPT_ROW("max_new_tokens", 0, I, &g->max_new_tokens, "N", 0,
		    1 << 20, "response length limit"),
		LMF_OPT_ROW("infer_dtype", 0, LMF_OPT_CHOICE, &o.infer_dtype,
		    LMF_INFER_DTYPES, 0, 0,
		    "weights of the rollouts' products; auto = float32"),
		LMF_OPT_ROW("seed", 0, LMF_OPT_U64, &t->seed, "N", 0, 9.3e18,
		    "seed of init, dropout, sampling, shuffles"),
		{ "threads", 0, I, &o.threads, "N", 0, 4096,
		    "threads for matrix products", "0 = all cores", NULL, 0 },
		LMF_OPT_ROW("time", 0, B, &o.time, NULL, 0, 0,
		    "print each step's time split on stderr"),
		{ "level", 'l', LMF_OPT_FUNC, &o.wo.level, "N", 0, 0,
		    "zstd level of the output", "1", lmf_opt_level, 0 },
		{ "quiet", 'q', LMF_OPT_FUNC, NULL, NULL, 0, 0,
		    "no progress lines", NULL, lmf_opt_quiet, 0 },
		LMF_OPT_LAST_ROWS,
	};
#undef S
#undef F
#undef I
#undef B
	int i;

	lmf_init(argc, argv);
	*t = lmf_train_opts_default();
	o.wo = lmf_wropts_default;
	lmf_train_args_default(&o.a);
	lmf_ppo_config_default(c);
	c->mbs = 0;
	*g = (struct lmf_gen_opts){ { 1, 0.95, 50, 0.7, 1.0 }, 1024, NULL, 0 };
	if ((i = lmf_opt_parse(tab, &u, argc, argv)) < argc)
		die_usage("unexpected argument '%s'", argv[i]);
	if (o.a.print_resume)
		lmf_train_print_resume(&o.a);
	check_args(&o, tab);
	t->gradient_checkpointing = !o.nockpt;
	c->ga = (int)o.a.gradient_accumulation_steps;
	dist_setup(&o);
	/* the Trainer plans ceil(batches / (GA x buffer)) steps an epoch */
	o.a.gradient_accumulation_steps *= c->buffer;
	lmf_train_init(&tr, &o.a, lmf_now());
	tr.data_path = o.data;
	tr.out = o.out;
	tr.wo = &o.wo;
	tr.seed = t->seed;
	tr.ctx = &r;
	lmf_ppo_state_init(&r.s, c, t->seed);
	if (o.rollout) {
		lmf_train_begin(&tr);
		open_models(&r);
		replay(&r);
	} else
		train(&r);
	lmf_train_free(&tr);
	lmf_llama_free(r.model), lmf_llama_free(r.ref), lmf_llama_free(r.rm);
	if (r.inf)
		lmf_infer_free(r.inf);
	free(r.layers), free((void *)o.g.stop), free(r.tp), lmf_dist_finish();
	lmf_item_free(&r.reward), json_decref(r.reward_cfg);
	lmf_close_out();
	return 0;
}
