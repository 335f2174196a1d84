#ifndef LMF_BOARD_FORM_H
#define LMF_BOARD_FORM_H
/* board_form.h: a form of lmf-board(1) (an URL-encoded request body) as
 * the configuration it stands for: every field a key of lmf's key table
 * (args.h), checked there, or one of the board's own fields, whose names
 * start with an underscore (_tab, _message); the YAML file it saves and
 * the lmf command line that runs it.
 *
 * Functions that can fail return 0, or -1 with a one-line message in
 * (err, errlen): the form is refused whole, nothing is written. */
#include <stddef.h>

#include "lmf/args.h"

#define LMF_BOARD_FORM_MAX 200   /* fields in one form */

enum lmf_board_tab {
	LMF_BOARD_TRAIN,    /* lmf train (do_train) */
	LMF_BOARD_PREDICT,  /* lmf train with do_predict */
	LMF_BOARD_CHAT,     /* lmf chat, the prompts on its stdin */
	LMF_BOARD_EXPORT,   /* lmf export */
};

/* URL-encoded name=value pairs, decoded */
struct lmf_board_fields {
	char **name, **val;
	size_t n;
};

struct lmf_board_form {
	int tab;               /* enum lmf_board_tab */
	struct lmf_args args;  /* the keys as the form sets them */
	char *message;         /* _message: chat's prompts, or NULL */
	char *yaml;            /* the configuration file's text */
	char *path;            /* where it is saved: output_dir.yaml, ... */
	char *log;             /* the job's output: output_dir.log, ... */
	char *input;           /* chat: the prompts' file, else NULL */
	char *outdir;          /* what the job writes: output_dir, ... */
	char *argv[5];         /* lmf CMD PATH [EXTRA], NULL-ended */
	char *command;         /* argv as one shell line, for people */
};

/* decode s[0..len) (a=b&c=d, + and %XX); NUL, bad escapes, a name
 * given twice or more than LMF_BOARD_FORM_MAX fields are refused */
int lmf_board_fields_parse(struct lmf_board_fields *f, const char *s,
    size_t len, char *err, size_t errlen);
const char *lmf_board_fields_get(const struct lmf_board_fields *f,
    const char *name);                        /* the value, or NULL */
void lmf_board_fields_free(struct lmf_board_fields *f);

/* the form in body[0..len); runs is lmf-board's --runs directory (chat's
 * files go there); extra, or NULL, a key=value argument the command adds
 * after the file (a resume's resume_from_checkpoint) */
int lmf_board_form_parse(struct lmf_board_form *f, const char *body,
    size_t len, const char *runs, const char *extra, char *err,
    size_t errlen);
/* write f->yaml to f->path (atomically) and chat's prompts to f->input;
 * -2 (err set) when f->path holds a file lmf-board did not write, or is
 * new while its .log is there: nothing written */
int lmf_board_form_save(const struct lmf_board_form *f, char *err,
    size_t errlen);
/* the form that resumes run NAME under runs: lmf train runs/NAME.yaml
 * resume_from_checkpoint=runs/NAME/checkpoint-N, the newest */
int lmf_board_form_resume(struct lmf_board_form *f, const char *runs,
    const char *name, char *err, size_t errlen);
void lmf_board_form_free(struct lmf_board_form *f);
const char *lmf_board_tab_name(int tab);     /* "train", ... */

#endif
