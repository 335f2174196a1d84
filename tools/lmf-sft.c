/* lmf-sft: supervised fine-tuning and pre-training of a LLaMA-family model
 * (full, freeze or LoRA) on a batches stream: AdamW, gradient clipping,
 * Hugging Face's lr schedules, gradient accumulation with LLaMA-Factory's
 * loss normalisation, evaluation on held-out batches. It writes the
 * trained adapter or model as a stream and as Hugging Face files, with
 * LLaMA-Factory's output directory (logs, trainer_state.json, results,
 * loss plots, resumable checkpoint-N/); it does not tokenize, pack or
 * shuffle (lmf-pack does), and it does not merge LoRA (lmf-export does). */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lmf/ckpt.h"
#include "lmf/gemm.h"
#include "lmf/llama.h"
#include "lmf/optim.h"
#include "lmf/plot.h"
#include "lmf/st_write.h"
#include "lmf/stream.h"
#include "lmf/util.h"
#include "lmf/banned.h"

static struct opts {
	const char *model, *data, *out, *output_dir, *adapter, *dump_grads;
	const char *kwargs, *resume, *eval_data, *tokenizer_dir;
	struct lmf_train_opts t;
	double lr, epochs, wd, beta1, beta2, eps, max_grad_norm, warmup_ratio;
	long max_steps, warmup_steps, logging_steps, ga;
	long save_steps, save_limit, eval_steps;
	int sched, threads, epochs_set, overwrite, plot;
	int save_strategy, eval_strategy;   /* enum strategy */
	struct lmf_wropts wo;
} o = { .model = "-", .data = "-", .lr = 5e-5, .epochs = 3.0,
	.beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .max_grad_norm = 1.0,
	.max_steps = -1, .logging_steps = 500, .ga = 1, .save_steps = 500,
	.save_strategy = 1 };

enum strategy { ST_NO, ST_STEPS, ST_EPOCH };

static struct lmf_llama *model;
static struct lmf_tparam *tp;   /* the trainable tensors, copied */
static int ntp;
static struct lmf_rd *data;
static pid_t loader = -1;        /* lmf-load reading a PEFT directory */
static char *resume_dir;         /* the checkpoint resumed from */
static FILE *tlog;
static struct lmf_sched sched;
static struct lmf_adamw adam;

/* training progress */
static struct {
	long step, total;          /* optimizer steps done, T */
	uint64_t micro, bpe;       /* micro-batches read; per epoch (0: ?) */
	uint64_t tokens, log_tokens;
	uint64_t samples;          /* rows of the micro-batches */
	double loss_sum, train_loss_sum, last_norm, t0, log_t;
	long log_steps, batch_size;
	long saved;                /* the step of the last checkpoint */
	int epoch_end;             /* the last step ended an epoch */
	json_t *history;           /* trainer_state.json's log_history */
	double start;              /* when main began */
	long step0;                /* the step this run began at */
	uint64_t tokens0;          /* and the tokens seen before it */
	long log_lines;            /* lines in trainer_log.jsonl */
	long log_keep;             /* of them a resume keeps (-1: all) */
} st = { .saved = -1, .log_keep = -1 };

/* the live progress line on a terminal */
static struct {
	int tty;                   /* stderr is a terminal */
	int shown;                 /* a progress line is on the screen */
	double last;               /* when it was last drawn */
} prog;

static volatile sig_atomic_t stop_signal;

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
	char *ck = resume_dir && o.t.finetuning_type != LMF_FT_LORA ?
	    xasprintf("%s/model.lmf", resume_dir) : NULL;
	struct lmf_rd *r = lmf_rd_open_or_die(ck ? ck : o.model);
	char err[512];
	int i;

	lmf_rd_check_kind_or_die(r, "model");
	model = lmf_llama_open(r, &o.t, err, sizeof err);
	if (!model)
		die("'%s': %s", lmf_rd_name(r), err);
	lmf_rd_close(r);
	free(ck);
	if (resume_dir && o.t.finetuning_type == LMF_FT_LORA)
		o.adapter = xasprintf("%s/adapter.lmf", resume_dir);
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

/* a line of trainer_log.jsonl: LLaMA-Factory's keys, the loss key named
 * key (loss or eval_loss), lr only when lr >= 0 */
static void
tlog_line(const char *key, double loss, double lr)
{
	double el = lmf_now() - st.t0;
	char e[32], r[32], *line;
	json_t *j;

	if (!tlog)
		return;
	j = json_pack("{s:I, s:I, s:f}", "current_steps", (json_int_t)st.step,
	    "total_steps", (json_int_t)st.total, key, loss);
	if (lr >= 0)
		json_object_set_new(j, "lr", json_real(lr));
	json_object_set_new(j, "epoch", json_real(round(epoch_now() * 100) /
	    100));
	json_object_set_new(j, "percentage", json_real(round((double)st.step *
	    1e4 / (double)st.total) / 100));
	json_object_set_new(j, "elapsed_time", json_string(hms(el, e,
	    sizeof e)));
	json_object_set_new(j, "remaining_time", json_string(hms((double)
	    (st.total - st.step) * el / (double)(st.step ? st.step : 1), r,
	    sizeof r)));
	json_object_set_new(j, "throughput", json_real(el > 0 ?
	    round((double)st.tokens / el * 100) / 100 : 0.0));
	json_object_set_new(j, "total_tokens", json_integer((json_int_t)
	    st.tokens));
	line = json_dumps(j, JSON_PRESERVE_ORDER | JSON_COMPACT |
	    JSON_REAL_PRECISION(10));
	if (!line || fprintf(tlog, "%s\n", line) < 0 || fflush(tlog) == EOF)
		die_errno("'%s/trainer_log.jsonl'", o.output_dir);
	st.log_lines++;
	free(line);
	json_decref(j);
}

/* wipe the progress line, so that a log line can take its place */
static void
prog_clear(void)
{
	if (!prog.shown)
		return;
	fputs("\r\033[K", stderr);
	prog.shown = 0;
}

/* the progress line, rewritten in place: step/total, the last step's
 * loss, the next lr, tokens/s and the time left of this run */
static void
prog_show(double loss, double lr)
{
	double now = lmf_now(), el = now - st.t0, eta = 0, tps = 0;
	long done = st.step - st.step0;
	int w = snprintf(NULL, 0, "%ld", st.total);
	long s;

	if (!prog.tty || lmf_verbose <= 0)
		return;
	/* ten times a second at most, but always the first and last */
	if (prog.shown && now - prog.last < 0.1 && st.step < st.total)
		return;
	prog.last = now;
	if (done > 0 && el > 0) {
		eta = el / (double)done * (double)(st.total - st.step);
		tps = (double)(st.tokens - st.tokens0) / el;
	}
	s = (long)(eta + 0.5);
	fprintf(stderr, "\r[%*ld/%ld] loss %.4f lr %.1e %.0f tok/s ETA "
	    "%ld:%02ld:%02ld\033[K", w, st.step, st.total, loss, lr, tps,
	    s / 3600, s / 60 % 60, s % 60);
	fflush(stderr);
	prog.shown = 1;
}

/* one line to stderr, one to trainer_log.jsonl, one to log_history */
static void
log_step(double lr)
{
	double now = lmf_now(), dt = now - st.log_t;
	double loss = round(st.loss_sum / (double)st.log_steps * 1e4) / 1e4;

	prog_clear();
	if (lmf_verbose > 0)
		fprintf(stderr, "step %ld/%ld: loss %.4f grad_norm %.4g lr "
		    "%.1e epoch %.2f tok/s %.0f\n", st.step, st.total, loss,
		    st.last_norm, lr, epoch_now(),
		    dt > 0 ? (double)st.log_tokens / dt : 0.0);
	tlog_line("loss", loss, lr);
	json_array_append_new(st.history, json_pack("{s:f, s:f, s:f, s:f, "
	    "s:I}", "epoch", epoch_now(), "grad_norm", st.last_norm,
	    "learning_rate", lr, "loss", loss, "step", (json_int_t)st.step));
	st.loss_sum = 0;
	st.log_steps = 0;
	st.log_tokens = 0;
	st.log_t = now;
}

/* output_dir created and locked for the whole run, before anything in
 * it is read or written; then what a dead run left half-written goes */
static void
lock_output_dir(void)
{
	long pid;

	if (mkdir(o.output_dir, 0777) < 0 && errno != EEXIST)
		die_errno("cannot create '%s'", o.output_dir);
	if (lmf_ckpt_lock(o.output_dir, &pid) < 0) {
		if (errno != EWOULDBLOCK)
			die_errno("cannot lock '%s/.lmf-lock'", o.output_dir);
		if (pid > 0)
			die("output_dir '%s' is in use by another run (pid "
			    "%ld)", o.output_dir, pid);
		die("output_dir '%s' is in use by another run", o.output_dir);
	}
	if (lmf_ckpt_clean_tmp(o.output_dir) > 0 && lmf_verbose > 0)
		warn("removed what a dead run left half-written in '%s'",
		    o.output_dir);
}

/* 1 if line is a log line of a step <= step */
static int
log_line_upto(const char *line, long step)
{
	json_t *j = json_loads(line, 0, NULL);
	json_t *v = json_object_get(j, "current_steps");
	int ok = json_is_integer(v) && json_integer_value(v) <= step;

	json_decref(j);
	return ok;
}

/* trainer_log.jsonl as it was when the checkpoint resumed from was
 * saved (empty when no checkpoint is): its first log_keep lines, up to
 * the first of a later step or a torn line, rewritten atomically;
 * st.log_lines counts them */
static void
trim_log(const char *path)
{
	FILE *f = fopen(path, "r");
	struct lmf_buf keep = { 0 };
	struct lmf_afile af;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int cut = 0;

	st.log_lines = 0;
	if (!f) {
		if (errno != ENOENT)
			die_errno("cannot open '%s'", path);
		return;
	}
	while ((n = getline(&line, &cap, f)) > 0) {
		if (line[n - 1] != '\n' || (st.log_keep >= 0 &&
		    st.log_lines >= st.log_keep) ||
		    !log_line_upto(line, st.step)) {
			cut = 1;
			break;
		}
		lmf_buf_add(&keep, line, (size_t)n);
		st.log_lines++;
	}
	if (ferror(f))
		die_errno("cannot read '%s'", path);
	fclose(f);
	free(line);
	if (cut) {
		if (lmf_afile_open(&af, path) < 0)
			die_errno("cannot create '%s'", path);
		if ((keep.n && fwrite(keep.s, 1, keep.n, af.f) != keep.n) ||
		    lmf_afile_commit(&af) < 0)
			die_errno("cannot write '%s'", path);
	}
	free(keep.s);
}

static void
open_output_dir(void)
{
	char *path = xasprintf("%s/trainer_log.jsonl", o.output_dir);

	if (!o.overwrite)
		trim_log(path);
	tlog = fopen(path, o.overwrite ? "w" : "a");
	if (!tlog)
		die_errno("cannot open '%s'", path);
	free(path);
}

/* ---- the output directory ---- */

static void
json_or_die(const char *dir, const char *name, json_t *j, int indent)
{
	char *path = xasprintf("%s/%s", dir, name), err[512];

	/* 17 digits where the value must come back exact */
	if (lmf_ckpt_write_json(path, j, JSON_INDENT(indent) | JSON_SORT_KEYS |
	    JSON_REAL_PRECISION(indent == 1 ? 17 : 15), err, sizeof err) < 0)
		die("%s", err);
	free(path);
}

/* Hugging Face's TrainerState */
static json_t *
trainer_state(void)
{
	json_t *j = json_object();
	json_t *args = json_pack("{s:b, s:b, s:b, s:b, s:b}", "should_epoch_stop",
	    0, "should_evaluate", 0, "should_log", 0, "should_save",
	    st.step < st.total, "should_training_stop", st.step >= st.total);

	json_object_set_new(j, "best_global_step", json_null());
	json_object_set_new(j, "best_metric", json_null());
	json_object_set_new(j, "best_model_checkpoint", json_null());
	json_object_set_new(j, "epoch", json_real(epoch_now()));
	json_object_set_new(j, "eval_steps", json_integer(o.eval_steps ?
	    o.eval_steps : o.logging_steps));
	json_object_set_new(j, "global_step", json_integer(st.step));
	json_object_set_new(j, "is_hyper_param_search", json_false());
	json_object_set_new(j, "is_local_process_zero", json_true());
	json_object_set_new(j, "is_world_process_zero", json_true());
	json_object_set(j, "log_history", st.history);
	json_object_set_new(j, "logging_steps", json_integer(o.logging_steps));
	json_object_set_new(j, "max_steps", json_integer(st.total));
	json_object_set_new(j, "num_input_tokens_seen",
	    json_integer((json_int_t)st.tokens));
	json_object_set_new(j, "num_train_epochs",
	    json_integer((json_int_t)ceil(o.epochs)));
	json_object_set_new(j, "save_steps", json_integer(o.save_steps));
	json_object_set_new(j, "stateful_callbacks", json_pack("{s:{s:o, "
	    "s:{}}}", "TrainerControl", "args", args, "attributes"));
	json_object_set_new(j, "total_flos", json_integer(0));
	json_object_set_new(j, "train_batch_size",
	    json_integer(st.batch_size));
	json_object_set_new(j, "trial_name", json_null());
	json_object_set_new(j, "trial_params", json_null());
	return j;
}

/* what a resume needs beyond the weights and the optimizer */
static json_t *
resume_state(void)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:I, "
	    "s:f, s:I, s:I}", "log_lines", (json_int_t)st.log_lines,
	    "global_step", (json_int_t)st.step, "total_steps",
	    (json_int_t)st.total, "micro_batches", (json_int_t)st.micro,
	    "tokens", (json_int_t)st.tokens, "samples",
	    (json_int_t)st.samples, "train_loss_sum", st.train_loss_sum,
	    "loss_sum", st.loss_sum, "log_steps", (json_int_t)st.log_steps,
	    "last_norm", st.last_norm, "batch_size",
	    (json_int_t)st.batch_size, "seed", (json_int_t)o.t.seed);
}

static const char *
result_name(void)
{
	return o.t.finetuning_type == LMF_FT_LORA ? "adapter.lmf" :
	    "model.lmf";
}

/* the result stream in dir and the Hugging Face files made from it */
static void
write_result_dir(const char *dir)
{
	char *path = xasprintf("%s/%s", dir, result_name()), err[512];

	write_result_to(path);
	if (lmf_ckpt_hf_files(path, dir, LMF_ST_SHARD_DEFAULT, err,
	    sizeof err) < 0)
		die("%s", err);
	free(path);
}

/* checkpoint-N: written as checkpoint-N.tmp-PID, then renamed */
static void
save_checkpoint(void)
{
	char *fin = xasprintf("%s/checkpoint-%ld", o.output_dir, st.step);
	char *tmp = xasprintf("%s.tmp-%ld", fin, (long)getpid()), *path;
	json_t *meta, *j;
	struct lmf_wr *w;

	if (st.saved == st.step)
		goto out;
	if (mkdir(tmp, 0777) < 0)
		die_errno("cannot create '%s'", tmp);
	write_result_dir(tmp);
	path = xasprintf("%s/optimizer.lmf", tmp);
	meta = json_pack("{s:s, s:I}", "kind", "optimizer", "step",
	    (json_int_t)st.step);
	w = lmf_wr_open_or_die(path, meta, &o.wo);
	json_decref(meta);
	if (lmf_adamw_write(&adam, tp, ntp, w) < 0)
		die("'%s': %s", path, lmf_wr_errmsg(w));
	lmf_wr_close_or_die(w);
	free(path);
	json_or_die(tmp, "trainer_state.json", j = trainer_state(), 2);
	json_decref(j);
	json_or_die(tmp, "lmf_state.json", j = resume_state(), 1);
	json_decref(j);
	if (lmf_ckpt_commit(tmp, fin) < 0)
		die_errno("cannot rename '%s' to '%s'", tmp, fin);
	st.saved = st.step;
	prog_clear();
	if (lmf_verbose > 0)
		fprintf(stderr, "step %ld: saved '%s'\n", st.step, fin);
	lmf_ckpt_prune(o.output_dir, o.save_limit);
out:
	free(fin);
	free(tmp);
}

/* the loss on the eval batches: the mean over rows of each batch's mean
 * token loss, as Hugging Face's evaluation loop averages it */
static void
evaluate(int final)
{
	const struct lmf_config *c = lmf_llama_config(model);
	struct lmf_rd *r = lmf_rd_open_or_die(o.eval_data);
	double t0 = lmf_now(), sum = 0, dt, loss;
	struct lmf_item it;
	struct lmf_batch b;
	uint64_t rows = 0, nb = 0;
	char err[512];
	long npred;
	json_t *j;

	lmf_rd_check_kind_or_die(r, "batches");
	while (lmf_rd_item_or_die(r, &it) == 1) {
		double l;

		if (lmf_batch_from_item(&b, &it, (int)c->vocab_size, err,
		    sizeof err) < 0)
			die("'%s': batch %llu: %s", o.eval_data,
			    (unsigned long long)nb, err);
		l = lmf_llama_eval(model, &b, &npred);
		if (npred > 0)
			sum += l / (double)npred * b.B;
		rows += (uint64_t)b.B;
		nb++;
		lmf_item_free(&it);
	}
	lmf_rd_close(r);
	if (!rows)
		die("'%s': no eval batches", o.eval_data);
	dt = lmf_now() - t0;
	loss = sum / (double)rows;
	prog_clear();
	if (lmf_verbose > 0)
		fprintf(stderr, "step %ld/%ld: eval_loss %.4f (%llu batches, "
		    "%.0f ms)\n", st.step, st.total, loss,
		    (unsigned long long)nb, dt * 1e3);
	tlog_line("eval_loss", loss, -1);
	j = json_pack("{s:f, s:f, s:f, s:f, s:f, s:I}", "epoch", epoch_now(),
	    "eval_loss", loss, "eval_runtime", round(dt * 1e4) / 1e4,
	    "eval_samples_per_second", dt > 0 ? round((double)rows / dt *
	    1e3) / 1e3 : 0.0, "eval_steps_per_second", dt > 0 ?
	    round((double)nb / dt * 1e3) / 1e3 : 0.0, "step",
	    (json_int_t)st.step);
	if (final) {
		json_t *res = json_deep_copy(j), *all;
		char *path = xasprintf("%s/all_results.json", o.output_dir);

		json_object_del(res, "step");
		json_or_die(o.output_dir, "eval_results.json", res, 4);
		all = json_load_file(path, 0, NULL);
		if (!json_is_object(all)) {
			json_decref(all);
			all = json_object();
		}
		json_object_update(all, res);
		json_or_die(o.output_dir, "all_results.json", all, 4);
		json_decref(all);
		json_decref(res);
		free(path);
	}
	json_array_append_new(st.history, j);
}

static void
plot_key(const char *key)
{
	size_t i, n = json_array_size(st.history), k = 0;
	double *x = xmallocarray(n + 1, sizeof *x);
	double *y = xmallocarray(n + 1, sizeof *y);
	char *path, *title, err[512];
	json_t *e, *v;

	json_array_foreach(st.history, i, e)
		if (json_is_number(v = json_object_get(e, key))) {
			x[k] = (double)json_integer_value(json_object_get(e,
			    "step"));
			y[k++] = json_number_value(v);
		}
	if (k) {
		path = xasprintf("%s/training_%s.png", o.output_dir, key);
		title = xasprintf("training %s of %s", key, o.output_dir);
		if (lmf_plot_png(path, title, "step", key, x, y, (int)k, err,
		    sizeof err) < 0)
			die("%s", err);
		if (lmf_verbose > 0)
			fprintf(stderr, "figure saved at: %s\n", path);
		free(path);
		free(title);
	} else {
		warn("no metric %s to plot", key);
	}
	free(x);
	free(y);
}

/* the tokenizer files of o.tokenizer_dir beside the weights, as
 * LLaMA-Factory saves the tokenizer with the model */
static void
copy_tokenizer(void)
{
	static const char *names[] = { "tokenizer.json",
		"tokenizer_config.json", "special_tokens_map.json",
		"chat_template.jinja", NULL };
	struct lmf_afile af;
	struct stat sb;
	char *src, *dst, *buf;
	size_t n;
	int i;

	for (i = 0; names[i]; i++) {
		src = xasprintf("%s/%s", o.tokenizer_dir, names[i]);
		if (stat(src, &sb) < 0 || !S_ISREG(sb.st_mode)) {
			free(src);
			continue;
		}
		buf = lmf_read_file_or_die(src, &n, (size_t)1 << 31);
		dst = xasprintf("%s/%s", o.output_dir, names[i]);
		if (lmf_afile_open(&af, dst) < 0)
			die_errno("cannot create '%s'", dst);
		if ((n && fwrite(buf, 1, n, af.f) != n) ||
		    lmf_afile_commit(&af) < 0)
			die_errno("cannot write '%s'", dst);
		free(buf);
		free(src);
		free(dst);
	}
}

/* LLaMA-Factory's files at the end of training (its sft workflow's
 * order: model, train metrics, state, plots, then the final eval) */
static void
finish_output_dir(void)
{
	double rt = lmf_now() - st.t0;
	json_t *res, *all;

	write_result_dir(o.output_dir);
	if (o.tokenizer_dir)
		copy_tokenizer();
	res = json_pack("{s:f, s:i, s:f, s:f, s:f, s:f}", "epoch",
	    epoch_now(), "total_flos", 0, "train_loss", st.step ?
	    st.train_loss_sum / (double)st.step : 0.0, "train_runtime",
	    round(rt * 1e4) / 1e4, "train_samples_per_second", rt > 0 ?
	    round((double)st.samples / rt * 1e3) / 1e3 : 0.0,
	    "train_steps_per_second", rt > 0 ? round((double)st.step / rt *
	    1e3) / 1e3 : 0.0);
	all = json_deep_copy(res);
	json_object_set_new(all, "step", json_integer(st.step));
	json_array_append_new(st.history, all);
	json_or_die(o.output_dir, "train_results.json", res, 4);
	json_or_die(o.output_dir, "all_results.json", res, 4);
	json_decref(res);
	res = trainer_state();
	json_or_die(o.output_dir, "trainer_state.json", res, 2);
	json_decref(res);
	if (o.plot) {
		plot_key("loss");
		if (o.eval_data)
			plot_key("eval_loss");
	}
	if (o.eval_data)
		evaluate(1);
}

/* the state of checkpoint dir: weights (through open_model), then the
 * counters and the log history */
static void
load_resume_state(const char *dir)
{
	char *path = xasprintf("%s/lmf_state.json", dir);
	json_error_t je;
	json_t *j = json_load_file(path, 0, &je), *ts;
	json_int_t step, total, micro, tokens, samples, ls, bs;

	if (!j || json_unpack_ex(j, &je, 0, "{s:I, s:I, s:I, s:I, s:I, s:F, "
	    "s:F, s:I, s:F, s:I}", "global_step", &step, "total_steps",
	    &total, "micro_batches", &micro, "tokens", &tokens, "samples",
	    &samples, "train_loss_sum", &st.train_loss_sum, "loss_sum",
	    &st.loss_sum, "log_steps", &ls, "last_norm", &st.last_norm,
	    "batch_size", &bs) < 0 || step < 0 || micro < step || tokens < 0)
		die("'%s': not a checkpoint's state: %s", path, je.text);
	st.step = st.saved = (long)step;
	st.micro = (uint64_t)micro;
	st.tokens = (uint64_t)tokens;
	st.samples = (uint64_t)samples;
	st.log_steps = (long)ls;
	st.batch_size = (long)bs;
	if (total != st.total)
		warn("'%s': %lld total steps, this run has %ld", dir,
		    (long long)total, st.total);
	ts = json_object_get(j, "log_lines");
	if (json_is_integer(ts) && json_integer_value(ts) >= 0)
		st.log_keep = (long)json_integer_value(ts);
	json_decref(j);
	free(path);
	path = xasprintf("%s/trainer_state.json", dir);
	ts = json_load_file(path, 0, &je);
	if (!ts || !json_is_array(json_object_get(ts, "log_history")))
		die("'%s': no log_history", path);
	json_decref(st.history);
	st.history = json_incref(json_object_get(ts, "log_history"));
	json_decref(ts);
	free(path);
}

/* the checkpoint to resume from, or NULL; refuses an output_dir with
 * weights and no checkpoint, as LLaMA-Factory does */
static char *
find_resume(void)
{
	struct stat sb;
	long n;

	if (o.resume)
		return xstrdup(o.resume);
	if (o.overwrite || stat(o.output_dir, &sb) < 0)
		return NULL;
	if ((n = lmf_ckpt_last(o.output_dir)) >= 0)
		return xasprintf("%s/checkpoint-%ld", o.output_dir, n);
	if (lmf_ckpt_has_weights(o.output_dir))
		die("'%s': output directory already exists and is not empty; "
		    "set overwrite_output_dir", o.output_dir);
	return NULL;
}

static void
on_signal(int sig)
{
	stop_signal = sig;
}

static void
catch_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
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
		st.samples += (uint64_t)b[n].B;
		if (!st.batch_size)
			st.batch_size = b[n].B;
		n++;
		if (st.bpe && st.micro % st.bpe == 0)
			break;   /* the epoch's last, partial accumulation */
	}
	st.epoch_end = st.bpe && st.micro % st.bpe == 0;
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
	if (st.step == st.step0 + 1 && lmf_verbose > 0 &&
	    (prog.tty || o.output_dir)) {
		prog_clear();
		fprintf(stderr, "first step after %.2f s\n",
		    lmf_now() - st.start);
	}
	if (st.step % o.logging_steps == 0)
		log_step(lmf_sched_lr(&sched, st.step));
	prog_show(loss, lmf_sched_lr(&sched, st.step));
	return 1;
}

/* the optimizer state of the checkpoint, and the batches it consumed
 * read past */
static void
resume_train(struct lmf_item *items)
{
	char *path = xasprintf("%s/optimizer.lmf", resume_dir), err[512];
	struct lmf_rd *r = lmf_rd_open_or_die(path);
	uint64_t i;

	lmf_rd_check_kind_or_die(r, "optimizer");
	if (lmf_adamw_read(&adam, tp, ntp, r, err, sizeof err) < 0)
		die("%s", err);
	lmf_rd_close(r);
	free(path);
	if (adam.step != st.step)
		die("'%s': optimizer step %ld, trainer step %ld", resume_dir,
		    adam.step, st.step);
	for (i = 0; i < st.micro; i++) {
		if (next_micro(&items[0]) != 1)
			die("'%s': the batches end before the %llu the "
			    "checkpoint consumed", o.data,
			    (unsigned long long)st.micro);
		lmf_item_free(&items[0]);
	}
	lmf_llama_set_nsteps(model, st.micro);
	if (lmf_verbose > 0)
		fprintf(stderr, "resuming training from '%s' at step %ld\n",
		    resume_dir, st.step);
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
	if (resume_dir)
		resume_train(items);
	if (o.output_dir && !o.dump_grads)
		catch_signals();
	st.t0 = st.log_t = lmf_now();
	st.step0 = st.step;
	st.tokens0 = st.tokens;
	prog.tty = isatty(STDERR_FILENO) && !o.dump_grads;
	while (st.step < st.total && train_step(items, b)) {
		if (o.dump_grads)
			continue;
		if (o.eval_data && ((o.eval_strategy == ST_STEPS && st.step %
		    (o.eval_steps ? o.eval_steps : o.logging_steps) == 0) ||
		    (o.eval_strategy == ST_EPOCH && st.epoch_end)))
			evaluate(0);
		if (o.output_dir && ((o.save_strategy == ST_STEPS &&
		    (st.step % o.save_steps == 0 || st.step == st.total)) ||
		    (o.save_strategy == ST_EPOCH && st.epoch_end)))
			save_checkpoint();
		if (stop_signal && o.output_dir) {
			prog_clear();
			save_checkpoint();
			warn("stopped by signal %d after step %ld: resume with "
			    "the same command", (int)stop_signal, st.step);
			exit(128 + stop_signal);
		}
	}
	prog_clear();
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
	    "  --save_strategy no|steps|epoch (steps)  --save_steps N (500)\n"
	    "  --save_total_limit N (0 = keep all)  --plot_loss [BOOL]\n"
	    "  --resume_from_checkpoint DIR  (default: the last "
	    "checkpoint-N)\n"
	    "  --eval_data FILE           eval batches, evaluated at the "
	    "end\n"
	    "  --tokenizer_dir DIR        copy its tokenizer files into "
	    "output_dir\n"
	    "  --eval_strategy no|steps|epoch (no)  --eval_steps N "
	    "(logging_steps)\n"
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
	OPT_OVERWRITE, OPT_SEED, OPT_THREADS, OPT_SAVESTEPS, OPT_SAVESTRAT,
	OPT_SAVELIMIT, OPT_RESUME, OPT_EVALDATA, OPT_EVALSTRAT, OPT_EVALSTEPS,
	OPT_PLOT, OPT_TOKDIR,
};

static int
strategy(const char *opt, const char *s)
{
	if (!strcmp(s, "no"))
		return ST_NO;
	if (!strcmp(s, "steps"))
		return ST_STEPS;
	if (!strcmp(s, "epoch"))
		return ST_EPOCH;
	die_usage("%s: '%s' is not no, steps or epoch", opt, s);
}

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
	case OPT_SAVESTEPS:
		o.save_steps = (long)lmf_parse_int("--save_steps", optarg, 1,
		    LONG_MAX);
		break;
	case OPT_SAVESTRAT:
		o.save_strategy = strategy("--save_strategy", optarg);
		break;
	case OPT_SAVELIMIT:
		o.save_limit = (long)lmf_parse_int("--save_total_limit",
		    optarg, 0, LONG_MAX);
		break;
	case OPT_RESUME: o.resume = optarg; break;
	case OPT_EVALDATA: o.eval_data = optarg; break;
	case OPT_EVALSTRAT:
		o.eval_strategy = strategy("--eval_strategy", optarg);
		break;
	case OPT_EVALSTEPS:
		o.eval_steps = (long)lmf_parse_int("--eval_steps", optarg, 1,
		    LONG_MAX);
		break;
	case OPT_PLOT:
		o.plot = lmf_opt_bool("--plot_loss", argc, argv);
		break;
	case OPT_TOKDIR: o.tokenizer_dir = optarg; break;
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
		REQ("save_steps", OPT_SAVESTEPS),
		REQ("save_strategy", OPT_SAVESTRAT),
		REQ("save_total_limit", OPT_SAVELIMIT),
		REQ("resume_from_checkpoint", OPT_RESUME),
		REQ("eval_data", OPT_EVALDATA),
		REQ("eval_strategy", OPT_EVALSTRAT),
		REQ("eval_steps", OPT_EVALSTEPS),
		OPT("plot_loss", OPT_PLOT), REQ("tokenizer_dir", OPT_TOKDIR),
		REQ("level", 'l'),
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	lmf_init(argc, argv);
	st.start = lmf_now();
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
	if (o.eval_strategy != ST_NO && !o.eval_data)
		die_usage("--eval_strategy %s needs --eval_data",
		    o.eval_strategy == ST_STEPS ? "steps" : "epoch");
	if (o.eval_data && !strcmp(o.eval_data, "-"))
		die_usage("--eval_data must be a file: it is read at every "
		    "evaluation");
	if (o.tokenizer_dir && !o.output_dir)
		die_usage("--tokenizer_dir goes with --output_dir");
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
	st.history = json_array();
	if (o.output_dir && !o.dump_grads)
		lock_output_dir();
	if (o.output_dir && !o.dump_grads)
		resume_dir = find_resume();
	else if (o.resume && !o.dump_grads)
		resume_dir = xstrdup(o.resume);

	open_model();
	data = lmf_rd_open_or_die(o.data);
	lmf_rd_check_kind_or_die(data, "batches");
	plan_steps();
	if (resume_dir)
		load_resume_state(resume_dir);
	if (o.output_dir && !o.dump_grads)
		open_output_dir();
	train();
	if (!o.dump_grads && o.output_dir)
		finish_output_dir();
	if (!o.dump_grads && o.out)
		write_result_to(o.out);
	drain();
	lmf_rd_close(data);
	if (tlog && fclose(tlog) == EOF)
		die_errno("'%s/trainer_log.jsonl'", o.output_dir);
	lmf_llama_free(model);
	free(tp);
	json_decref(st.history);
	free(resume_dir);
	lmf_close_out();
	return 0;
}
