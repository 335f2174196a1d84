/* stream_test: write streams (raw and zstd), read them back; truncate a
 * small stream at every byte offset and flip bytes: every failure must be
 * an error code, never a crash or a wrong success. TAP output. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lmf/stream.h"
#include "lmf/util.h"
#include "tap.h"


/* write a small stream into memory through a pipe-less temp file */
static unsigned char *
make_stream(int level, size_t *len, int nitems)
{
	char path[] = "/tmp/lmf-stream-test-XXXXXX";
	int fd = mkstemp(path), err, i;
	json_t *meta = json_pack("{s:s,s:i}", "kind", "examples", "n", 3);
	struct lmf_wropts o = { level, 0, 64 };
	struct lmf_wr *w = lmf_wr_open_fd(fd, meta, &o, &err);
	unsigned char *buf;

	for (i = 0; i < nitems; i++) {
		int32_t ids[5] = { 1, 2, 3, 4, i };
		float f[6] = { 0.5f, -1, 2, 3, 4, (float)i };
		struct lmf_tensor t1 = { "input_ids", LMF_I32, 1, { 5 }, ids, 20 };
		struct lmf_tensor t2 = { "w", LMF_F32, 2, { 2, 3 }, f, 24 };

		lmf_wr_item(w, 2);
		lmf_wr_tensor(w, &t1);
		lmf_wr_tensor(w, &t2);
		if (i == 0)
			lmf_wr_other(w, "NOTE", "hello", 5);
	}
	if (lmf_wr_close(w) < 0)
		abort();
	json_decref(meta);
	*len = (size_t)lseek(fd, 0, SEEK_END);
	buf = xmalloc(*len);
	if (pread(fd, buf, *len, 0) != (ssize_t)*len)
		abort();
	close(fd);
	unlink(path);
	return buf;
}

/* read everything; 0 if the whole stream reads cleanly with n items */
static int
read_all(const unsigned char *buf, size_t len, int nitems)
{
	int err, rc, items = 0;
	struct lmf_rd *r = lmf_rd_open_mem(buf, len, &err);
	struct lmf_item it;

	if (!r)
		return err;
	while ((rc = lmf_rd_item(r, &it)) == 1) {
		struct lmf_tensor *t = lmf_item_find(&it, "input_ids");
		struct lmf_tensor *w = lmf_item_find(&it, "w");
		int32_t ids[5] = { 1, 2, 3, 4, items };
		float f[6] = { 0.5f, -1, 2, 3, 4, (float)items };

		if (it.ntensors != 2 || !t || !w || t->dtype != LMF_I32 ||
		    t->ndim != 1 || t->shape[0] != 5 || memcmp(t->data, ids, 20) ||
		    w->dtype != LMF_F32 || w->ndim != 2 || w->shape[0] != 2 ||
		    w->shape[1] != 3 || memcmp(w->data, f, 24)) {
			lmf_item_free(&it);
			lmf_rd_close(r);
			return -999;
		}
		items++;
		lmf_item_free(&it);
	}
	lmf_rd_close(r);
	if (rc < 0)
		return rc;
	return items == nitems ? 0 : -998;
}

int
main(int argc, char **argv)
{
	int level, bad;
	size_t len, i;

	lmf_init(argc, argv);
	for (level = 0; level <= 3; level += 3) {
		unsigned char *s = make_stream(level, &len, 4);
		char what[128];

		snprintf(what, sizeof what, "level %d: stream reads back", level);
		ok(read_all(s, len, 4) == 0, "%s", what);
		bad = 0;
		for (i = 0; i < len; i++) {
			int rc = read_all(s, i, 4);

			if (rc != LMF_E_TRUNCATED && rc != LMF_E_MAGIC &&
			    rc != LMF_E_CORRUPT) {
				printf("# truncated at %zu of %zu: rc %d\n", i, len, rc);
				bad++;
			}
		}
		snprintf(what, sizeof what, "level %d: truncation at each of %zu "
		    "offsets is an error", level, len);
		ok(bad == 0, "%s", what);
		bad = 0;
		for (i = 0; i < len; i++) {
			int rc;

			s[i] ^= 0x40;
			rc = read_all(s, len, 4);
			s[i] ^= 0x40;
			/* raw streams carry no checksum: a flipped payload byte
			 * reads as other data; the framing bytes must not pass */
			if (level && (rc == -999 || rc == -998 || rc > 0)) {
				printf("# flip at %zu of %zu read wrong data\n", i, len);
				bad++;
			}
		}
		snprintf(what, sizeof what, "level %d: flipped bytes never crash%s",
		    level, level ? " and never read wrong data" : "");
		ok(bad == 0, "%s", what);
		free(s);
	}
	{
		/* two streams concatenated read as one */
		size_t l1, l2;
		unsigned char *a = make_stream(3, &l1, 2), *b = make_stream(3, &l2, 2);
		unsigned char *c = xmalloc(l1 + l2);

		memcpy(c, a, l1);
		memcpy(c + l1, b, l2);
		/* items 0,1 then 0,1 again: check counts only */
		{
			int err, n = 0, rc;
			struct lmf_rd *r = lmf_rd_open_mem(c, l1 + l2, &err);
			struct lmf_item it;

			while ((rc = lmf_rd_item(r, &it)) == 1) {
				n++;
				lmf_item_free(&it);
			}
			ok(n == 4 && rc == 0, "concatenated streams read as one");
			lmf_rd_close(r);
		}
		free(a);
		free(b);
		free(c);
	}
	return tap_done();
}
