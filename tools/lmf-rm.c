/* lmf-rm: train a reward model (LLaMA-Factory's rm stage): TRL's value
 * head on the last hidden state, the score at each row's last non-padding
 * token, the pairwise loss -mean logsig(s_chosen - s_rejected), full,
 * freeze or LoRA with the value head always trained; eval accuracy and
 * loss, predictions, and --score (one score per example). The Trainer is
 * train.c's. It does not tokenize or pack (lmf-tokenize, lmf-pack) and it
 * does not write Hugging Face files itself (hf.c splits the value head
 * into value_head.safetensors). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmf/dumpjson.h"
#include "lmf/gemm.h"
#include "lmf/llama.h"
#include "lmf/loss.h"
#include "lmf/opt.h"
#include "lmf/stream.h"
#include "lmf/train.h"
#include "lmf/util.h"
#include "lmf/banned.h"

struct opts {
	const char *model, *data, *out, *adapter, *dump_grads, *eval_data;
	int threads, nockpt, predict, score;
	struct lmf_train_opts t;
	struct lmf_train_args a;
	struct lmf_wropts wo;
};

/* the model, its trainable tensors, and the scores of a batch */
struct run {
	struct opts *o;
	struct lmf_llama *model;
	struct lmf_tparam *tp;
	int ntp;
	float *v, *dv;                /* (N) values, their gradient */
	float *sc, *sr, *dsc, *dsr;   /* (n) pair scores, their gradient */
	long *ic, *ir;                /* (n) the rows' scored positions */
	size_t cap, pcap;
};

/* the step's totals over its micro-batches */
struct sums {
	double loss, acc, sc, sr;
	long pairs;
};

static void
open_model(struct run *r, struct lmf_trainer *tr)
{
	int i;

	r->model = lmf_train_model_open(tr, r->o->model, r->o->adapter,
	    &r->o->t);
	lmf_llama_value_head(r->model, -1);
	r->ntp = lmf_llama_ntrainable(r->model);
	r->tp = xmallocarray((size_t)r->ntp, sizeof *r->tp);
	for (i = 0; i < r->ntp; i++)
		r->tp[i] = *lmf_llama_trainable(r->model, i);
}

static void
grow(struct run *r, size_t N, size_t n)
{
	if (N > r->cap) {
		r->v = xrealloc(r->v, N * sizeof *r->v);
		r->dv = xrealloc(r->dv, N * sizeof *r->dv);
		r->cap = N;
	}
	if (n > r->pcap) {
		r->sc = xrealloc(r->sc, n * sizeof *r->sc);
		r->sr = xrealloc(r->sr, n * sizeof *r->sr);
		r->dsc = xrealloc(r->dsc, n * sizeof *r->dsc);
		r->dsr = xrealloc(r->dsr, n * sizeof *r->dsr);
		r->ic = xrealloc(r->ic, n * sizeof *r->ic);
		r->ir = xrealloc(r->ir, n * sizeof *r->ir);
		r->pcap = n;
	}
}

/* row's last non-padding position (lmf_batch_last) */
static long
last_token(const struct lmf_batch *b, int row, const char *path, uint64_t k)
{
	long i = lmf_batch_last(b, row);

	if (i < 0)
		die("'%s': batch %llu: row %d is all padding", path,
		    (unsigned long long)k, row);
	return i;
}

/* forward a pairwise batch (chosen rows, then as many rejected rows) and
 * take its scores; the number of pairs */
static int
scores(struct run *r, const struct lmf_batch *b, int flags, const char *path,
    uint64_t k)
{
	int n = b->B / 2, i;

	if (b->B % 2)
		die("'%s': batch %llu: %d rows, not chosen and rejected pairs",
		    path, (unsigned long long)k, b->B);
	grow(r, (size_t)b->B * (size_t)b->T, (size_t)n);
	lmf_llama_forward(r->model, b, flags);
	lmf_llama_values(r->model, r->v);
	for (i = 0; i < n; i++) {
		r->ic[i] = last_token(b, i, path, k);
		r->ir[i] = last_token(b, n + i, path, k);
		r->sc[i] = r->v[r->ic[i]];
		r->sr[i] = r->v[r->ir[i]];
	}
	return n;
}

static void
add_sums(struct sums *s, const struct run *r, int n, double loss, float acc)
{
	int i;

	s->loss += loss;
	s->acc += (double)acc * n;
	for (i = 0; i < n; i++) {
		s->sc += r->sc[i];
		s->sr += r->sr[i];
	}
	s->pairs += n;
}

static void
dump_grads(struct run *r, const struct sums *s)
{
	static const char *const names[] = { "loss", "accuracy",
		"chosen_score", "rejected_score" };
	double v[4] = { s->loss, s->acc / (double)s->pairs,
		s->sc / (double)s->pairs, s->sr / (double)s->pairs };
	json_t *meta = json_pack("{s:s, s:i, s:f, s:I}", "kind", "grads",
	    "step", 1, "loss", s->loss, "pairs", (json_int_t)s->pairs);

	lmf_train_dump_grads(r->o->dump_grads, &r->o->wo, meta, names, v, 4,
	    r->tp, r->ntp);
	json_decref(meta);
}

/* generated_predictions.jsonl: {"chosen": s, "rejected": s} lines joined
 * by "\n" */
static void
put_preds(FILE *f, const struct run *r, int n, long *lines)
{
	int i;

	for (i = 0; f && i < n; i++) {
		fputs(*lines ? "\n{\"chosen\": " : "{\"chosen\": ", f);
		lmf_dumpjson_put_round(f, r->sc[i], 2);
		fputs(", \"rejected\": ", f);
		lmf_dumpjson_put_round(f, r->sr[i], 2);
		fputs("}", f);
		++*lines;
	}
}

/* eval_loss (the mean over rows, as Hugging Face's evaluation loop
 * weighs each batch's loss by its rows) and eval_accuracy; with predict
 * the predictions and predict_* metrics instead */
static void
evaluate(struct run *r, struct lmf_trainer *tr, int final, int predict)
{
	static const char *const en[] = { "eval_loss", "eval_accuracy" };
	static const char *const pn[] = { "predict_loss",
		"predict_accuracy" };
	const char *path = r->o->eval_data;
	struct lmf_rd *rd = lmf_rd_open_or_die(path);
	struct lmf_afile af = { 0 };
	double t0 = lmf_now(), sum = 0, v[2];
	struct lmf_item it;
	struct lmf_batch b;
	uint64_t rows = 0, nb = 0;
	long correct = 0, pairs = 0, lines = 0;
	char *pp = NULL;
	float acc;
	int n;

	lmf_rd_check_kind_or_die(rd, "batches");
	if (predict) {
		pp = xasprintf("%s/generated_predictions.jsonl",
		    tr->a.output_dir);
		if (lmf_afile_open(&af, pp) < 0)
			die_errno("cannot create '%s'", pp);
	}
	while (lmf_rd_item_or_die(rd, &it) == 1) {
		lmf_train_batch_or_die(r->model, &b, &it, path, nb);
		n = scores(r, &b, 0, path, nb);
		sum += lmf_rm_loss(&acc, NULL, NULL, r->sc, r->sr, n) * b.B;
		correct += (long)(acc * (float)n + 0.5f);
		pairs += n;
		put_preds(af.f, r, n, &lines);
		rows += (uint64_t)b.B;
		nb++;
		lmf_item_free(&it);
	}
	lmf_rd_close(rd);
	if (!rows)
		die("'%s': no eval batches", path);
	if (predict && lmf_afile_commit(&af) < 0)
		die_errno("cannot write '%s'", pp);
	free(pp);
	v[0] = sum / (double)rows;
	v[1] = (double)correct / (double)pairs;
	lmf_train_log_eval(tr, predict ? pn : en, v, 2, rows, nb,
	    lmf_now() - t0, predict ? LMF_EVAL_PREDICT : final);
}

/* one optimizer step over GA micro-batches, each micro-batch's mean pair
 * loss divided by their number, as Hugging Face's Trainer scales a loss
 * that does not count items: 0 when the batches ran out before it began,
 * or after a gradient dump */
static int
step(struct run *r, struct lmf_trainer *tr, struct lmf_item *items,
    struct lmf_batch *b)
{
	long ga = tr->a.gradient_accumulation_steps, j;
	struct sums s = { 0 };
	double l;
	float acc;
	int n = 0, np, i;

	while (n < ga && lmf_train_next(tr, &items[n]) == 1) {
		lmf_train_batch_or_die(r->model, &b[n], &items[n],
		    tr->data_path, tr->micro);
		i = lmf_train_micro(tr, b[n].B, b[n].T);
		n++;
		if (i)
			break;   /* the epoch's last, partial accumulation */
	}
	if (n == 0)
		return 0;
	lmf_llama_zero_grad(r->model);
	for (i = 0; i < n; i++) {
		np = scores(r, &b[i], LMF_FWD_TRAIN, tr->data_path, tr->micro);
		memset(r->dsc, 0, (size_t)np * sizeof *r->dsc);
		memset(r->dsr, 0, (size_t)np * sizeof *r->dsr);
		l = lmf_rm_loss(&acc, r->dsc, r->dsr, r->sc, r->sr, np);
		add_sums(&s, r, np, l / n, acc);
		memset(r->dv, 0, (size_t)b[i].B * b[i].T * sizeof *r->dv);
		for (j = 0; j < np; j++) {
			r->dv[r->ic[j]] = r->dsc[j] / (float)n;
			r->dv[r->ir[j]] = r->dsr[j] / (float)n;
		}
		lmf_llama_values_backward(r->model, r->dv);
		lmf_llama_backward(r->model, &b[i]);
		lmf_item_free(&items[i]);
	}
	if (r->o->dump_grads) {
		dump_grads(r, &s);
		return 0;
	}
	lmf_train_update(tr, s.loss);
	return 1;
}

/* --score: one line per example of an examples stream, the score of each
 * of its sequences (input_ids; chosen_input_ids, rejected_input_ids)
 * tab-separated */
static void
score(struct run *r, struct lmf_trainer *tr)
{
	static const char *const seqs[] = { "input_ids", "chosen_input_ids",
		"rejected_input_ids" };
	const struct lmf_config *c;
	struct lmf_rd *rd;
	struct lmf_item it;
	struct lmf_batch b = { .B = 1 };
	struct lmf_tensor *t;
	int k, nt;
	int64_t i;

	r->model = lmf_train_model_open(tr, r->o->model, r->o->adapter,
	    &r->o->t);
	if (!lmf_llama_has_value_head(r->model))
		die("'%s': no value head (v_head.summary): not a reward model",
		    r->o->adapter ? r->o->adapter : r->o->model);
	c = lmf_llama_config(r->model);
	rd = lmf_rd_open_or_die(r->o->data);
	lmf_rd_check_kind_or_die(rd, "examples");
	while (lmf_rd_item_or_die(rd, &it) == 1) {
		for (k = nt = 0; k < 3; k++) {
			if (!(t = lmf_item_find(&it, seqs[k])))
				continue;
			if (t->dtype != LMF_I32 || t->ndim != 1 ||
			    t->shape[0] < 1)
				die("'%s': example %llu: tensor '%s' is not a "
				    "non-empty i32 vector", r->o->data,
				    (unsigned long long)lmf_rd_items(rd),
				    seqs[k]);
			b.T = (int)t->shape[0];
			b.input_ids = b.labels = t->data;
			for (i = 0; i < b.T; i++)
				if (b.input_ids[i] < 0 ||
				    b.input_ids[i] >= c->vocab_size)
					die("'%s': example %llu: id %d is out "
					    "of range", r->o->data,
					    (unsigned long long)lmf_rd_items(rd),
					    (int)b.input_ids[i]);
			grow(r, (size_t)b.T, 1);
			lmf_llama_forward(r->model, &b, 0);
			lmf_llama_values(r->model, r->v);
			printf("%s%.9g", nt++ ? "\t" : "", (double)r->v[b.T -
			    1]);
		}
		if (!nt)
			die("'%s': example %llu has no input_ids",
			    r->o->data, (unsigned long long)lmf_rd_items(rd));
		putchar('\n');
		lmf_item_free(&it);
	}
	lmf_rd_close(rd);
}

static void
check_args(struct opts *o, struct lmf_opt *tab)
{
	if (!strcmp(o->model, "-") && !strcmp(o->data, "-"))
		die_usage("the model and the batches cannot both come from "
		    "stdin: give --model or --data");
	o->a.epochs_given = lmf_opt_given(tab, "num_train_epochs");
	if (o->score) {
		if (o->a.output_dir || o->out || o->dump_grads || o->predict)
			die_usage("--score writes scores to stdout and nothing "
			    "else");
		return;
	}
	if (!o->a.output_dir && !o->out && !o->dump_grads)
		die_usage("nowhere to write the result: give --output_dir or "
		    "-o");
	if (o->out && !strcmp(o->out, "-") && o->dump_grads &&
	    !strcmp(o->dump_grads, "-"))
		die_usage("-o and --dump_grads cannot both be stdout");
	if ((o->a.eval_strategy != LMF_ST_NO || o->predict) && !o->eval_data)
		die_usage("%s needs --eval_data", o->predict ? "--do_predict" :
		    "--eval_strategy");
	if (o->predict && !o->a.output_dir)
		die_usage("--do_predict goes with --output_dir");
	if (o->eval_data && !strcmp(o->eval_data, "-"))
		die_usage("--eval_data must be a file: it is read at every "
		    "evaluation");
	if (o->a.tokenizer_dir && !o->a.output_dir)
		die_usage("--tokenizer_dir goes with --output_dir");
	if (o->adapter && o->t.finetuning_type != LMF_FT_LORA)
		die_usage("--adapter_name_or_path goes with --finetuning_type "
		    "lora");
	if (o->dump_grads)   /* one step's gradients, nothing else */
		o->a.output_dir = o->a.resume_from_checkpoint = NULL;
}

/* the batches must be pairwise ones */
static void
check_stage(struct lmf_trainer *tr)
{
	json_t *s = json_object_get(lmf_rd_meta(tr->data), "stage");

	if (json_is_string(s) && strcmp(json_string_value(s), "rm") &&
	    strcmp(json_string_value(s), "dpo"))
		die("'%s': batches of stage '%s', not pairwise (rm) ones",
		    tr->data_path, json_string_value(s));
}

static void
write_result(struct lmf_trainer *tr, const char *path)
{
	struct run *r = tr->ctx;

	lmf_train_model_write(tr, r->model, path);
}

static void
train(struct run *r, struct lmf_trainer *tr)
{
	static const char *const plots[] = { "loss", "eval_loss",
		"eval_accuracy", NULL };
	struct opts *o = r->o;
	long ga = o->a.gradient_accumulation_steps;
	struct lmf_item *items = xcalloc((size_t)ga, sizeof *items);
	struct lmf_batch *b = xcalloc((size_t)ga, sizeof *b);

	tr->result_name = o->t.finetuning_type == LMF_FT_LORA ?
	    "adapter.lmf" : "model.lmf";
	tr->write_result = write_result;
	tr->plot_keys = o->eval_data ? plots : NULL;
	lmf_train_begin(tr);
	open_model(r, tr);
	lmf_train_open(tr);
	check_stage(tr);
	lmf_train_start(tr, r->tp, r->ntp,
	    lmf_llama_trainable_numel(r->model));
	lmf_llama_set_nsteps(r->model, tr->micro);
	while (tr->step < tr->total && step(r, tr, items, b)) {
		if (o->eval_data && lmf_train_should_eval(tr))
			evaluate(r, tr, 0, 0);
		if (lmf_train_should_save(tr))
			lmf_train_save(tr);
		lmf_train_check_signal(tr);
	}
	free(items);
	free(b);
	if (o->dump_grads)
		return;
	lmf_train_end(tr);
	if (o->eval_data && o->a.output_dir)
		evaluate(r, tr, 1, 0);
	if (o->predict)
		evaluate(r, tr, 0, 1);
	if (o->out)
		write_result(tr, o->out);
}

int
main(int argc, char **argv)
{
	static const struct lmf_opt_usage u = { "[--model FILE] [--data "
	    "FILE] [--output_dir DIR] [-o FILE]\n"
	    "               [--finetuning_type lora|full|freeze]\n"
	    "               [--adapter_name_or_path PATH] [--eval_data FILE] "
	    "[--do_predict]\n"
	    "               [--dump_grads FILE] [--score] [-l N] [-q] "
	    "[options]",
	    "Train a reward model (a value head) on pairwise batches; or "
	    "score examples." };
	struct opts o = { .model = "-", .data = "-" };
	struct lmf_trainer tr;
	struct run r = { .o = &o };
	struct lmf_train_opts *t = &o.t;
#define S LMF_OPT_STRING
	struct lmf_opt tab[] = {
		LMF_OPT_ROW("model", 0, S, &o.model, "FILE", 0, 0,
		    "the model stream"),
		LMF_OPT_ROW("data", 0, S, &o.data, "FILE", 0, 0,
		    "the batches (--score: examples) stream"),
		LMF_OPT_ROW("output_dir", 0, S, &o.a.output_dir, "DIR", 0, 0,
		    "logs, checkpoints and the result"),
		LMF_OPT_ROW(NULL, 'o', S, &o.out, "FILE", 0, 0,
		    "also write the result to FILE or '-'"),
		LMF_OPT_ROW("dump_grads", 0, S, &o.dump_grads, "FILE", 0, 0,
		    "write the first step's gradients, then stop"),
		LMF_OPT_ROW("score", 0, LMF_OPT_BOOL, &o.score, NULL, 0, 0,
		    "print the scores of the --data examples"),
		LMF_FT_OPTIONS(t),
		LMF_OPT_ROW("adapter_name_or_path", 0, S, &o.adapter, "PATH",
		    0, 0, "adapter stream or PEFT directory to continue"),
		LMF_FREEZE_OPTIONS(t),
		LMF_OPT_ROW("disable_gradient_checkpointing", 0, LMF_OPT_BOOL,
		    &o.nockpt, NULL, 0, 0, "keep every activation"),
		LMF_TRAIN_OPTIONS(&o.a),
		LMF_OPT_ROW("eval_data", 0, S, &o.eval_data, "FILE", 0, 0,
		    "eval batches: eval_loss and eval_accuracy"),
		LMF_OPT_ROW("do_predict", 0, LMF_OPT_BOOL, &o.predict, NULL, 0,
		    0, "write generated_predictions.jsonl at the end"),
		LMF_OPT_ROW("seed", 0, LMF_OPT_U64, &t->seed, "N", 0, 9.3e18,
		    "seed of the LoRA and value head init, dropout"),
		{ "threads", 0, LMF_OPT_INT, &o.threads, "N", 0, 4096,
		    "threads for matrix products", "0 = all cores", NULL, 0 },
		{ "level", 'l', LMF_OPT_FUNC, &o.wo.level, "N", 0, 0,
		    "zstd level of the output", "1", lmf_opt_level, 0 },
		{ "quiet", 'q', LMF_OPT_FUNC, NULL, NULL, 0, 0,
		    "no progress lines", NULL, lmf_opt_quiet, 0 },
		LMF_OPT_LAST_ROWS,
	};
#undef S
	int i;

	lmf_init(argc, argv);
	*t = lmf_train_opts_default();
	o.wo = lmf_wropts_default;
	lmf_train_args_default(&o.a);
	if ((i = lmf_opt_parse(tab, &u, argc, argv)) < argc)
		die_usage("unexpected argument '%s'", argv[i]);
	if (o.a.print_resume)
		lmf_train_print_resume(&o.a);
	check_args(&o, tab);
	t->gradient_checkpointing = !o.nockpt;
	lmf_gemm_init(o.threads);
	lmf_train_init(&tr, &o.a, lmf_now());
	tr.data_path = o.data;
	tr.out = o.out;
	tr.wo = &o.wo;
	tr.seed = t->seed;
	tr.ctx = &r;
	if (o.score)
		score(&r, &tr);
	else
		train(&r, &tr);
	lmf_train_free(&tr);
	lmf_llama_free(r.model);
	free(r.tp);
	free(r.v), free(r.dv), free(r.sc), free(r.sr), free(r.dsc);
	free(r.dsr), free(r.ic), free(r.ir);
	lmf_close_out();
	return 0;
}
