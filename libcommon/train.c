/* train.c: the Trainer every trainer tool shares (train.h). */
#include <errno.h>
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
#include "lmf/dist.h"
#include "lmf/gemm.h"
#include "lmf/hf.h"
#include "lmf/plot.h"
#include "lmf/prof.h"
#include "lmf/pyjson.h"
#include "lmf/st_write.h"
#include "lmf/train.h"
#include "lmf/util.h"
#include "lmf/banned.h"

/* the one static: what a signal handler may set */
static volatile sig_atomic_t stop_signal;

/* the model whose weights are the result */
static struct lmf_llama *
result_model(const struct lmf_trainer *tr)
{
	return tr->result ? tr->result : tr->model;
}

void
lmf_train_args_default(struct lmf_train_args *a)
{
	memset(a, 0, sizeof *a);
	a->learning_rate = 5e-5;
	a->num_train_epochs = 3.0;
	a->adam_beta1 = 0.9;
	a->adam_beta2 = 0.999;
	a->adam_epsilon = 1e-8;
	a->max_grad_norm = 1.0;
	a->max_steps = -1;
	a->gradient_accumulation_steps = 1;
	a->logging_steps = 500;
	a->save_steps = 500;
	a->save_strategy = LMF_ST_STEPS;
	a->logging_strategy = LMF_ST_STEPS;
	a->lr_scheduler_type = LMF_SCHED_LINEAR;
}

void
lmf_train_opt_sched(const struct lmf_opt *o, const char *v)
{
	if ((*(int *)o->p = lmf_sched_parse(v)) < 0)
		die_usage("--%s: unknown schedule '%s'", o->name, v);
}

void
lmf_train_init(struct lmf_trainer *tr, const struct lmf_train_args *a,
    double start)
{
	lmf_prof_check();
	memset(tr, 0, sizeof *tr);
	tr->a = *a;
	tr->data_path = "-";
	tr->start = start;
	tr->saved = -1;
	tr->log_keep = -1;
	tr->loader = -1;
	tr->lock = -1;
	tr->history = json_array();
	tr->rank = lmf_dist_rank();
	tr->world = lmf_dist_size();
	tr->ga = a->gradient_accumulation_steps * tr->world;
}

/* ---- the output directory ---- */

char *
lmf_train_resume_rule(const char *dir, int overwrite, const char *resume,
    const char **weights)
{
	struct stat sb;
	long n;

	*weights = NULL;
	if (resume)
		return xstrdup(resume);
	if (overwrite || stat(dir, &sb) < 0)
		return NULL;
	if ((n = lmf_ckpt_last(dir)) >= 0)
		return xasprintf("%s/checkpoint-%ld", dir, n);
	*weights = lmf_ckpt_weights(dir);
	return NULL;
}

void
lmf_train_print_resume(const struct lmf_train_args *a)
{
	const char *w;
	char *dir;

	if (!a->output_dir)
		die_usage("--print_resume needs --output_dir");
	dir = lmf_train_resume_rule(a->output_dir, a->overwrite_output_dir,
	    a->resume_from_checkpoint, &w);
	if (w)
		die_usage("output_dir '%s' already holds %s and no checkpoint; "
		    "set overwrite_output_dir to train over it", a->output_dir,
		    w);
	if (dir)
		printf("%s\n", dir);
	free(dir);
	exit(fflush(stdout) || ferror(stdout) ? LMF_EXIT_FAIL : LMF_EXIT_OK);
}

/* a rank past 0 after rank 0 made output_dir ready: the checkpoint the
 * rule gives, and nothing of output_dir written (rank 0 writes it all) */
static void
begin_follower(struct lmf_trainer *tr)
{
	const char *dir = tr->a.output_dir, *w;

	if (!dir) {
		if (tr->a.resume_from_checkpoint)
			tr->resume_dir = xstrdup(tr->a.resume_from_checkpoint);
		return;
	}
	tr->resume_dir = lmf_train_resume_rule(dir,
	    tr->a.overwrite_output_dir, tr->a.resume_from_checkpoint, &w);
	if (w)
		die("output_dir '%s' already holds %s and no checkpoint", dir, w);
	tr->a.output_dir = NULL;
	tr->a.tokenizer_dir = NULL;
	tr->out = NULL;
}

static void begin_dir(struct lmf_trainer *tr);

void
lmf_train_begin(struct lmf_trainer *tr)
{
	if (tr->rank > 0) {
		lmf_dist_barrier();
		begin_follower(tr);
		return;
	}
	begin_dir(tr);
	lmf_dist_barrier();
}

static void
begin_dir(struct lmf_trainer *tr)
{
	const char *dir = tr->a.output_dir, *w;
	long pid;

	if (!dir) {
		if (tr->a.resume_from_checkpoint)
			tr->resume_dir = xstrdup(tr->a.resume_from_checkpoint);
		return;
	}
	/* locked for the whole run, before anything in it is read */
	if (mkdir(dir, 0777) < 0 && errno != EEXIST)
		die_errno("cannot create '%s'", dir);
	if ((tr->lock = lmf_ckpt_lock(dir, &pid)) < 0) {
		if (errno != EWOULDBLOCK)
			die_errno("cannot lock '%s/.lmf-lock'", dir);
		if (pid > 0)
			die("output_dir '%s' is in use by another run (pid "
			    "%ld)", dir, pid);
		die("output_dir '%s' is in use by another run", dir);
	}
	if (lmf_ckpt_clean_tmp(dir) > 0 && lmf_verbose > 0)
		warn("removed what a dead run left half-written in '%s'", dir);
	tr->resume_dir = lmf_train_resume_rule(dir,
	    tr->a.overwrite_output_dir, tr->a.resume_from_checkpoint, &w);
	if (w)
		die("output_dir '%s' already holds %s and no checkpoint; set "
		    "overwrite_output_dir to train over it", dir, w);
}

/* ---- a PEFT directory through lmf-load ---- */

static char *
loader_path(void)
{
	char buf[PATH_MAX], *slash;
	ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 16);

	if (n > 0) {
		buf[n] = '\0';
		if ((slash = strrchr(buf, '/'))) {
			snprintf(slash + 1, sizeof buf - (size_t)(slash + 1 -
			    buf), "lmf-load");
			if (!access(buf, X_OK))
				return xstrdup(buf);
		}
	}
	return xstrdup("lmf-load");
}

struct lmf_rd *
lmf_train_adapter_open(struct lmf_trainer *tr, const char *path)
{
	struct stat sb;
	struct lmf_rd *r;
	char *prog;
	int fd[2], e;

	if (stat(path, &sb) < 0 || !S_ISDIR(sb.st_mode))
		return lmf_rd_open(path, &e);
	prog = loader_path();
	if (pipe(fd) < 0)
		die_errno("pipe");
	if ((tr->loader = fork()) < 0)
		die_errno("fork");
	if (tr->loader == 0) {
		dup2(fd[1], 1);
		close(fd[0]);
		close(fd[1]);
		execlp(prog, "lmf-load", "-q", "-l", "0",
		    "--adapter_name_or_path", path, (char *)NULL);
		fprintf(stderr, "%s: cannot run '%s': %s\n", lmf_progname(),
		    prog, strerror(errno));
		_exit(1);
	}
	close(fd[1]);
	free(prog);
	r = lmf_rd_open_fd(fd[0], path, &e);
	return r;
}

int
lmf_train_adapter_close(struct lmf_trainer *tr, struct lmf_rd *r)
{
	int status;

	if (r)
		lmf_rd_close(r);
	if (tr->loader < 0)
		return 0;
	while (waitpid(tr->loader, &status, 0) < 0)
		if (errno != EINTR)
			return 0;
	tr->loader = -1;
	return !WIFEXITED(status) || WEXITSTATUS(status) != 0;
}

/* ---- the batches and the plan ---- */

static int64_t
meta_int(struct lmf_trainer *tr, const char *key)
{
	json_t *v = json_object_get(lmf_rd_meta(tr->data), key);

	if (json_is_integer(v) && json_integer_value(v) >= 0)
		return json_integer_value(v);
	if (v)
		die("'%s': header field '%s' is not a count", tr->data_path,
		    key);
	return -1;
}

/* T, and micro-batches per epoch, from the options and the header */
static void
plan_steps(struct lmf_trainer *tr)
{
	struct lmf_train_args *a = &tr->a;
	int64_t bpe = meta_int(tr, "batches_per_epoch");
	int64_t nb = meta_int(tr, "num_batches");
	json_t *ne = json_object_get(lmf_rd_meta(tr->data), "num_epochs");
	json_t *nt = json_object_get(lmf_rd_meta(tr->data),
	    "num_train_epochs");
	double epochs_in = json_is_number(ne) ? json_number_value(ne) : 0;
	uint64_t spe, ga = (uint64_t)tr->ga;

	if (ne && !(epochs_in >= 1 && epochs_in < 1e9))
		die("'%s': header field 'num_epochs' is not positive",
		    tr->data_path);
	if (bpe < 0 && nb >= 0)
		bpe = epochs_in >= 1 ? (int64_t)(nb / epochs_in) : nb;
	if (json_is_number(nt)) {
		epochs_in = json_number_value(nt);
		if (!(epochs_in > 0 && epochs_in < 1e9))
			die("'%s': header field 'num_train_epochs' is not "
			    "positive", tr->data_path);
	}
	tr->bpe = bpe > 0 ? (uint64_t)bpe : 0;
	if (!a->epochs_given && epochs_in > 0)
		a->num_train_epochs = epochs_in;
	if (a->max_steps > 0) {
		tr->total = a->max_steps;
		return;
	}
	if (!tr->bpe)
		die("'%s': the header gives no batches_per_epoch; give "
		    "--max_steps", tr->data_path);
	spe = (tr->bpe + ga - 1) / ga;
	tr->total = (long)ceil(a->num_train_epochs * (double)spe);
	if (tr->total < 1)
		die("no steps to train: %g epochs of %llu steps",
		    a->num_train_epochs, (unsigned long long)spe);
}

int
lmf_train_next(struct lmf_trainer *tr, struct lmf_item *it)
{
	int rc = lmf_rd_item_or_die(tr->data, it), again = 0;

	while (rc == 0 && strcmp(tr->data_path, "-") && !again++) {
		lmf_rd_close(tr->data);
		tr->data = lmf_rd_open_or_die(tr->data_path);
		rc = lmf_rd_item_or_die(tr->data, it);
	}
	return rc;
}

int
lmf_train_micro(struct lmf_trainer *tr, long B, long T)
{
	tr->micro++;
	tr->samples += (uint64_t)B;
	tr->tokens += (uint64_t)B * (uint64_t)T;
	tr->log_tokens += (uint64_t)B * (uint64_t)T;
	tr->flos += (double)(6 * (uint64_t)B * (uint64_t)T * tr->flos_params);
	if (!tr->batch_size)
		tr->batch_size = B;
	tr->epoch_end = tr->bpe && tr->micro % tr->bpe == 0;
	return tr->epoch_end;
}

/* ---- the logs ---- */

static char *
hms(double s, char *buf, size_t n)
{
	long x = s > 0 && s < 1e12 ? (long)s : 0;

	snprintf(buf, n, "%ld:%02ld:%02ld", x / 3600, x / 60 % 60, x % 60);
	return buf;
}

static double
epoch_now(const struct lmf_trainer *tr)
{
	if (tr->bpe)
		return (double)tr->micro / (double)tr->bpe;
	return tr->a.num_train_epochs * (double)tr->step / (double)tr->total;
}

static int window_values(const struct lmf_trainer *tr, const char **names,
    double *v);

/* a line of trainer_log.jsonl: LLaMA-Factory's keys, the loss key named
 * key (loss or eval_loss; none when key is NULL), lr only when lr >= 0 */
static void
tlog_line(struct lmf_trainer *tr, const char *key, double loss, double lr)
{
	double el = lmf_now() - tr->t0, wv[16];
	char e[32], r[32], *line;
	const char *wn[16];
	json_t *j;
	int i, nw = lr >= 0 ? window_values(tr, wn, wv) : 0;

	if (!tr->log)
		return;
	j = json_pack("{s:I, s:I}", "current_steps", (json_int_t)tr->step,
	    "total_steps", (json_int_t)tr->total);
	if (key)
		json_object_set_new(j, key, json_real(loss));
	for (i = 0; i < nw; i++)   /* ppo's */
		if (!strcmp(wn[i], "reward"))
			json_object_set_new(j, "reward", json_real(round(wv[i] *
			    1e4) / 1e4));
	for (i = 0; lr >= 0 && i < tr->nmetric; i++)
		if (!strcmp(tr->mname[i], "rewards/accuracies"))
			json_object_set_new(j, "accuracy", json_real(
			    tr->msum[i] / (double)tr->log_steps));
	if (lr >= 0)
		json_object_set_new(j, "lr", json_real(lr));
	json_object_set_new(j, "epoch", json_real(round(epoch_now(tr) * 100) /
	    100));
	json_object_set_new(j, "percentage", json_real(round((double)tr->step
	    * 1e4 / (double)tr->total) / 100));
	json_object_set_new(j, "elapsed_time", json_string(hms(el, e,
	    sizeof e)));
	json_object_set_new(j, "remaining_time", json_string(hms((double)
	    (tr->total - tr->step) * el / (double)(tr->step ? tr->step : 1),
	    r, sizeof r)));
	json_object_set_new(j, "throughput", json_real(el > 0 ?
	    round((double)tr->tokens / el * 100) / 100 : 0.0));
	json_object_set_new(j, "total_tokens", json_integer((json_int_t)
	    tr->tokens));
	for (i = 0; tr->log_metrics && i < nw; i++)
		if (strcmp(wn[i], "reward"))
			json_object_set_new(j, wn[i], json_real(wv[i]));
	line = lmf_pyjson_dumps(j, -1, LMF_PYJSON_ASCII);
	if (!line || fprintf(tr->log, "%s\n", line) < 0 ||
	    fflush(tr->log) == EOF)
		die_errno("'%s/trainer_log.jsonl'", tr->a.output_dir);
	tr->log_lines++;
	free(line);
	json_decref(j);
}

/* wipe the progress line, so that a log line can take its place */
static void
prog_clear(struct lmf_trainer *tr)
{
	if (!tr->shown)
		return;
	fputs("\r\033[K", stderr);
	tr->shown = 0;
}

/* the progress line, rewritten in place: step/total, the last step's
 * loss, the next lr, tokens/s and the time left of this run */
static void
prog_show(struct lmf_trainer *tr, double loss, double lr)
{
	double now = lmf_now(), el = now - tr->t0, eta = 0, tps = 0;
	long done = tr->step - tr->step0;
	int w = snprintf(NULL, 0, "%ld", tr->total);
	long s;

	if (!tr->tty || lmf_verbose <= 0)
		return;
	/* ten times a second at most, but always the first and last */
	if (tr->shown && now - tr->shown_at < 0.1 && tr->step < tr->total)
		return;
	tr->shown_at = now;
	if (done > 0 && el > 0) {
		eta = el / (double)done * (double)(tr->total - tr->step);
		tps = (double)(tr->tokens - tr->tokens0) / el;
	}
	s = (long)(eta + 0.5);
	fprintf(stderr, "\r[%*ld/%ld] loss %.4f lr %.1e %.0f tok/s ETA "
	    "%ld:%02ld:%02ld\033[K", w, tr->step, tr->total, loss, lr, tps,
	    s / 3600, s / 60 % 60, s % 60);
	fflush(stderr);
	tr->shown = 1;
}

/* the log window's metrics into names and v: their number */
static int
window_values(const struct lmf_trainer *tr, const char **names, double *v)
{
	int i;

	if (tr->window)
		return tr->window(tr->mname, tr->msum, tr->nmetric,
		    tr->log_steps, names, v);
	for (i = 0; i < tr->nmetric; i++) {
		names[i] = tr->mname[i];
		v[i] = tr->msum[i] / (double)tr->log_steps;
	}
	return tr->nmetric;
}

/* one line to stderr, one to trainer_log.jsonl, one to log_history */
static void
log_step(struct lmf_trainer *tr, double lr)
{
	double now = lmf_now(), dt = now - tr->log_t;
	double loss = round(tr->loss_sum / (double)tr->log_steps * 1e4) / 1e4;
	const char *wn[16];
	double wv[16];
	int i, nw = window_values(tr, wn, wv);
	json_t *h;

	prog_clear(tr);
	if (lmf_verbose > 0) {
		fprintf(stderr, "step %ld/%ld: loss %.4f", tr->step, tr->total,
		    loss);
		for (i = 0; i < nw; i++)
			fprintf(stderr, " %s %.4f", wn[i], wv[i]);
		fprintf(stderr, " grad_norm %.4g lr %.1e epoch %.2f tok/s "
		    "%.0f\n", tr->last_norm, lr, epoch_now(tr), dt > 0 ?
		    (double)tr->log_tokens / dt : 0.0);
	}
	tlog_line(tr, "loss", loss, lr);
	h = json_pack("{s:f, s:f, s:f, s:f, s:I}", "epoch", epoch_now(tr),
	    "grad_norm", tr->last_norm, "learning_rate", lr, "loss", loss,
	    "step", (json_int_t)tr->step);
	for (i = 0; i < nw; i++)
		json_object_set_new(h, wn[i], json_real(wv[i]));
	for (i = 0; i < tr->nmetric; i++)
		tr->msum[i] = 0;
	json_array_append_new(tr->history, h);
	tr->loss_sum = 0;
	tr->log_steps = 0;
	tr->log_tokens = 0;
	tr->log_t = now;
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
 * log_lines counts them */
static void
trim_log(struct lmf_trainer *tr, const char *path)
{
	FILE *f = fopen(path, "r");
	struct lmf_buf keep = { 0 };
	struct lmf_afile af;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int cut = 0;

	tr->log_lines = 0;
	if (!f) {
		if (errno != ENOENT)
			die_errno("cannot open '%s'", path);
		return;
	}
	while ((n = getline(&line, &cap, f)) > 0) {
		if (line[n - 1] != '\n' || (tr->log_keep >= 0 &&
		    tr->log_lines >= tr->log_keep) ||
		    !log_line_upto(line, tr->step)) {
			cut = 1;
			break;
		}
		lmf_buf_add(&keep, line, (size_t)n);
		tr->log_lines++;
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

/* ---- state files ---- */

/* as Hugging Face writes it: floats in repr() form (exact); a final
 * newline but on save_metrics' *_results.json (indent 4) */
static void
json_or_die(const char *dir, const char *name, json_t *j, int indent)
{
	char *path = xasprintf("%s/%s", dir, name), err[512];

	if (lmf_ckpt_write_json(path, j, indent, indent != 4, err,
	    sizeof err) < 0)
		die("%s", err);
	free(path);
}

/* Hugging Face's TrainerState */
static json_t *
trainer_state(struct lmf_trainer *tr)
{
	const struct lmf_train_args *a = &tr->a;
	json_t *j = json_object();
	json_t *args = json_pack("{s:b, s:b, s:b, s:b, s:b}",
	    "should_epoch_stop", 0, "should_evaluate", 0, "should_log", 0,
	    "should_save", tr->step < tr->total, "should_training_stop",
	    tr->step >= tr->total);

	json_object_set_new(j, "best_global_step", json_null());
	json_object_set_new(j, "best_metric", json_null());
	json_object_set_new(j, "best_model_checkpoint", json_null());
	json_object_set_new(j, "epoch", json_real(epoch_now(tr)));
	json_object_set_new(j, "eval_steps", json_integer(a->eval_steps ?
	    a->eval_steps : a->logging_steps));
	json_object_set_new(j, "global_step", json_integer(tr->step));
	json_object_set_new(j, "is_hyper_param_search", json_false());
	json_object_set_new(j, "is_local_process_zero", json_true());
	json_object_set_new(j, "is_world_process_zero", json_true());
	json_object_set(j, "log_history", tr->history);
	json_object_set_new(j, "logging_steps", json_integer(a->logging_steps));
	json_object_set_new(j, "max_steps", json_integer(tr->total));
	json_object_set_new(j, "num_input_tokens_seen",
	    json_integer((json_int_t)tr->tokens));
	json_object_set_new(j, "num_train_epochs",
	    json_integer((json_int_t)ceil(a->num_train_epochs)));
	json_object_set_new(j, "save_steps", json_integer(a->save_steps));
	json_object_set_new(j, "stateful_callbacks", json_pack("{s:{s:o, "
	    "s:{}}}", "TrainerControl", "args", args, "attributes"));
	json_object_set_new(j, "total_flos", json_real(tr->flos));
	json_object_set_new(j, "train_batch_size",
	    json_integer(tr->batch_size));
	json_object_set_new(j, "trial_name", json_null());
	json_object_set_new(j, "trial_params", json_null());
	return j;
}

/* what a resume needs beyond the weights and the optimizer */
static json_t *
resume_state(struct lmf_trainer *tr, uint64_t seed)
{
	json_t *j = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:I, "
	    "s:f, s:I, s:I}", "log_lines", (json_int_t)tr->log_lines,
	    "global_step", (json_int_t)tr->step, "total_steps",
	    (json_int_t)tr->total, "micro_batches", (json_int_t)tr->micro,
	    "tokens", (json_int_t)tr->tokens, "samples",
	    (json_int_t)tr->samples, "train_loss_sum", tr->train_loss_sum,
	    "loss_sum", tr->loss_sum, "log_steps", (json_int_t)tr->log_steps,
	    "last_norm", tr->last_norm, "batch_size",
	    (json_int_t)tr->batch_size, "seed", (json_int_t)seed);
	json_t *m, *order;
	int i;

	json_object_set_new(j, "total_flos", json_real(tr->flos));
	if (tr->nmetric) {
		m = json_object();
		order = json_array();   /* the log's key order */
		for (i = 0; i < tr->nmetric; i++) {
			json_object_set_new(m, tr->mname[i],
			    json_real(tr->msum[i]));
			json_array_append_new(order,
			    json_string(tr->mname[i]));
		}
		json_object_set_new(j, "metric_sums", m);
		json_object_set_new(j, "metric_order", order);
	}
	if (tr->save_state)
		json_object_set_new(j, "tool", tr->save_state(tr));
	return j;
}

static int
has_metric(const struct lmf_trainer *tr, const char *name)
{
	int i;

	for (i = 0; i < tr->nmetric; i++)
		if (!strcmp(tr->mname[i], name))
			return 1;
	return 0;
}

/* the state of the checkpoint resumed from: the counters, the extra
 * metrics and the log history */
static void
load_state(struct lmf_trainer *tr, const char *dir)
{
	char *path = xasprintf("%s/lmf_state.json", dir);
	json_error_t je;
	json_t *j = json_load_file(path, 0, &je), *ts, *v, *ms;
	json_int_t step, total, micro, tokens, samples, ls, bs;
	const char *k;
	size_t i;

	if (!j || json_unpack_ex(j, &je, 0, "{s:I, s:I, s:I, s:I, s:I, s:F, "
	    "s:F, s:I, s:F, s:I}", "global_step", &step, "total_steps",
	    &total, "micro_batches", &micro, "tokens", &tokens, "samples",
	    &samples, "train_loss_sum", &tr->train_loss_sum, "loss_sum",
	    &tr->loss_sum, "log_steps", &ls, "last_norm", &tr->last_norm,
	    "batch_size", &bs) < 0 || step < 0 || micro < step || tokens < 0)
		die("'%s': not a checkpoint's state: %s", path, je.text);
	tr->step = tr->saved = (long)step;
	tr->micro = (uint64_t)micro;
	tr->tokens = (uint64_t)tokens;
	tr->samples = (uint64_t)samples;
	tr->log_steps = (long)ls;
	tr->batch_size = (long)bs;
	tr->resume_total = (long)total;   /* told once the state fits */
	if (json_is_number(ts = json_object_get(j, "total_flos")))
		tr->flos = json_number_value(ts);
	ts = json_object_get(j, "log_lines");
	if (json_is_integer(ts) && json_integer_value(ts) >= 0)
		tr->log_keep = (long)json_integer_value(ts);
	ms = json_object_get(j, "metric_sums");
	json_array_foreach(json_object_get(j, "metric_order"), i, v)
		if (json_is_string(v) && json_is_number(ts = json_object_get(ms,
		    json_string_value(v))))
			lmf_train_metric(tr, json_string_value(v),
			    json_number_value(ts));
	json_object_foreach(ms, k, v)   /* those the order leaves out */
		if (json_is_number(v) && !has_metric(tr, k))
			lmf_train_metric(tr, k, json_number_value(v));
	json_decref(tr->resumed);
	tr->resumed = json_incref(json_object_get(j, "tool"));
	json_decref(j);
	free(path);
	path = xasprintf("%s/trainer_state.json", dir);
	ts = json_load_file(path, 0, &je);
	if (!ts || !json_is_array(json_object_get(ts, "log_history")))
		die("'%s': no log_history", path);
	json_decref(tr->history);
	tr->history = json_incref(json_object_get(ts, "log_history"));
	json_decref(ts);
	free(path);
}

void
lmf_train_open(struct lmf_trainer *tr)
{
	char *path;

	tr->data = lmf_rd_open_or_die(tr->data_path);
	lmf_rd_check_kind_or_die(tr->data, "batches");
	plan_steps(tr);
	if (tr->resume_dir)
		load_state(tr, tr->resume_dir);
	if (!tr->a.output_dir)
		return;
	path = xasprintf("%s/trainer_log.jsonl", tr->a.output_dir);
	if (!tr->a.overwrite_output_dir)
		trim_log(tr, path);
	tr->log = fopen(path, tr->a.overwrite_output_dir ? "w" : "a");
	if (!tr->log)
		die_errno("cannot open '%s'", path);
	free(path);
}

/* ---- the steps ---- */

static void
on_signal(int sig)
{
	stop_signal = sig;
}

/* the gradients' way to the other ranks: buckets sent from tr->model's
 * backward (a tool's model, ddp_bucket_cap_mb > 0), or one allreduce over
 * all of them: in place where they lie back to back in tp's order (the
 * model's gradients do: one block), else through a flat copy */
static void
dist_plan(struct lmf_trainer *tr)
{
	int i, inplace = tr->ntp > 0;

	if (tr->model && tr->a.ddp_bucket_cap_mb > 0) {
		lmf_buckets_plan(&tr->bk, tr->tp, tr->ntp,
		    tr->a.ddp_bucket_cap_mb);
		lmf_llama_on_grads(tr->model, lmf_buckets_ready, &tr->bk);
		tr->nflat = tr->bk.numel;
		tr->bucketed = 1;
		return;
	}
	for (i = 0; i < tr->ntp; i++) {
		if (tr->tp[i].g != tr->tp[0].g + tr->nflat)
			inplace = 0;
		tr->nflat += tr->tp[i].numel;
	}
	if (!inplace)
		tr->flat = xmallocarray(tr->nflat, sizeof *tr->flat);
}

void
lmf_train_start(struct lmf_trainer *tr, struct lmf_tparam *tp, int ntp,
    uint64_t numel)
{
	const struct lmf_train_args *a = &tr->a;
	struct lmf_item it;
	struct sigaction sa;
	struct lmf_rd *r;
	char err[512], *path;
	uint64_t i;

	tr->tp = tp;
	tr->ntp = ntp;
	if (tr->world > 1)
		dist_plan(tr);
	lmf_adamw_init(&tr->adam, numel);
	tr->adam.beta1 = a->adam_beta1;
	tr->adam.beta2 = a->adam_beta2;
	tr->adam.eps = a->adam_epsilon;
	tr->adam.weight_decay = a->weight_decay;
	lmf_sched_init(&tr->sched, a->lr_scheduler_type, a->learning_rate,
	    tr->total, a->warmup_steps, a->warmup_ratio);
	if (a->lr_scheduler_kwargs && lmf_sched_kwargs(&tr->sched,
	    a->lr_scheduler_kwargs, err, sizeof err) < 0)
		die_usage("%s", err);
	if (tr->resume_dir) {
		/* the optimizer state, and the batches consumed read past */
		path = xasprintf("%s/optimizer.lmf", tr->resume_dir);
		r = lmf_rd_open_or_die(path);
		lmf_rd_check_kind_or_die(r, "optimizer");
		if (lmf_adamw_read(&tr->adam, tp, ntp, r, err, sizeof err) < 0)
			die("'%s': %s", path, err);
		lmf_rd_close(r);
		free(path);
		if (tr->updates_vary ? tr->adam.step < tr->step :
		    tr->adam.step != tr->step)
			die("'%s': optimizer step %ld, trainer step %ld",
			    tr->resume_dir, tr->adam.step, tr->step);
		if (tr->resume_total != tr->total)
			warn("'%s': %ld total steps, this run has %ld",
			    tr->resume_dir, tr->resume_total, tr->total);
		for (i = 0; i < tr->micro; i++) {
			if (lmf_train_next(tr, &it) != 1)
				die("'%s': the batches end before the %llu the "
				    "checkpoint consumed", tr->data_path,
				    (unsigned long long)tr->micro);
			lmf_item_free(&it);
		}
		if (lmf_verbose > 0)
			fprintf(stderr, "resuming training from '%s' at step "
			    "%ld\n", tr->resume_dir, tr->step);
	}
	if (a->output_dir) {
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_signal;
		sa.sa_flags = SA_RESTART;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
	}
	/* a rank that sees another output_dir or other batches (not the
	 * shared file system it needs) would train something else */
	if (!lmf_dist_agree(tr->step) || !lmf_dist_agree(tr->total) ||
	    !lmf_dist_agree((long)tr->nflat))
		die("rank %d of %d: step %ld of %ld, another rank is elsewhere: "
		    "output_dir and the batches must be the same files for "
		    "every rank", tr->rank, tr->world, tr->step, tr->total);
	tr->t0 = tr->log_t = lmf_now();
	tr->step0 = tr->step;
	tr->tokens0 = tr->tokens;
	tr->tty = isatty(STDERR_FILENO);
}

void
lmf_train_metric(struct lmf_trainer *tr, const char *name, double v)
{
	int i;

	for (i = 0; i < tr->nmetric && strcmp(tr->mname[i], name); i++)
		;
	if (i == tr->nmetric) {
		if (i == (int)(sizeof tr->msum / sizeof tr->msum[0]))
			BUG("too many metrics");
		tr->mname[tr->nmetric++] = xstrdup(name);
	}
	tr->msum[i] += v;
}

/* the result's Hugging Face files in dir, from the weights in memory (as
 * lmf-export makes them of the stream beside, src; not read back whole) */
static void
write_hf(struct lmf_trainer *tr, const char *dir, const char *src)
{
	struct lmf_llama *m = result_model(tr);
	json_t *meta = lmf_llama_result_meta(m), *cfg;
	struct lmf_hf_opts o = { .shard_bytes = LMF_ST_SHARD_DEFAULT,
		.dtype = -1, .src = src };
	struct lmf_item it;
	char err[512];
	int rc;

	o.adapter = !strcmp(json_string_value(json_object_get(meta, "kind")),
	    "adapter");
	cfg = json_object_get(meta, o.adapter ? "adapter_config" : "config");
	lmf_llama_result_item(m, &it);
	rc = lmf_hf_write(dir, json_is_object(cfg) ? cfg : NULL, &it, &o, err,
	    sizeof err);
	lmf_llama_result_release(&it);
	json_decref(meta);
	if (rc < 0)
		die("%s", err);
}

/* the result stream in dir and the Hugging Face files of the same weights */
static void
write_result_dir(struct lmf_trainer *tr, const char *dir)
{
	char *path = xasprintf("%s/%s", dir, tr->result_name);

	lmf_train_model_write(tr, result_model(tr), path);
	write_hf(tr, dir, path);
	free(path);
	if (tr->write_extra)
		tr->write_extra(tr, dir);
}

/* the tokenizer files of tokenizer_dir beside the weights in dir, as
 * LLaMA-Factory saves the tokenizer with the model and in checkpoints */
static void
write_tokenizer(struct lmf_trainer *tr, const char *dir)
{
	char err[512];

	if (tr->a.tokenizer_dir && lmf_hf_write_tokenizer(dir,
	    tr->a.tokenizer_dir, err, sizeof err) < 0)
		die("%s", err);
}

/* the gradients summed over the ranks, in buckets already under way, in
 * place, or through one flat buffer packed in the order of tp, and the
 * loss: the step's on every rank */
static double
dist_sum(struct lmf_trainer *tr, double loss)
{
	uint64_t off = 0;
	int i;

	if (tr->bucketed) {
		lmf_buckets_finish(&tr->bk);
		lmf_dist_sum_f64(&loss, 1);
		return loss;
	}
	if (!tr->flat) {
		if (tr->nflat)
			lmf_dist_sum_f32(tr->tp[0].g, tr->nflat);
		lmf_dist_sum_f64(&loss, 1);
		return loss;
	}
	for (i = 0; i < tr->ntp; i++) {
		memcpy(tr->flat + off, tr->tp[i].g, tr->tp[i].numel *
		    sizeof *tr->flat);
		off += tr->tp[i].numel;
	}
	lmf_dist_sum_f32(tr->flat, tr->nflat);
	for (i = 0, off = 0; i < tr->ntp; i++) {
		memcpy(tr->tp[i].g, tr->flat + off, tr->tp[i].numel *
		    sizeof *tr->flat);
		off += tr->tp[i].numel;
	}
	lmf_dist_sum_f64(&loss, 1);
	return loss;
}

void
lmf_train_update(struct lmf_trainer *tr, double loss)
{
	double norm, lr, x;
	char *path;

	if (tr->world > 1)
		loss = dist_sum(tr, loss);
	norm = lmf_grad_clip(tr->tp, tr->ntp, tr->a.max_grad_norm);

	if (!isfinite(loss) || !isfinite(norm)) {
		x = isfinite(loss) ? norm : loss;
		if (tr->a.output_dir) {
			path = xasprintf("%s/%s", tr->a.output_dir,
			    tr->result_name);
			lmf_train_model_write(tr, result_model(tr), path);
			free(path);
		}
		if (tr->out)
			lmf_train_model_write(tr, result_model(tr), tr->out);
		die("step %ld: the %s is %s; wrote the state after step %ld",
		    tr->step + 1, isfinite(loss) ? "grad norm" : "loss",
		    isnan(x) ? "nan" : x > 0 ? "inf" : "-inf", tr->step);
	}
	lr = lmf_sched_lr(&tr->sched, tr->step);
	lmf_adamw_step(&tr->adam, tr->tp, tr->ntp, lr);
	if (tr->model)
		lmf_llama_weights_changed(tr->model);
	tr->step++;
	tr->last_norm = norm;
	tr->loss_sum += loss;
	tr->train_loss_sum += loss;
	tr->log_steps++;
	if (tr->step == tr->step0 + 1)
		lmf_prof_reset();   /* LMF_PROFILE: from the second step */
	if (tr->step == tr->step0 + 1 && lmf_verbose > 0 &&
	    (tr->tty || tr->a.output_dir)) {
		prog_clear(tr);
		fprintf(stderr, "first step after %.2f s\n",
		    lmf_now() - tr->start);
	}
	if ((tr->a.logging_strategy == LMF_ST_STEPS &&
	    tr->step % tr->a.logging_steps == 0) ||
	    (tr->a.logging_strategy == LMF_ST_EPOCH && tr->epoch_end))
		log_step(tr, lmf_sched_lr(&tr->sched, tr->step));
	prog_show(tr, loss, lmf_sched_lr(&tr->sched, tr->step));
}

static int
due(const struct lmf_trainer *tr, int strategy, long every)
{
	return (strategy == LMF_ST_STEPS && tr->step % every == 0) ||
	    (strategy == LMF_ST_EPOCH && tr->epoch_end);
}

int
lmf_train_should_eval(const struct lmf_trainer *tr)
{
	return due(tr, tr->a.eval_strategy, tr->a.eval_steps ?
	    tr->a.eval_steps : tr->a.logging_steps);
}

int
lmf_train_should_save(const struct lmf_trainer *tr)
{
	return tr->a.output_dir && (due(tr, tr->a.save_strategy,
	    tr->a.save_steps) || (tr->a.save_strategy == LMF_ST_STEPS &&
	    tr->step == tr->total));
}

void
lmf_train_save(struct lmf_trainer *tr)
{
	char *fin = xasprintf("%s/checkpoint-%ld", tr->a.output_dir, tr->step);
	char *tmp = xasprintf("%s.tmp-%ld", fin, (long)getpid()), *path;
	double prof_t0 = LMF_PROF_BEGIN();
	json_t *meta, *j;
	struct lmf_wr *w;

	if (tr->saved == tr->step)
		goto out;
	if (mkdir(tmp, 0777) < 0)
		die_errno("cannot create '%s'", tmp);
	write_result_dir(tr, tmp);
	write_tokenizer(tr, tmp);
	path = xasprintf("%s/optimizer.lmf", tmp);
	meta = json_pack("{s:s, s:I}", "kind", "optimizer", "step",
	    (json_int_t)tr->step);
	w = lmf_wr_open_or_die(path, meta, tr->wo);
	json_decref(meta);
	if (lmf_adamw_write(&tr->adam, tr->tp, tr->ntp, w) < 0)
		die("'%s': %s", path, lmf_wr_errmsg(w));
	lmf_wr_close_or_die(w);
	free(path);
	json_or_die(tmp, "trainer_state.json", j = trainer_state(tr), 2);
	json_decref(j);
	json_or_die(tmp, "lmf_state.json", j = resume_state(tr, tr->seed), 1);
	json_decref(j);
	if (lmf_ckpt_commit(tmp, fin) < 0)
		die_errno("cannot rename '%s' to '%s'", tmp, fin);
	tr->saved = tr->step;
	prog_clear(tr);
	if (lmf_verbose > 0)
		fprintf(stderr, "step %ld: saved '%s'\n", tr->step, fin);
	lmf_ckpt_prune(tr->a.output_dir, tr->a.save_total_limit);
out:
	free(fin);
	free(tmp);
	LMF_PROF_END(LMF_PROF_SAVE, prof_t0, 0);
}

void
lmf_train_check_signal(struct lmf_trainer *tr)
{
	if (!stop_signal || !tr->a.output_dir)
		return;
	prog_clear(tr);
	lmf_train_save(tr);
	/* the same command would start over (overwrite_output_dir) or
	 * resume from the checkpoint it names, not from this one */
	if (tr->a.overwrite_output_dir || tr->a.resume_from_checkpoint)
		warn("stopped by signal %d after step %ld: resume with "
		    "resume_from_checkpoint '%s/checkpoint-%ld' (the same "
		    "command %s)", (int)stop_signal, tr->step,
		    tr->a.output_dir, tr->step, tr->a.overwrite_output_dir ?
		    "starts over, as overwrite_output_dir says" :
		    "resumes from its resume_from_checkpoint again");
	else
		warn("stopped by signal %d after step %ld: resume with the "
		    "same command", (int)stop_signal, tr->step);
	exit(128 + stop_signal);
}

double
lmf_train_loss(const struct lmf_trainer *tr)
{
	return tr->step ? tr->train_loss_sum / (double)tr->step : 0.0;
}

/* ---- evaluation and the end ---- */

/* res into output_dir's SPLIT_results.json and all_results.json */
static void
save_results(struct lmf_trainer *tr, const char *split, json_t *res)
{
	char *name = xasprintf("%s_results.json", split);
	char *path = xasprintf("%s/all_results.json", tr->a.output_dir);
	json_t *all = json_load_file(path, 0, NULL);

	json_or_die(tr->a.output_dir, name, res, 4);
	if (!json_is_object(all)) {
		json_decref(all);
		all = json_object();
	}
	json_object_update(all, res);
	json_or_die(tr->a.output_dir, "all_results.json", all, 4);
	json_decref(all);
	free(path);
	free(name);
}

void
lmf_train_log_eval(struct lmf_trainer *tr, const char *const *names,
    const double *v, int n, uint64_t rows, uint64_t nb, double dt,
    int final)
{
	const char *split = final == LMF_EVAL_PREDICT ? "predict" : "eval";
	char k[3][64];
	json_t *j;
	int i;

	prog_clear(tr);
	if (lmf_verbose > 0) {
		fprintf(stderr, "step %ld/%ld:", tr->step, tr->total);
		for (i = 0; i < n; i++)
			fprintf(stderr, " %s %.4f", names[i], v[i]);
		fprintf(stderr, " (%llu batches, %.0f ms)\n",
		    (unsigned long long)nb, dt * 1e3);
	}
	snprintf(k[0], sizeof k[0], "%s_runtime", split);
	snprintf(k[1], sizeof k[1], "%s_samples_per_second", split);
	snprintf(k[2], sizeof k[2], "%s_steps_per_second", split);
	j = json_pack("{s:f, s:f, s:f, s:f, s:I}", "epoch", epoch_now(tr),
	    k[0], round(dt * 1e4) / 1e4, k[1], dt > 0 ?
	    round((double)rows / dt * 1e3) / 1e3 : 0.0, k[2], dt > 0 ?
	    round((double)nb / dt * 1e3) / 1e3 : 0.0, "step",
	    (json_int_t)tr->step);
	for (i = 0; i < n; i++)
		json_object_set_new(j, names[i], json_real(v[i]));
	if (final != LMF_EVAL_STEP && tr->a.output_dir) {
		json_t *res = json_deep_copy(j);

		json_object_del(res, "step");
		if (final == LMF_EVAL_PREDICT)
			json_object_del(res, "epoch");
		save_results(tr, split, res);
		json_decref(res);
	}
	if (final == LMF_EVAL_PREDICT) {
		json_decref(j);
		return;
	}
	/* LLaMA-Factory's log line has eval_loss, or no loss at all */
	tlog_line(tr, strcmp(names[0], "eval_loss") ? NULL : names[0], v[0],
	    -1);
	json_array_append_new(tr->history, j);
}

static void
plot_key(struct lmf_trainer *tr, const char *key)
{
	size_t i, n = json_array_size(tr->history), k = 0;
	double *x = xmallocarray(n + 1, sizeof *x);
	double *y = xmallocarray(n + 1, sizeof *y);
	char *path, *title, *p, err[512];
	json_t *e, *v;

	json_array_foreach(tr->history, i, e)
		if (json_is_number(v = json_object_get(e, key))) {
			x[k] = (double)json_integer_value(json_object_get(e,
			    "step"));
			y[k++] = json_number_value(v);
		}
	if (k) {
		path = xasprintf("%s/training_%s.png", tr->a.output_dir, key);
		for (p = path + strlen(tr->a.output_dir) + 1; *p; p++)
			if (*p == '/')
				*p = '_';
		title = xasprintf("training %s of %s", key, tr->a.output_dir);
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

/* README.md: the model card Hugging Face's Trainer.create_model_card
 * writes for LLaMA-Factory (license other, tags llama-factory and the
 * finetuning type, the datasets), with PEFT's additions for an adapter */
static void
write_model_card(struct lmf_trainer *tr)
{
	const struct lmf_train_args *a = &tr->a;
	json_t *mm = tr->model_meta, *bm = lmf_rd_meta(tr->data), *ds, *v;
	const char *base = json_string_value(json_object_get(mm, "source"));
	const char *name = strrchr(a->output_dir, '/'), *ft;
	int lora = !strcmp(tr->result_name, "adapter.lmf");
	long ebs = 8;
	struct lmf_buf b = { 0 };
	struct lmf_afile af;
	char num[32], *path;
	size_t i, n;

	ft = tr->ft == LMF_FT_FULL ? "full" : tr->ft == LMF_FT_FREEZE ?
	    "freeze" : "lora";
	name = name && name[1] ? name + 1 : a->output_dir;
	if (!base)
		base = "unknown";
	if (json_is_integer(v = json_object_get(bm,
	    "per_device_eval_batch_size")))
		ebs = (long)json_integer_value(v);
	lmf_buf_puts(&b, "---\n");
	if (lora)
		lmf_buf_puts(&b, "library_name: peft\n");
	lmf_buf_puts(&b, "license: other\nbase_model: ");
	lmf_buf_puts(&b, base);
	lmf_buf_puts(&b, "\ntags:\n");
	if (lora) {
		lmf_buf_puts(&b, "- base_model:adapter:");
		lmf_buf_puts(&b, base);
		lmf_buf_puts(&b, "\n");
	}
	lmf_buf_puts(&b, "- llama-factory\n- ");
	lmf_buf_puts(&b, ft);
	lmf_buf_puts(&b, "\n- generated_from_trainer\n");
	if (lora)
		lmf_buf_puts(&b, "- transformers\n");
	lmf_buf_puts(&b, "pipeline_tag: text-generation\nmodel-index:\n"
	    "- name: ");
	lmf_buf_puts(&b, name);
	lmf_buf_puts(&b, "\n  results: []\n---\n\n<!-- This model card has "
	    "been generated automatically according to the information the "
	    "Trainer had access to. You\nshould probably proofread and "
	    "complete it, then remove this comment. -->\n\n# ");
	lmf_buf_puts(&b, name);
	lmf_buf_puts(&b, "\n\nThis model is a fine-tuned version of [");
	lmf_buf_puts(&b, base);
	lmf_buf_puts(&b, "](https://huggingface.co/");
	lmf_buf_puts(&b, base);
	lmf_buf_puts(&b, ")");
	ds = json_object_get(bm, "datasets");
	n = json_array_size(ds);
	for (i = 0; i < n; i++) {
		lmf_buf_puts(&b, i == 0 ? " on the " : i + 1 < n ? ", the " :
		    " and the ");
		lmf_buf_puts(&b, json_string_value(json_array_get(ds, i)) ?
		    json_string_value(json_array_get(ds, i)) : "?");
	}
	lmf_buf_puts(&b, n == 1 ? " dataset.\n" : n ? " datasets.\n" :
	    ".\n");
	lmf_buf_puts(&b, "\n## Model description\n\nMore information needed"
	    "\n\n## Intended uses & limitations\n\nMore information needed"
	    "\n\n## Training and evaluation data\n\nMore information needed"
	    "\n\n## Training procedure\n\n### Training hyperparameters\n\n"
	    "The following hyperparameters were used during training:\n"
	    "- learning_rate: ");
	lmf_pyjson_repr(num, a->learning_rate);
	lmf_buf_puts(&b, num);
	path = xasprintf("\n- train_batch_size: %ld\n- eval_batch_size: %ld"
	    "\n- seed: %llu\n", tr->batch_size, ebs,
	    (unsigned long long)tr->seed);
	lmf_buf_puts(&b, path);
	free(path);
	if (a->gradient_accumulation_steps > 1) {
		path = xasprintf("- gradient_accumulation_steps: %ld\n"
		    "- total_train_batch_size: %ld\n",
		    a->gradient_accumulation_steps, tr->batch_size *
		    a->gradient_accumulation_steps);
		lmf_buf_puts(&b, path);
		free(path);
	}
	lmf_buf_puts(&b, "- optimizer: Use OptimizerNames.ADAMW_TORCH with "
	    "betas=(");
	lmf_pyjson_repr(num, a->adam_beta1);
	lmf_buf_puts(&b, num);
	lmf_buf_puts(&b, ",");
	lmf_pyjson_repr(num, a->adam_beta2);
	lmf_buf_puts(&b, num);
	lmf_buf_puts(&b, ") and epsilon=");
	lmf_pyjson_repr(num, a->adam_epsilon);
	lmf_buf_puts(&b, num);
	lmf_buf_puts(&b, " and optimizer_args=No additional optimizer "
	    "arguments\n- lr_scheduler_type: ");
	lmf_buf_puts(&b, lmf_sched_name(a->lr_scheduler_type));
	lmf_buf_puts(&b, "\n");
	if (a->warmup_steps > 0) {
		path = xasprintf("- lr_scheduler_warmup_steps: %ld\n",
		    a->warmup_steps);
		lmf_buf_puts(&b, path);
		free(path);
	} else if (a->warmup_ratio != 0) {
		lmf_pyjson_repr(num, a->warmup_ratio);
		lmf_buf_puts(&b, "- lr_scheduler_warmup_ratio: ");
		lmf_buf_puts(&b, num);
		lmf_buf_puts(&b, "\n");
	}
	if (a->max_steps > 0) {
		path = xasprintf("- training_steps: %ld\n", a->max_steps);
		lmf_buf_puts(&b, path);
		free(path);
	} else {
		lmf_pyjson_repr(num, a->num_train_epochs);
		lmf_buf_puts(&b, "- num_epochs: ");
		lmf_buf_puts(&b, num);
		lmf_buf_puts(&b, "\n");
	}
	lmf_buf_puts(&b, "\n### Training results\n\n\n\n### Framework "
	    "versions\n\n");
	if (lora)
		lmf_buf_puts(&b, "- PEFT 0.18.1\n");
	lmf_buf_puts(&b, "- lmf " LMF_VERSION "\n");
	path = xasprintf("%s/README.md", a->output_dir);
	if (lmf_afile_open(&af, path) < 0)
		die_errno("cannot create '%s'", path);
	if (fwrite(b.s, 1, b.n, af.f) != b.n || lmf_afile_commit(&af) < 0)
		die_errno("cannot write '%s'", path);
	free(path);
	free(b.s);
}

/* the time the collectives took per step */
static void
dist_report(struct lmf_trainer *tr)
{
	double wait, ar = lmf_dist_time(&wait);
	double n = (double)(tr->step - tr->step0);

	if (tr->bucketed) {
		fprintf(stderr, "%d ranks: allreduce %.3f ms per step of %llu "
		    "floats (%.2f MB) in %d buckets, the wait for the slowest "
		    "rank included\n", tr->world, ar * 1e3 / n,
		    (unsigned long long)tr->nflat, (double)tr->nflat * 4 / 1e6,
		    tr->bk.nb);
		return;
	}
	fprintf(stderr, "%d ranks: allreduce %.3f ms per step of %llu floats "
	    "(%.2f MB), after %.3f ms waiting for the slowest rank\n",
	    tr->world, ar * 1e3 / n, (unsigned long long)tr->nflat,
	    (double)tr->nflat * 4 / 1e6, wait * 1e3 / n);
}

void
lmf_train_log_final(struct lmf_trainer *tr)
{
	tlog_line(tr, NULL, 0, -1);
}

void
lmf_train_end(struct lmf_trainer *tr)
{
	static const char *const loss_only[] = { "loss", NULL };
	const char *const *k = tr->plot_keys ? tr->plot_keys : loss_only;
	const char *dir = tr->a.output_dir;
	double rt = lmf_now() - tr->t0;
	json_t *res, *all;

	prog_clear(tr);
	lmf_prof_report(tr->step - tr->step0 - 1, lmf_gemm_threads());
	if (tr->step < tr->total && tr->rank == 0)
		warn("the batches ran out after step %ld of %ld", tr->step,
		    tr->total);
	if (tr->world > 1 && lmf_verbose > 0 && tr->step > tr->step0)
		dist_report(tr);
	if (!dir)
		return;
	/* LLaMA-Factory's order: model, train metrics, state, plots */
	write_result_dir(tr, dir);
	write_tokenizer(tr, dir);
	res = json_pack("{s:f, s:f, s:f, s:f, s:f, s:f}", "epoch",
	    epoch_now(tr), "total_flos", tr->flos, "train_loss", lmf_train_loss(tr),
	    "train_runtime", round(rt * 1e4) / 1e4,
	    "train_samples_per_second", rt > 0 ? round((double)tr->samples /
	    rt * 1e3) / 1e3 : 0.0, "train_steps_per_second", rt > 0 ?
	    round((double)tr->step / rt * 1e3) / 1e3 : 0.0);
	all = json_deep_copy(res);
	json_object_set_new(all, "step", json_integer(tr->step));
	json_array_append_new(tr->history, all);
	json_or_die(dir, "train_results.json", res, 4);
	json_or_die(dir, "all_results.json", res, 4);
	json_decref(res);
	res = trainer_state(tr);
	json_or_die(dir, "trainer_state.json", res, 2);
	json_decref(res);
	for (; tr->a.plot_loss && *k; k++)
		plot_key(tr, *k);
	write_model_card(tr);
}

void
lmf_train_free(struct lmf_trainer *tr)
{
	struct lmf_recinfo rec;
	int i;

	/* what is left of piped batches (an epoch past T) is read, so that
	 * the writer of the pipe ends well */
	if (tr->data && !strcmp(tr->data_path, "-"))
		while (lmf_rd_next(tr->data, &rec) > LMF_REC_EOF)
			;
	if (tr->data)
		lmf_rd_close(tr->data);
	if (tr->log && fclose(tr->log) == EOF)
		die_errno("'%s/trainer_log.jsonl'", tr->a.output_dir);
	for (i = 0; i < tr->nmetric; i++)
		free(tr->mname[i]);
	lmf_adamw_free(&tr->adam);
	json_decref(tr->history);
	json_decref(tr->model_meta);
	json_decref(tr->resumed);
	free(tr->resume_dir);
	free(tr->flat);
	lmf_buckets_free(&tr->bk);
	free(tr->gidx);
	if (tr->lock >= 0)
		close(tr->lock);
}

/* ---- what every trainer tool does around its model ---- */

void
lmf_train_opt_target(const struct lmf_opt *op, const char *v)
{
	char bad[64];

	if ((*(int *)op->p = lmf_lora_target_parse(v, bad, sizeof bad)) < 0)
		die_usage("--lora_target: unknown module '%s'", bad);
}


struct lmf_llama *
lmf_train_frozen_open(const char *model, const char *adapter, int bf16)
{
	struct lmf_train_opts t = lmf_train_opts_default();
	struct lmf_llama *m;
	struct lmf_rd *rd = lmf_rd_open_or_die(model);
	char err[512];

	/* nothing trains, so no gradients are allocated; an adapter needs
	 * the LoRA layout */
	t.finetuning_type = adapter ? LMF_FT_LORA : LMF_FT_FREEZE;
	t.freeze_trainable_layers = 0;
	t.gradient_checkpointing = 0;
	t.bf16 = bf16;
	lmf_rd_check_kind_or_die(rd, "model");
	if (!(m = lmf_llama_open(rd, &t, err, sizeof err)))
		die("'%s': %s", lmf_rd_name(rd), err);
	lmf_rd_close(rd);
	if (!adapter)
		return m;
	rd = lmf_rd_open_or_die(adapter);
	lmf_rd_check_kind_or_die(rd, "adapter");
	if (lmf_llama_load_adapter(m, rd, err, sizeof err) < 0)
		die("'%s': %s", adapter, err);
	lmf_rd_close(rd);
	return m;
}

struct lmf_llama *
lmf_train_model_open(struct lmf_trainer *tr, const char *model,
    const char *adapter, const struct lmf_train_opts *t)
{
	int lora = t->finetuning_type == LMF_FT_LORA, rc;
	char *ck = tr->resume_dir && !lora ?
	    xasprintf("%s/model.lmf", tr->resume_dir) : NULL;
	struct lmf_rd *rd = lmf_rd_open_or_die(ck ? ck : model);
	struct lmf_llama *m;
	char err[512];

	lmf_rd_check_kind_or_die(rd, "model");
	if (!(m = lmf_llama_open(rd, t, err, sizeof err)))
		die("'%s': %s", lmf_rd_name(rd), err);
	json_decref(tr->model_meta);
	tr->model_meta = json_incref(lmf_rd_meta(rd));
	lmf_rd_close(rd);
	free(ck);
	ck = NULL;
	if (tr->resume_dir && lora)
		adapter = ck = xasprintf("%s/adapter.lmf", tr->resume_dir);
	if (adapter) {
		if (!(rd = lmf_train_adapter_open(tr, adapter))) {
			if (lmf_train_adapter_close(tr, NULL))
				exit(LMF_EXIT_FAIL);
			die("%s", lmf_rd_open_errmsg());
		}
		rc = lmf_llama_load_adapter(m, rd, err, sizeof err);
		if (lmf_train_adapter_close(tr, rd))
			exit(LMF_EXIT_FAIL);
		if (rc < 0)
			die("'%s': %s", adapter, err);
		free(ck);
	}
	return m;
}

void
lmf_train_batch_or_die(struct lmf_llama *m, struct lmf_batch *b,
    struct lmf_item *it, const char *path, uint64_t k)
{
	const struct lmf_config *c = lmf_llama_config(m);
	char err[512];

	if (lmf_batch_from_item(b, it, (int)c->vocab_size, err, sizeof err))
		die("'%s': batch %llu: %s", path, (unsigned long long)k, err);
}

void
lmf_train_model_write(struct lmf_trainer *tr, struct lmf_llama *m,
    const char *path)
{
	json_t *meta = lmf_llama_result_meta(m);
	struct lmf_wr *w;

	json_object_set_new(meta, "global_step", json_integer(tr->step));
	if (tr->step > 0)
		json_object_set_new(meta, "train_loss",
		    json_real(lmf_train_loss(tr)));
	if (!strcmp(path, "-"))
		lmf_stdout_binary_or_die();
	w = lmf_wr_open_or_die(path, meta, tr->wo);
	json_decref(meta);
	if (lmf_llama_write(m, w) < 0)
		die("'%s': %s", path, lmf_wr_errmsg(w));
	lmf_wr_close_or_die(w);
}

void
lmf_train_dump_grads(const char *path, const struct lmf_wropts *wo,
    json_t *meta, const char *const *names, double *v, int n,
    const struct lmf_tparam *tp, int ntp)
{
	struct lmf_wr *w;
	int i;

	if (!strcmp(path, "-"))
		lmf_stdout_binary_or_die();
	w = lmf_wr_open_or_die(path, meta, wo);
	if (lmf_wr_item(w, (uint32_t)(n + ntp)) < 0)
		die("'%s': %s", path, lmf_wr_errmsg(w));
	for (i = 0; i < n; i++) {
		struct lmf_tensor t = { .name = (char *)names[i],
			.dtype = LMF_F64, .ndim = 0, .nbytes = 8, .data = &v[i] };

		lmf_wr_tensor_or_die(w, &t);
	}
	for (i = 0; i < ntp; i++)
		if (lmf_wr_tensor_begin(w, tp[i].name, LMF_F32, tp[i].ndim,
		    tp[i].shape) < 0 || lmf_wr_payload(w, tp[i].g,
		    tp[i].numel * sizeof(float)) < 0)
			die("'%s': %s", path, lmf_wr_errmsg(w));
	lmf_wr_close_or_die(w);
}

void
lmf_train_check_paths(struct lmf_train_args *a, struct lmf_opt *tab,
    const struct lmf_train_paths *p, const struct lmf_train_opts *t)
{
	struct lmf_sched s;
	char err[512];

	if (!strcmp(p->model, "-") && !strcmp(p->data, "-"))
		die_usage("the model and the batches cannot both come from "
		    "stdin: give --model or --data");
	if (!a->output_dir && !p->out && !p->dump_grads)
		die_usage("nowhere to write the result: give --output_dir or "
		    "-o");
	if (p->out && !strcmp(p->out, "-") && p->dump_grads &&
	    !strcmp(p->dump_grads, "-"))
		die_usage("-o and --dump_grads cannot both be stdout");
	if (a->eval_strategy != LMF_ST_NO && !p->eval_data)
		die_usage("--eval_strategy %s needs --eval_data",
		    a->eval_strategy == LMF_ST_STEPS ? "steps" : "epoch");
	if (p->eval_data && !strcmp(p->eval_data, "-"))
		die_usage("--eval_data must be a file: it is read at every "
		    "evaluation");
	if (a->tokenizer_dir && !a->output_dir)
		die_usage("--tokenizer_dir goes with --output_dir");
	if (p->adapter && t->finetuning_type != LMF_FT_LORA)
		die_usage("--adapter_name_or_path goes with --finetuning_type "
		    "lora");
	if (a->lr_scheduler_kwargs) {
		lmf_sched_init(&s, a->lr_scheduler_type, a->learning_rate,
		    1, 0, 0);
		if (lmf_sched_kwargs(&s, a->lr_scheduler_kwargs, err,
		    sizeof err) < 0)
			die_usage("%s", err);
	}
	a->epochs_given = lmf_opt_given(tab, "num_train_epochs");
	if (p->dump_grads)   /* one step's gradients, nothing else */
		a->output_dir = a->resume_from_checkpoint = NULL;
}

/* ---- a trainer tool ---- */

void
lmf_train_tool_defaults(struct lmf_train_tool *x)
{
	x->p.model = x->p.data = "-";
	x->t = lmf_train_opts_default();
	x->wo = lmf_wropts_default;
	lmf_train_args_default(&x->a);
}

void
lmf_train_tool_parsed(struct lmf_train_tool *x, int i, int argc,
    char **argv)
{
	if (i < argc)
		die_usage("unexpected argument '%s'", argv[i]);
	if (x->a.print_resume)
		lmf_train_print_resume(&x->a);
}

/* what a rank of several must have: a tool that splits its work, files
 * (stdin reaches rank 0 only); ranks past 0 quiet, writing nothing */
static void
dist_checks(struct lmf_train_tool *x)
{
	if (!x->dist_ok)
		lmf_dist_single_or_die();
	if (!strcmp(x->p.model, "-") || !strcmp(x->p.data, "-"))
		die_usage("under mpirun --model and --data must be files, "
		    "not stdin");
	if (x->p.dump_grads)
		die_usage("--dump_grads runs on one process only");
	if (lmf_dist_rank() > 0) {
		lmf_verbose = 0;
		x->p.out = NULL;
	}
}

void
lmf_train_tool_init(struct lmf_train_tool *x, struct lmf_trainer *tr,
    void *ctx)
{
	x->t.gradient_checkpointing = !x->nockpt;
	lmf_dist_start(x->threads);
	if (lmf_dist_size() > 1)
		dist_checks(x);
	lmf_train_init(tr, &x->a, lmf_now());
	tr->data_path = x->p.data;
	tr->out = x->p.out;
	tr->wo = &x->wo;
	tr->seed = x->t.seed;
	tr->result_name = x->t.finetuning_type == LMF_FT_LORA ?
	    "adapter.lmf" : "model.lmf";
	tr->ctx = ctx;
}

/* the parameters Hugging Face's Trainer.floating_point_ops counts: 6 *
 * input_ids.numel() * model.num_parameters(exclude_embeddings=True) per
 * micro-batch, the LoRA matrices counted (PEFT puts them in the model),
 * embed_tokens not (nor a tied lm_head); 0 with a value head: TRL's
 * wrapper has no floating_point_ops, so total_flos stays 0 (rm, ppo) */
static uint64_t
flos_params(const struct lmf_llama *m)
{
	const struct lmf_config *c = lmf_llama_config(m);

	if (lmf_llama_has_value_head(m))
		return 0;
	return lmf_llama_numel(m) - (uint64_t)c->vocab_size *
	    (uint64_t)c->hidden_size;
}

struct lmf_llama *
lmf_train_tool_open(struct lmf_train_tool *x, struct lmf_trainer *tr)
{
	struct lmf_llama *m;
	int i;

	lmf_train_begin(tr);
	m = tr->model = lmf_train_model_open(tr, x->p.model, x->p.adapter,
	    &x->t);
	if (x->value_head)
		lmf_llama_value_head(m, -1);
	tr->flos_params = flos_params(m);
	tr->ft = x->t.finetuning_type;
	if ((x->ntp = lmf_llama_ntrainable(m)) == 0)
		die("nothing to train: no trainable tensors");
	x->tp = xmallocarray((size_t)x->ntp, sizeof *x->tp);
	for (i = 0; i < x->ntp; i++)
		x->tp[i] = *lmf_llama_trainable(m, i);
	lmf_train_open(tr);
	return m;
}

void
lmf_train_tool_run(struct lmf_train_tool *x, struct lmf_trainer *tr,
    int (*step)(struct lmf_trainer *tr, struct lmf_item *items),
    void (*evaluate)(struct lmf_trainer *tr, int final))
{
	struct lmf_item *items;

	lmf_train_start(tr, x->tp, x->ntp,
	    lmf_llama_trainable_numel(tr->model));
	lmf_llama_set_nsteps(tr->model, tr->micro);
	items = xcalloc((size_t)x->a.gradient_accumulation_steps,
	    sizeof *items);
	while (tr->step < tr->total && step(tr, items)) {
		if (x->p.eval_data && lmf_train_should_eval(tr))
			evaluate(tr, 0);
		if (lmf_train_should_save(tr))
			lmf_train_save(tr);
		lmf_train_check_signal(tr);
	}
	free(items);
	if (x->p.dump_grads)
		return;
	lmf_train_log_final(tr);
	lmf_train_end(tr);
	if (x->p.eval_data && tr->a.output_dir)
		evaluate(tr, 1);
	if (x->p.out)
		lmf_train_model_write(tr, tr->model, x->p.out);
}

void
lmf_train_tool_free(struct lmf_train_tool *x, struct lmf_trainer *tr)
{
	lmf_train_free(tr);
	lmf_llama_free(tr->model);
	free(x->tp);
	lmf_dist_finish();
}

double
lmf_train_eval_pass(const char *path, double (*fn)(void *ctx,
    struct lmf_item *it, uint64_t k), void *ctx, uint64_t *rows,
    uint64_t *nb)
{
	struct lmf_rd *rd = lmf_rd_open_or_die(path);
	struct lmf_item it;
	double sum = 0;

	*rows = *nb = 0;
	lmf_rd_check_kind_or_die(rd, "batches");
	while (lmf_rd_item_or_die(rd, &it) == 1) {
		struct lmf_tensor *ids = lmf_item_find(&it, "input_ids");

		uint64_t B = ids ? ids->shape[0] : 0;

		sum += fn(ctx, &it, *nb) * (double)B;
		*rows += B;
		++*nb;
		lmf_item_free(&it);
	}
	lmf_rd_close(rd);
	if (!*rows)
		die("'%s': no eval batches", path);
	return sum / (double)*rows;
}

int
lmf_train_read_step(struct lmf_trainer *tr, struct lmf_item *items,
    long *rows)
{
	long ga = tr->a.gradient_accumulation_steps;
	int n = 0, end = 0;

	*rows = 0;
	while (!end && n < ga && lmf_train_next(tr, &items[n]) == 1) {
		struct lmf_tensor *ids = lmf_item_find(&items[n], "input_ids");

		if (!ids || ids->ndim != 2)
			die("'%s': batch %llu has no input_ids (B, T)",
			    tr->data_path, (unsigned long long)tr->micro);
		end = lmf_train_micro(tr, (long)ids->shape[0],
		    (long)ids->shape[1]);
		*rows += (long)ids->shape[0];
		n++;
	}
	tr->nmicro = n;
	return n;
}

int
lmf_train_read_batches(struct lmf_trainer *tr, struct lmf_llama *m,
    struct lmf_item *items, struct lmf_batch *b)
{
	struct lmf_item it;
	struct lmf_tensor *ids;
	long k = 0;
	int n = 0, end = 0;

	if (!tr->gidx)
		tr->gidx = xcalloc((size_t)tr->a.gradient_accumulation_steps,
		    sizeof *tr->gidx);
	while (!end && k < tr->ga && lmf_train_next(tr, &it) == 1) {
		if (k++ % tr->world == tr->rank) {
			items[n] = it;
			lmf_train_batch_or_die(m, &b[n], &items[n],
			    tr->data_path, tr->micro);
			end = lmf_train_micro(tr, b[n].B, b[n].T);
			tr->gidx[n++] = tr->micro - 1;
			continue;
		}
		/* another rank's: counted, not kept */
		ids = lmf_item_find(&it, "input_ids");
		if (!ids || ids->ndim != 2)
			die("'%s': batch %llu has no input_ids (B, T)",
			    tr->data_path, (unsigned long long)tr->micro);
		end = lmf_train_micro(tr, (long)ids->shape[0],
		    (long)ids->shape[1]);
		lmf_item_free(&it);
	}
	tr->nmicro = k;
	if (tr->bucketed)
		lmf_buckets_arm(&tr->bk, n);
	return n;
}
