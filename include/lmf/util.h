#ifndef LMF_UTIL_H
#define LMF_UTIL_H
/* util.h: program name, messages, exit codes, checked allocation, strict
 * number parsing, the one RNG, atomic file writes. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define LMF_EXIT_OK 0
#define LMF_EXIT_FAIL 1  /* runtime failure: I/O, corrupt input, bad data */
#define LMF_EXIT_USAGE 2 /* bad option, bad value, missing argument */

#if defined(__GNUC__)
#define LMF_NORETURN __attribute__((noreturn))
#define LMF_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define LMF_NORETURN
#define LMF_PRINTF(a, b)
#endif

/* program name and command line */
void lmf_init(int argc, char **argv);   /* call first in main */
const char *lmf_progname(void);         /* "lmf-dump" */
const char *lmf_cmdline(void);          /* the whole command line, quoted */
const char *lmf_version(void);          /* from VERSION */

/* messages: one line on stderr, prefixed with the program name */
void warn(const char *fmt, ...) LMF_PRINTF(1, 2);
LMF_NORETURN void die(const char *fmt, ...) LMF_PRINTF(1, 2);       /* exit 1 */
LMF_NORETURN void die_errno(const char *fmt, ...) LMF_PRINTF(1, 2); /* ": strerror", exit 1 */
LMF_NORETURN void die_usage(const char *fmt, ...) LMF_PRINTF(1, 2); /* exit 2 */
/* a one-line message into a caller's buffer, for library functions that
 * report errors through (err, errlen); nothing when err is NULL */
void lmf_seterr(char *err, size_t errlen, const char *fmt, ...)
	LMF_PRINTF(3, 4);
/* the same from a va_list; every message of the library is made by one of
 * these two, which write control characters from the data as C escapes
 * (\n, \x1b), so that a message is always one line */
void lmf_vseterr(char *err, size_t errlen, const char *fmt, va_list ap);
LMF_NORETURN void lmf_bug(const char *file, int line, const char *fmt, ...)
	LMF_PRINTF(3, 4);
#define BUG(...) lmf_bug(__FILE__, __LINE__, __VA_ARGS__)
extern int lmf_verbose; /* 0 quiet, 1 normal (default), 2 verbose */

/* usage: print the tool's usage to stderr and exit 2; the one place that
 * decides the exit status of a usage error */
LMF_NORETURN void lmf_usage_exit(void (*usage)(FILE *));
/* handle the options every tool has: -h (usage to stdout, exit 0), -V */
LMF_NORETURN void lmf_help_exit(void (*usage)(FILE *));
LMF_NORETURN void lmf_version_exit(void);
/* getopt_long for every tool: an unknown option or a missing value dies
 * with one line naming it and exit 2; optstring without a leading ':' */
struct option;
int lmf_getopt(int argc, char **argv, const char *optstring,
    const struct option *longopts);

/* checked allocation: out of memory dies */
void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
void *xmallocarray(size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) LMF_PRINTF(1, 2);

/* strict number parsing: the whole string, in range; junk dies with exit 2
 * naming the option */
long long lmf_parse_int(const char *opt, const char *s, long long lo, long long hi);
double lmf_parse_float(const char *opt, const char *s, double lo, double hi);
int lmf_parse_bool(const char *opt, const char *s);
int lmf_hexval(int c); /* 0..15 for a hex digit, else -1 */
/* natural order: digit runs compare as numbers (layers.2 < layers.10),
 * ties broken by strcmp */
int lmf_natcmp(const char *a, const char *b);
/* a boolean option with an optional value (getopt optional_argument):
 * --flag, --flag=X or --flag X where X is true/false/True/False */
int lmf_opt_bool(const char *opt, int argc, char **argv);
/* the same, returning 0 on success and -1 on junk (for data, not options) */
int lmf_strtoll(const char *s, long long *out);
int lmf_strtod(const char *s, double *out);

/* the one RNG: xorshift*, as llm.c; deterministic for a seed */
struct lmf_rng {
	uint64_t state;
};
void lmf_rng_seed(struct lmf_rng *r, uint64_t seed);
uint32_t lmf_rng_u32(struct lmf_rng *r);
float lmf_rng_uniform(struct lmf_rng *r);  /* [0, 1) */
float lmf_rng_normal(struct lmf_rng *r);   /* N(0, 1), Box-Muller */
uint32_t lmf_rng_below(struct lmf_rng *r, uint32_t n); /* [0, n), unbiased */

/* a growing NUL-terminated byte buffer; zero-initialise, free(b.s) */
struct lmf_buf {
	char *s;
	size_t n, cap;
};
void lmf_buf_add(struct lmf_buf *b, const char *s, size_t n);
void lmf_buf_puts(struct lmf_buf *b, const char *s);

/* files */
FILE *xfopen(const char *path, const char *mode);  /* dies naming the path */
/* die (one line) when the file system of path (a file to be written; "-"
 * is not checked) has less than bytes free */
void lmf_space_or_die(const char *path, uint64_t bytes);
/* do the two output paths name one file (other spellings, a symbolic link
 * to the other, a hard link)? "-" is only itself */
int lmf_same_file(const char *a, const char *b);
/* read a whole (small) file; dies on error; NUL-terminated, *len set */
char *lmf_read_file_or_die(const char *path, size_t *len, size_t maxlen);
/* atomic writes: write to a temporary file beside path, then rename.
 * Only a regular file (or a name not there yet) is replaced so; a device
 * or a FIFO is written through (tmp NULL), and a symbolic link keeps: the
 * file it names is replaced (path is then that name). */
struct lmf_afile {
	FILE *f;
	char *path;   /* the file written */
	char *tmp;    /* the temporary name, or NULL when written through */
};
int lmf_afile_open(struct lmf_afile *a, const char *path); /* -1, errno */
int lmf_afile_commit(struct lmf_afile *a);  /* flush, fsync, rename; -1 errno */
void lmf_afile_abort(struct lmf_afile *a);  /* close and unlink the temp */
/* commit n files together: all flushed, synced and closed first, then
 * renamed one after another; on a failure every temporary file not yet
 * renamed is removed (the targets keep their old content), *failed (if
 * not NULL) names the file, errno says why, -1. Paths of a failure stay
 * allocated until the caller frees them (free(a[i].path), a[i].tmp) */
int lmf_afile_commit_all(struct lmf_afile *a, int n, const char **failed);
/* the same, dying with one line naming the file */
FILE *lmf_afile_open_or_die(struct lmf_afile *a, const char *path);
void lmf_afile_commit_or_die(struct lmf_afile *a);
/* remove every pending temp file (called from die on the way out) */
void lmf_afile_cleanup_all(void);
/* stdout: refuse a terminal for binary output; flush and check at the end */
void lmf_stdout_binary_or_die(void);
void lmf_stdin_binary_or_die(void);
void lmf_close_out(void);

/* little-endian encode/decode, field by field */
static inline uint16_t lmf_get_u16(const unsigned char *p)
{ return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t lmf_get_u32(const unsigned char *p)
{ return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static inline uint64_t lmf_get_u64(const unsigned char *p)
{ return (uint64_t)lmf_get_u32(p) | (uint64_t)lmf_get_u32(p + 4) << 32; }
static inline void lmf_put_u16(unsigned char *p, uint16_t v)
{ p[0] = v & 0xff; p[1] = v >> 8; }
static inline void lmf_put_u32(unsigned char *p, uint32_t v)
{ p[0] = v & 0xff; p[1] = (v >> 8) & 0xff; p[2] = (v >> 16) & 0xff; p[3] = v >> 24; }
static inline void lmf_put_u64(unsigned char *p, uint64_t v)
{ lmf_put_u32(p, (uint32_t)v); lmf_put_u32(p + 4, (uint32_t)(v >> 32)); }

/* half-precision conversions (round to nearest even) */
float lmf_bf16_to_f32(uint16_t h);
uint16_t lmf_f32_to_bf16(float f);
float lmf_f16_to_f32(uint16_t h);
uint16_t lmf_f32_to_f16(float f);

double lmf_now(void); /* monotonic seconds */

#endif
