/* board.c: lmf-board's HTTP server: token, body limit, routes, JSON
 * replies (board.h). Every handler runs on libmicrohttpd's one thread,
 * so the job needs no lock. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "lmf/args.h"
#include "lmf/board.h"
#include "lmf/board_data.h"
#include "lmf/board_form.h"
#include "lmf/util.h"
#include "lmf/banned.h"

#define COOKIE "lmf_board_token"

struct req {
	struct lmf_buf body;
	int too_big;
};

struct reply {
	unsigned code;
	json_t *j;             /* the body, or NULL */
	const char *cookie;    /* a token to set, or NULL */
};

static int
queue(struct MHD_Connection *c, unsigned code, const char *type,
    const void *s, size_t len, enum MHD_ResponseMemoryMode mode,
    const char *token)
{
	struct MHD_Response *r;
	char cookie[128];
	int ok;

	r = MHD_create_response_from_buffer(len, (void *)s, mode);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	MHD_add_response_header(r, "Content-Security-Policy",
	    "default-src 'self'");
	if (token) {
		snprintf(cookie, sizeof cookie, COOKIE "=%s; Path=/; HttpOnly; "
		    "SameSite=Strict", token);
		MHD_add_response_header(r, "Set-Cookie", cookie);
	}
	ok = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ok;
}

static int
send_json(struct MHD_Connection *c, struct reply *rp)
{
	char *s = json_dumps(rp->j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	size_t n = strlen(s);

	json_decref(rp->j);
	return queue(c, rp->code, "application/json", s, n,
	    MHD_RESPMEM_MUST_FREE, NULL);
}

static void
fail(struct reply *rp, unsigned code, const char *msg)
{
	rp->code = code;
	rp->j = json_pack("{s:s}", "error", msg);
}

static int
token_ok(const struct lmf_board *b, const char *s)
{
	unsigned d = 0;
	size_t i;

	if (!s || strlen(s) != 32)
		return 0;
	for (i = 0; i < 32; i++)
		d |= (unsigned char)s[i] ^ (unsigned char)b->token[i];
	return d == 0;
}

/* a GET argument without NULs, or NULL with the reply set */
static const char *
arg(struct MHD_Connection *c, const char *name, struct reply *rp)
{
	const char *v = NULL;
	size_t n = 0;
	char msg[128];

	if (MHD_lookup_connection_value_n(c, MHD_GET_ARGUMENT_KIND, name,
	    strlen(name), &v, &n) != MHD_YES || !v)
		snprintf(msg, sizeof msg, "%s: required", name);
	else if (strlen(v) != n)
		snprintf(msg, sizeof msg, "%s: a NUL byte in the value", name);
	else
		return v;
	fail(rp, 400, msg);
	return NULL;
}

static json_t *
keys_json(void)
{
	const struct lmf_args_key *k;
	static const char *const type[] = { "bool", "int", "float", "str" };
	json_t *a = json_array();
	size_t n, i;

	k = lmf_args_keys(&n);
	for (i = 0; i < n; i++)
		json_array_append_new(a, json_pack("{s:s, s:s, s:s?, s:s?}",
		    "name", k[i].name, "type", type[k[i].type], "default",
		    k[i].def, "choices", k[i].choices));
	return a;
}

static void
get_info(struct lmf_board *b, struct reply *rp)
{
	rp->j = json_pack("{s:s, s:s, s:[ssssss], s:o}", "runs", b->runs,
	    "version", lmf_version(), "stages", "pt", "sft", "rm", "dpo",
	    "kto", "ppo", "keys", keys_json());
}

static void
get_datasets(struct MHD_Connection *c, struct reply *rp)
{
	const char *dir, *stage;
	char err[512];

	if (!(dir = arg(c, "dataset_dir", rp)) || !(stage = arg(c, "stage",
	    rp)))
		return;
	if (!(rp->j = lmf_board_datasets(dir, stage, err, sizeof err)))
		fail(rp, strncmp(err, "stage", 5) ? 404 : 400, err);
}

static void
get_status(struct lmf_board *b, struct reply *rp)
{
	json_t *j = lmf_board_job_json(&b->job);

	rp->j = json_pack("{s:o}", "job", j);
	if (b->job.pid && b->job.tab != LMF_BOARD_CHAT &&
	    b->job.tab != LMF_BOARD_EXPORT)
		json_object_set_new(rp->j, "trainer_log",
		    lmf_board_trainer_log(b->job.outdir));
}

static void
get_runs(struct lmf_board *b, struct reply *rp)
{
	char err[512];
	json_t *j;

	lmf_board_job_poll(&b->job);
	j = lmf_board_runs(b->runs, b->job.running ? b->job.outdir : NULL,
	    err, sizeof err);
	if (!j)
		fail(rp, 500, err);
	else
		rp->j = json_pack("{s:o}", "runs", j);
}

static void
get_log(struct lmf_board *b, struct MHD_Connection *c, struct reply *rp)
{
	const char *name = arg(c, "name", rp);
	char *dir;

	if (!name)
		return;
	if (!lmf_board_name_ok(name)) {
		fail(rp, 400, "name: not a run's name");
		return;
	}
	dir = xasprintf("%s/%s", b->runs, name);
	rp->j = json_pack("{s:o}", "trainer_log", lmf_board_trainer_log(dir));
	free(dir);
}

/* preview, save or start the form in the body */
static void
post_form(struct lmf_board *b, const char *what, struct req *r,
    struct reply *rp)
{
	struct lmf_board_form f;
	char err[1024];
	int rc;

	if (lmf_board_form_parse(&f, r->body.s ? r->body.s : "", r->body.n,
	    b->runs, NULL, err, sizeof err) < 0) {
		fail(rp, 400, err);
	} else if (!strcmp(what, "start") && (lmf_board_job_poll(&b->job),
	    b->job.running)) {
		snprintf(err, sizeof err, "a job is running (pid %ld): stop it "
		    "first", (long)b->job.pid);
		fail(rp, 409, err);
	} else if (strcmp(what, "preview") && (rc = lmf_board_form_save(&f,
	    err, sizeof err)) < 0) {
		fail(rp, rc == -2 ? 409 : 400, err);
	} else if (!strcmp(what, "start") && lmf_board_job_start(&b->job,
	    b->lmf, &f, err, sizeof err) < 0) {
		fail(rp, 500, err);
	} else {
		rp->j = json_pack("{s:s, s:s, s:s, s:s}", "yaml", f.yaml,
		    "path", f.path, "command", f.command, "log", f.log);
	}
	lmf_board_form_free(&f);
}

static void
post_resume(struct lmf_board *b, struct req *r, struct reply *rp)
{
	struct lmf_board_fields fl;
	struct lmf_board_form f;
	const char *name;
	char err[1024];

	memset(&f, 0, sizeof f);
	if (lmf_board_fields_parse(&fl, r->body.s ? r->body.s : "",
	    r->body.n, err, sizeof err) < 0) {
		fail(rp, 400, err);
		return;
	}
	name = lmf_board_fields_get(&fl, "name");
	if (!name || !lmf_board_name_ok(name))
		fail(rp, 400, "name: not a run's name");
	else if (lmf_board_form_resume(&f, b->runs, name, err, sizeof err) < 0)
		fail(rp, 404, err);
	else if (lmf_board_job_start(&b->job, b->lmf, &f, err, sizeof err) < 0)
		fail(rp, b->job.running ? 409 : 500, err);
	else
		rp->j = json_pack("{s:s}", "command", f.command);
	lmf_board_form_free(&f);
	lmf_board_fields_free(&fl);
}

static void
post_stop(struct lmf_board *b, struct reply *rp)
{
	char err[256];

	if (lmf_board_job_stop(&b->job, err, sizeof err) < 0)
		fail(rp, 409, err);
	else
		rp->j = json_pack("{s:o}", "job", lmf_board_job_json(&b->job));
}

static int
route_api(struct lmf_board *b, struct MHD_Connection *c, const char *url,
    int post, struct req *r)
{
	static const char *const gets[] = { "info", "datasets", "status",
	    "runs", "log", NULL };
	static const char *const posts[] = { "preview", "save", "start",
	    "stop", "resume", NULL };
	struct reply rp = { 200, NULL, NULL };
	const char *const *t = post ? posts : gets, *const *o = post ? gets :
	    posts;

	while (*t && strcmp(*t, url))
		t++;
	while (*o && strcmp(*o, url))
		o++;
	if (!*t)
		fail(&rp, *o ? 405 : 404, *o ? "wrong method" : "no such page");
	else if (!strcmp(url, "info"))
		get_info(b, &rp);
	else if (!strcmp(url, "datasets"))
		get_datasets(c, &rp);
	else if (!strcmp(url, "status"))
		get_status(b, &rp);
	else if (!strcmp(url, "runs"))
		get_runs(b, &rp);
	else if (!strcmp(url, "log"))
		get_log(b, c, &rp);
	else if (!strcmp(url, "stop"))
		post_stop(b, &rp);
	else if (!strcmp(url, "resume"))
		post_resume(b, r, &rp);
	else
		post_form(b, url, r, &rp);
	return send_json(c, &rp);
}

static int
route(struct lmf_board *b, struct MHD_Connection *c, const char *url,
    const char *method, struct req *r)
{
	int post = !strcmp(method, "POST"), i;
	struct reply rp = { 405, NULL, NULL };
	const struct lmf_board_file *f;

	if (!strncmp(url, "/api/", 5))
		return route_api(b, c, url + 5, post, r);
	if (!strcmp(url, "/"))
		url = "/index.html";
	for (i = 0; i < LMF_BOARD_NFILES; i++) {
		f = &b->file[i];
		if (strcmp(url + 1, f->name))
			continue;
		if (post) {
			fail(&rp, 405, "wrong method");
			return send_json(c, &rp);
		}
		return queue(c, 200, f->type, f->body, f->len,
		    MHD_RESPMEM_PERSISTENT, i == 0 ? b->token : NULL);
	}
	fail(&rp, 404, "no such page");
	return send_json(c, &rp);
}

/* the first call of a request: the token and the declared length */
static int
first(struct lmf_board *b, struct MHD_Connection *c, const char *method)
{
	struct reply rp = { 200, NULL, NULL };
	const char *q, *ck, *cl;

	q = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "token");
	ck = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, COOKIE);
	cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (!token_ok(b, q) && !token_ok(b, ck))
		fail(&rp, 403, "no valid token: open the URL lmf-board "
		    "printed (it has ?token=...)");
	else if (strcmp(method, "GET") && strcmp(method, "POST"))
		fail(&rp, 405, "wrong method");
	else if (cl && (strlen(cl) > 12 || strtoull(cl, NULL, 10) >
	    LMF_BOARD_BODY_MAX))
		fail(&rp, 413, "the body is too large");
	else
		return -1;
	return send_json(c, &rp);
}

static enum MHD_Result
handle(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload,
    size_t *upload_size, void **ctx)
{
	struct lmf_board *b = cls;
	struct req *r = *ctx;
	struct reply rp = { 413, NULL, NULL };
	int q;

	if (!r) {
		*ctx = r = xcalloc(1, sizeof *r);
		q = first(b, c, method);
		return q < 0 ? MHD_YES : (enum MHD_Result)q;
	}
	if (*upload_size) {
		if (r->body.n + *upload_size > LMF_BOARD_BODY_MAX)
			r->too_big = 1;
		else if (!r->too_big)
			lmf_buf_add(&r->body, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	if (r->too_big) {
		fail(&rp, 413, "the body is too large");
		return (enum MHD_Result)send_json(c, &rp);
	}
	return (enum MHD_Result)route(b, c, url, method, r);
}

static void
completed(void *cls, struct MHD_Connection *c, void **ctx,
    enum MHD_RequestTerminationCode why)
{
	struct req *r = *ctx;

	if (r) {
		free(r->body.s);
		free(r);
		*ctx = NULL;
	}
}

static int
read_files(struct lmf_board *b, char *err, size_t errlen)
{
	static const char *const name[] = { "index.html", "board.css",
	    "board.js" };
	static const char *const type[] = { "text/html; charset=utf-8",
	    "text/css; charset=utf-8", "text/javascript; charset=utf-8" };
	char *path;
	FILE *f;
	int i;

	for (i = 0; i < LMF_BOARD_NFILES; i++) {
		b->file[i].name = name[i];
		b->file[i].type = type[i];
		path = xasprintf("%s/%s", b->share, name[i]);
		if (!(f = fopen(path, "rb"))) {
			lmf_seterr(err, errlen, "cannot open '%s': %s", path,
			    strerror(errno));
			free(path);
			return -1;
		}
		free(path);
		b->file[i].body = xmalloc(1u << 20);
		b->file[i].len = fread(b->file[i].body, 1, 1u << 20, f);
		fclose(f);
	}
	return 0;
}

static int
make_token(struct lmf_board *b, char *err, size_t errlen)
{
	unsigned char r[16];
	FILE *f = fopen("/dev/urandom", "rb");
	int i;

	if (!f || fread(r, 1, sizeof r, f) != sizeof r) {
		lmf_seterr(err, errlen, "cannot read /dev/urandom");
		if (f)
			fclose(f);
		return -1;
	}
	fclose(f);
	for (i = 0; i < 16; i++)
		snprintf(b->token + 2 * i, 3, "%02x", r[i]);
	return 0;
}

int
lmf_board_open(struct lmf_board *b, char *err, size_t errlen)
{
	struct sockaddr_in sa;
	const union MHD_DaemonInfo *di;

	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)b->port);
	if (inet_pton(AF_INET, b->host, &sa.sin_addr) != 1) {
		lmf_seterr(err, errlen, "host: '%s' is not an IPv4 address",
		    b->host);
		return -1;
	}
	if (read_files(b, err, errlen) < 0 || make_token(b, err, errlen) < 0)
		return -1;
	b->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL,
	    (uint16_t)b->port, NULL, NULL, handle, b, MHD_OPTION_SOCK_ADDR,
	    &sa, MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
	    MHD_OPTION_CONNECTION_TIMEOUT, 30u,
	    MHD_OPTION_CONNECTION_LIMIT, 200u, MHD_OPTION_END);
	if (!b->daemon) {
		lmf_seterr(err, errlen, "cannot listen on %s:%d: %s", b->host,
		    b->port, strerror(errno));
		return -1;
	}
	di = MHD_get_daemon_info(b->daemon, MHD_DAEMON_INFO_BIND_PORT);
	b->url = xasprintf("http://%s:%u/?token=%s", b->host,
	    di ? (unsigned)di->port : (unsigned)b->port, b->token);
	return 0;
}

void
lmf_board_close(struct lmf_board *b)
{
	char err[256];
	int i;

	if (b->daemon)
		MHD_stop_daemon(b->daemon);
	b->daemon = NULL;
	lmf_board_job_poll(&b->job);
	if (b->job.running)
		lmf_board_job_stop(&b->job, err, sizeof err);
	lmf_board_job_free(&b->job);
	for (i = 0; i < LMF_BOARD_NFILES; i++)
		free(b->file[i].body);
	free(b->url);
}
