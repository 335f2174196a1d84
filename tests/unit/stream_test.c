/* stream_test: write streams (raw and zstd), read them back; truncate a
 * small stream at every byte offset and flip bytes: every failure must be
 * an error code, never a crash or a wrong success. Zstd frames are bounded
 * and a damaged frame stops the reader before any of its items.
 * lmf_rd_item_place: float tensors converted into the places a callback
 * names (f16, bf16 to f32; f32 to bf16 across the reader's buffer), the
 * others read as before, and truncation an error there too. TAP
 * output. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

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

/* the bytes a writer with options o produced for nitems items of 16
 * token ids, item 3 also carrying a u8 tensor of big noise bytes */
static unsigned char *
make_frames(const struct lmf_wropts *o, int nitems, size_t big, size_t *len)
{
	char path[] = "/tmp/lmf-stream-test-XXXXXX";
	int fd = mkstemp(path), err, i, j;
	json_t *meta = json_pack("{s:s}", "kind", "examples");
	struct lmf_wr *w = lmf_wr_open_fd(fd, meta, o, &err);
	unsigned char *buf, *noise = xmalloc(big ? big : 1);
	uint32_t x = 2463534242u;
	size_t k;

	if (!w)
		abort();
	for (k = 0; k < big; k++) {
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		noise[k] = (unsigned char)x;
	}
	for (i = 0; i < nitems; i++) {
		int32_t ids[16];
		struct lmf_tensor t = { "input_ids", LMF_I32, 1, { 16 }, ids, 64 };
		struct lmf_tensor n = { "noise", LMF_U8, 1, { (int64_t)big },
			noise, big };

		for (j = 0; j < 16; j++)
			ids[j] = i * 31 + j;
		lmf_wr_item(w, i == 3 && big ? 2 : 1);
		lmf_wr_tensor(w, &t);
		if (i == 3 && big)
			lmf_wr_tensor(w, &n);
	}
	if (lmf_wr_close(w) < 0)
		abort();
	json_decref(meta);
	free(noise);
	*len = (size_t)lseek(fd, 0, SEEK_END);
	buf = xmalloc(*len);
	if (pread(fd, buf, *len, 0) != (ssize_t)*len)
		abort();
	close(fd);
	unlink(path);
	return buf;
}

#define MAXF 4096
#define NITEMS 25000
/* split s into its zstd frames: offsets, compressed and content sizes */
static size_t
split_frames(const unsigned char *s, size_t len, size_t *zoff, size_t *zlen,
    size_t *clen)
{
	static unsigned char dst[LMF_MAX_FRAME];
	size_t n = 0, off = 0;

	while (off < len && n < MAXF) {
		size_t z = ZSTD_findFrameCompressedSize(s + off, len - off);
		size_t c = ZSTD_decompress(dst, sizeof dst, s + off, z);

		if (ZSTD_isError(z) || ZSTD_isError(c))
			abort();
		zoff[n] = off;
		zlen[n] = z;
		clen[n++] = c;
		off += z;
	}
	return n;
}

/* the decompressed offset at which each item's last record ends */
static size_t
item_ends(const unsigned char *s, size_t len, uint64_t *end, size_t max)
{
	size_t cap = 64u << 20, n = 0, off = 0;
	unsigned char *raw = xmalloc(cap);
	size_t rlen = ZSTD_decompress(raw, cap, s, len);
	uint32_t due = 0;

	if (ZSTD_isError(rlen))
		abort();
	while (off + 12 <= rlen && n < max) {
		uint64_t l = lmf_get_u64(raw + off + 4);

		if (!memcmp(raw + off, "ITEM", 4))
			due = lmf_get_u32(raw + off + 12);
		off += 12 + l;
		if (!memcmp(raw + off - 12 - l, "TNSR", 4) && --due == 0)
			end[n++] = off;
	}
	free(raw);
	return n;
}

/* items lmf_rd_item returns before it fails (or the end) */
static int
items_before_failure(const unsigned char *s, size_t len, int *rc)
{
	int err, n = 0;
	struct lmf_rd *r = lmf_rd_open_mem(s, len, &err);
	struct lmf_item it;

	if (!r) {
		*rc = err;
		return 0;
	}
	while ((*rc = lmf_rd_item(r, &it)) == 1) {
		n++;
		lmf_item_free(&it);
	}
	lmf_rd_close(r);
	return n;
}

/* one zstd frame (checksummed) holding the raw stream of one u8 tensor of
 * n zero bytes, as zstd(1) would write it: the frame bound of a reader */
static unsigned char *
one_big_frame(size_t n, size_t *len)
{
	size_t rawlen, cap;
	unsigned char *raw, *z;
	const char *js = "{\"kind\":\"x\"}";
	size_t jl = strlen(js), o = 0;
	ZSTD_CCtx *c = ZSTD_createCCtx();

	rawlen = 16 + jl + 16 + 12 + 2 + 5 + 2 + 8 + n + 20;
	raw = xcalloc(1, rawlen);
	memcpy(raw, "LMFS", 4), lmf_put_u64(raw + 4, 4 + jl);
	lmf_put_u32(raw + 12, 1), memcpy(raw + 16, js, jl), o = 16 + jl;
	memcpy(raw + o, "ITEM", 4), lmf_put_u64(raw + o + 4, 4);
	lmf_put_u32(raw + o + 12, 1), o += 16;
	memcpy(raw + o, "TNSR", 4), lmf_put_u64(raw + o + 4, 2 + 5 + 2 + 8 + n);
	lmf_put_u16(raw + o + 12, 5), memcpy(raw + o + 14, "bytes", 5);
	raw[o + 19] = LMF_U8, raw[o + 20] = 1;
	lmf_put_u64(raw + o + 21, n), o += 29 + n;
	memcpy(raw + o, "ENDS", 4), lmf_put_u64(raw + o + 4, 8);
	lmf_put_u64(raw + o + 12, 1), o += 20;
	if (o != rawlen)
		abort();
	cap = ZSTD_compressBound(rawlen);
	z = xmalloc(cap);
	ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
	*len = ZSTD_compress2(c, z, cap, raw, rawlen);
	if (ZSTD_isError(*len))
		abort();
	ZSTD_freeCCtx(c);
	free(raw);
	return z;
}

static void
test_frames(void)
{
	static size_t zoff[MAXF], zlen[MAXF], clen[MAXF];
	static uint64_t iend[NITEMS];
	/* frames far larger than the reader's decoding steps (128 KiB), as
	 * the 4 MiB default is, with many small items in each */
	struct lmf_wropts o = { 1, 0, 1u << 20 };
	size_t len, nf, ni, f, i, maxc = 0, sum = 0, bad = 0, checked = 0;
	unsigned char *s = make_frames(&o, NITEMS, 2500000, &len);
	int rc, err;

	/* the writer: no frame holds more than frame_bytes, even across the
	 * 2.5 MB tensor */
	nf = split_frames(s, len, zoff, zlen, clen);
	for (f = 0; f < nf; f++) {
		maxc = clen[f] > maxc ? clen[f] : maxc;
		sum += clen[f];
	}
	ok(nf >= 5 && maxc <= 1u << 20, "frame_bytes 1 MiB: %zu frames, the "
	    "largest of %zu bytes", nf, maxc);
	/* the reader: with frame f's checksum damaged, every item that ends
	 * before frame f is read, and none that ends inside it */
	ni = item_ends(s, len, iend, NITEMS);
	ok(ni == NITEMS && iend[ni - 1] <= sum, "%zu items end within the %zu "
	    "bytes of content", ni, sum);
	for (f = 0, sum = 0; f < nf; sum += clen[f], f++) {
		size_t want = 0;
		int got;

		for (i = 0; i < ni; i++)
			want += iend[i] <= sum;
		s[zoff[f] + zlen[f] - 1] ^= 0x10; /* the frame's checksum */
		got = items_before_failure(s, len, &rc);
		s[zoff[f] + zlen[f] - 1] ^= 0x10;
		if ((size_t)got != want || rc != LMF_E_CORRUPT) {
			if (bad++ < 3)
				printf("# frame %zu damaged: %d items read, want "
				    "%zu; rc %d\n", f, got, want, rc);
		}
		checked++;
	}
	ok(bad == 0, "a damaged checksum in any of %zu frames stops the "
	    "reader before the first item that needs the frame", checked);
	free(s);

	/* the reader's bound: a frame of exactly LMF_MAX_FRAME bytes of
	 * content (another writer's) reads; one byte more is refused */
	{
		size_t over = LMF_MAX_FRAME - 93; /* less the records' bytes */
		struct lmf_rd *r;
		struct lmf_item it;

		s = one_big_frame(over, &len);
		r = lmf_rd_open_mem(s, len, &err);
		rc = r ? lmf_rd_item(r, &it) : err;
		ok(rc == 1 && it.t[0].nbytes == over, "a frame of %u bytes "
		    "(the bound) reads", LMF_MAX_FRAME);
		if (rc == 1)
			lmf_item_free(&it);
		lmf_rd_close(r);
		free(s);
		/* the header is in that frame: opening fails */
		s = one_big_frame(over + 1, &len);
		r = lmf_rd_open_mem(s, len, &err);
		ok(!r && err == LMF_E_LIMIT &&
		    strstr(lmf_rd_open_errmsg(), "zstd -d") &&
		    !strchr(lmf_rd_open_errmsg(), '\n'), "a frame of one byte "
		    "more is refused: %s", lmf_rd_open_errmsg());
		lmf_rd_close(r);
		free(s);
	}
	o.frame_bytes = (uint64_t)LMF_MAX_FRAME + 1;
	{
		json_t *meta = json_pack("{s:s}", "kind", "x");
		struct lmf_wr *w = lmf_wr_open_fd(-1, meta, &o, &err);

		ok(!w && err == LMF_E_PARAM, "a writer refuses frames past the "
		    "reader's bound");
		lmf_wr_abort(w);
		json_decref(meta);
	}
}

/* lmf_rd_item_place's test stream: a (f16), b (bf16), c (f32, 5000),
 * d (i32), e (f32) in one item */
#define PLACE_N 5000
static unsigned char *
make_place_stream(size_t *len, float *cv)
{
	char path[] = "/tmp/lmf-stream-test-XXXXXX";
	int fd = mkstemp(path), err, i;
	json_t *meta = json_pack("{s:s}", "kind", "model");
	struct lmf_wropts o = { 3, 0, 0 };
	struct lmf_wr *w = lmf_wr_open_fd(fd, meta, &o, &err);
	uint16_t a[3] = { 0x3c00, 0xc000, 0x3800 }, b[2] = { 0x3f80, 0xc040 };
	int32_t d[2] = { 7, 8 };
	float e[2] = { 1.5f, 2.5f };
	struct lmf_tensor t[5] = {
		{ "a", LMF_F16, 1, { 3 }, a, 6 },
		{ "b", LMF_BF16, 1, { 2 }, b, 4 },
		{ "c", LMF_F32, 1, { PLACE_N }, cv, PLACE_N * 4 },
		{ "d", LMF_I32, 1, { 2 }, d, 8 },
		{ "e", LMF_F32, 1, { 2 }, e, 8 } };
	unsigned char *buf;

	for (i = 0; i < PLACE_N; i++)
		cv[i] = (float)i / 3.0f - 100.0f;
	lmf_wr_item(w, 5);
	for (i = 0; i < 5; i++)
		lmf_wr_tensor(w, &t[i]);
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

/* where a, b (f32) and c (bf16) go; the names offered are counted */
struct places {
	float a[3], b[2];
	uint16_t c[PLACE_N];
	int offered;
};

static void *
place_cb(void *ctx, const struct lmf_tensor *t, int *dtype)
{
	struct places *p = ctx;

	p->offered |= 1 << (t->name[0] - 'a');
	*dtype = t->name[0] == 'c' ? LMF_BF16 : LMF_F32;
	return t->name[0] == 'a' ? (void *)p->a : t->name[0] == 'b' ?
	    (void *)p->b : t->name[0] == 'c' ? (void *)p->c : NULL;
}

static void
test_place(void)
{
	static float cv[PLACE_N];
	static struct places p;
	size_t len, i;
	unsigned char *s = make_place_stream(&len, cv);
	struct lmf_rd *r;
	struct lmf_item it;
	int err, rc, same = 1, bad = 0;

	r = lmf_rd_open_mem(s, len, &err);
	rc = lmf_rd_item_place(r, &it, place_cb, &p);
	for (i = 0; i < PLACE_N; i++)
		same &= p.c[i] == lmf_f32_to_bf16(cv[i]);
	ok(rc == 1 && it.ntensors == 5 && p.offered == (1 | 2 | 4 | 16),
	    "place: an item of 5, float tensors offered, i32 not");
	ok(p.a[0] == 1 && p.a[1] == -2 && p.a[2] == 0.5f && p.b[0] == 1 &&
	    p.b[1] == -3, "place: f16 and bf16 widened into f32 places");
	ok(same, "place: %d f32 narrowed to bf16 across the buffer", PLACE_N);
	ok(!it.t[0].data && it.t[0].dtype == LMF_F32 && !it.t[2].data &&
	    it.t[2].dtype == LMF_BF16 && it.t[2].nbytes == 2 * PLACE_N &&
	    it.t[3].data && ((int32_t *)it.t[3].data)[1] == 8 &&
	    it.t[4].data && ((float *)it.t[4].data)[1] == 2.5f,
	    "place: placed tensors without data in the item, the rest read");
	lmf_item_free(&it);
	lmf_rd_close(r);
	for (i = 0; i < len; i++) {
		if (!(r = lmf_rd_open_mem(s, i, &err)))
			continue;
		rc = lmf_rd_item_place(r, &it, place_cb, &p);
		if (rc == 1)
			lmf_item_free(&it);
		if (rc >= 0 && (rc = lmf_rd_item(r, &it)) == 0)
			bad++;
		lmf_rd_close(r);
	}
	ok(bad == 0, "place: truncation at each of %zu offsets is an error",
	    len);
	free(s);
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
	test_frames();
	test_place();
	return tap_done();
}
