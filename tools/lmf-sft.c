/* lmf-sft: supervised fine-tuning and pre-training of a LLaMA-family model
 * (full, freeze or LoRA) on a batches stream with the token cross-entropy,
 * under LLaMA-Factory's loss normalisation for gradient accumulation; the
 * Trainer (AdamW, schedules, logs, checkpoints, resume, output directory)
 * is train.c's. It does not tokenize, pack or shuffle (lmf-pack does),
 * and it does not merge LoRA (lmf-export does). With --predict_data it
 * generates for prompt batches after training (predict.h); with
 * --predict_with_generate its evaluations generate too. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmf/dist.h"
#include "lmf/gemm.h"
#include "lmf/llama.h"
#include "lmf/opt.h"
#include "lmf/predict.h"
#include "lmf/stream.h"
#include "lmf/train.h"
#include "lmf/util.h"
#include "lmf/banned.h"

struct opts {
	struct lmf_train_tool x;
	struct lmf_predict_opts pr;
	const char *predict_data;   /* prompt batches, or NULL */
	int generate;               /* evaluate by generating */
	int accuracy;               /* compute_accuracy */
};

/* the model and the step's batches */
struct run {
	struct opts *o;
	struct lmf_llama *model;
	struct lmf_batch *b;
	int32_t *pred;              /* compute_accuracy's argmax */
	double acc_sum;             /* each eval row's token accuracy */
	uint64_t acc_n;
};

static void
dump_grads(struct run *r, double loss, long count)
{
	static const char *const names[] = { "loss" };
	json_t *meta = json_pack("{s:s, s:i, s:f, s:I}", "kind", "grads",
	    "step", 1, "loss", loss, "label_tokens", (json_int_t)count);

	lmf_train_dump_grads(r->o->x.p.dump_grads, &r->o->x.wo, meta, names,
	    &loss, 1, r->o->x.tp, r->o->x.ntp);
	json_decref(meta);
}

/* LLaMA-Factory's ComputeAccuracy of batch b's rows: the share of each
 * row's label tokens (labels[1:] != -100) that the argmax at the
 * position before predicts; rows with no label token are left out */
static void
accuracy(struct run *r, const struct lmf_batch *b)
{
	int i, t, T = b->T;

	r->pred = xrealloc(r->pred, (size_t)b->B * T * sizeof *r->pred);
	lmf_llama_argmax(r->model, r->pred);
	for (i = 0; i < b->B; i++) {
		const int32_t *l = b->labels + (size_t)i * T;
		const int32_t *p = r->pred + (size_t)i * T;
		long n = 0, ok = 0;

		for (t = 1; t < T; t++)
			if (l[t] != -100) {
				n++;
				ok += p[t - 1] == l[t];
			}
		if (n) {
			r->acc_sum += (double)ok / (double)n;
			r->acc_n++;
		}
	}
}

/* eval batch k's mean token loss */
static double
eval_batch(void *ctx, struct lmf_item *it, uint64_t k)
{
	struct run *r = ctx;
	struct lmf_batch b;
	long npred;
	double l;

	lmf_train_batch_or_die(r->model, &b, it, r->o->x.p.eval_data, k);
	l = lmf_llama_eval(r->model, &b, &npred);
	if (r->o->accuracy)
		accuracy(r, &b);
	return npred > 0 ? l / (double)npred : 0;
}

/* the loss on the eval batches: the mean over rows of each batch's mean
 * token loss, as Hugging Face's evaluation loop averages it, with
 * eval_accuracy; or, generating, BLEU-4 and ROUGE (predict.h) */
static void
evaluate(struct lmf_trainer *tr, int final)
{
	static const char *const names[] = { "eval_loss", "eval_accuracy" };
	struct run *r = tr->ctx;
	double t0 = lmf_now(), l[2];
	uint64_t rows, nb;

	if (r->o->generate) {
		lmf_predict_eval(tr, r->model, r->o->x.p.eval_data, &r->o->pr,
		    r->o->x.t.seed, final);
		return;
	}
	r->acc_sum = 0;
	r->acc_n = 0;
	l[0] = lmf_train_eval_pass(r->o->x.p.eval_data, eval_batch, r, &rows,
	    &nb);
	l[1] = r->acc_n ? r->acc_sum / (double)r->acc_n : 0;
	lmf_train_log_eval(tr, names, l, r->o->accuracy ? 2 : 1, rows, nb,
	    lmf_now() - t0, final);
}

/* one optimizer step over GA micro-batches (fewer at an epoch's end): 0
 * when the batches ran out before it began, or after a gradient dump.
 * Under mpirun this rank's share of them, the label tokens counted over
 * all ranks, dropout drawn as one process would for each micro-batch */
static int
step(struct lmf_trainer *tr, struct lmf_item *items)
{
	struct run *r = tr->ctx;
	struct lmf_batch *b = r->b;
	long count = 0, npred;
	double loss = 0, c;
	int n = lmf_train_read_batches(tr, r->model, items, b), i;

	if (tr->nmicro == 0)
		return 0;
	for (i = 0; i < n; i++)
		count += lmf_batch_label_tokens(&b[i]);
	c = (double)count;
	lmf_dist_sum_f64(&c, 1);
	count = (long)c;
	if (count == 0)
		die("step %ld: every label of its %d batches is -100",
		    tr->step + 1, n);
	lmf_llama_zero_grad(r->model);
	for (i = 0; i < n; i++) {
		if (tr->world > 1)
			lmf_llama_set_nsteps(r->model, tr->gidx[i]);
		loss += lmf_llama_step(r->model, &b[i], (float)(1.0 /
		    (double)count), &npred);
		lmf_item_free(&items[i]);
	}
	loss /= (double)count;
	if (r->o->x.p.dump_grads) {
		dump_grads(r, loss, count);
		return 0;
	}
	lmf_train_update(tr, loss);
	return 1;
}

/* the prediction and evaluation options together; the prompt streams
 * checked before anything is trained */
static void
check_args(const struct opts *o)
{
	if (o->predict_data && !o->x.a.output_dir)
		die_usage("--predict_data goes with --output_dir");
	if (o->predict_data)
		lmf_predict_check(o->predict_data);
	if (o->generate && o->accuracy)
		die_usage("--compute_accuracy: not with --predict_with_generate");
	if (o->generate && !o->x.p.eval_data)
		die_usage("--predict_with_generate needs --eval_data");
	if (o->generate)
		lmf_predict_check(o->x.p.eval_data);
}

int
main(int argc, char **argv)
{
	static const struct lmf_opt_usage u = { "[--model FILE] [--data "
	    "FILE] [--output_dir DIR] [-o FILE]\n"
	    "               [--finetuning_type lora|full|freeze]\n"
	    "               [--adapter_name_or_path PATH] [--dump_grads "
	    "FILE]\n"
	    "               [--predict_data FILE] [-l N] [-q] [options]",
	    "Train a model stream on a batches stream; write the adapter or "
	    "model." };
	static const char *const plots[] = { "loss", "eval_loss", NULL };
	static const char *const aplots[] = { "loss", "eval_loss",
		"eval_accuracy", NULL };
	struct opts o = { 0 };
	struct lmf_train_tool *x = &o.x;
	struct lmf_trainer tr;
	struct run r = { .o = &o };
	struct lmf_opt tab[] = {
		LMF_TRAIN_TOOL_IO(x, "the batches stream (not both stdin)",
		    "write the first step's gradients, then stop"),
		LMF_TRAIN_TOOL_MODEL(x, "eval batches, evaluated at the end"),
		LMF_OPT_ROW("predict_data", 0, LMF_OPT_STRING, &o.predict_data,
		    "FILE", 0, 0, "prompt batches: generate after training"),
		LMF_OPT_ROW("predict_with_generate", 0, LMF_OPT_BOOL,
		    &o.generate, NULL, 0, 0, "eval batches are prompt "
		    "batches: generate, BLEU-4, ROUGE"),
		LMF_OPT_ROW("compute_accuracy", 0, LMF_OPT_BOOL, &o.accuracy,
		    NULL, 0, 0, "eval_accuracy: token accuracy"),
		LMF_PREDICT_OPTIONS(&o.pr),
		LMF_TRAIN_TOOL_TAIL(x, "seed of LoRA's init, dropout, sampling"),
	};

	lmf_init(argc, argv);
	lmf_train_tool_defaults(x);
	x->dist_ok = 1;
	lmf_predict_defaults(&o.pr);
	lmf_train_tool_parsed(x, lmf_opt_parse(tab, &u, argc, argv), argc,
	    argv);
	lmf_train_check_paths(&x->a, tab, &x->p, &x->t);
	check_args(&o);
	lmf_train_tool_init(x, &tr, &r);
	tr.plot_keys = !x->p.eval_data || o.generate ? NULL : o.accuracy ?
	    aplots : plots;
	r.model = lmf_train_tool_open(x, &tr);
	if ((o.generate || o.predict_data) && !x->p.dump_grads)
		lmf_predict_ready(&tr, r.model, &o.pr);
	r.b = xcalloc((size_t)x->a.gradient_accumulation_steps, sizeof *r.b);
	lmf_train_tool_run(x, &tr, step, evaluate);
	/* every rank generates its share; ranks past 0 had tokenizer_dir
	 * cleared (they write nothing) but may need its tokenizer */
	tr.a.tokenizer_dir = x->a.tokenizer_dir;
	if (o.predict_data && !x->p.dump_grads)
		lmf_predict_sft(&tr, r.model, o.predict_data, &o.pr, x->t.seed);
	free(r.b);
	free(r.pred);
	lmf_train_tool_free(x, &tr);
	lmf_close_out();
	return 0;
}
