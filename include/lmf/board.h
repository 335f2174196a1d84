#ifndef LMF_BOARD_H
#define LMF_BOARD_H
/* board.h: lmf-board's HTTP server (libmicrohttpd, one internal thread):
 * the static page from the share directory, the JSON API over
 * board_form.h, board_job.h and board_data.h, and the token every request
 * must carry (the token query argument, or the cookie the page's first
 * visit sets). Bodies over LMF_BOARD_BODY_MAX are refused (413). */
#include <stddef.h>

#include "lmf/board_job.h"

#define LMF_BOARD_BODY_MAX (256u << 10)
#define LMF_BOARD_NFILES 3

struct lmf_board_file {
	const char *name, *type;
	char *body;
	size_t len;
};

struct lmf_board {
	/* set by the caller */
	const char *host;      /* an IPv4 address */
	int port;              /* 0: any free port */
	const char *runs;      /* the runs directory */
	const char *share;     /* index.html, board.css, board.js */
	const char *lmf;       /* the lmf front end the jobs run */
	/* set by lmf_board_open */
	char token[33];        /* 32 hex digits from /dev/urandom */
	char *url;             /* http://HOST:PORT/?token=TOKEN */
	struct lmf_board_file file[LMF_BOARD_NFILES];
	struct lmf_board_job job;
	void *daemon;
};

/* read the page, make the token, listen; 0, or -1 with err */
int lmf_board_open(struct lmf_board *b, char *err, size_t errlen);
/* stop listening; a running job gets SIGINT */
void lmf_board_close(struct lmf_board *b);

#endif
