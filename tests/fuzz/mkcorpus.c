/* mkcorpus: write the seed corpus of the stream fuzzer, a dozen small valid
 * lmf streams, raw and zstd, into DIR (tests/fuzz/corpus/stream). It covers
 * every dtype, scalars, empty dims, empty items, unknown records, many
 * frames and concatenated streams; it does not write invalid streams (the
 * fuzzer makes those). Output is deterministic. tests/fuzz/run.sh -c
 * rebuilds it and rewrites the corpus. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lmf/stream.h"
#include "lmf/util.h"
#include "lmf/banned.h"

static const char *dir;

static struct lmf_wr *
open_out(const char *name, const char *kind, int level, uint64_t frame)
{
	struct lmf_wropts o = { level, 0, frame };
	char *path = xasprintf("%s/%s", dir, name);
	json_t *meta = json_pack("{s:s,s:s,s:i}", "kind", kind, "command",
	    "mkcorpus", "seed", 42);
	struct lmf_wr *w = lmf_wr_open_or_die(path, meta, &o);

	json_decref(meta);
	free(path);
	return w;
}

static void
put(struct lmf_wr *w, const char *name, int dtype, int ndim,
    const int64_t *shape, struct lmf_rng *rng)
{
	struct lmf_tensor t = { (char *)name, dtype, ndim, { 0 }, NULL, 0 };
	unsigned char *p;
	uint64_t i;
	int k;

	for (k = 0; k < ndim; k++)
		t.shape[k] = shape[k];
	t.nbytes = lmf_tensor_numel(&t) * lmf_dtype_size(dtype);
	p = xmalloc(t.nbytes ? t.nbytes : 1);
	for (i = 0; i < t.nbytes; i++)
		p[i] = (unsigned char)lmf_rng_u32(rng);
	if (dtype == LMF_F32)
		for (i = 0; i < t.nbytes / 4; i++) {
			float f = lmf_rng_normal(rng) * 0.02f;

			memcpy(p + 4 * i, &f, 4);
		}
	t.data = p;
	lmf_wr_tensor_or_die(w, &t);
	free(p);
}

/* one item of an examples stream: token ids, labels, a mask */
static void
example(struct lmf_wr *w, int len, struct lmf_rng *rng)
{
	int64_t s[1] = { len };

	if (lmf_wr_item(w, 3) < 0)
		die("%s", lmf_wr_errmsg(w));
	put(w, "input_ids", LMF_I32, 1, s, rng);
	put(w, "labels", LMF_I32, 1, s, rng);
	put(w, "attention_mask", LMF_U8, 1, s, rng);
}

static void
examples(const char *name, int level, int nitems, int other, uint64_t frame)
{
	struct lmf_rng rng;
	struct lmf_wr *w = open_out(name, "examples", level, frame);
	int i;

	lmf_rng_seed(&rng, (uint64_t)nitems);
	for (i = 0; i < nitems; i++) {
		if (other && i == 1 && lmf_wr_other(w, "NOTE", "seed corpus",
		    11) < 0)
			die("%s", lmf_wr_errmsg(w));
		example(w, 3 + i % 7, &rng);
	}
	lmf_wr_close_or_die(w);
}

/* every dtype, a scalar, an empty dim, 8 dims, a long name, empty items */
static void
dtypes(const char *name, int level)
{
	static const int64_t s2[2] = { 2, 3 }, s0[1] = { 0 },
	    s8[8] = { 1, 2, 1, 2, 1, 1, 2, 1 };
	struct lmf_rng rng;
	struct lmf_wr *w = open_out(name, "model", level, 0);
	char longname[300];
	int d;

	lmf_rng_seed(&rng, 7);
	memset(longname, 'x', sizeof longname - 1);
	longname[sizeof longname - 1] = 0;
	lmf_wr_item(w, 0);
	lmf_wr_item(w, 10 + 3);
	for (d = LMF_F32; d <= LMF_BOOL; d++)
		put(w, lmf_dtype_name(d), d, 2, s2, &rng);
	put(w, "scalar", LMF_F32, 0, NULL, &rng);
	put(w, "empty", LMF_BF16, 1, s0, &rng);
	put(w, longname, LMF_F16, 8, s8, &rng);
	lmf_wr_item(w, 0);
	lmf_wr_close_or_die(w);
}

/* a model-like stream with one tensor of a few kB */
static void
model(const char *name, int level)
{
	static const int64_t s[2] = { 48, 64 }, b[1] = { 64 };
	struct lmf_rng rng;
	struct lmf_wr *w = open_out(name, "model", level, 0);

	lmf_rng_seed(&rng, 3);
	lmf_wr_item(w, 2);
	put(w, "model.layers.0.self_attn.q_proj.weight", LMF_BF16, 2, s, &rng);
	put(w, "model.norm.weight", LMF_F32, 1, b, &rng);
	lmf_wr_close_or_die(w);
}

static void
cat(const char *out, const char *a, const char *b)
{
	const char *in[2] = { a, b };
	char *path = xasprintf("%s/%s", dir, out);
	FILE *o = xfopen(path, "wb");
	int i;

	for (i = 0; i < 2; i++) {
		char *p = xasprintf("%s/%s", dir, in[i]);
		size_t len;
		char *s = lmf_read_file_or_die(p, &len, 1u << 20);

		if (fwrite(s, 1, len, o) != len)
			die("writing '%s': %s", path, strerror(errno));
		free(s);
		free(p);
	}
	if (fclose(o))
		die("writing '%s': %s", path, strerror(errno));
	free(path);
}

int
main(int argc, char **argv)
{
	lmf_init(argc, argv);
	if (argc != 2)
		die_usage("usage: mkcorpus DIR");
	dir = argv[1];
	examples("empty.raw", 0, 0, 0, 0);
	examples("empty.zst", 1, 0, 0, 0);
	examples("one.raw", 0, 1, 0, 0);
	examples("one.zst", 1, 1, 0, 0);
	examples("other.raw", 0, 4, 1, 0);
	examples("frames.zst", 1, 12, 1, 64);
	examples("fast.zst", -3, 5, 0, 0);
	dtypes("dtypes.raw", 0);
	dtypes("dtypes.zst", 3);
	model("model.raw", 0);
	model("model.zst", 1);
	cat("concat.raw", "one.raw", "other.raw");
	cat("concat-mixed", "one.zst", "other.raw");
	return 0;
}
