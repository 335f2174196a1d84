/* ckpt.c: the output directory of a trainer (ckpt.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lmf/ckpt.h"
#include "lmf/pyjson.h"
#include "lmf/stream.h"
#include "lmf/util.h"
#include "lmf/banned.h"

int
lmf_ckpt_write_json(const char *path, json_t *j, int indent, int nl,
    char *err, size_t errlen)
{
	struct lmf_afile af;
	char *s = lmf_pyjson_dumps(j, indent, LMF_PYJSON_SORT_KEYS |
	    LMF_PYJSON_ASCII);

	if (lmf_afile_open(&af, path) < 0) {
		snprintf(err, errlen, "cannot create '%s': %s", path,
		    strerror(errno));
		free(s);
		return -1;
	}
	if (fprintf(af.f, "%s%s", s, nl ? "\n" : "") < 0 ||
	    lmf_afile_commit(&af) < 0) {
		snprintf(err, errlen, "cannot write '%s': %s", path,
		    strerror(errno));
		if (af.f)
			lmf_afile_abort(&af);
		free(s);
		return -1;
	}
	free(s);
	return 0;
}

static long
ckpt_num(const char *name)
{
	long long n;

	if (strncmp(name, "checkpoint-", 11) || lmf_strtoll(name + 11, &n) ||
	    n < 0 || name[11] == '+' || name[11] == '-')
		return -1;
	return (long)n;
}

long
lmf_ckpt_last(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	struct stat sb;
	long best = -1, n;
	char *p;

	if (!d)
		return -1;
	while ((de = readdir(d))) {
		if ((n = ckpt_num(de->d_name)) <= best)
			continue;
		p = xasprintf("%s/%s", dir, de->d_name);
		if (!stat(p, &sb) && S_ISDIR(sb.st_mode))
			best = n;
		free(p);
	}
	closedir(d);
	return best;
}

const char *
lmf_ckpt_weights(const char *dir)
{
	static const char *const names[] = { "adapter_model.safetensors",
		"adapter_model.bin", "model.safetensors.index.json",
		"model.safetensors", "pytorch_model.bin.index.json",
		"pytorch_model.bin", "adapter.lmf", "model.lmf", NULL };
	struct stat sb;
	int i, found = 0;
	char *p;

	for (i = 0; names[i]; i++) {
		p = xasprintf("%s/%s", dir, names[i]);
		found = !stat(p, &sb) && S_ISREG(sb.st_mode);
		free(p);
		if (found)
			return names[i];
	}
	return NULL;
}

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *f)
{
	(void)sb;
	(void)f;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

int
lmf_ckpt_rmtree(const char *dir)
{
	return nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int
lmf_ckpt_lock(const char *dir, long *holder)
{
	char *path = xasprintf("%s/.lmf-lock", dir), buf[32];
	long long v;
	ssize_t n;
	int fd, e;

	*holder = 0;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	free(path);
	if (fd < 0)
		return -1;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		e = errno;
		n = pread(fd, buf, sizeof buf - 1, 0);
		if (n > 0) {
			buf[n] = '\0';
			buf[strcspn(buf, "\n")] = '\0';
			if (!lmf_strtoll(buf, &v) && v > 0 && v <= LONG_MAX)
				*holder = (long)v;
		}
		close(fd);
		errno = e == EAGAIN ? EWOULDBLOCK : e;
		return -1;
	}
	n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* the PID of a temp name NAME.tmp-PID-XXXXXX (file, 1) or
 * checkpoint-N.tmp-PID / checkpoint-N.old-PID (directory, 0), where the
 * part before it is *stem long; -1 if name is none of these */
static long
tmp_pid(const char *name, int file, size_t *stem)
{
	const char *p, *q, *mark = file ? ".tmp-" : NULL;
	long long v;
	char buf[24];
	size_t n;

	if (!file) {
		if (ckpt_num(name) >= 0 || strncmp(name, "checkpoint-", 11))
			return -1;
		if ((p = strstr(name, ".tmp-")) || (p = strstr(name, ".old-")))
			mark = p;
		else
			return -1;
		p = mark;
		q = name + strlen(name);
		n = (size_t)(p - name);
		if (n >= sizeof buf)
			return -1;
		memcpy(buf, name, n);
		buf[n] = '\0';
		if (ckpt_num(buf) < 0)
			return -1;
	} else {
		/* the last ".tmp-", then digits, '-', six characters */
		for (p = NULL, q = name; (q = strstr(q, mark)); q++)
			p = q;
		if (!p || p == name)
			return -1;
		q = strrchr(p, '-');
		if (strlen(q) != 7 || q <= p + 5 || strspn(q + 1,
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		    "0123456789") != 6)
			return -1;
	}
	n = (size_t)(q - (p + 5));
	if (n == 0 || n >= sizeof buf || strspn(p + 5, "0123456789") != n)
		return -1;
	memcpy(buf, p + 5, n);
	buf[n] = '\0';
	if (lmf_strtoll(buf, &v) || v <= 0 || v > LONG_MAX)
		return -1;
	*stem = (size_t)(p - name);
	return (long)v;
}

/* 1 if pid is a process other than us that is still running */
static int
pid_alive(long pid)
{
	if (pid == (long)getpid())
		return 0;
	return kill((pid_t)pid, 0) == 0 || errno != ESRCH;
}

int
lmf_ckpt_clean_tmp(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	struct stat sb;
	char *p, *fin;
	size_t stem;
	long pid;
	int isdir, n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		p = xasprintf("%s/%s", dir, de->d_name);
		if (lstat(p, &sb) < 0 || !((isdir = S_ISDIR(sb.st_mode)) ||
		    S_ISREG(sb.st_mode)) ||
		    (pid = tmp_pid(de->d_name, !isdir, &stem)) < 0 ||
		    pid_alive(pid)) {
			free(p);
			continue;
		}
		if (isdir && strstr(de->d_name + stem, ".old-") ==
		    de->d_name + stem) {
			/* a commit died between its two renames */
			fin = xasprintf("%s/%.*s", dir, (int)stem,
			    de->d_name);
			if (lstat(fin, &sb) < 0 && errno == ENOENT &&
			    rename(p, fin) == 0) {
				n++;
				free(fin);
				free(p);
				continue;
			}
			free(fin);
		}
		if ((isdir ? lmf_ckpt_rmtree(p) : unlink(p)) == 0)
			n++;
		free(p);
	}
	closedir(d);
	return n;
}

static int
cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return (x > y) - (x < y);
}

void
lmf_ckpt_prune(const char *dir, long limit)
{
	DIR *d;
	struct dirent *de;
	long *v = NULL, n;
	size_t nv = 0, cap = 0, i;
	char *p;

	if (limit <= 0 || !(d = opendir(dir)))
		return;
	while ((de = readdir(d))) {
		if ((n = ckpt_num(de->d_name)) < 0)
			continue;
		if (nv == cap) {
			cap = cap ? 2 * cap : 16;
			v = xrealloc(v, cap * sizeof *v);
		}
		v[nv++] = n;
	}
	closedir(d);
	if (v)
		qsort(v, nv, sizeof *v, cmp_long);
	for (i = 0; i + (size_t)limit < nv; i++) {
		p = xasprintf("%s/checkpoint-%ld", dir, v[i]);
		if (lmf_ckpt_rmtree(p) < 0)
			warn("cannot remove '%s': %s", p, strerror(errno));
		free(p);
	}
	free(v);
}

int
lmf_ckpt_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY), rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

int
lmf_ckpt_commit(const char *tmp, const char *final)
{
	struct stat sb;
	char *old = NULL, *parent, *slash;
	int rc;

	if (lmf_ckpt_fsync_dir(tmp) < 0)
		return -1;
	if (!stat(final, &sb)) {
		old = xasprintf("%s.old-%ld", final, (long)getpid());
		if (rename(final, old) < 0) {
			free(old);
			return -1;
		}
	}
	rc = rename(tmp, final);
	if (old) {
		if (rc == 0)
			lmf_ckpt_rmtree(old);
		else
			rename(old, final);
		free(old);
	}
	parent = xstrdup(final);
	slash = strrchr(parent, '/');
	if (slash)
		*slash = '\0';
	if (rc == 0)
		lmf_ckpt_fsync_dir(slash ? parent : ".");
	free(parent);
	return rc;
}
