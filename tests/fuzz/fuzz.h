/* fuzz.h: helpers shared by the harnesses (static, header only): the
 * check every library message must pass, and a scratch directory for
 * readers that take a path. */
#ifndef LMF_FUZZ_H
#define LMF_FUZZ_H
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* a failure says why, on one line of plain text */
static inline void
fuzz_check_msg(const char *who, const char *msg)
{
	const unsigned char *p;

	if (!msg[0]) {
		fprintf(stderr, "%s: a failure without a message\n", who);
		abort();
	}
	for (p = (const unsigned char *)msg; *p; p++)
		if (*p < 0x20 || *p == 0x7f) {
			fprintf(stderr, "%s: control character 0x%02x in "
			    "message: %s\n", who, *p, msg);
			abort();
		}
}

/* one scratch directory per process, removed at exit */
static char fuzz_dir[64];

static inline void
fuzz_rmdir(void)
{
	char cmd[96];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", fuzz_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", fuzz_dir);
}

static inline const char *
fuzz_tmpdir(void)
{
	const char *t = getenv("TMPDIR");

	if (fuzz_dir[0])
		return fuzz_dir;
	snprintf(fuzz_dir, sizeof fuzz_dir, "%s/lmf-fuzz-XXXXXX",
	    t && strlen(t) < 40 ? t : "/tmp");
	if (!mkdtemp(fuzz_dir)) {
		perror("mkdtemp");
		abort();
	}
	atexit(fuzz_rmdir);
	return fuzz_dir;
}

/* write data as DIR/name (name may hold one directory level, made) */
static inline void
fuzz_write(const char *name, const void *data, size_t len)
{
	char path[256];
	const char *slash = strchr(name, '/');
	int fd;

	if (slash) {
		snprintf(path, sizeof path, "%s/%.*s", fuzz_tmpdir(),
		    (int)(slash - name), name);
		mkdir(path, 0755);
	}
	snprintf(path, sizeof path, "%s/%s", fuzz_tmpdir(), name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || (len && write(fd, data, len) != (ssize_t)len) ||
	    close(fd) < 0) {
		perror(path);
		abort();
	}
}
#endif
