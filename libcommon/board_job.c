/* board_job.c: lmf-board's job: fork, a process group, execv; SIGINT to
 * the group; the wait status and the log's tail (board_job.h). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lmf/board_form.h"
#include "lmf/board_job.h"
#include "lmf/util.h"
#include "lmf/banned.h"

#define TAIL_BYTES 4096

/* in the child: only async-signal-safe calls until execv */
static void
child(const char *lmf, char *const argv[], int in, int out)
{
	sigset_t none;

	setpgid(0, 0);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
	if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
		_exit(127);
	close(in);
	close(out);
	execv(lmf, argv);
	_exit(127);
}

static int
open_files(const struct lmf_board_form *f, int *in, int *out, char *err,
    size_t errlen)
{
	const char *ip = f->input ? f->input : "/dev/null";

	if ((*in = open(ip, O_RDONLY | O_CLOEXEC)) < 0) {
		lmf_seterr(err, errlen, "cannot open '%s': %s", ip,
		    strerror(errno));
		return -1;
	}
	*out = open(f->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (*out < 0) {
		lmf_seterr(err, errlen, "cannot open '%s': %s", f->log,
		    strerror(errno));
		close(*in);
		return -1;
	}
	return 0;
}

int
lmf_board_job_start(struct lmf_board_job *j, const char *lmf,
    const struct lmf_board_form *f, char *err, size_t errlen)
{
	int in, out;
	pid_t pid;

	lmf_board_job_poll(j);
	if (j->running) {
		lmf_seterr(err, errlen, "a job is running (pid %ld: %s): stop "
		    "it first", (long)j->pid, j->command);
		return -1;
	}
	if (open_files(f, &in, &out, err, errlen) < 0)
		return -1;
	pid = fork();
	if (pid == 0)
		child(lmf, f->argv, in, out);
	close(in);
	close(out);
	if (pid < 0) {
		lmf_seterr(err, errlen, "cannot fork: %s", strerror(errno));
		return -1;
	}
	setpgid(pid, pid);
	lmf_board_job_free(j);
	j->pid = pid;
	j->running = 1;
	j->tab = f->tab;
	j->outdir = xstrdup(f->outdir);
	j->log = xstrdup(f->log);
	j->command = xstrdup(f->command);
	j->t0 = lmf_now();
	return 0;
}

void
lmf_board_job_poll(struct lmf_board_job *j)
{
	int st;

	if (!j->pid || !j->running)
		return;
	if (!j->reaped && waitpid(j->pid, &st, WNOHANG) == j->pid) {
		j->reaped = 1;
		j->wstatus = st;
	}
	/* the leader (a shell) may end before the trainer it ran */
	if (j->reaped && kill(-j->pid, 0) < 0 && errno == ESRCH) {
		j->running = 0;
		j->t1 = lmf_now();
	}
}

int
lmf_board_job_stop(struct lmf_board_job *j, char *err, size_t errlen)
{
	lmf_board_job_poll(j);
	if (!j->running) {
		lmf_seterr(err, errlen, "no job is running");
		return -1;
	}
	if (kill(-j->pid, SIGINT) < 0 && errno != ESRCH) {
		lmf_seterr(err, errlen, "cannot stop pid %ld: %s",
		    (long)j->pid, strerror(errno));
		return -1;
	}
	j->stopping = 1;
	return 0;
}

/* the last TAIL_BYTES of the log, from a line's start */
static json_t *
log_tail(const char *path)
{
	char buf[TAIL_BYTES + 1], *p;
	json_t *s;
	FILE *f = fopen(path, "r");
	size_t n;
	long sz;

	if (!f)
		return json_string("");
	fseek(f, 0, SEEK_END);
	sz = ftell(f);
	fseek(f, sz > TAIL_BYTES ? sz - TAIL_BYTES : 0, SEEK_SET);
	n = fread(buf, 1, TAIL_BYTES, f);
	fclose(f);
	buf[n] = 0;
	p = buf;
	if (sz > TAIL_BYTES && (p = strchr(buf, '\n')))
		p++;
	else if (!p)
		p = buf;
	if ((s = json_string(p)))
		return s;
	for (n = 0; p[n]; n++)   /* not UTF-8: ASCII only */
		if (p[n] & 0x80)
			p[n] = '?';
	return json_string(p);
}

static const char *
state(const struct lmf_board_job *j)
{
	if (!j->pid)
		return "none";
	if (j->running)
		return j->stopping ? "stopping" : "running";
	if (j->stopping)
		return "stopped";
	if (WIFEXITED(j->wstatus) && WEXITSTATUS(j->wstatus) == 0)
		return "done";
	return "failed";
}

json_t *
lmf_board_job_json(struct lmf_board_job *j)
{
	json_t *o;

	lmf_board_job_poll(j);
	o = json_pack("{s:s, s:b}", "state", state(j), "running", j->running);
	if (!j->pid)
		return o;
	json_object_set_new(o, "pid", json_integer(j->pid));
	json_object_set_new(o, "tab", json_string(lmf_board_tab_name(j->tab)));
	json_object_set_new(o, "command", json_string(j->command));
	json_object_set_new(o, "output_dir", json_string(j->outdir));
	json_object_set_new(o, "seconds", json_real((j->running ? lmf_now() :
	    j->t1) - j->t0));
	if (j->reaped && WIFEXITED(j->wstatus))
		json_object_set_new(o, "exit", json_integer(
		    WEXITSTATUS(j->wstatus)));
	else if (j->reaped && WIFSIGNALED(j->wstatus))
		json_object_set_new(o, "signal", json_integer(
		    WTERMSIG(j->wstatus)));
	json_object_set_new(o, "log", log_tail(j->log));
	return o;
}

void
lmf_board_job_free(struct lmf_board_job *j)
{
	free(j->outdir);
	free(j->log);
	free(j->command);
	memset(j, 0, sizeof *j);
}
