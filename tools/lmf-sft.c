/* lmf-sft: supervised fine-tuning and pre-training of a LLaMA-family model
 * (full, freeze or LoRA) on a batches stream: AdamW, gradient clipping,
 * Hugging Face's lr schedules, gradient accumulation with LLaMA-Factory's
 * loss normalisation. It writes the trained adapter or model as a stream
 * and trainer_log.jsonl; it does not tokenize, pack or shuffle (lmf-pack
 * does), and it does not write Hugging Face files (lmf-export does). */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lmf/gemm.h"
#include "lmf/llama.h"
#include "lmf/optim.h"
#include "lmf/stream.h"
#include "lmf/util.h"
#include "lmf/banned.h"

static struct opts {
	const char *model, *data, *out, *output_dir, *adapter, *dump_grads;
	const char *kwargs;
	struct lmf_train_opts t;
	double lr, epochs, wd, beta1, beta2, eps, max_grad_norm, warmup_ratio;
	long max_steps, warmup_steps, logging_steps, ga;
	int sched, threads, epochs_set, overwrite;
	struct lmf_wropts wo;
} o = { .model = "-", .data = "-", .lr = 5e-5, .epochs = 3.0,
	.beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .max_grad_norm = 1.0,
	.max_steps = -1, .logging_steps = 500, .ga = 1 };

static struct lmf_llama *model;
static struct lmf_tparam *tp;   /* the trainable tensors, copied */
static int ntp;
static struct lmf_rd *data;
static pid_t loader = -1;        /* lmf-load reading a PEFT directory */
static FILE *tlog;
static struct lmf_sched sched;
static struct lmf_adamw adam;

/* training progress */
static struct {
	long step, total;          /* optimizer steps done, T */
	uint64_t micro, bpe;       /* micro-batches read; per epoch (0: ?) */
	uint64_t tokens, log_tokens;
	double loss_sum, train_loss_sum, last_norm, t0, log_t;
	long log_steps;
} st;

/* ---- input ---- */

static const char *
loader_path(void)
{
	static char buf[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 16);
	char *slash;

	if (n > 0) {
		buf[n] = '\0';
		if ((slash = strrchr(buf, '/'))) {
			snprintf(slash + 1, sizeof buf - (size_t)(slash + 1 -
			    buf), "lmf-load");
			if (!access(buf, X_OK))
				return buf;
		}
	}
	return "lmf-load";
}

/* a PEFT directory through lmf-load: the read end of its stdout */
static int
spawn_loader(const char *dir)
{
	const char *prog = loader_path();
	int fd[2];

	if (pipe(fd) < 0)
		die_errno("pipe");
	loader = fork();
	if (loader < 0)
		die_errno("fork");
	if (loader == 0) {
		dup2(fd[1], 1);
		close(fd[0]);
		close(fd[1]);
		execlp(prog, "lmf-load", "-q", "-l", "0",
		    "--adapter_name_or_path", dir, (char *)NULL);
		fprintf(stderr, "%s: cannot run '%s': %s\n", lmf_progname(),
		    prog, strerror(errno));
		_exit(1);
	}
	close(fd[1]);
	return fd[0];
}

/* 1 if the loader failed (it has said why) */
static int
reap_loader(void)
{
	int status;

	if (loader < 0)
		return 0;
	while (waitpid(loader, &status, 0) < 0)
		if (errno != EINTR)
			return 0;
	loader = -1;
	return !WIFEXITED(status) || WEXITSTATUS(status) != 0;
}

static void
load_adapter(void)
{
	struct stat sb;
	struct lmf_rd *r;
	char err[512];
	int e;

	if (!stat(o.adapter, &sb) && S_ISDIR(sb.st_mode))
		r = lmf_rd_open_fd(spawn_loader(o.adapter), o.adapter, &e);
	else
		r = lmf_rd_open(o.adapter, &e);
	if (!r) {
		if (reap_loader())
			exit(LMF_EXIT_FAIL);
		die("%s", lmf_rd_open_errmsg());
	}
	e = lmf_llama_load_adapter(model, r, err, sizeof err);
	lmf_rd_close(r);
	if (reap_loader())
		exit(LMF_EXIT_FAIL);
	if (e < 0)
		die("'%s': %s", o.adapter, err);
}

static void
open_model(void)
{
	struct lmf_rd *r = lmf_rd_open_or_die(o.model);
	char err[512];
	int i;

	lmf_rd_check_kind_or_die(r, "model");
	model = lmf_llama_open(r, &o.t, err, sizeof err);
	if (!model)
		die("'%s': %s", lmf_rd_name(r), err);
	lmf_rd_close(r);
	if (o.adapter)
		load_adapter();
	ntp = lmf_llama_ntrainable(model);
	if (ntp == 0)
		die("nothing to train: no trainable tensors");
	tp = xmallocarray((size_t)ntp, sizeof *tp);
	for (i = 0; i < ntp; i++)
		tp[i] = *lmf_llama_trainable(model, i);
}

static int64_t
meta_int(const char *key)
{
	json_t *v = json_object_get(lmf_rd_meta(data), key);

	if (json_is_integer(v) && json_integer_value(v) >= 0)
		return json_integer_value(v);
	if (v)
		die("'%s': header field '%s' is not a count", o.data, key);
	return -1;
}

/* T, and micro-batches per epoch, from the options and the header */
static void
plan_steps(void)
{
	int64_t bpe = meta_int("batches_per_epoch");
	int64_t nb = meta_int("num_batches");
	json_t *ne = json_object_get(lmf_rd_meta(data), "num_epochs");
	json_t *nt = json_object_get(lmf_rd_meta(data), "num_train_epochs");
	double epochs_in = json_is_number(ne) ? json_number_value(ne) : 0;
	uint64_t spe;

	if (ne && !(epochs_in >= 1 && epochs_in < 1e9))
		die("'%s': header field 'num_epochs' is not positive", o.data);
	if (bpe < 0 && nb >= 0)
		bpe = epochs_in >= 1 ? (int64_t)(nb / epochs_in) : nb;
	if (json_is_number(nt)) {
		epochs_in = json_number_value(nt);
		if (!(epochs_in > 0 && epochs_in < 1e9))
			die("'%s': header field 'num_train_epochs' is not "
			    "positive", o.data);
	}
	st.bpe = bpe > 0 ? (uint64_t)bpe : 0;
	if (!o.epochs_set && epochs_in > 0)
		o.epochs = epochs_in;
	if (o.max_steps > 0) {
		st.total = o.max_steps;
		return;
	}
	if (!st.bpe)
		die("'%s': the header gives no batches_per_epoch; give "
		    "--max_steps", o.data);
	spe = (st.bpe + (uint64_t)o.ga - 1) / (uint64_t)o.ga;
	st.total = (long)ceil(o.epochs * (double)spe);
	if (st.total < 1)
		die("no steps to train: %g epochs of %llu steps", o.epochs,
		    (unsigned long long)spe);
}

/* the next micro-batch into it; 0 when the batches ran out. A file is
 * read again from its start when training needs more than it holds. */
static int
next_micro(struct lmf_item *it)
{
	int rc = lmf_rd_item_or_die(data, it), again = 0;

	while (rc == 0 && strcmp(o.data, "-") && !again++) {
		lmf_rd_close(data);
		data = lmf_rd_open_or_die(o.data);
		rc = lmf_rd_item_or_die(data, it);
	}
	return rc;
}

/* ---- output ---- */

static void
write_result_to(const char *path)
{
	json_t *meta = lmf_llama_result_meta(model);
	struct lmf_wr *w;
	int rc;

	json_object_set_new(meta, "global_step", json_integer(st.step));
	if (st.step > 0)
		json_object_set_new(meta, "train_loss",
		    json_real(st.train_loss_sum / (double)st.step));
	if (!strcmp(path, "-"))
		lmf_stdout_binary_or_die();
	w = lmf_wr_open_or_die(path, meta, &o.wo);
	json_decref(meta);
	rc = lmf_llama_write(model, w);
	if (rc < 0)
		die("'%s': %s", path, lmf_wr_errmsg(w));
	lmf_wr_close_or_die(w);
}

static void
write_result(void)
{
	const struct lmf_train_opts *t = &o.t;
	char *path;

	if (o.output_dir) {
		path = xasprintf("%s/%s", o.output_dir,
		    t->finetuning_type == LMF_FT_LORA ? "adapter.lmf" :
		    "model.lmf");
		write_result_to(path);
		free(path);
	}
	if (o.out)
		write_result_to(o.out);
}

static void
dump_grads(double loss, long count)
{
	json_t *meta = json_pack("{s:s, s:i, s:f, s:I}", "kind", "grads",
	    "step", 1, "loss", loss, "label_tokens", (json_int_t)count);
	struct lmf_tensor t = { .name = "loss", .dtype = LMF_F64,
		.ndim = 0, .nbytes = 8, .data = &loss };
	struct lmf_wr *w;
	int i;

	if (!strcmp(o.dump_grads, "-"))
		lmf_stdout_binary_or_die();
	w = lmf_wr_open_or_die(o.dump_grads, meta, &o.wo);
	json_decref(meta);
	if (lmf_wr_item(w, (uint32_t)(ntp + 1)) < 0)
		die("'%s': %s", o.dump_grads, lmf_wr_errmsg(w));
	lmf_wr_tensor_or_die(w, &t);
	for (i = 0; i < ntp; i++)
		if (lmf_wr_tensor_begin(w, tp[i].name, LMF_F32, tp[i].ndim,
		    tp[i].shape) < 0 || lmf_wr_payload(w, tp[i].g,
		    tp[i].numel * sizeof(float)) < 0)
			die("'%s': %s", o.dump_grads, lmf_wr_errmsg(w));
	lmf_wr_close_or_die(w);
}

static char *
hms(double s, char *buf, size_t n)
{
	long x = s > 0 && s < 1e12 ? (long)s : 0;

	snprintf(buf, n, "%ld:%02ld:%02ld", x / 3600, x / 60 % 60, x % 60);
	return buf;
}

static double
epoch_now(void)
{
	if (st.bpe)
		return (double)st.micro / (double)st.bpe;
	return o.epochs * (double)st.step / (double)st.total;
}

/* one line to stderr and one to trainer_log.jsonl */
static void
log_step(double lr)
{
	double now = lmf_now(), el = now - st.t0, dt = now - st.log_t;
	double loss = round(st.loss_sum / (double)st.log_steps * 1e4) / 1e4;
	char e[32], r[32], *line;
	json_t *j;

	if (lmf_verbose > 0)
		fprintf(stderr, "step %ld/%ld: loss %.4f grad_norm %.4g lr "
		    "%.1e epoch %.2f tok/s %.0f\n", st.step, st.total, loss,
		    st.last_norm, lr, epoch_now(),
		    dt > 0 ? (double)st.log_tokens / dt : 0.0);
	if (tlog) {
		j = json_pack("{s:I, s:I, s:f, s:f, s:f, s:f, s:s, s:s, "
		    "s:f, s:I}", "current_steps", (json_int_t)st.step,
		    "total_steps", (json_int_t)st.total, "loss", loss, "lr",
		    lr, "epoch", round(epoch_now() * 100) / 100,
		    "percentage", round((double)st.step * 1e4 /
		    (double)st.total) / 100, "elapsed_time",
		    hms(el, e, sizeof e), "remaining_time",
		    hms((double)(st.total - st.step) * el / (double)st.step,
		    r, sizeof r), "throughput", el > 0 ?
		    round((double)st.tokens / el * 100) / 100 : 0.0,
		    "total_tokens", (json_int_t)st.tokens);
		line = json_dumps(j, JSON_PRESERVE_ORDER | JSON_COMPACT |
		    JSON_REAL_PRECISION(10));
		if (!line || fprintf(tlog, "%s\n", line) < 0 ||
		    fflush(tlog) == EOF)
			die_errno("'%s/trainer_log.jsonl'", o.output_dir);
		free(line);
		json_decref(j);
	}
	st.loss_sum = 0;
	st.log_steps = 0;
	st.log_tokens = 0;
	st.log_t = now;
}

static void
open_output_dir(void)
{
	char *path;

	if (mkdir(o.output_dir, 0777) < 0 && errno != EEXIST)
		die_errno("cannot create '%s'", o.output_dir);
	path = xasprintf("%s/trainer_log.jsonl", o.output_dir);
	tlog = fopen(path, o.overwrite ? "w" : "a");
	if (!tlog)
		die_errno("cannot open '%s'", path);
	free(path);
}

/* ---- training ---- */

/* one optimizer step: 0 when the batches ran out before it began */
static int
train_step(struct lmf_item *items, struct lmf_batch *b)
{
	const struct lmf_config *c = lmf_llama_config(model);
	char err[512];
	long count = 0, npred;
	double loss = 0, norm, lr;
	int n = 0, i;

	while (n < o.ga && next_micro(&items[n]) == 1) {
		if (lmf_batch_from_item(&b[n], &items[n], (int)c->vocab_size,
		    err, sizeof err) < 0)
			die("'%s': batch %llu: %s", o.data,
			    (unsigned long long)st.micro, err);
		count += lmf_batch_label_tokens(&b[n]);
		st.micro++;
		n++;
		if (st.bpe && st.micro % st.bpe == 0)
			break;   /* the epoch's last, partial accumulation */
	}
	if (n == 0)
		return 0;
	if (count == 0)
		die("step %ld: every label of its %d batches is -100",
		    st.step + 1, n);
	lmf_llama_zero_grad(model);
	for (i = 0; i < n; i++) {
		loss += lmf_llama_step(model, &b[i], (float)(1.0 /
		    (double)count), &npred);
		st.tokens += (uint64_t)b[i].B * (uint64_t)b[i].T;
		st.log_tokens += (uint64_t)b[i].B * (uint64_t)b[i].T;
		lmf_item_free(&items[i]);
	}
	loss /= (double)count;
	if (o.dump_grads) {
		dump_grads(loss, count);
		return 0;
	}
	norm = lmf_grad_clip(tp, ntp, o.max_grad_norm);
	if (!isfinite(loss) || !isfinite(norm)) {
		double x = isfinite(loss) ? norm : loss;

		write_result();
		die("step %ld: the %s is %s; wrote the state after step %ld",
		    st.step + 1, isfinite(loss) ? "grad norm" : "loss",
		    isnan(x) ? "nan" : x > 0 ? "inf" : "-inf", st.step);
	}
	lr = lmf_sched_lr(&sched, st.step);
	lmf_adamw_step(&adam, tp, ntp, lr);
	st.step++;
	st.last_norm = norm;
	st.loss_sum += loss;
	st.train_loss_sum += loss;
	st.log_steps++;
	if (st.step % o.logging_steps == 0)
		log_step(lmf_sched_lr(&sched, st.step));
	return 1;
}

static void
train(void)
{
	struct lmf_item *items = xcalloc((size_t)o.ga, sizeof *items);
	struct lmf_batch *b = xcalloc((size_t)o.ga, sizeof *b);
	char err[512];

	lmf_adamw_init(&adam, lmf_llama_trainable_numel(model));
	adam.beta1 = o.beta1;
	adam.beta2 = o.beta2;
	adam.eps = o.eps;
	adam.weight_decay = o.wd;
	lmf_sched_init(&sched, o.sched, o.lr, st.total, o.warmup_steps,
	    o.warmup_ratio);
	if (o.kwargs && lmf_sched_kwargs(&sched, o.kwargs, err,
	    sizeof err) < 0)
		die_usage("%s", err);
	st.t0 = st.log_t = lmf_now();
	while (st.step < st.total && train_step(items, b))
		;
	if (st.step < st.total && !o.dump_grads)
		warn("the batches ran out after step %ld of %ld", st.step,
		    st.total);
	free(items);
	free(b);
	lmf_adamw_free(&adam);
}

/* read what is left of piped batches (an epoch past T), so that the
 * writer of the pipe ends well; what is in them no longer matters */
static void
drain(void)
{
	struct lmf_recinfo rec;

	if (strcmp(o.data, "-"))
		return;
	while (lmf_rd_next(data, &rec) > LMF_REC_EOF)
		;
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: lmf-sft [--model FILE] [--data FILE] [--output_dir DIR] "
	    "[-o FILE]\n"
	    "               [--finetuning_type lora|full|freeze]\n"
	    "               [--adapter_name_or_path PATH] "
	    "[--dump_grads FILE]\n"
	    "               [-l N] [-q] [options]\n"
	    "Train a model stream on a batches stream; write the adapter or "
	    "model.\n"
	    "  --model FILE               model stream (default '-')\n"
	    "  --data FILE                batches stream (default '-'; not "
	    "both stdin)\n"
	    "  --output_dir DIR           trainer_log.jsonl and adapter.lmf "
	    "or model.lmf\n"
	    "  -o FILE                    also write the result to FILE or "
	    "'-'\n"
	    "  --dump_grads FILE          write the first step's gradients, "
	    "then stop\n"
	    "  --finetuning_type T        lora (default), full or freeze\n"
	    "  --lora_rank N (8)  --lora_alpha X (2 rank)  --lora_dropout X "
	    "(0)\n"
	    "  --lora_target all|q_proj,... (all)  --use_rslora [BOOL]\n"
	    "  --adapter_name_or_path P   adapter stream or PEFT directory "
	    "to continue\n"
	    "  --freeze_trainable_layers N (2)  --freeze_trainable_modules "
	    "M (all)\n"
	    "  --freeze_extra_modules M   --disable_gradient_checkpointing "
	    "[BOOL]\n"
	    "  --learning_rate X (5e-5)   --num_train_epochs X (3.0, or the "
	    "header's)\n"
	    "  --max_steps N (-1)         --gradient_accumulation_steps N "
	    "(1)\n"
	    "  --weight_decay X (0)       --adam_beta1 X (0.9)  --adam_beta2 "
	    "X (0.999)\n"
	    "  --adam_epsilon X (1e-8)    --max_grad_norm X (1.0; 0 = off)\n"
	    "  --lr_scheduler_type T (linear)  --lr_scheduler_kwargs JSON\n"
	    "  --warmup_steps N (0)       --warmup_ratio X (0)\n"
	    "  --logging_steps N (500)    --overwrite_output_dir [BOOL]\n"
	    "  --seed N (42)              --threads N (0 = all cores)\n"
	    "  -l, --level N              zstd level of the output (1)\n"
	    "  -q                         no progress lines\n"
	    "  -h                         this help\n"
	    "  -V                         version\n");
}

enum {
	OPT_MODEL = 256, OPT_DATA, OPT_OUTDIR, OPT_DUMP, OPT_FT, OPT_RANK,
	OPT_ALPHA, OPT_DROPOUT, OPT_TARGET, OPT_RSLORA, OPT_ADAPTER,
	OPT_FLAYERS, OPT_FMODULES, OPT_FEXTRA, OPT_NOCKPT, OPT_LR, OPT_EPOCHS,
	OPT_MAXSTEPS, OPT_GA, OPT_WD, OPT_B1, OPT_B2, OPT_EPS, OPT_CLIP,
	OPT_SCHED, OPT_KWARGS, OPT_WSTEPS, OPT_WRATIO, OPT_LOGSTEPS,
	OPT_OVERWRITE, OPT_SEED, OPT_THREADS,
};

static void
parse_opt(int c, int argc, char **argv)
{
	struct lmf_train_opts *t = &o.t;
	char bad[64];

	switch (c) {
	case OPT_MODEL: o.model = optarg; break;
	case OPT_DATA: o.data = optarg; break;
	case OPT_OUTDIR: o.output_dir = optarg; break;
	case 'o': o.out = optarg; break;
	case OPT_DUMP: o.dump_grads = optarg; break;
	case OPT_FT:
		if (!strcmp(optarg, "lora"))
			t->finetuning_type = LMF_FT_LORA;
		else if (!strcmp(optarg, "full"))
			t->finetuning_type = LMF_FT_FULL;
		else if (!strcmp(optarg, "freeze"))
			t->finetuning_type = LMF_FT_FREEZE;
		else
			die_usage("--finetuning_type: '%s' is not lora, full "
			    "or freeze", optarg);
		break;
	case OPT_RANK:
		t->lora_rank = (int)lmf_parse_int("--lora_rank", optarg, 1,
		    65536);
		break;
	case OPT_ALPHA:
		t->lora_alpha = lmf_parse_float("--lora_alpha", optarg, 0,
		    1e9);
		break;
	case OPT_DROPOUT:
		t->lora_dropout = lmf_parse_float("--lora_dropout", optarg, 0,
		    0.999);
		break;
	case OPT_TARGET:
		t->lora_target = lmf_lora_target_parse(optarg, bad,
		    sizeof bad);
		if (t->lora_target < 0)
			die_usage("--lora_target: unknown module '%s'", bad);
		break;
	case OPT_RSLORA:
		t->use_rslora = lmf_opt_bool("--use_rslora", argc, argv);
		break;
	case OPT_ADAPTER: o.adapter = optarg; break;
	case OPT_FLAYERS:
		t->freeze_trainable_layers = (int)lmf_parse_int(
		    "--freeze_trainable_layers", optarg, -100000, 100000);
		break;
	case OPT_FMODULES: t->freeze_trainable_modules = optarg; break;
	case OPT_FEXTRA: t->freeze_extra_modules = optarg; break;
	case OPT_NOCKPT:
		t->gradient_checkpointing = !lmf_opt_bool(
		    "--disable_gradient_checkpointing", argc, argv);
		break;
	case OPT_LR:
		o.lr = lmf_parse_float("--learning_rate", optarg, 0, 1e30);
		break;
	case OPT_EPOCHS:
		o.epochs = lmf_parse_float("--num_train_epochs", optarg, 1e-9,
		    1e9);
		o.epochs_set = 1;
		break;
	case OPT_MAXSTEPS:
		o.max_steps = (long)lmf_parse_int("--max_steps", optarg, -1,
		    LONG_MAX);
		break;
	case OPT_GA:
		o.ga = (long)lmf_parse_int("--gradient_accumulation_steps",
		    optarg, 1, 1000000);
		break;
	case OPT_WD:
		o.wd = lmf_parse_float("--weight_decay", optarg, 0, 1e6);
		break;
	case OPT_B1:
		o.beta1 = lmf_parse_float("--adam_beta1", optarg, 0, 0.999999);
		break;
	case OPT_B2:
		o.beta2 = lmf_parse_float("--adam_beta2", optarg, 0, 0.999999);
		break;
	case OPT_EPS:
		o.eps = lmf_parse_float("--adam_epsilon", optarg, 0, 1);
		break;
	case OPT_CLIP:
		o.max_grad_norm = lmf_parse_float("--max_grad_norm", optarg,
		    0, 1e30);
		break;
	case OPT_SCHED:
		if ((o.sched = lmf_sched_parse(optarg)) < 0)
			die_usage("--lr_scheduler_type: unknown schedule '%s'",
			    optarg);
		break;
	case OPT_KWARGS: o.kwargs = optarg; break;
	case OPT_WSTEPS:
		o.warmup_steps = (long)lmf_parse_int("--warmup_steps", optarg,
		    0, LONG_MAX);
		break;
	case OPT_WRATIO:
		o.warmup_ratio = lmf_parse_float("--warmup_ratio", optarg, 0,
		    1);
		break;
	case OPT_LOGSTEPS:
		o.logging_steps = (long)lmf_parse_int("--logging_steps",
		    optarg, 1, LONG_MAX);
		break;
	case OPT_OVERWRITE:
		o.overwrite = lmf_opt_bool("--overwrite_output_dir", argc, argv);
		break;
	case OPT_SEED:
		t->seed = (uint64_t)lmf_parse_int("--seed", optarg, 0,
		    INT64_MAX);
		break;
	case OPT_THREADS:
		o.threads = (int)lmf_parse_int("--threads", optarg, 0, 4096);
		break;
	case 'l': o.wo.level = lmf_parse_level(optarg); break;
	case 'q': lmf_verbose = 0; break;
	case 'h': lmf_help_exit(usage);
	case 'V': lmf_version_exit();
	default: BUG("option %d", c);
	}
}

int
main(int argc, char **argv)
{
#define REQ(name, id) { name, required_argument, NULL, id }
#define OPT(name, id) { name, optional_argument, NULL, id }
	static const struct option lo[] = {
		REQ("model", OPT_MODEL), REQ("data", OPT_DATA),
		REQ("output_dir", OPT_OUTDIR), REQ("dump_grads", OPT_DUMP),
		REQ("finetuning_type", OPT_FT), REQ("lora_rank", OPT_RANK),
		REQ("lora_alpha", OPT_ALPHA), REQ("lora_dropout", OPT_DROPOUT),
		REQ("lora_target", OPT_TARGET), OPT("use_rslora", OPT_RSLORA),
		REQ("adapter_name_or_path", OPT_ADAPTER),
		REQ("freeze_trainable_layers", OPT_FLAYERS),
		REQ("freeze_trainable_modules", OPT_FMODULES),
		REQ("freeze_extra_modules", OPT_FEXTRA),
		OPT("disable_gradient_checkpointing", OPT_NOCKPT),
		REQ("learning_rate", OPT_LR),
		REQ("num_train_epochs", OPT_EPOCHS),
		REQ("max_steps", OPT_MAXSTEPS),
		REQ("gradient_accumulation_steps", OPT_GA),
		REQ("weight_decay", OPT_WD), REQ("adam_beta1", OPT_B1),
		REQ("adam_beta2", OPT_B2), REQ("adam_epsilon", OPT_EPS),
		REQ("max_grad_norm", OPT_CLIP),
		REQ("lr_scheduler_type", OPT_SCHED),
		REQ("lr_scheduler_kwargs", OPT_KWARGS),
		REQ("warmup_steps", OPT_WSTEPS),
		REQ("warmup_ratio", OPT_WRATIO),
		REQ("logging_steps", OPT_LOGSTEPS),
		OPT("overwrite_output_dir", OPT_OVERWRITE),
		REQ("seed", OPT_SEED), REQ("threads", OPT_THREADS),
		REQ("level", 'l'),
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	lmf_init(argc, argv);
	o.t = lmf_train_opts_default();
	o.wo = lmf_wropts_default;
	while ((c = lmf_getopt(argc, argv, "o:l:qhV", lo)) != -1)
		parse_opt(c, argc, argv);
	if (optind < argc)
		die_usage("unexpected argument '%s'", argv[optind]);
	if (!strcmp(o.model, "-") && !strcmp(o.data, "-"))
		die_usage("the model and the batches cannot both come from "
		    "stdin: give --model or --data");
	if (!o.output_dir && !o.out && !o.dump_grads)
		die_usage("nowhere to write the result: give --output_dir or "
		    "-o");
	if (o.out && !strcmp(o.out, "-") && o.dump_grads &&
	    !strcmp(o.dump_grads, "-"))
		die_usage("-o and --dump_grads cannot both be stdout");
	if (o.adapter && o.t.finetuning_type != LMF_FT_LORA)
		die_usage("--adapter_name_or_path goes with --finetuning_type "
		    "lora");
	if (o.kwargs) {
		struct lmf_sched s;
		char err[512];

		lmf_sched_init(&s, o.sched, o.lr, 1, 0, 0);
		if (lmf_sched_kwargs(&s, o.kwargs, err, sizeof err) < 0)
			die_usage("%s", err);
	}
	lmf_gemm_init(o.threads);

	open_model();
	data = lmf_rd_open_or_die(o.data);
	lmf_rd_check_kind_or_die(data, "batches");
	plan_steps();
	if (o.output_dir && !o.dump_grads)
		open_output_dir();
	train();
	if (!o.dump_grads)
		write_result();
	drain();
	lmf_rd_close(data);
	if (tlog && fclose(tlog) == EOF)
		die_errno("'%s/trainer_log.jsonl'", o.output_dir);
	lmf_llama_free(model);
	free(tp);
	lmf_close_out();
	return 0;
}
