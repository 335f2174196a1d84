/* lmf-kto: KTO training of a LLaMA-family model (full, freeze or LoRA) on
 * kto batches: target rows with their desirable/undesirable tags and the
 * mismatched KL rows, as LLaMA-Factory's kto stage (TRL's loss "kto" with
 * the batch KL estimate, the two weights and ftx). The reference
 * log-probs come in the batches (lmf-logps scored them); this tool never
 * holds a reference model. The Trainer is train.c's. */
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
	int threads, nockpt;
	double beta, wd, wu, ftx;
	struct lmf_train_opts t;
	struct lmf_train_args a;
	struct lmf_wropts wo;
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
	struct lmf_tparam *tp;
	int ntp;
	struct lmf_kto_args k;
	float *lp, *dlp, *mlog; /* (B * T) */
	float *ex;              /* (7 n): p, avg, len, dp, losses, rewards,
	                           pkl */
	long cap, ecap;
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
grow(struct run *r, long N, long n)
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
	grow(r, (long)b.B * b.T, n);
	lmf_llama_forward(r->model, &b, 0);
	lmf_llama_logps(r->model, r->lp);
	lmf_seqlogps_forward(pkl, NULL, NULL, r->lp,
	    lmf_llama_targets(r->model), b.B, b.T);
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
	long n, i, N;

	lmf_train_batch_or_die(r->model, &b, it, path, k);
	n = b.B;
	tags = need(it, "kto_tags", LMF_I32, n, path, k);
	ref = need(it, "ref_logps", LMF_F32, n, path, k);
	refkl = need(it, "kl_ref_logps", LMF_F32, n, path, k);
	grow(r, 0, n);
	p = r->ex, avg = p + n, len = avg + n, dp = len + n;
	losses = dp + n, rw = losses + n, pkl = rw + n;
	kl_logps(r, it, pkl, n, path, k);
	N = (long)b.B * b.T;
	grow(r, N, n);
	lmf_llama_forward(r->model, &b, scale > 0 ? LMF_FWD_TRAIN : 0);
	lmf_llama_logps(r->model, r->lp);
	lmf_llama_mean_logits(r->model, r->mlog);
	lmf_seqlogps_forward(p, avg, len, r->lp, lmf_llama_targets(r->model),
	    b.B, b.T);
	memset(dp, 0, (size_t)n * sizeof *dp);
	l = lmf_kto_loss(losses, rw, &kl, dp, p, ref, len, tags, (int)n, pkl,
	    refkl, (int)n, &r->k);
	add_sums(s, tags, p, rw, r->mlog, kl, n, b.T,
	    (long)lmf_llama_config(r->model)->vocab_size);
	if (scale > 0) {
		for (i = 0; i < n; i++)
			dp[i] *= (float)scale;
		memset(r->dlp, 0, (size_t)N * sizeof *r->dlp);
		lmf_seqlogps_backward(r->dlp, dp, NULL,
		    lmf_llama_targets(r->model), b.B, b.T);
		lmf_llama_logps_backward(r->model, r->dlp);
		lmf_llama_backward(r->model, &b);
	}
	return l;
}

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

/* eval_loss the mean over examples (Hugging Face's loop); the metrics
 * from the sums over every batch, as LLaMA-Factory logs them */
static void
evaluate(struct run *r, struct lmf_trainer *tr, int final)
{
	struct lmf_rd *rd = lmf_rd_open_or_die(r->o->p.eval_data);
	double t0 = lmf_now(), s[NSUM] = { 0 }, v[NDER + 2], sum = 0;
	const char *names[NDER + 2] = { "eval_loss" };
	struct lmf_item it;
	uint64_t rows = 0, nb = 0;
	int n;

	lmf_rd_check_kind_or_die(rd, "batches");
	while (lmf_rd_item_or_die(rd, &it) == 1) {
		struct lmf_tensor *ids = lmf_item_find(&it, "input_ids");
		double l = micro(r, &it, r->o->p.eval_data, nb, 0, s);
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
	n = derive(s, 1, names + 1, v + 1);
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
	lmf_train_dump_grads(r->o->p.dump_grads, &r->o->wo, meta, names, v,
	    1 + NSUM + nd, r->tp, r->ntp);
	json_decref(meta);
}

/* one optimizer step over GA micro-batches (fewer at an epoch's end),
 * each one's loss divided by their number: 0 when the batches ran out
 * before it began, or after a gradient dump */
static int
step(struct run *r, struct lmf_trainer *tr, struct lmf_item *items)
{
	long ga = tr->a.gradient_accumulation_steps;
	double s[NSUM] = { 0 }, loss = 0;
	int n = 0, i, end = 0, nex = 0;

	while (!end && n < ga && lmf_train_next(tr, &items[n]) == 1) {
		struct lmf_tensor *ids = lmf_item_find(&items[n], "input_ids");

		if (!ids || ids->ndim != 2)
			die("'%s': batch %llu has no input_ids (B, T)",
			    tr->data_path, (unsigned long long)tr->micro);
		end = lmf_train_micro(tr, (long)ids->shape[0],
		    (long)ids->shape[1]);
		nex += (int)ids->shape[0];
		n++;
	}
	if (n == 0)
		return 0;
	lmf_llama_zero_grad(r->model);
	for (i = 0; i < n; i++) {
		loss += micro(r, &items[i], tr->data_path, tr->micro - n + i,
		    1.0 / n, s) / n;
		lmf_item_free(&items[i]);
	}
	if (r->o->p.dump_grads) {
		dump(r, loss, s, nex);
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
	struct opts o = { .p = { .model = "-", .data = "-" }, .beta = 0.1,
		.wd = 1, .wu = 1 };
	struct lmf_trainer tr;
	struct run r = { .o = &o };
	struct lmf_train_opts *t = &o.t;
	struct lmf_item *items;
#define S LMF_OPT_STRING
	struct lmf_opt tab[] = {
		LMF_OPT_ROW("model", 0, S, &o.p.model, "FILE", 0, 0,
		    "the model stream"),
		LMF_OPT_ROW("data", 0, S, &o.p.data, "FILE", 0, 0,
		    "the kto batches stream (not both stdin)"),
		LMF_OPT_ROW("output_dir", 0, S, &o.a.output_dir, "DIR", 0, 0,
		    "logs, checkpoints and the result"),
		LMF_OPT_ROW(NULL, 'o', S, &o.p.out, "FILE", 0, 0,
		    "also write the result to FILE or '-'"),
		LMF_OPT_ROW("dump_grads", 0, S, &o.p.dump_grads, "FILE", 0, 0,
		    "write the first step's loss, metrics and gradients"),
		LMF_OPT_ROW("pref_beta", 0, LMF_OPT_FLOAT, &o.beta, "X", 1e-9,
		    1e9, "beta"),
		LMF_OPT_ROW("kto_chosen_weight", 0, LMF_OPT_FLOAT, &o.wd, "X",
		    0, 1e9, "weight of the desirable examples' loss"),
		LMF_OPT_ROW("kto_rejected_weight", 0, LMF_OPT_FLOAT, &o.wu, "X",
		    0, 1e9, "weight of the undesirable examples' loss"),
		LMF_OPT_ROW("pref_ftx", 0, LMF_OPT_FLOAT, &o.ftx, "X", 0, 1e9,
		    "weight of the desirable responses' SFT loss"),
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
	/* LLaMA-Factory's kto trainer sets every dropout to 0 */
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
	tr.window = window;
	lmf_train_begin(&tr);
	open_model(&r, &tr);
	lmf_train_open(&tr);
	check_data(&r, &tr);
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
	free(r.tp), free(r.lp), free(r.dlp), free(r.mlog), free(r.ex);
	lmf_close_out();
	return 0;
}
