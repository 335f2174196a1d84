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
	struct lmf_train_tool x;
	int predict, score;
};

/* the model, its trainable tensors, and the scores of a batch */
struct run {
	struct opts *o;
	struct lmf_llama *model;
	struct lmf_batch *b;          /* the step's micro-batches */
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

	lmf_train_dump_grads(r->o->x.p.dump_grads, &r->o->x.wo, meta, names,
	    v, 4, r->o->x.tp, r->o->x.ntp);
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
	const char *path = r->o->x.p.eval_data;
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
 * or after a gradient dump. Under mpirun this rank's share of them,
 * divided by the number on all ranks, dropout drawn as one process would
 * for each micro-batch (train.c sums the loss over the ranks) */
static int
step(struct lmf_trainer *tr, struct lmf_item *items)
{
	struct run *r = tr->ctx;
	struct lmf_batch *b = r->b;
	long j;
	struct sums s = { 0 };
	double l;
	float acc, n;
	int nb = lmf_train_read_batches(tr, r->model, items, b), np, i;

	if (tr->nmicro == 0)
		return 0;
	n = (float)tr->nmicro;
	lmf_llama_zero_grad(r->model);
	for (i = 0; i < nb; i++) {
		if (tr->world > 1)
			lmf_llama_set_nsteps(r->model, tr->gidx[i]);
		np = scores(r, &b[i], LMF_FWD_TRAIN, tr->data_path,
		    tr->gidx[i]);
		memset(r->dsc, 0, (size_t)np * sizeof *r->dsc);
		memset(r->dsr, 0, (size_t)np * sizeof *r->dsr);
		l = lmf_rm_loss(&acc, r->dsc, r->dsr, r->sc, r->sr, np);
		add_sums(&s, r, np, l / n, acc);
		memset(r->dv, 0, (size_t)b[i].B * b[i].T * sizeof *r->dv);
		for (j = 0; j < np; j++) {
			r->dv[r->ic[j]] = r->dsc[j] / n;
			r->dv[r->ir[j]] = r->dsr[j] / n;
		}
		lmf_llama_values_backward(r->model, r->dv);
		lmf_llama_backward(r->model, &b[i]);
		lmf_item_free(&items[i]);
	}
	if (r->o->x.p.dump_grads) {
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

	struct lmf_train_paths *p = &r->o->x.p;

	r->model = tr->model = lmf_train_model_open(tr, p->model, p->adapter,
	    &r->o->x.t);
	if (!lmf_llama_has_value_head(r->model))
		die("'%s': no value head (v_head.summary): not a reward model",
		    p->adapter ? p->adapter : p->model);
	c = lmf_llama_config(r->model);
	rd = lmf_rd_open_or_die(p->data);
	lmf_rd_check_kind_or_die(rd, "examples");
	while (lmf_rd_item_or_die(rd, &it) == 1) {
		for (k = nt = 0; k < 3; k++) {
			if (!(t = lmf_item_find(&it, seqs[k])))
				continue;
			if (t->dtype != LMF_I32 || t->ndim != 1 ||
			    t->shape[0] < 1)
				die("'%s': example %llu: tensor '%s' is not a "
				    "non-empty i32 vector", p->data,
				    (unsigned long long)lmf_rd_items(rd),
				    seqs[k]);
			b.T = (int)t->shape[0];
			b.input_ids = b.labels = t->data;
			for (i = 0; i < b.T; i++)
				if (b.input_ids[i] < 0 ||
				    b.input_ids[i] >= c->vocab_size)
					die("'%s': example %llu: id %d is out "
					    "of range", p->data,
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
			    p->data, (unsigned long long)lmf_rd_items(rd));
		putchar('\n');
		lmf_item_free(&it);
	}
	lmf_rd_close(rd);
}

static void
check_args(struct opts *o, struct lmf_opt *tab)
{
	struct lmf_train_tool *x = &o->x;

	if (o->score && (x->a.output_dir || x->p.out || x->p.dump_grads ||
	    o->predict))
		die_usage("--score writes scores to stdout and nothing else");
	if (o->score && !strcmp(x->p.model, "-") && !strcmp(x->p.data, "-"))
		die_usage("the model and the batches cannot both come from "
		    "stdin: give --model or --data");
	if (o->score)
		return;
	if (o->predict && !x->p.eval_data)
		die_usage("--do_predict needs --eval_data");
	if (o->predict && !x->a.output_dir)
		die_usage("--do_predict goes with --output_dir");
	lmf_train_check_paths(&x->a, tab, &x->p, &x->t);
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

/* the evaluation; the predictions after the final one */
static void
eval_step(struct lmf_trainer *tr, int final)
{
	struct run *r = tr->ctx;

	evaluate(r, tr, final, 0);
	if (final && r->o->predict)
		evaluate(r, tr, 0, 1);
}

static void
train(struct run *r, struct lmf_trainer *tr)
{
	static const char *const plots[] = { "loss", "eval_loss",
		"eval_accuracy", NULL };
	struct lmf_train_tool *x = &r->o->x;

	tr->plot_keys = x->p.eval_data ? plots : NULL;
	r->model = lmf_train_tool_open(x, tr);
	check_stage(tr);
	r->b = xcalloc((size_t)x->a.gradient_accumulation_steps, sizeof *r->b);
	lmf_train_tool_run(x, tr, step, eval_step);
	free(r->b);
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
	struct opts o = { .x.value_head = 1 };
	struct lmf_train_tool *x = &o.x;
	struct lmf_trainer tr;
	struct run r = { .o = &o };
	struct lmf_opt tab[] = {
		LMF_TRAIN_TOOL_IO(x, "the batches (--score: examples) stream",
		    "write the first step's gradients, then stop"),
		LMF_OPT_ROW("score", 0, LMF_OPT_BOOL, &o.score, NULL, 0, 0,
		    "print the scores of the --data examples"),
		LMF_TRAIN_TOOL_MODEL(x, "eval batches: eval_loss and "
		    "eval_accuracy"),
		LMF_OPT_ROW("do_predict", 0, LMF_OPT_BOOL, &o.predict, NULL, 0,
		    0, "write generated_predictions.jsonl at the end"),
		LMF_TRAIN_TOOL_TAIL(x, "seed of the LoRA and value head init, "
		    "dropout"),
	};

	lmf_init(argc, argv);
	lmf_train_tool_defaults(x);
	lmf_train_tool_parsed(x, lmf_opt_parse(tab, &u, argc, argv), argc,
	    argv);
	check_args(&o, tab);
	/* training splits its batches over mpirun's ranks; --score not */
	x->dist_ok = !o.score;
	lmf_train_tool_init(x, &tr, &r);
	if (o.score)
		score(&r, &tr);
	else
		train(&r, &tr);
	lmf_train_tool_free(x, &tr);
	free(r.v), free(r.dv), free(r.sc), free(r.sr), free(r.dsc);
	free(r.dsr), free(r.ic), free(r.ir);
	lmf_close_out();
	return 0;
}
