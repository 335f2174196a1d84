/* lmf-sft: supervised fine-tuning and pre-training of a LLaMA-family model
 * (full, freeze or LoRA) on a batches stream with the token cross-entropy,
 * under LLaMA-Factory's loss normalisation for gradient accumulation; the
 * Trainer (AdamW, schedules, logs, checkpoints, resume, output directory)
 * is train.c's. It does not tokenize, pack or shuffle (lmf-pack does),
 * and it does not merge LoRA (lmf-export does). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmf/gemm.h"
#include "lmf/llama.h"
#include "lmf/opt.h"
#include "lmf/stream.h"
#include "lmf/train.h"
#include "lmf/util.h"
#include "lmf/banned.h"

struct opts {
	const char *model, *data, *out, *adapter, *dump_grads, *eval_data;
	int threads, nockpt;
	struct lmf_train_opts t;
	struct lmf_train_args a;
	struct lmf_wropts wo;
};

/* the model and its trainable tensors, copied */
struct run {
	struct opts *o;
	struct lmf_llama *model;
	struct lmf_tparam *tp;
	int ntp;
};

static void
open_model(struct run *r, struct lmf_trainer *tr)
{
	int i;

	r->model = lmf_train_model_open(tr, r->o->model, r->o->adapter,
	    &r->o->t);
	if ((r->ntp = lmf_llama_ntrainable(r->model)) == 0)
		die("nothing to train: no trainable tensors");
	r->tp = xmallocarray((size_t)r->ntp, sizeof *r->tp);
	for (i = 0; i < r->ntp; i++)
		r->tp[i] = *lmf_llama_trainable(r->model, i);
}

/* the trainer's write_result: the adapter or model stream to path */
static void
write_result(struct lmf_trainer *tr, const char *path)
{
	struct run *r = tr->ctx;

	lmf_train_model_write(tr, r->model, path);
}

static void
dump_grads(struct run *r, double loss, long count)
{
	static const char *const names[] = { "loss" };
	json_t *meta = json_pack("{s:s, s:i, s:f, s:I}", "kind", "grads",
	    "step", 1, "loss", loss, "label_tokens", (json_int_t)count);

	lmf_train_dump_grads(r->o->dump_grads, &r->o->wo, meta, names, &loss,
	    1, r->tp, r->ntp);
	json_decref(meta);
}

/* the loss on the eval batches: the mean over rows of each batch's mean
 * token loss, as Hugging Face's evaluation loop averages it */
static void
evaluate(struct run *r, struct lmf_trainer *tr, int final)
{
	static const char *const names[] = { "eval_loss" };
	struct lmf_rd *rd = lmf_rd_open_or_die(r->o->eval_data);
	double t0 = lmf_now(), sum = 0, l;
	struct lmf_item it;
	struct lmf_batch b;
	uint64_t rows = 0, nb = 0;
	long npred;

	lmf_rd_check_kind_or_die(rd, "batches");
	while (lmf_rd_item_or_die(rd, &it) == 1) {
		lmf_train_batch_or_die(r->model, &b, &it, r->o->eval_data, nb);
		l = lmf_llama_eval(r->model, &b, &npred);
		if (npred > 0)
			sum += l / (double)npred * b.B;
		rows += (uint64_t)b.B;
		nb++;
		lmf_item_free(&it);
	}
	lmf_rd_close(rd);
	if (!rows)
		die("'%s': no eval batches", r->o->eval_data);
	l = sum / (double)rows;
	lmf_train_log_eval(tr, names, &l, 1, rows, nb, lmf_now() - t0, final);
}

/* one optimizer step over GA micro-batches (fewer at an epoch's end): 0
 * when the batches ran out before it began, or after a gradient dump */
static int
step(struct run *r, struct lmf_trainer *tr, struct lmf_item *items,
    struct lmf_batch *b)
{
	long ga = tr->a.gradient_accumulation_steps, count = 0, npred;
	double loss = 0;
	int n = 0, i;

	while (n < ga && lmf_train_next(tr, &items[n]) == 1) {
		lmf_train_batch_or_die(r->model, &b[n], &items[n],
		    tr->data_path, tr->micro);
		count += lmf_batch_label_tokens(&b[n]);
		i = lmf_train_micro(tr, b[n].B, b[n].T);
		n++;
		if (i)
			break;   /* the epoch's last, partial accumulation */
	}
	if (n == 0)
		return 0;
	if (count == 0)
		die("step %ld: every label of its %d batches is -100",
		    tr->step + 1, n);
	lmf_llama_zero_grad(r->model);
	for (i = 0; i < n; i++) {
		loss += lmf_llama_step(r->model, &b[i], (float)(1.0 /
		    (double)count), &npred);
		lmf_item_free(&items[i]);
	}
	loss /= (double)count;
	if (r->o->dump_grads) {
		dump_grads(r, loss, count);
		return 0;
	}
	lmf_train_update(tr, loss);
	return 1;
}

static void
check_args(struct opts *o, struct lmf_opt *tab)
{
	struct lmf_train_paths p = { o->model, o->data, o->out, o->adapter,
		o->dump_grads, o->eval_data };

	lmf_train_check_paths(&o->a, tab, &p, &o->t);
}

int
main(int argc, char **argv)
{
	static const struct lmf_opt_usage u = { "[--model FILE] [--data "
	    "FILE] [--output_dir DIR] [-o FILE]\n"
	    "               [--finetuning_type lora|full|freeze]\n"
	    "               [--adapter_name_or_path PATH] [--dump_grads "
	    "FILE]\n"
	    "               [-l N] [-q] [options]",
	    "Train a model stream on a batches stream; write the adapter or "
	    "model." };
	static const char *const plots[] = { "loss", "eval_loss", NULL };
	struct opts o = { .model = "-", .data = "-" };
	struct lmf_trainer tr;
	struct run r = { .o = &o };
	struct lmf_train_opts *t = &o.t;
	struct lmf_item *items;
	struct lmf_batch *b;
#define S LMF_OPT_STRING
	struct lmf_opt tab[] = {
		LMF_OPT_ROW("model", 0, S, &o.model, "FILE", 0, 0,
		    "the model stream"),
		LMF_OPT_ROW("data", 0, S, &o.data, "FILE", 0, 0,
		    "the batches stream (not both stdin)"),
		LMF_OPT_ROW("output_dir", 0, S, &o.a.output_dir, "DIR", 0, 0,
		    "logs, checkpoints and the result"),
		LMF_OPT_ROW(NULL, 'o', S, &o.out, "FILE", 0, 0,
		    "also write the result to FILE or '-'"),
		LMF_OPT_ROW("dump_grads", 0, S, &o.dump_grads, "FILE", 0, 0,
		    "write the first step's gradients, then stop"),
		LMF_FT_OPTIONS(t),
		LMF_OPT_ROW("adapter_name_or_path", 0, S, &o.adapter, "PATH",
		    0, 0, "adapter stream or PEFT directory to continue"),
		LMF_FREEZE_OPTIONS(t),
		LMF_OPT_ROW("disable_gradient_checkpointing", 0, LMF_OPT_BOOL,
		    &o.nockpt, NULL, 0, 0, "keep every activation"),
		LMF_TRAIN_OPTIONS(&o.a),
		LMF_OPT_ROW("eval_data", 0, S, &o.eval_data, "FILE", 0, 0,
		    "eval batches, evaluated at the end"),
		LMF_OPT_ROW("seed", 0, LMF_OPT_U64, &t->seed, "N", 0, 9.3e18,
		    "seed of LoRA's init and dropout"),
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
	tr.result_name = t->finetuning_type == LMF_FT_LORA ? "adapter.lmf" :
	    "model.lmf";
	tr.write_result = write_result;
	tr.ctx = &r;
	tr.plot_keys = o.eval_data ? plots : NULL;
	lmf_train_begin(&tr);
	open_model(&r, &tr);
	lmf_train_open(&tr);
	lmf_train_start(&tr, r.tp, r.ntp, lmf_llama_trainable_numel(r.model));
	lmf_llama_set_nsteps(r.model, tr.micro);
	items = xcalloc((size_t)o.a.gradient_accumulation_steps, sizeof *items);
	b = xcalloc((size_t)o.a.gradient_accumulation_steps, sizeof *b);
	while (tr.step < tr.total && step(&r, &tr, items, b)) {
		if (o.eval_data && lmf_train_should_eval(&tr))
			evaluate(&r, &tr, 0);
		if (lmf_train_should_save(&tr))
			lmf_train_save(&tr);
		lmf_train_check_signal(&tr);
	}
	free(items);
	free(b);
	if (!o.dump_grads) {
		lmf_train_end(&tr);
		if (o.eval_data && o.a.output_dir)
			evaluate(&r, &tr, 1);
		if (o.out)
			write_result(&tr, o.out);
	}
	lmf_train_free(&tr);
	lmf_llama_free(r.model);
	free(r.tp);
	lmf_close_out();
	return 0;
}
