/* lmf-dpo: preference optimisation of a LLaMA-family model (full, freeze
 * or LoRA) on pairwise batches (chosen rows, then rejected rows) with
 * every pref_loss of LLaMA-Factory's dpo stage: sigmoid, hinge, ipo,
 * kto_pair, orpo, simpo, with label smoothing, ftx and bco. The
 * reference log-probs come in the batches (lmf-logps scored them); this
 * tool never holds a reference model. The Trainer is train.c's. */
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
	int pref_loss;
	double beta, smoothing, gamma, ftx, bco;
};

/* LLaMA-Factory's metric names; ORPO's two last */
enum { M_RC, M_RR, M_ACC, M_MARGIN, M_LPC, M_LPR, M_LGC, M_LGR, M_SFT,
	M_OR, NMETRIC };
static const char *const mnames[2][NMETRIC + 1] = {
	{ "loss", "rewards/chosen", "rewards/rejected", "rewards/accuracies",
	  "rewards/margins", "logps/chosen", "logps/rejected", "logits/chosen",
	  "logits/rejected", "sft_loss", "odds_ratio_loss" },
	{ "eval_loss", "eval_rewards/chosen", "eval_rewards/rejected",
	  "eval_rewards/accuracies", "eval_rewards/margins",
	  "eval_logps/chosen", "eval_logps/rejected", "eval_logits/chosen",
	  "eval_logits/rejected", "eval_sft_loss", "eval_odds_ratio_loss" },
};

struct run {
	struct opts *o;
	struct lmf_llama *model;
	struct lmf_batch *b;    /* the step's micro-batches on this rank */
	int nmetric;
	struct lmf_dpo_args d;
	double bco[2];          /* the rewards' running mean and count */
	struct lmf_seqlp s;
	float *pair;            /* (6 B): logps, avg, len, dlogps (B); losses,
	                           rc, rr (B / 2) */
	long pcap;
	double ev[NMETRIC + 1];  /* an evaluation's loss and metrics */
};

static void
grow(struct run *r, long B)
{
	if (B > r->pcap) {
		free(r->pair);
		r->pair = xmallocarray((size_t)B * 6, sizeof(float));
		r->pcap = B;
	}
}

/* the reference log-probs of the batch's n pairs, or NULL when the loss
 * takes none */
static const float *
ref_logps(struct run *r, struct lmf_item *it, const char *name, long n,
    const char *path, uint64_t k)
{
	struct lmf_tensor *t = lmf_item_find(it, name);

	if (r->d.loss >= LMF_PREF_ORPO)
		return NULL;
	if (!t)
		die("'%s': batch %llu has no reference log-probs '%s' (pref_loss "
		    "%s needs them: score the examples with lmf-logps)", path,
		    (unsigned long long)k, name,
		    r->d.loss == LMF_PREF_SIGMOID ? "sigmoid" :
		    r->d.loss == LMF_PREF_HINGE ? "hinge" :
		    r->d.loss == LMF_PREF_IPO ? "ipo" : "kto_pair");
	if (t->dtype != LMF_F32 || lmf_tensor_numel(t) != (uint64_t)n)
		die("'%s': batch %llu: tensor '%s' is not f32 [%ld]", path,
		    (unsigned long long)k, name, n);
	return t->data;
}

static double
mean(const float *x, long n)
{
	double s = 0;
	long i;

	for (i = 0; i < n; i++)
		s += x[i];
	return n ? s / n : 0;
}

/* a micro-batch's metrics added into m (LLaMA-Factory's: the logps
 * averaged for ipo, orpo and simpo; logits the mean of all, padding too;
 * sft_loss the chosen per-token NLL; odds_ratio_loss (l - sft) / beta) */
static void
add_metrics(struct run *r, double *m, double l, const float *lg,
    const float *avg, const float *rc, const float *rr, long n, long T)
{
	int av = r->d.loss == LMF_PREF_IPO || r->d.loss >= LMF_PREF_ORPO;
	double sft = 0;
	long i;

	for (i = 0; i < n; i++) {
		m[M_ACC] += (rc[i] > rr[i]) / (double)n;
		m[M_MARGIN] += ((double)rc[i] - rr[i]) / n;
		sft -= avg[i];
	}
	m[M_RC] += mean(rc, n);
	m[M_RR] += mean(rr, n);
	m[M_LPC] += mean(av ? avg : lg, n);
	m[M_LPR] += mean(av ? avg + n : lg + n, n);
	m[M_LGC] += mean(r->s.mlog, n * T);
	m[M_LGR] += mean(r->s.mlog + n * T, n * T);
	m[M_SFT] += sft / n;
	m[M_OR] += (l - sft / n) / r->d.beta;
}

/* one micro-batch: forward, the loss (its value returned, metrics added
 * into m), and with scale > 0 the backward of loss * scale */
static double
pairs(struct run *r, struct lmf_item *it, const char *path, uint64_t k,
    double scale, double *m)
{
	struct lmf_batch b;
	const float *refc, *refr;
	float *lg, *avg, *len, *dlg, *loss, *rc, *rr;
	double l;
	long n;

	lmf_train_batch_or_die(r->model, &b, it, path, k);
	if (b.B % 2)
		die("'%s': batch %llu has %d rows, not chosen and rejected "
		    "pairs", path, (unsigned long long)k, b.B);
	n = b.B / 2;
	refc = ref_logps(r, it, "chosen_ref_logps", n, path, k);
	refr = ref_logps(r, it, "rejected_ref_logps", n, path, k);
	grow(r, b.B);
	lg = r->pair, avg = lg + b.B, len = avg + b.B, dlg = len + b.B;
	loss = dlg + b.B, rc = loss + n, rr = rc + n;
	lmf_llama_seqlogps(r->model, &r->s, &b, scale > 0 ? LMF_FWD_TRAIN : 0,
	    1, lg, avg, len);
	memset(dlg, 0, (size_t)b.B * sizeof *dlg);
	l = lmf_dpo_loss(loss, rc, rr, dlg, dlg + n, lg, lg + n, refc, refr,
	    len, len + n, (int)n, &r->d);
	add_metrics(r, m, l, lg, avg, rc, rr, n, b.T);
	if (scale > 0)
		lmf_llama_seqlogps_backward(r->model, &r->s, &b, dlg,
		    (float)scale);
	return l;
}

/* eval batch k's loss, its metrics added into r->ev */
static double
eval_batch(void *ctx, struct lmf_item *it, uint64_t k)
{
	return pairs(ctx, it, ((struct run *)ctx)->o->x.p.eval_data, k, 0,
	    ((struct run *)ctx)->ev + 1);
}

/* eval_loss the mean over rows (Hugging Face's loop), the metrics the
 * mean over batches (TRL's stored metrics) */
static void
evaluate(struct lmf_trainer *tr, int final)
{
	struct run *r = tr->ctx;
	double t0 = lmf_now(), *v = r->ev;
	uint64_t rows, nb;
	int i;

	memset(v, 0, sizeof r->ev);
	v[0] = lmf_train_eval_pass(r->o->x.p.eval_data, eval_batch, r, &rows,
	    &nb);
	for (i = 1; i <= NMETRIC; i++)
		v[i] /= (double)nb;
	lmf_train_log_eval(tr, mnames[1], v, r->nmetric + 1, rows, nb,
	    lmf_now() - t0, final);
}

/* one optimizer step over GA micro-batches (fewer at an epoch's end),
 * each one's loss divided by their number, as Hugging Face's Trainer does
 * (current_gradient_accumulation_steps) for a loss without token counts:
 * 0 when the batches ran out before it began, or after a gradient dump.
 * Under mpirun this rank's share of them, divided by the number on all
 * ranks; the metrics summed over the ranks here, the loss by train.c */
static int
step(struct lmf_trainer *tr, struct lmf_item *items)
{
	struct run *r = tr->ctx;
	double v[NMETRIC + 1] = { 0 }, n;
	long rows = 0;
	int nb = lmf_train_read_batches(tr, r->model, items, r->b), i;

	if (tr->nmicro == 0)
		return 0;
	n = (double)tr->nmicro;
	lmf_llama_zero_grad(r->model);
	for (i = 0; i < nb; i++) {
		rows += r->b[i].B;
		v[0] += pairs(r, &items[i], tr->data_path, tr->gidx[i],
		    1.0 / n, v + 1) / n;
		lmf_item_free(&items[i]);
	}
	for (i = 1; i <= NMETRIC; i++)
		v[i] /= n;
	if (tr->world > 1)
		lmf_dist_sum_f64(v + 1, NMETRIC);
	if (r->o->x.p.dump_grads) {
		json_t *meta = json_pack("{s:s, s:i, s:f, s:i}", "kind",
		    "grads", "step", 1, "loss", v[0], "pairs", (int)(rows / 2));

		lmf_train_dump_grads(r->o->x.p.dump_grads, &r->o->x.wo, meta,
		    mnames[0], v, r->nmetric + 1, r->o->x.tp, r->o->x.ntp);
		json_decref(meta);
		return 0;
	}
	for (i = 1; i <= r->nmetric; i++)
		lmf_train_metric(tr, mnames[0][i], v[i]);
	lmf_train_update(tr, v[0]);
	return 1;
}

/* the pref_* options into the loss's arguments; a policy whose
 * vocabulary is not the reference's is refused */
static void
check_pref(struct run *r, struct lmf_trainer *tr)
{
	struct opts *o = r->o;
	json_t *v = json_object_get(lmf_rd_meta(tr->data), "ref_vocab_size");
	long V = (long)lmf_llama_config(r->model)->vocab_size;

	if (json_is_integer(v) && json_integer_value(v) != V)
		die("'%s': the reference log-probs come from a vocabulary of "
		    "%lld tokens, the model has %ld", tr->data_path,
		    (long long)json_integer_value(v), V);
	r->d.loss = o->pref_loss;
	r->d.beta = (float)o->beta;
	r->d.label_smoothing = (float)o->smoothing;
	r->d.simpo_gamma = (float)o->gamma;
	r->d.ftx = (float)o->ftx;
	r->d.bco_weight = (float)o->bco;
	r->bco[0] = 0;
	r->bco[1] = 1e-24;
	r->d.bco_moments = r->bco;
	r->nmetric = o->pref_loss == LMF_PREF_ORPO ? NMETRIC : M_SFT;
}

static void
check_args(struct opts *o)
{
	static const char *const loss[] = { "sigmoid", "hinge", "ipo",
		"kto_pair", "orpo", "simpo" };

	if (o->smoothing > 0 && o->pref_loss != LMF_PREF_SIGMOID)
		die_usage("--dpo_label_smoothing goes with --pref_loss "
		    "sigmoid, not %s", loss[o->pref_loss]);
	if (o->bco > 1e-6 && o->pref_loss >= LMF_PREF_ORPO)
		die_usage("--pref_bco_weight needs a reference: not with "
		    "--pref_loss %s", loss[o->pref_loss]);
}

int
main(int argc, char **argv)
{
	static const struct lmf_opt_usage u = { "[--model FILE] [--data "
	    "FILE] [--output_dir DIR] [-o FILE]\n"
	    "               [--pref_loss sigmoid|hinge|ipo|kto_pair|orpo|"
	    "simpo] [--pref_beta X]\n"
	    "               [--finetuning_type lora|full|freeze] "
	    "[--dump_grads FILE]\n"
	    "               [-l N] [-q] [options]",
	    "Preference-optimise a model stream on pairwise batches; write "
	    "the adapter or model." };
	static const char *const plots[] = { "loss", "rewards/accuracies",
		"eval_loss", NULL };
	struct opts o = { .beta = 0.1, .gamma = 0.5 };
	struct lmf_train_tool *x = &o.x;
	struct lmf_trainer tr;
	struct run r = { .o = &o };
	struct lmf_opt tab[] = {
		LMF_TRAIN_TOOL_IO(x, "the pairwise batches stream (not both "
		    "stdin)", "write the first step's loss, metrics and "
		    "gradients"),
		LMF_OPT_ROW("pref_loss", 0, LMF_OPT_CHOICE, &o.pref_loss,
		    "sigmoid|hinge|ipo|kto_pair|orpo|simpo", 0, 0,
		    "the preference loss"),
		LMF_OPT_ROW("pref_beta", 0, LMF_OPT_FLOAT, &o.beta, "X", 1e-9,
		    1e9, "beta"),
		LMF_OPT_ROW("pref_ftx", 0, LMF_OPT_FLOAT, &o.ftx, "X", 0, 1e9,
		    "weight of the chosen responses' SFT loss"),
		LMF_OPT_ROW("pref_bco_weight", 0, LMF_OPT_FLOAT, &o.bco, "X",
		    0, 1e9, "weight of the BCO loss"),
		LMF_OPT_ROW("dpo_label_smoothing", 0, LMF_OPT_FLOAT,
		    &o.smoothing, "X", 0, 0.5, "label smoothing (sigmoid)"),
		LMF_OPT_ROW("simpo_gamma", 0, LMF_OPT_FLOAT, &o.gamma, "X",
		    -1e9, 1e9, "SimPO's target margin"),
		LMF_TRAIN_TOOL_MODEL(x, "eval batches, evaluated at the end"),
		LMF_TRAIN_TOOL_TAIL(x, "seed of LoRA's init"),
	};

	lmf_init(argc, argv);
	lmf_train_tool_defaults(x);
	lmf_train_tool_parsed(x, lmf_opt_parse(tab, &u, argc, argv), argc,
	    argv);
	lmf_train_check_paths(&x->a, tab, &x->p, &x->t);
	check_args(&o);
	/* LLaMA-Factory's dpo trainer sets every dropout to 0 */
	x->t.lora_dropout = 0;
	x->dist_ok = 1;
	lmf_train_tool_init(x, &tr, &r);
	/* BCO's running mean of the rewards follows the micro-batches in
	 * the order of one process */
	if (tr.world > 1 && o.bco > 1e-6)
		die_usage("--pref_bco_weight runs on one process only");
	tr.plot_keys = plots;
	r.model = lmf_train_tool_open(x, &tr);
	check_pref(&r, &tr);
	r.b = xcalloc((size_t)x->a.gradient_accumulation_steps, sizeof *r.b);
	lmf_train_tool_run(x, &tr, step, evaluate);
	free(r.b);
	lmf_train_tool_free(x, &tr);
	lmf_seqlp_free(&r.s);
	free(r.pair);
	lmf_close_out();
	return 0;
}
