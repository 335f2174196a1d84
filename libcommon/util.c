/* util.c: messages, exit codes, allocation, parsing, RNG, atomic files. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "lmf/opt.h"
#include "lmf/util.h"
#include "lmf/banned.h"

#ifndef LMF_VERSION
#define LMF_VERSION "0"
#endif

int lmf_verbose = 1;
static const char *progname = "lmf";
static char *cmdline;

/* temp files of atomic writes still open, removed if we die */
#define MAX_PENDING 1024
static struct lmf_afile *pending[MAX_PENDING];

/* a signal that ends the tool: the pending temporary files go first
 * (unlink is async-signal-safe), then the signal does what it did */
static void
afile_on_signal(int sig)
{
	int i;

	for (i = 0; i < MAX_PENDING; i++)
		if (pending[i] && pending[i]->tmp)
			unlink(pending[i]->tmp);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* install afile_on_signal for SIGINT, SIGTERM and SIGHUP where nothing
 * else handles them (a trainer installs its own later) */
static void
afile_signals(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	struct sigaction sa, old;
	size_t i;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = afile_on_signal;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		if (!sigaction(sigs[i], NULL, &old) &&
		    old.sa_handler == SIG_DFL)
			sigaction(sigs[i], &sa, NULL);
}

void
lmf_init(int argc, char **argv)
{
	const char *s = argc > 0 && argv[0] ? strrchr(argv[0], '/') : NULL;
	size_t len = 1;
	int i;

	progname = argc > 0 && argv[0] ? (s ? s + 1 : argv[0]) : "lmf";
	afile_signals();
	for (i = 0; i < argc; i++)
		len += 3 + 4 * strlen(argv[i]);
	cmdline = xmalloc(len);
	cmdline[0] = 0;
	for (i = 0; i < argc; i++) {
		const char *a = i == 0 ? progname : argv[i];
		char *p = cmdline + strlen(cmdline);
		int plain = *a != 0;
		const char *q;

		for (q = a; *q; q++)
			if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "0123456789-_./=,:+@%", *q))
				plain = 0;
		if (i)
			*p++ = ' ';
		if (plain) {
			memcpy(p, a, strlen(a) + 1);
			continue;
		}
		*p++ = '\'';
		for (q = a; *q; q++) {
			if (*q == '\'') {
				memcpy(p, "'\\''", 4);
				p += 4;
			} else {
				*p++ = *q;
			}
		}
		*p++ = '\'';
		*p = 0;
	}
}

const char *
lmf_progname(void)
{
	return progname;
}

const char *
lmf_cmdline(void)
{
	return cmdline ? cmdline : progname;
}

const char *
lmf_version(void)
{
	return LMF_VERSION;
}

static void
vmsg(const char *fmt, va_list ap, const char *suffix)
{
	char buf[1024];

	lmf_vseterr(buf, sizeof buf, fmt, ap);
	fprintf(stderr, "%s: %s%s%s\n", progname, buf, suffix ? ": " : "",
	    suffix ? suffix : "");
}

void
warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(fmt, ap, NULL);
	va_end(ap);
}

void
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(fmt, ap, NULL);
	va_end(ap);
	lmf_afile_cleanup_all();
	exit(LMF_EXIT_FAIL);
}

void
die_errno(const char *fmt, ...)
{
	int e = errno;
	va_list ap;

	va_start(ap, fmt);
	vmsg(fmt, ap, strerror(e));
	va_end(ap);
	lmf_afile_cleanup_all();
	exit(LMF_EXIT_FAIL);
}

void
die_usage(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(fmt, ap, NULL);
	va_end(ap);
	lmf_afile_cleanup_all();
	exit(LMF_EXIT_USAGE);
}

void
lmf_vseterr(char *err, size_t errlen, const char *fmt, va_list ap)
{
	char buf[2048], esc[8];
	size_t i, o = 0, k;

	if (!err || !errlen)
		return;
	vsnprintf(buf, sizeof buf, fmt, ap);
	/* messages are one line and plain text, whatever the data put into
	 * them: control characters are written as C escapes */
	for (i = 0; buf[i]; i++) {
		unsigned char c = (unsigned char)buf[i];

		if (c >= 0x20 && c != 0x7f) {
			esc[0] = (char)c;
			k = 1;
		} else if (c == '\n' || c == '\r' || c == '\t') {
			esc[0] = '\\';
			esc[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
			k = 2;
		} else {
			snprintf(esc, sizeof esc, "\\x%02x", c);
			k = 4;
		}
		if (o + k >= errlen)
			break;
		memcpy(err + o, esc, k);
		o += k;
	}
	err[o] = 0;
}

void
lmf_seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	lmf_vseterr(err, errlen, fmt, ap);
	va_end(ap);
}

void
lmf_bug(const char *file, int line, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: BUG at %s:%d: %s\n", progname, file, line, buf);
	abort();
}

void
lmf_usage_exit(void (*usage)(FILE *))
{
	usage(stderr);
	exit(LMF_EXIT_USAGE);
}

void
lmf_help_exit(void (*usage)(FILE *))
{
	usage(stdout);
	exit(fflush(stdout) || ferror(stdout) ? LMF_EXIT_FAIL : LMF_EXIT_OK);
}

void
lmf_version_exit(void)
{
	printf("%s %s\n", progname, LMF_VERSION);
	exit(fflush(stdout) || ferror(stdout) ? LMF_EXIT_FAIL : LMF_EXIT_OK);
}

int
lmf_getopt(int argc, char **argv, const char *optstring,
    const struct option *longopts)
{
	char os[256];
	const char *arg;
	int c;

	snprintf(os, sizeof os, ":%s", optstring);
	opterr = 0;
	c = getopt_long(argc, argv, os, longopts, NULL);
	if (c != '?' && c != ':')
		return c;
	arg = optind > 0 && optind <= argc ? argv[optind - 1] : "?";
	if (c == '?' && !strcmp(arg, "--list-options"))
		lmf_opt_list_exit(longopts, optstring);
	if (c == ':')
		die_usage("option '%s' needs a value", arg);
	if (optopt > 0 && optopt < 256 && arg[0] == '-' && arg[1] != '-')
		die_usage("unknown option '-%c'", optopt);
	die_usage("unknown option '%s'", arg);
}

static void
oom(size_t n)
{
	die("out of memory allocating %zu bytes", n);
}

void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		oom(n);
	return p;
}

void *
xcalloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);

	if (!p)
		oom(nmemb * size);
	return p;
}

void *
xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		oom(n);
	return p;
}

void *
xmallocarray(size_t nmemb, size_t size)
{
	if (size && nmemb > SIZE_MAX / size)
		die("out of memory: %zu elements of %zu bytes", nmemb, size);
	return xmalloc(nmemb * size);
}

char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *
xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = 0;
	return p;
}

char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		BUG("vsnprintf failed");
	p = xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}

int
lmf_strtoll(const char *s, long long *out)
{
	char *end;
	long long v;

	if (!s || !*s || strchr(" \t\n", *s))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

int
lmf_strtod(const char *s, double *out)
{
	char *end;
	double v;

	if (!s || !*s || strchr(" \t\n", *s))
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno == ERANGE && fabs(v) > 1)
		return -1;
	if (*end || isnan(v))
		return -1;
	*out = v;
	return 0;
}

long long
lmf_parse_int(const char *opt, const char *s, long long lo, long long hi)
{
	long long v;

	if (lmf_strtoll(s, &v) < 0)
		die_usage("%s: not an integer: '%s'", opt, s ? s : "");
	if (v < lo || v > hi)
		die_usage("%s: %lld is out of range [%lld, %lld]", opt, v, lo, hi);
	return v;
}

double
lmf_parse_float(const char *opt, const char *s, double lo, double hi)
{
	double v;

	if (lmf_strtod(s, &v) < 0)
		die_usage("%s: not a number: '%s'", opt, s ? s : "");
	if (v < lo || v > hi)
		die_usage("%s: %g is out of range [%g, %g]", opt, v, lo, hi);
	return v;
}

int
lmf_parse_bool(const char *opt, const char *s)
{
	if (!s)
		return 1;
	if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "1"))
		return 1;
	if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "0"))
		return 0;
	die_usage("%s: not a boolean (true or false): '%s'", opt, s);
}

int
lmf_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
lmf_natcmp(const char *a, const char *b)
{
	const char *a0 = a, *b0 = b;
	size_t la, lb;
	int d;

	while (*a && *b) {
		if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
			while (*a == '0')
				a++;
			while (*b == '0')
				b++;
			for (la = 0; isdigit((unsigned char)a[la]); la++)
				;
			for (lb = 0; isdigit((unsigned char)b[lb]); lb++)
				;
			if (la != lb)
				return la < lb ? -1 : 1;
			if ((d = strncmp(a, b, la)))
				return d;
			a += la;
			b += lb;
			continue;
		}
		if (*a != *b)
			break;
		a++;
		b++;
	}
	if (*a != *b)
		return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
	return strcmp(a0, b0);
}

int
lmf_opt_bool(const char *opt, int argc, char **argv)
{
	static const char *words[] = { "true", "false", "True", "False", NULL };
	int i;

	if (optarg)
		return lmf_parse_bool(opt, optarg);
	for (i = 0; optind < argc && words[i]; i++)
		if (!strcmp(argv[optind], words[i]))
			return lmf_parse_bool(opt, argv[optind++]);
	return 1;
}

void
lmf_buf_add(struct lmf_buf *b, const char *s, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		b->cap = (b->n + n + 1) * 2;
		b->s = xrealloc(b->s, b->cap);
	}
	memcpy(b->s + b->n, s, n);
	b->n += n;
	b->s[b->n] = 0;
}

void
lmf_buf_puts(struct lmf_buf *b, const char *s)
{
	lmf_buf_add(b, s, strlen(s));
}

/* xorshift* as in llm.c: state must never be zero */
void
lmf_rng_seed(struct lmf_rng *r, uint64_t seed)
{
	r->state = seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull;
	if (!r->state)
		r->state = 1;
}

uint32_t
lmf_rng_u32(struct lmf_rng *r)
{
	r->state ^= r->state >> 12;
	r->state ^= r->state << 25;
	r->state ^= r->state >> 27;
	return (uint32_t)((r->state * 0x2545F4914F6CDD1Dull) >> 32);
}

float
lmf_rng_uniform(struct lmf_rng *r)
{
	return (lmf_rng_u32(r) >> 8) / 16777216.0f;
}

float
lmf_rng_normal(struct lmf_rng *r)
{
	/* Box-Muller with u1 in (0, 1] so the log is finite */
	double u1 = ((lmf_rng_u32(r) >> 8) + 1) / 16777216.0;
	double u2 = (lmf_rng_u32(r) >> 8) / 16777216.0;

	return (float)(sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2));
}

uint32_t
lmf_rng_below(struct lmf_rng *r, uint32_t n)
{
	uint32_t lim, x;

	if (n == 0)
		BUG("lmf_rng_below(0)");
	lim = (uint32_t)(-n) % n;
	do
		x = lmf_rng_u32(r);
	while (x < lim);
	return x % n;
}

/* the directory path's last component is in ("." for none), allocated */
static char *
dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? xstrndup(path, slash == path ? 1 :
	    (size_t)(slash - path)) : xstrdup(".");
}

/* path's directory made absolute (symbolic links resolved) joined with
 * its last component, or NULL when the directory does not resolve */
static char *
canon_out(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir = dir_of(path), *real, *out;
	size_t n;

	real = realpath(dir, NULL);
	free(dir);
	if (!real)
		return NULL;
	n = strlen(real) + strlen(slash ? slash + 1 : path) + 2;
	out = xmalloc(n);
	snprintf(out, n, "%s/%s", real, slash ? slash + 1 : path);
	free(real);
	return out;
}

/* path with symbolic links at its end followed (a dangling one too: the
 * file a write through it would create), allocated */
static char *
follow_links(const char *path)
{
	char *p = xstrdup(path), buf[4096];
	struct stat st;
	int i;

	for (i = 0; i < 16 && !lstat(p, &st) && S_ISLNK(st.st_mode); i++) {
		ssize_t n = readlink(p, buf, sizeof buf - 1);
		const char *slash = strrchr(p, '/');
		char *q;

		if (n <= 0)
			break;
		buf[n] = '\0';
		if (buf[0] == '/' || !slash) {
			q = xstrdup(buf);
		} else {
			size_t len = (size_t)(slash - p) + 2 + (size_t)n;

			q = xmalloc(len);
			snprintf(q, len, "%.*s/%s", (int)(slash - p), p, buf);
		}
		free(p);
		p = q;
	}
	return p;
}

int
lmf_same_file(const char *a, const char *b)
{
	struct stat sa, sb;
	char *ca, *cb, *fa, *fb;
	int same;

	if (!strcmp(a, b))
		return 1;
	if (!strcmp(a, "-") || !strcmp(b, "-"))
		return 0;
	if (!stat(a, &sa) && !stat(b, &sb))
		return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
	fa = follow_links(a);
	fb = follow_links(b);
	ca = canon_out(fa);
	cb = canon_out(fb);
	free(fa);
	free(fb);
	same = ca && cb && !strcmp(ca, cb);
	free(ca);
	free(cb);
	return same;
}

void
lmf_space_or_die(const char *path, uint64_t bytes)
{
	char *dir;
	struct statvfs sv;
	struct stat st;

	/* a device or a FIFO is written through: nothing to hold */
	if (!strcmp(path, "-") || (!stat(path, &st) && !S_ISREG(st.st_mode)))
		return;
	dir = dir_of(path);
	if (!statvfs(dir, &sv) && (double)sv.f_bavail * sv.f_frsize <
	    (double)bytes)
		die("'%s': %.1f GB to write, its file system has %.1f GB "
		    "free", path, bytes / 1e9, (double)sv.f_bavail *
		    sv.f_frsize / 1e9);
	free(dir);
}

FILE *
xfopen(const char *path, const char *mode)
{
	FILE *f = fopen(path, mode);

	if (!f)
		die_errno("cannot open '%s'", path);
	return f;
}

char *
lmf_read_file_or_die(const char *path, size_t *len, size_t maxlen)
{
	FILE *f = xfopen(path, "rb");
	size_t cap = 65536, n = 0, got;
	char *buf = xmalloc(cap + 1);

	while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n > maxlen)
			die("'%s' is larger than %zu bytes", path, maxlen);
		if (n == cap) {
			cap *= 2;
			buf = xrealloc(buf, cap + 1);
		}
	}
	if (ferror(f))
		die_errno("cannot read '%s'", path);
	fclose(f);
	buf[n] = 0;
	if (len)
		*len = n;
	return buf;
}

/* where an atomic write of path goes: path, or for a symbolic link the
 * name it points to, followed to the end (a relative target from the
 * link's directory), so that the rename replaces the file and keeps the
 * link; NULL (errno ELOOP) for a loop */
static char *
link_dest(const char *path)
{
	char *p = xstrdup(path), *q, *slash, t[4096];
	struct stat sb;
	ssize_t n;
	int hops;

	for (hops = 0;; hops++) {
		if (lstat(p, &sb) < 0 || !S_ISLNK(sb.st_mode))
			return p;
		n = readlink(p, t, sizeof t - 1);
		if (hops == 40 || n <= 0 || (size_t)n == sizeof t - 1) {
			free(p);
			errno = n < 0 ? errno : ELOOP;
			return NULL;
		}
		t[n] = '\0';
		slash = strrchr(p, '/');
		if (t[0] == '/' || !slash)
			q = xstrdup(t);
		else
			q = xasprintf("%.*s/%s", (int)(slash - p), p, t);
		free(p);
		p = q;
	}
}

int
lmf_afile_open(struct lmf_afile *a, const char *path)
{
	struct stat sb;
	int fd, i;

	a->f = NULL;
	a->tmp = NULL;
	if (!stat(path, &sb) && !S_ISREG(sb.st_mode)) {
		/* a device or a FIFO is written through, never replaced */
		fd = open(path, O_WRONLY | O_NOCTTY | O_CLOEXEC);
		if (fd < 0)
			return -1;
		a->f = fdopen(fd, "wb");
		if (!a->f) {
			close(fd);
			return -1;
		}
		a->path = xstrdup(path);
		return 0;
	}
	if (!(a->path = link_dest(path)))
		return -1;
	a->tmp = xasprintf("%s.tmp-%ld-XXXXXX", a->path, (long)getpid());
	fd = mkstemp(a->tmp);
	if (fd < 0) {
		free(a->path);
		free(a->tmp);
		a->path = a->tmp = NULL;
		return -1;
	}
	fchmod(fd, 0644 & ~0); /* umask-independent like most tools */
	a->f = fdopen(fd, "wb");
	if (!a->f) {
		close(fd);
		unlink(a->tmp);
		free(a->path);
		free(a->tmp);
		a->path = a->tmp = NULL;
		return -1;
	}
	for (i = 0; i < MAX_PENDING; i++)
		if (!pending[i]) {
			pending[i] = a;
			break;
		}
	return 0;
}

static void
unpend(struct lmf_afile *a)
{
	int i;

	for (i = 0; i < MAX_PENDING; i++)
		if (pending[i] == a)
			pending[i] = NULL;
}

/* a file written through (tmp NULL): flushed and closed; 0 or -1, errno */
static int
commit_through(struct lmf_afile *a)
{
	int e;

	unpend(a);
	e = fflush(a->f) || ferror(a->f) ? (errno ? errno : EIO) : 0;
	if (fclose(a->f) && !e)
		e = errno ? errno : EIO;
	a->f = NULL;
	if (e) {
		errno = e;
		return -1;
	}
	free(a->path);
	a->path = NULL;
	return 0;
}

int
lmf_afile_commit(struct lmf_afile *a)
{
	return lmf_afile_commit_all(a, 1, NULL);
}

int
lmf_afile_commit_all(struct lmf_afile *a, int n, const char **failed)
{
	int i, e = 0, bad = -1;

	/* every file flushed, synced and closed before any is renamed; each
	 * pending until renamed, so that a signal meanwhile removes it */
	for (i = 0; i < n && bad < 0; i++) {
		if (!a[i].f || !a[i].tmp)
			continue;
		if (fflush(a[i].f) || ferror(a[i].f) || fsync(fileno(a[i].f)))
			e = errno ? errno : EIO, bad = i;
		if (fclose(a[i].f) && bad < 0)
			e = errno ? errno : EIO, bad = i;
		a[i].f = NULL;
	}
	for (i = 0; i < n && bad < 0; i++) {
		if (a[i].tmp) {
			/* unpended after: a signal before it removes tmp */
			if (rename(a[i].tmp, a[i].path))
				e = errno, bad = i;
			unpend(&a[i]);
		} else if (a[i].f && commit_through(&a[i])) {
			e = errno, bad = i;
			continue;
		}
		if (bad < 0) {
			free(a[i].tmp);
			free(a[i].path);
			a[i].tmp = a[i].path = NULL;
		}
	}
	if (bad < 0)
		return 0;
	if (failed)
		*failed = a[bad].path;
	for (i = 0; i < n; i++) {
		if (a[i].f)
			fclose(a[i].f);
		if (a[i].tmp)
			unlink(a[i].tmp);
		unpend(&a[i]);
		a[i].f = NULL;
	}
	errno = e;
	return -1;
}

FILE *
lmf_afile_open_or_die(struct lmf_afile *a, const char *path)
{
	if (lmf_afile_open(a, path) < 0)
		die_errno("cannot create '%s'", path);
	return a->f;
}

void
lmf_afile_commit_or_die(struct lmf_afile *a)
{
	if (lmf_afile_commit(a) < 0)   /* a failure keeps a->path */
		die_errno("cannot write '%s'", a->path);
}

void
lmf_afile_abort(struct lmf_afile *a)
{
	unpend(a);
	if (a->f)
		fclose(a->f);
	if (a->tmp)
		unlink(a->tmp);
	free(a->tmp);
	free(a->path);
	a->tmp = a->path = NULL;
	a->f = NULL;
}

void
lmf_afile_cleanup_all(void)
{
	int i;

	for (i = 0; i < MAX_PENDING; i++)
		if (pending[i]) {
			unlink(pending[i]->tmp);
			pending[i] = NULL;
		}
}

void
lmf_stdout_binary_or_die(void)
{
	if (isatty(STDOUT_FILENO))
		die_usage("stdout is a terminal, refusing to write a binary stream "
		    "(redirect it or use -o FILE)");
}

void
lmf_stdin_binary_or_die(void)
{
	if (isatty(STDIN_FILENO))
		die_usage("stdin is a terminal, refusing to read a binary stream "
		    "(redirect it or name a file)");
}

void
lmf_close_out(void)
{
	if (fflush(stdout) || ferror(stdout))
		die_errno("write error on stdout");
	if (fclose(stdout) && errno != EBADF)
		die_errno("write error on stdout");
}

/* bf16 is the top half of an f32; round to nearest even, keep NaN a NaN */
float
lmf_bf16_to_f32(uint16_t h)
{
	uint32_t u = (uint32_t)h << 16;
	float f;

	memcpy(&f, &u, 4);
	return f;
}

uint16_t
lmf_f32_to_bf16(float f)
{
	uint32_t u;

	memcpy(&u, &f, 4);
	if ((u & 0x7fffffff) > 0x7f800000)
		return (uint16_t)((u >> 16) | 0x40);
	u += 0x7fff + ((u >> 16) & 1);
	return (uint16_t)(u >> 16);
}

float
lmf_f16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16;
	uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff, u;
	float f;

	if (exp == 0) {
		if (man == 0) {
			u = sign;
		} else {
			/* subnormal: normalise */
			exp = 127 - 15 + 1;
			while (!(man & 0x400)) {
				man <<= 1;
				exp--;
			}
			man &= 0x3ff;
			u = sign | exp << 23 | man << 13;
		}
	} else if (exp == 31) {
		u = sign | 0x7f800000 | man << 13;
	} else {
		u = sign | (exp + 127 - 15) << 23 | man << 13;
	}
	memcpy(&f, &u, 4);
	return f;
}

uint16_t
lmf_f32_to_f16(float f)
{
	uint32_t u, sign, man;
	int exp;

	memcpy(&u, &f, 4);
	sign = (u >> 16) & 0x8000;
	exp = (int)((u >> 23) & 0xff);
	man = u & 0x7fffff;
	if (exp == 255)
		return (uint16_t)(sign | 0x7c00 | (man ? 0x200 | (man >> 13) : 0));
	exp = exp - 127 + 15;
	if (exp >= 31)
		return (uint16_t)(sign | 0x7c00);
	if (exp <= 0) {
		uint32_t m, shift, half, r;

		if (exp < -10)
			return (uint16_t)sign;
		m = man | 0x800000;
		shift = (uint32_t)(14 - exp);
		half = 1u << (shift - 1);
		r = m >> shift;
		if ((m & ((1u << shift) - 1)) > half ||
		    ((m & ((1u << shift) - 1)) == half && (r & 1)))
			r++;
		return (uint16_t)(sign | r);
	}
	{
		uint32_t r = (uint32_t)exp << 10 | man >> 13;
		uint32_t rest = man & 0x1fff;

		if (rest > 0x1000 || (rest == 0x1000 && (r & 1)))
			r++; /* may carry into the exponent, to inf: correct */
		return (uint16_t)(sign | r);
	}
}

double
lmf_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}
