/* lmf-sft: supervised fine-tuning and pre-training of a LLaMA-family model
 * (full, freeze or LoRA) on a batches stream with the token cross-entropy,
 * under LLaMA-Factory's loss normalisation for gradient accumulation; the
 * Trainer (AdamW, schedules, logs, checkpoints, resume, output directory)
 * is train.c's. It does not tokenize, pack or shuffle (lmf-pack does),
 * and it does not merge LoRA (lmf-export does). With --predict_data it
 * generates for prompt batches after training (predict.h). */
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
};

/* the model and the step's batches */
struct run {
	struct opts *o;
	struct lmf_llama *model;
	struct lmf_batch *b;
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
	return npred > 0 ? l / (double)npred : 0;
}

/* the loss on the eval batches: the mean over rows of each batch's mean
 * token loss, as Hugging Face's evaluation loop averages it */
static void
evaluate(struct lmf_trainer *tr, int final)
{
	static const char *const names[] = { "eval_loss" };
	struct run *r = tr->ctx;
	double t0 = lmf_now(), l;
	uint64_t rows, nb;

	l = lmf_train_eval_pass(r->o->x.p.eval_data, eval_batch, r, &rows,
	    &nb);
	lmf_train_log_eval(tr, names, &l, 1, rows, nb, lmf_now() - t0, final);
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
	if (o.predict_data && !x->a.output_dir)
		die_usage("--predict_data goes with --output_dir");
	if (o.predict_data)
		lmf_predict_check(o.predict_data);
	lmf_train_tool_init(x, &tr, &r);
	tr.plot_keys = x->p.eval_data ? plots : NULL;
	r.model = lmf_train_tool_open(x, &tr);
	r.b = xcalloc((size_t)x->a.gradient_accumulation_steps, sizeof *r.b);
	lmf_train_tool_run(x, &tr, step, evaluate);
	/* every rank generates its share; ranks past 0 had tokenizer_dir
	 * cleared (they write nothing) but may need its tokenizer */
	tr.a.tokenizer_dir = x->a.tokenizer_dir;
	if (o.predict_data && !x->p.dump_grads)
		lmf_predict_sft(&tr, r.model, o.predict_data, &o.pr, x->t.seed);
	free(r.b);
	lmf_train_tool_free(x, &tr);
	lmf_close_out();
	return 0;
}
