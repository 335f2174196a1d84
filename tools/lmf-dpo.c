/* lmf-dpo: preference optimisation of a LLaMA-family model (full, freeze
 * or LoRA) on pairwise batches (chosen rows, then rejected rows) with
 * every pref_loss of LLaMA-Factory's dpo stage: sigmoid, hinge, ipo,
 * kto_pair, orpo, simpo, with label smoothing, ftx and bco. The
 * reference log-probs come in the batches (lmf-logps scored them); this
 * tool never holds a reference model. The Trainer is train.c's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmf/gemm.h"
#include "lmf/llama.h"
#include "lmf/loss.h"
#include "lmf/opt.h"
#include "lmf/stream.h"
#include "lmf/train.h"
#include "lmf/util.h"
#include "lmf/banned.h"

struct opts {
	struct lmf_train_paths p;
	int threads, nockpt, pref_loss;
	double beta, smoothing, gamma, ftx, bco;
	struct lmf_train_opts t;
	struct lmf_train_args a;
	struct lmf_wropts wo;
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
	struct lmf_tparam *tp;
	int ntp, nmetric;
	struct lmf_dpo_args d;
	double bco[2];          /* the rewards' running mean and count */
	float *lp, *dlp, *mlog; /* (B * T) */
	float *pair;            /* (6 B): logps, avg, len, dlogps (B); losses,
	                           rc, rr (B / 2) */
	long cap, pcap;
};

static void
grow(struct run *r, long N, long B)
{
	if (N > r->cap) {
		free(r->lp);
		free(r->dlp);
		free(r->mlog);
		r->lp = xmallocarray((size_t)N, sizeof(float));
		r->dlp = xmallocarray((size_t)N, sizeof(float));
		r->mlog = xmallocarray((size_t)N, sizeof(float));
		r->cap = N;
	}
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
	m[M_LGC] += mean(r->mlog, n * T);
	m[M_LGR] += mean(r->mlog + n * T, n * T);
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
	long n, i, N;
	lmf_train_batch_or_die(r->model, &b, it, path, k);
	if (b.B % 2)
		die("'%s': batch %llu has %d rows, not chosen and rejected "
		    "pairs", path, (unsigned long long)k, b.B);
	n = b.B / 2;
	N = (long)b.B * b.T;
	refc = ref_logps(r, it, "chosen_ref_logps", n, path, k);
	refr = ref_logps(r, it, "rejected_ref_logps", n, path, k);
	grow(r, N, b.B);
	lg = r->pair, avg = lg + b.B, len = avg + b.B, dlg = len + b.B;
	loss = dlg + b.B, rc = loss + n, rr = rc + n;
	lmf_llama_forward(r->model, &b, scale > 0 ? LMF_FWD_TRAIN : 0);
	lmf_llama_logps(r->model, r->lp);
	lmf_llama_mean_logits(r->model, r->mlog);
	lmf_seqlogps_forward(lg, avg, len, r->lp,
	    lmf_llama_targets(r->model), b.B, b.T);
	memset(dlg, 0, (size_t)b.B * sizeof *dlg);
	l = lmf_dpo_loss(loss, rc, rr, dlg, dlg + n, lg, lg + n, refc, refr,
	    len, len + n, (int)n, &r->d);
	add_metrics(r, m, l, lg, avg, rc, rr, n, b.T);
	if (scale > 0) {
		for (i = 0; i < b.B; i++)
			dlg[i] *= (float)scale;
		memset(r->dlp, 0, (size_t)N * sizeof *r->dlp);
		lmf_seqlogps_backward(r->dlp, dlg, NULL,
		    lmf_llama_targets(r->model), b.B, b.T);
		lmf_llama_logps_backward(r->model, r->dlp);
		lmf_llama_backward(r->model, &b);
	}
	return l;
}

/* the model and a copy of its trainable tensors */
static void
open_model(struct run *r, struct lmf_trainer *tr)
{
	int i;

	r->model = lmf_train_model_open(tr, r->o->p.model, r->o->p.adapter,
	    &r->o->t);
	if ((r->ntp = lmf_llama_ntrainable(r->model)) == 0)
		die("nothing to train: no trainable tensors");
	r->tp = xmallocarray((size_t)r->ntp, sizeof *r->tp);
	for (i = 0; i < r->ntp; i++)
		r->tp[i] = *lmf_llama_trainable(r->model, i);
}

static void
write_result(struct lmf_trainer *tr, const char *path)
{
	lmf_train_model_write(tr, ((struct run *)tr->ctx)->model, path);
}

/* eval_loss the mean over rows (Hugging Face's loop), the metrics the
 * mean over batches (TRL's stored metrics) */
static void
evaluate(struct run *r, struct lmf_trainer *tr, int final)
{
	struct lmf_rd *rd = lmf_rd_open_or_die(r->o->p.eval_data);
	double t0 = lmf_now(), v[NMETRIC + 1] = { 0 }, sum = 0;
	struct lmf_item it;
	uint64_t rows = 0, nb = 0;
	int i;

	lmf_rd_check_kind_or_die(rd, "batches");
	while (lmf_rd_item_or_die(rd, &it) == 1) {
		struct lmf_tensor *ids = lmf_item_find(&it, "input_ids");
		double l = pairs(r, &it, r->o->p.eval_data, nb, 0, v + 1);
		long B = ids ? (long)ids->shape[0] : 0;

		sum += l * B;
		rows += (uint64_t)B;
		nb++;
		lmf_item_free(&it);
	}
	lmf_rd_close(rd);
	if (!rows)
		die("'%s': no eval batches", r->o->p.eval_data);
	v[0] = sum / (double)rows;
	for (i = 1; i <= NMETRIC; i++)
		v[i] /= (double)nb;
	lmf_train_log_eval(tr, mnames[1], v, r->nmetric + 1, rows, nb,
	    lmf_now() - t0, final);
}

/* one optimizer step over GA micro-batches (fewer at an epoch's end),
 * each one's loss divided by their number, as Hugging Face's Trainer does
 * (current_gradient_accumulation_steps) for a loss without token counts:
 * 0 when the batches ran out before it began, or after a gradient dump */
static int
step(struct run *r, struct lmf_trainer *tr, struct lmf_item *items)
{
	long ga = tr->a.gradient_accumulation_steps;
	double v[NMETRIC + 1] = { 0 };
	int n = 0, i, end = 0, npairs = 0;

	while (!end && n < ga && lmf_train_next(tr, &items[n]) == 1) {
		struct lmf_tensor *ids = lmf_item_find(&items[n], "input_ids");

		if (!ids || ids->ndim != 2)
			die("'%s': batch %llu has no input_ids (B, T)",
			    tr->data_path, (unsigned long long)tr->micro);
		end = lmf_train_micro(tr, (long)ids->shape[0],
		    (long)ids->shape[1]);
		npairs += (int)(ids->shape[0] / 2);
		n++;
	}
	if (n == 0)
		return 0;
	lmf_llama_zero_grad(r->model);
	for (i = 0; i < n; i++) {
		v[0] += pairs(r, &items[i], tr->data_path, tr->micro - n + i,
		    1.0 / n, v + 1) / n;
		lmf_item_free(&items[i]);
	}
	for (i = 1; i <= NMETRIC; i++)
		v[i] /= n;
	if (r->o->p.dump_grads) {
		json_t *meta = json_pack("{s:s, s:i, s:f, s:i}", "kind",
		    "grads", "step", 1, "loss", v[0], "pairs", npairs);

		lmf_train_dump_grads(r->o->p.dump_grads, &r->o->wo, meta,
		    mnames[0], v, r->nmetric + 1, r->tp, r->ntp);
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
	struct opts o = { .p = { .model = "-", .data = "-" }, .beta = 0.1,
		.gamma = 0.5 };
	struct lmf_trainer tr;
	struct run r = { .o = &o };
	struct lmf_train_opts *t = &o.t;
	struct lmf_item *items;
#define S LMF_OPT_STRING
	struct lmf_opt tab[] = {
		LMF_OPT_ROW("model", 0, S, &o.p.model, "FILE", 0, 0,
		    "the model stream"),
		LMF_OPT_ROW("data", 0, S, &o.p.data, "FILE", 0, 0,
		    "the pairwise batches stream (not both stdin)"),
		LMF_OPT_ROW("output_dir", 0, S, &o.a.output_dir, "DIR", 0, 0,
		    "logs, checkpoints and the result"),
		LMF_OPT_ROW(NULL, 'o', S, &o.p.out, "FILE", 0, 0,
		    "also write the result to FILE or '-'"),
		LMF_OPT_ROW("dump_grads", 0, S, &o.p.dump_grads, "FILE", 0, 0,
		    "write the first step's loss, metrics and gradients"),
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
		LMF_FT_OPTIONS(t),
		LMF_OPT_ROW("adapter_name_or_path", 0, S, &o.p.adapter, "PATH",
		    0, 0, "adapter stream or PEFT directory to continue"),
		LMF_FREEZE_OPTIONS(t),
		LMF_OPT_ROW("disable_gradient_checkpointing", 0, LMF_OPT_BOOL,
		    &o.nockpt, NULL, 0, 0, "keep every activation"),
		LMF_TRAIN_OPTIONS(&o.a),
		LMF_OPT_ROW("eval_data", 0, S, &o.p.eval_data, "FILE", 0, 0,
		    "eval batches, evaluated at the end"),
		LMF_OPT_ROW("seed", 0, LMF_OPT_U64, &t->seed, "N", 0, 9.3e18,
		    "seed of LoRA's init"),
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
	lmf_train_check_paths(&o.a, tab, &o.p, t);
	check_args(&o);
	/* LLaMA-Factory's dpo trainer sets every dropout to 0 */
	t->lora_dropout = 0;
	t->gradient_checkpointing = !o.nockpt;
	lmf_gemm_init(o.threads);
	lmf_train_init(&tr, &o.a, lmf_now());
	tr.data_path = o.p.data;
	tr.out = o.p.out;
	tr.wo = &o.wo;
	tr.seed = t->seed;
	tr.result_name = t->finetuning_type == LMF_FT_LORA ? "adapter.lmf" :
	    "model.lmf";
	tr.write_result = write_result;
	tr.ctx = &r;
	tr.plot_keys = plots;
	lmf_train_begin(&tr);
	open_model(&r, &tr);
	lmf_train_open(&tr);
	check_pref(&r, &tr);
	lmf_train_start(&tr, r.tp, r.ntp, lmf_llama_trainable_numel(r.model));
	lmf_llama_set_nsteps(r.model, tr.micro);
	items = xcalloc((size_t)o.a.gradient_accumulation_steps, sizeof *items);
	while (tr.step < tr.total && step(&r, &tr, items)) {
		if (o.p.eval_data && lmf_train_should_eval(&tr))
			evaluate(&r, &tr, 0);
		if (lmf_train_should_save(&tr))
			lmf_train_save(&tr);
		lmf_train_check_signal(&tr);
	}
	free(items);
	if (!o.p.dump_grads) {
		lmf_train_end(&tr);
		if (o.p.eval_data && o.a.output_dir)
			evaluate(&r, &tr, 1);
		if (o.p.out)
			write_result(&tr, o.p.out);
	}
	lmf_train_free(&tr);
	lmf_llama_free(r.model);
	free(r.tp);
	free(r.lp);
	free(r.dlp);
	free(r.mlog);
	free(r.pair);
	lmf_close_out();
	return 0;
}
