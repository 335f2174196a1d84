/* stream_fuzz: libFuzzer harness for the lmf stream reader (stream.c).
 * Reads every input twice, record by record in small payload chunks and
 * item by item; the two must agree. A stream that reads cleanly is written
 * again with lmf_wr (raw or zstd) and read back to the same items and
 * metadata. Any disagreement aborts; memory errors are the sanitizers'.
 * It does not fuzz the writer's own inputs, only what a reader accepted. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lmf/stream.h"
#include "lmf/util.h"
#include "lmf/banned.h"

/* past this many decompressed payload bytes an input is a zstd bomb: it
 * is read record by record only (the item reader would hold it all) */
#define MAX_HELD (64u << 20)

struct digest {
	uint64_t h;        /* FNV-1a over every tensor: name, dtype, shape, data */
	uint64_t ntensors;
	uint64_t bytes;
	uint64_t items;
};

static void
fnv(struct digest *d, const void *p, size_t n)
{
	const unsigned char *c = p;
	size_t i;

	for (i = 0; i < n; i++) {
		d->h ^= c[i];
		d->h *= 0x100000001b3ull;
	}
}

static void
digest_tensor_head(struct digest *d, const struct lmf_tensor *t)
{
	unsigned char b[2 + 8 * LMF_MAX_DIMS];
	int i;

	fnv(d, t->name, strlen(t->name) + 1);
	b[0] = (unsigned char)t->dtype;
	b[1] = (unsigned char)t->ndim;
	for (i = 0; i < t->ndim; i++)
		lmf_put_u64(b + 2 + 8 * i, (uint64_t)t->shape[i]);
	fnv(d, b, 2 + 8 * (size_t)t->ndim);
	d->ntensors++;
}

static void
fail(const char *what)
{
	fprintf(stderr, "stream_fuzz: %s\n", what);
	abort();
}

/* a reader must leave a one-sentence message on failure */
static void
check_failed(struct lmf_rd *r, int rc)
{
	if (rc >= 0)
		fail("negative code expected");
	if (!lmf_rd_errmsg(r)[0])
		fail("failure without a message");
	if (!lmf_strerror(rc)[0])
		fail("error code without a text");
}

/* pass 1: lmf_rd_next + lmf_rd_payload in chunks of 1..97 bytes (seeded
 * by the input), unknown records read or left to be skipped */
static int
read_records(const uint8_t *data, size_t size, struct digest *d)
{
	struct lmf_rd *r;
	struct lmf_recinfo rec;
	unsigned char buf[4096];
	uint32_t seed = (uint32_t)size * 2654435761u;
	int err, rc;

	memset(d, 0, sizeof *d);
	d->h = 0xcbf29ce484222325ull;
	r = lmf_rd_open_mem(data, size, &err);
	if (!r) {
		if (err >= 0 || !lmf_rd_open_errmsg()[0])
			fail("open failed without an error");
		return err;
	}
	if (!lmf_rd_kind(r) || !lmf_rd_meta(r))
		fail("open succeeded without a kind");
	while ((rc = lmf_rd_next(r, &rec)) > 0) {
		uint64_t left;

		if (rc == LMF_REC_ITEM) {
			d->items++;
			continue;
		}
		if (rc == LMF_REC_OTHER && (seed & 1)) {
			seed = seed * 1103515245u + 12345u;
			continue;       /* lmf_rd_next skips it */
		}
		if (rc == LMF_REC_TENSOR) {
			if (rec.t.nbytes != lmf_tensor_numel(&rec.t) *
			    lmf_dtype_size(rec.t.dtype))
				fail("tensor size disagrees with its shape");
			digest_tensor_head(d, &rec.t);
		} else if (rc != LMF_REC_OTHER) {
			fail("unexpected record type");
		}
		for (left = rec.len; left;) {
			size_t n;

			seed = seed * 1103515245u + 12345u;
			n = (seed >> 16) % 97 + 1;
			if ((seed >> 8) % 16 == 0)
				n = sizeof buf;
			if (n > left)
				n = (size_t)left;
			if ((rc = lmf_rd_payload(r, buf, n)) < 0)
				goto out;
			if (rec.type == LMF_REC_TENSOR) {
				fnv(d, buf, n);
				d->bytes += n;
			}
			left -= n;
		}
		if (d->bytes > MAX_HELD)
			break;
	}
out:
	if (rc < 0)
		check_failed(r, rc);
	else if (rc == LMF_REC_EOF && lmf_rd_items(r) != d->items)
		fail("item count disagrees with the items read");
	lmf_rd_close(r);
	return rc;
}

static void
digest_item(struct digest *d, const struct lmf_item *it)
{
	int i;

	d->items++;
	for (i = 0; i < it->ntensors; i++) {
		digest_tensor_head(d, &it->t[i]);
		fnv(d, it->t[i].data, it->t[i].nbytes);
		d->bytes += it->t[i].nbytes;
	}
}

static int
same_items(const struct lmf_item *a, const struct lmf_item *b)
{
	int i, k;

	if (a->ntensors != b->ntensors)
		return 0;
	for (i = 0; i < a->ntensors; i++) {
		const struct lmf_tensor *x = &a->t[i], *y = &b->t[i];

		if (strcmp(x->name, y->name) || x->dtype != y->dtype ||
		    x->ndim != y->ndim || x->nbytes != y->nbytes ||
		    memcmp(x->data, y->data, x->nbytes))
			return 0;
		for (k = 0; k < x->ndim; k++)
			if (x->shape[k] != y->shape[k])
				return 0;
	}
	return 1;
}

/* write the items again and read them back: same items, same metadata */
static void
rewrite(struct lmf_rd *src, struct lmf_item *items, size_t n, int level)
{
	struct lmf_wropts o = { level, 0, 0 };
	struct lmf_wr *w;
	struct lmf_rd *r;
	struct lmf_item it;
	json_t *meta = json_deep_copy(lmf_rd_meta(src));
	int fd = memfd_create("stream_fuzz", 0), err, rc;
	size_t i;

	if (fd < 0 || !meta)
		fail("no memfd or metadata copy");
	/* 256 bytes per zstd frame: many frames even for small inputs */
	o.frame_bytes = level ? 256 : 0;
	if (!json_object_get(meta, "command"))
		json_object_set_new(meta, "command", json_string("stream_fuzz"));
	w = lmf_wr_open_fd(fd, meta, &o, &err);
	if (!w)
		fail("cannot rewrite a stream that was read");
	for (i = 0; i < n; i++)
		if (lmf_wr_write_item(w, &items[i]) < 0)
			fail(lmf_wr_errmsg(w));
	if (lmf_wr_close(w) < 0)
		fail("closing the rewritten stream failed");
	if (lseek(fd, 0, SEEK_SET) != 0)
		fail("lseek");
	r = lmf_rd_open_fd(fd, "<rewrite>", &err);
	if (!r)
		fail(lmf_rd_open_errmsg());
	if (!json_equal(lmf_rd_meta(r), meta))
		fail("metadata changed in the rewrite");
	if (lmf_rd_compressed(r) != (level != 0))
		fail("compression flag changed in the rewrite");
	for (i = 0; (rc = lmf_rd_item(r, &it)) == 1; i++) {
		if (i >= n || !same_items(&it, &items[i]))
			fail("rewritten item differs");
		lmf_item_free(&it);
	}
	if (rc != 0)
		fail(lmf_rd_errmsg(r));
	if (i != n || lmf_rd_items(r) != n)
		fail("rewritten stream has a different item count");
	lmf_rd_close(r);
	json_decref(meta);
	close(fd);
}

/* pass 2: whole items; compare with pass 1, then rewrite */
static int
read_items(const uint8_t *data, size_t size, struct digest *d)
{
	struct lmf_rd *r;
	struct lmf_item *items = NULL;
	size_t n = 0, cap = 0, i;
	int err, rc;

	memset(d, 0, sizeof *d);
	d->h = 0xcbf29ce484222325ull;
	r = lmf_rd_open_mem(data, size, &err);
	if (!r)
		return err;
	for (;;) {
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			items = xrealloc(items, cap * sizeof *items);
		}
		if ((rc = lmf_rd_item(r, &items[n])) <= 0)
			break;
		digest_item(d, &items[n]);
		n++;
	}
	if (rc < 0)
		check_failed(r, rc);
	else
		rewrite(r, items, n, (int)(size % 3) - 1);
	for (i = 0; i < n; i++)
		lmf_item_free(&items[i]);
	free(items);
	lmf_rd_close(r);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct digest a, b;
	int ra, rb;

	ra = read_records(data, size, &a);
	if (a.bytes > MAX_HELD)
		return 0;
	rb = read_items(data, size, &b);
	if ((ra == 0) != (rb == 0))
		fail("record and item readers disagree on success");
	if (ra == 0 && (a.h != b.h || a.ntensors != b.ntensors ||
	    a.bytes != b.bytes || a.items != b.items))
		fail("record and item readers read different tensors");
	return 0;
}
