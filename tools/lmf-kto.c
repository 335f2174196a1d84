/* lmf-kto: KTO training of a LLaMA-family model (full, freeze or LoRA) on
 * kto batches: target rows with their desirable/undesirable tags and the
 * mismatched KL rows, as LLaMA-Factory's kto stage (TRL's loss "kto" with
 * the batch KL estimate, the two weights and ftx). The reference
 * log-probs come in the batches (lmf-logps scored them); this tool never
 * holds a reference model. The Trainer is train.c's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmf/dist.h"
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
	double beta, wd, wu, ftx;
};

/* LLaMA-Factory's stored metrics: sums per micro-batch, and kl */
enum { S_RC, S_LPC, S_LGC, S_NC, S_RR, S_LPR, S_LGR, S_NR, S_KL, NSUM };
static const char *const snames[NSUM] = { "rewards/chosen_sum",
	"logps/chosen_sum", "logits/chosen_sum", "count/chosen",
	"rewards/rejected_sum", "logps/rejected_sum", "logits/rejected_sum",
	"count/rejected", "kl" };
/* the logged values made from them (CustomKTOTrainer.log) */
enum { D_RC, D_LPC, D_LGC, D_RR, D_LPR, D_LGR, D_MARGIN, NDER };
static const char *const dnames[2][NDER] = {
	{ "rewards/chosen", "logps/chosen", "logits/chosen",
	  "rewards/rejected", "logps/rejected", "logits/rejected",
	  "rewards/margins" },
	{ "eval_rewards/chosen", "eval_logps/chosen", "eval_logits/chosen",
	  "eval_rewards/rejected", "eval_logps/rejected",
	  "eval_logits/rejected", "eval_rewards/margins" },
};

struct run {
	struct opts *o;
	struct lmf_llama *model;
	struct lmf_batch *b;    /* the step's micro-batches on this rank */
	struct lmf_kto_args k;
	struct lmf_seqlp s;
	float *ex;              /* (7 n): p, avg, len, dp, losses, rewards,
	                           pkl */
	long ecap;
	double es[NSUM];        /* an evaluation's sums */
};

/* the window's sums s into names and v: each split's three means when it
 * had examples, the margin when both did, then kl (a sum; LLaMA-Factory
 * logs it unprefixed in evaluation too). @return their number */
static int
derive(const double *s, int eval, const char **names, double *v)
{
	int c, j, n = 0;

	for (c = 0; c < 2; c++) {
		if (s[4 * c + 3] <= 0)
			continue;
		for (j = 0; j < 3; j++) {
			names[n] = dnames[eval][3 * c + j];
			v[n++] = s[4 * c + j] / s[4 * c + 3];
		}
	}
	if (s[S_NC] > 0 && s[S_NR] > 0) {
		names[n] = dnames[eval][D_MARGIN];
		v[n] = s[S_RC] / s[S_NC] - s[S_RR] / s[S_NR];
		n++;
	}
	names[n] = "kl";
	v[n++] = s[S_KL];
	return n;
}

/* train.c's log window: the sums by name into derive */
static int
window(char *const *mname, const double *msum, int n, long steps,
    const char **names, double *v)
{
	double s[NSUM] = { 0 };
	int i, j;

	(void)steps;
	for (i = 0; i < n; i++)
		for (j = 0; j < NSUM; j++)
			if (!strcmp(mname[i], snames[j]))
				s[j] = msum[i];
	return derive(s, 0, names, v);
}

static void
grow(struct run *r, long n)
{
	if (n > r->ecap) {
		free(r->ex);
		r->ex = xmallocarray((size_t)n * 7, sizeof(float));
		r->ecap = n;
	}
}

/* tensor name of batch k, of dtype and n values, or death */
static void *
need(struct lmf_item *it, const char *name, int dtype, long n,
    const char *path, uint64_t k)
{
	struct lmf_tensor *t = lmf_item_find(it, name);

	if (!t)
		die("'%s': batch %llu has no '%s' (%s)", path,
		    (unsigned long long)k, name, dtype == LMF_F32 ?
		    "kto needs the reference log-probs: score the examples "
		    "with lmf-logps" : "not a kto batch: lmf-tokenize --stage "
		    "kto, lmf-pack");
	if (t->dtype != dtype || lmf_tensor_numel(t) != (uint64_t)n)
		die("'%s': batch %llu: tensor '%s' is not %s [%ld]", path,
		    (unsigned long long)k, name, dtype == LMF_F32 ? "f32" :
		    "i32", n);
	return t->data;
}

/* the batch's KL rows as a batch of their own: view gets copies of the
 * kl_ tensors' headers, named without the prefix, sharing their data */
static void
kl_view(struct lmf_item *view, struct lmf_tensor *t, struct lmf_item *it)
{
	static const char *const nm[] = { "input_ids", "labels",
		"attention_mask", "position_ids" };
	char full[32];
	struct lmf_tensor *x;
	int i;

	view->ntensors = 0;
	view->t = t;
	for (i = 0; i < 4; i++) {
		snprintf(full, sizeof full, "kl_%s", nm[i]);
		if ((x = lmf_item_find(it, full))) {
			t[view->ntensors] = *x;
			t[view->ntensors++].name = (char *)nm[i];
		}
	}
}

/* the summed log-probs of the batch's KL rows, no gradient */
static void
kl_logps(struct run *r, struct lmf_item *it, float *pkl, long n,
    const char *path, uint64_t k)
{
	struct lmf_tensor t[4];
	struct lmf_item view;
	struct lmf_batch b;

	if (!lmf_item_find(it, "kl_input_ids"))
		die("'%s': batch %llu has no KL rows 'kl_input_ids' (not a kto "
		    "batch: lmf-tokenize --stage kto, lmf-pack)", path,
		    (unsigned long long)k);
	kl_view(&view, t, it);
	lmf_train_batch_or_die(r->model, &b, &view, path, k);
	if (b.B != n)
		die("'%s': batch %llu has %d KL rows for %ld examples", path,
		    (unsigned long long)k, b.B, n);
	lmf_llama_seqlogps(r->model, &r->s, &b, 0, 0, pkl, NULL, NULL);
}

/* a micro-batch's sums added into s */
static void
add_sums(double *s, const int32_t *tags, const float *p,
    const float *rewards, const float *mlog, double kl, long n, long T,
    long V)
{
	long i, t;

	for (i = 0; i < n; i++) {
		double *x = s + (tags[i] ? S_RC : S_RR), lg = 0;

		for (t = 0; t < T; t++)
			lg += mlog[i * T + t];
		x[0] += rewards[i];
		x[1] += p[i];
		x[2] += lg * (double)V;
		x[3] += 1;
	}
	s[S_KL] += kl;
}

/* one micro-batch: the KL rows' forward, the target rows' forward, the
 * loss (its value returned, sums added into s), and with scale > 0 the
 * backward of loss * scale */
static double
micro(struct run *r, struct lmf_item *it, const char *path, uint64_t k,
    double scale, double *s)
{
	struct lmf_batch b;
	const float *ref, *refkl;
	const int32_t *tags;
	float *p, *avg, *len, *dp, *losses, *rw, *pkl, kl;
	double l;
	long n, i;

	lmf_train_batch_or_die(r->model, &b, it, path, k);
	n = b.B;
	tags = need(it, "kto_tags", LMF_I32, n, path, k);
	for (i = 0; i < n; i++)
		if (tags[i] != 0 && tags[i] != 1)
			die("'%s': batch %llu: kto_tags %d is not 0 or 1", path,
			    (unsigned long long)k, (int)tags[i]);
	ref = need(it, "ref_logps", LMF_F32, n, path, k);
	refkl = need(it, "kl_ref_logps", LMF_F32, n, path, k);
	grow(r, n);
	p = r->ex, avg = p + n, len = avg + n, dp = len + n;
	losses = dp + n, rw = losses + n, pkl = rw + n;
	kl_logps(r, it, pkl, n, path, k);
	lmf_llama_seqlogps(r->model, &r->s, &b, scale > 0 ? LMF_FWD_TRAIN : 0,
	    1, p, avg, len);
	memset(dp, 0, (size_t)n * sizeof *dp);
	l = lmf_kto_loss(losses, rw, &kl, dp, p, ref, len, tags, (int)n, pkl,
	    refkl, (int)n, &r->k);
	add_sums(s, tags, p, rw, r->s.mlog, kl, n, b.T,
	    (long)lmf_llama_config(r->model)->vocab_size);
	if (scale > 0)
		lmf_llama_seqlogps_backward(r->model, &r->s, &b, dp,
		    (float)scale);
	return l;
}

/* eval batch k's loss, its sums added into r->es */
static double
eval_batch(void *ctx, struct lmf_item *it, uint64_t k)
{
	struct run *r = ctx;

	return micro(r, it, r->o->x.p.eval_data, k, 0, r->es);
}

/* eval_loss the mean over examples (Hugging Face's loop); the metrics
 * from the sums over every batch, as LLaMA-Factory logs them */
static void
evaluate(struct lmf_trainer *tr, int final)
{
	struct run *r = tr->ctx;
	double t0 = lmf_now(), v[NDER + 2];
	const char *names[NDER + 2] = { "eval_loss" };
	uint64_t rows, nb;
	int n;

	memset(r->es, 0, sizeof r->es);
	v[0] = lmf_train_eval_pass(r->o->x.p.eval_data, eval_batch, r, &rows,
	    &nb);
	n = derive(r->es, 1, names + 1, v + 1);
	lmf_train_log_eval(tr, names, v, n + 1, rows, nb, lmf_now() - t0,
	    final);
}

/* --dump_grads: the loss, the sums, the logged values, the gradients */
static void
dump(struct run *r, double loss, const double *s, int n)
{
	const char *names[1 + NSUM + NDER + 1] = { "loss" };
	double v[1 + NSUM + NDER + 1] = { loss };
	json_t *meta = json_pack("{s:s, s:i, s:f, s:i}", "kind", "grads",
	    "step", 1, "loss", loss, "examples", n);
	int i, nd;

	for (i = 0; i < NSUM; i++) {
		names[1 + i] = snames[i];
		v[1 + i] = s[i];
	}
	nd = derive(s, 0, names + 1 + NSUM, v + 1 + NSUM) - 1;
	lmf_train_dump_grads(r->o->x.p.dump_grads, &r->o->x.wo, meta, names,
	    v, 1 + NSUM + nd, r->o->x.tp, r->o->x.ntp);
	json_decref(meta);
}

/* one optimizer step over GA micro-batches (fewer at an epoch's end),
 * each one's loss divided by their number: 0 when the batches ran out
 * before it began, or after a gradient dump. Under mpirun this rank's
 * share of them, divided by the number on all ranks; the sums summed over
 * the ranks here, the loss by train.c */
static int
step(struct lmf_trainer *tr, struct lmf_item *items)
{
	struct run *r = tr->ctx;
	double s[NSUM] = { 0 }, loss = 0, n;
	long nex = 0;
	int nb = lmf_train_read_batches(tr, r->model, items, r->b), i;

	if (tr->nmicro == 0)
		return 0;
	n = (double)tr->nmicro;
	lmf_llama_zero_grad(r->model);
	for (i = 0; i < nb; i++) {
		nex += r->b[i].B;
		loss += micro(r, &items[i], tr->data_path, tr->gidx[i],
		    1.0 / n, s) / n;
		lmf_item_free(&items[i]);
	}
	if (tr->world > 1)
		lmf_dist_sum_f64(s, NSUM);
	if (r->o->x.p.dump_grads) {
		dump(r, loss, s, (int)nex);
		return 0;
	}
	for (i = 0; i < NSUM; i++)
		lmf_train_metric(tr, snames[i], s[i]);
	lmf_train_update(tr, loss);
	return 1;
}

/* the batches are kto's, scored by a reference of the model's vocabulary */
static void
check_data(struct run *r, struct lmf_trainer *tr)
{
	json_t *meta = lmf_rd_meta(tr->data);
	json_t *v = json_object_get(meta, "ref_vocab_size");
	json_t *st = json_object_get(meta, "stage");
	long V = (long)lmf_llama_config(r->model)->vocab_size;

	if (json_is_string(st) && strcmp(json_string_value(st), "kto"))
		die("'%s': batches of stage %s, not kto", tr->data_path,
		    json_string_value(st));
	if (json_is_integer(v) && json_integer_value(v) != V)
		die("'%s': the reference log-probs come from a vocabulary of "
		    "%lld tokens, the model has %ld", tr->data_path,
		    (long long)json_integer_value(v), V);
	r->k.beta = (float)r->o->beta;
	r->k.desirable_weight = (float)r->o->wd;
	r->k.undesirable_weight = (float)r->o->wu;
	r->k.ftx = r->o->ftx > 1e-6 ? (float)r->o->ftx : 0;
}

int
main(int argc, char **argv)
{
	static const struct lmf_opt_usage u = { "[--model FILE] [--data "
	    "FILE] [--output_dir DIR] [-o FILE]\n"
	    "               [--pref_beta X] [--kto_chosen_weight X] "
	    "[--kto_rejected_weight X]\n"
	    "               [--finetuning_type lora|full|freeze] "
	    "[--dump_grads FILE]\n"
	    "               [-l N] [-q] [options]",
	    "Train a model stream with KTO on kto batches; write the adapter "
	    "or model." };
	static const char *const plots[] = { "loss", "rewards/chosen", "kl",
		"eval_loss", NULL };
	struct opts o = { .beta = 0.1, .wd = 1, .wu = 1 };
	struct lmf_train_tool *x = &o.x;
	struct lmf_trainer tr;
	struct run r = { .o = &o };
	struct lmf_opt tab[] = {
		LMF_TRAIN_TOOL_IO(x, "the kto batches stream (not both stdin)",
		    "write the first step's loss, metrics and gradients"),
		LMF_OPT_ROW("pref_beta", 0, LMF_OPT_FLOAT, &o.beta, "X", 1e-9,
		    1e9, "beta"),
		LMF_OPT_ROW("kto_chosen_weight", 0, LMF_OPT_FLOAT, &o.wd, "X",
		    0, 1e9, "weight of the desirable examples' loss"),
		LMF_OPT_ROW("kto_rejected_weight", 0, LMF_OPT_FLOAT, &o.wu, "X",
		    0, 1e9, "weight of the undesirable examples' loss"),
		LMF_OPT_ROW("pref_ftx", 0, LMF_OPT_FLOAT, &o.ftx, "X", 0, 1e9,
		    "weight of the desirable responses' SFT loss"),
		LMF_TRAIN_TOOL_MODEL(x, "eval batches, evaluated at the end"),
		LMF_TRAIN_TOOL_TAIL(x, "seed of LoRA's init"),
	};

	lmf_init(argc, argv);
	lmf_train_tool_defaults(x);
	lmf_train_tool_parsed(x, lmf_opt_parse(tab, &u, argc, argv), argc,
	    argv);
	lmf_train_check_paths(&x->a, tab, &x->p, &x->t);
	/* LLaMA-Factory's kto trainer sets every dropout to 0 */
	x->t.lora_dropout = 0;
	x->dist_ok = 1;
	lmf_train_tool_init(x, &tr, &r);
	tr.plot_keys = plots;
	tr.window = window;
	r.model = lmf_train_tool_open(x, &tr);
	check_data(&r, &tr);
	r.b = xcalloc((size_t)x->a.gradient_accumulation_steps, sizeof *r.b);
	lmf_train_tool_run(x, &tr, step, evaluate);
	free(r.b);
	lmf_train_tool_free(x, &tr);
	lmf_seqlp_free(&r.s);
	free(r.ex);
	lmf_close_out();
	return 0;
}
