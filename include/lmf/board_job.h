#ifndef LMF_BOARD_JOB_H
#define LMF_BOARD_JOB_H
/* board_job.h: lmf-board's one job: an lmf command run as a child in a
 * process group of its own (execv, no shell), its stdin a file or
 * /dev/null, its stdout and stderr a log file; stopped by SIGINT to the
 * group, as ^C on a terminal does, so a trainer saves its checkpoint.
 * The job is running while any process of its group lives. */
#include <sys/types.h>

#include <jansson.h>

struct lmf_board_form;

struct lmf_board_job {
	pid_t pid;             /* the group's leader; 0: no job yet */
	int running;
	int reaped, wstatus;   /* the leader's wait status once reaped */
	int stopping;          /* Stop was asked */
	int tab;               /* enum lmf_board_tab */
	char *outdir, *log, *command;
	double t0, t1;         /* started, seen ended (lmf_now) */
};

/* run argv (argv[0] replaced by the program lmf) as f says; -1 with err
 * when a job is running or the fork fails */
int lmf_board_job_start(struct lmf_board_job *j, const char *lmf,
    const struct lmf_board_form *f, char *err, size_t errlen);
void lmf_board_job_poll(struct lmf_board_job *j);   /* reap, update */
int lmf_board_job_stop(struct lmf_board_job *j, char *err, size_t errlen);
/* the job as JSON (running, pid, command, status, the log's last lines) */
json_t *lmf_board_job_json(struct lmf_board_job *j);
void lmf_board_job_free(struct lmf_board_job *j);

#endif
