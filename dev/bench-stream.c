/* bench-stream: throughput of the lmf stream writer and reader, in MB/s of
 * tensor payload (1 MB = 10^6 bytes), for realistic payloads: f32 normal
 * weights, bf16 weights, i32 token-id batches. Each run writes a stream
 * of about SIZE MB to a file in DIR (page cache; no fsync) and reads it
 * back twice: record by record into a 1 MiB buffer, and item by item.
 * Prints one markdown table row per payload and level, best of REPS runs.
 * With -r FILE it only reads FILE, REPS times, and prints its read rates.
 * It measures the stream code only; pin it to a core with taskset. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lmf/stream.h"
#include "lmf/util.h"
#include "lmf/banned.h"

static struct opts {
	const char *dir;
	int reps;
	uint64_t size;       /* payload bytes per stream */
	int levels[16];
	int nlevels;
	const char *only;    /* one payload kind, or NULL for all */
	const char *readfile; /* -r: only read this stream */
} opts = { "dev/out", 3, 500000000, { 0, 1, -1, -3 }, 4, NULL, NULL };

enum { F32_WEIGHTS, BF16_WEIGHTS, I32_TOKENS, NKINDS };
static const char *kind_name[NKINDS] = { "f32 weights", "bf16 weights",
	"i32 tokens" };
static const char *kind_key[NKINDS] = { "f32", "bf16", "i32" };

#define POOL_BYTES (64u << 20)  /* the payload is cut from this pool */
#define WEIGHT_ELEMS (4u << 20) /* elements per weight tensor */
#define BATCH_B 8
#define BATCH_T 2048
#define VOCAB 32000

static unsigned char *pool[NKINDS];
static char *path;

static void
make_pools(void)
{
	struct lmf_rng rng;
	float *f = xmalloc(POOL_BYTES);
	uint16_t *h = xmalloc(POOL_BYTES);
	int32_t *ids = xmalloc(POOL_BYTES);
	size_t i;

	lmf_rng_seed(&rng, 1234);
	for (i = 0; i < POOL_BYTES / 4; i++)
		f[i] = lmf_rng_normal(&rng) * 0.02f;
	for (i = 0; i < POOL_BYTES / 2; i++)
		h[i] = lmf_f32_to_bf16(f[i % (POOL_BYTES / 4)] *
		    (i & 1 ? 1.5f : 1.0f));
	/* token ids: a Zipf-like spread over the vocabulary (rank ~ V^u),
	 * with runs of padding at the end of each sequence */
	for (i = 0; i < POOL_BYTES / 4; i++) {
		float u = lmf_rng_uniform(&rng);
		size_t pos = i % BATCH_T;

		ids[i] = pos > BATCH_T - (i / BATCH_T % 7) * 150 ? 0 :
		    (int32_t)powf((float)VOCAB, u) - 1;
	}
	pool[F32_WEIGHTS] = (unsigned char *)f;
	pool[BF16_WEIGHTS] = (unsigned char *)h;
	pool[I32_TOKENS] = (unsigned char *)ids;
}

static void
stream_die(const char *what, const char *msg)
{
	die("%s: %s", what, msg);
}

/* write one stream; returns seconds, sets *file_bytes */
static double
write_stream(int kind, int level, uint64_t *file_bytes)
{
	struct lmf_wropts o = { level, 0, 0 };
	json_t *meta = json_pack("{s:s,s:s}", "kind", kind == I32_TOKENS ?
	    "batches" : "model", "command", "bench-stream");
	uint64_t done = 0, off = 0;
	struct lmf_wr *w;
	double t0;
	int fd, err, n = 0;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		die_errno("cannot create '%s'", path);
	t0 = lmf_now();
	w = lmf_wr_open_fd(fd, meta, &o, &err);
	if (!w)
		exit(LMF_EXIT_FAIL);
	while (done < opts.size) {
		char name[64];
		int64_t shape[2];
		int i, nt = kind == I32_TOKENS ? 2 : 1;
		uint64_t bytes;

		if (kind == I32_TOKENS) {
			shape[0] = BATCH_B;
			shape[1] = BATCH_T;
		} else {
			shape[0] = 1024;
			shape[1] = WEIGHT_ELEMS / 1024;
		}
		bytes = (uint64_t)shape[0] * (uint64_t)shape[1] *
		    (kind == BF16_WEIGHTS ? 2 : 4);
		if (lmf_wr_item(w, (uint32_t)nt) < 0)
			stream_die("write", lmf_wr_errmsg(w));
		for (i = 0; i < nt; i++) {
			if (kind == I32_TOKENS)
				snprintf(name, sizeof name, "%s",
				    i ? "labels" : "input_ids");
			else
				snprintf(name, sizeof name,
				    "model.layers.%d.mlp.up_proj.weight", n);
			if (off + bytes > POOL_BYTES)
				off = 0;
			if (lmf_wr_tensor_begin(w, name, kind == BF16_WEIGHTS ?
			    LMF_BF16 : kind == F32_WEIGHTS ? LMF_F32 : LMF_I32,
			    2, shape) < 0 ||
			    lmf_wr_payload(w, pool[kind] + off, bytes) < 0)
				stream_die("write", lmf_wr_errmsg(w));
			/* the next tensor starts elsewhere in the pool */
			off += bytes + 4096 * 17;
			done += bytes;
		}
		n++;
	}
	if (lmf_wr_close(w) < 0)
		die("write: closing the stream failed");
	*file_bytes = (uint64_t)lseek(fd, 0, SEEK_END);
	if (close(fd))
		die_errno("closing '%s'", path);
	json_decref(meta);
	return lmf_now() - t0;
}

/* read record by record into a 1 MiB buffer; returns seconds */
static double
read_records(uint64_t *payload)
{
	static unsigned char buf[1u << 20];
	struct lmf_recinfo rec;
	struct lmf_rd *r;
	double t0 = lmf_now();
	int rc;

	*payload = 0;
	if (!(r = lmf_rd_open_or_die(path)))
		exit(LMF_EXIT_FAIL);
	while ((rc = lmf_rd_next(r, &rec)) > 0) {
		uint64_t left = rec.type == LMF_REC_TENSOR ? rec.len : 0;

		while (left) {
			size_t n = left < sizeof buf ? (size_t)left : sizeof buf;

			if ((rc = lmf_rd_payload(r, buf, n)) < 0)
				break;
			left -= n;
			*payload += n;
		}
		if (rc < 0)
			break;
	}
	if (rc < 0)
		stream_die("read", lmf_rd_errmsg(r));
	lmf_rd_close(r);
	return lmf_now() - t0;
}

/* read whole items, as most tools do; returns seconds */
static double
read_items(uint64_t *payload)
{
	struct lmf_item it;
	struct lmf_rd *r;
	double t0 = lmf_now();
	int i;

	*payload = 0;
	r = lmf_rd_open_or_die(path);
	while (lmf_rd_item_or_die(r, &it) > 0) {
		for (i = 0; i < it.ntensors; i++)
			*payload += it.t[i].nbytes;
		lmf_item_free(&it);
	}
	lmf_rd_close(r);
	return lmf_now() - t0;
}

static double
mbps(uint64_t bytes, double secs)
{
	return secs > 0 ? (double)bytes / secs / 1e6 : 0;
}

static void
bench(int kind, int level)
{
	double w = 1e30, rr = 1e30, ri = 1e30, s;
	uint64_t fbytes = 0, p1 = 0, p2 = 0;
	int i;

	for (i = 0; i < opts.reps; i++) {
		if ((s = write_stream(kind, level, &fbytes)) < w)
			w = s;
		if ((s = read_records(&p1)) < rr)
			rr = s;
		if ((s = read_items(&p2)) < ri)
			ri = s;
	}
	if (p1 != p2)
		die("the two reads disagree: %llu and %llu payload bytes",
		    (unsigned long long)p1, (unsigned long long)p2);
	printf("| %s | %d | %.0f | %.0f | %.0f | %.3f | %.0f |\n",
	    kind_name[kind], level, mbps(p1, w), mbps(p1, rr), mbps(p1, ri),
	    (double)p1 / (double)fbytes, (double)fbytes / 1e6);
	fflush(stdout);
}

/* -r FILE: read an existing stream only */
static void
bench_file(void)
{
	double rr = 1e30, ri = 1e30, s;
	uint64_t p1 = 0, p2 = 0;
	int i;

	path = (char *)opts.readfile;
	for (i = 0; i < opts.reps; i++) {
		if ((s = read_records(&p1)) < rr)
			rr = s;
		if ((s = read_items(&p2)) < ri)
			ri = s;
	}
	printf("%s: %.0f MB payload, read %.0f MB/s, read item %.0f MB/s\n",
	    opts.readfile, (double)p1 / 1e6, mbps(p1, rr), mbps(p2, ri));
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: bench-stream [-d DIR] [-n REPS] [-s MB] "
	    "[-l LEVEL,...] [-k f32|bf16|i32]\n"
	    "       bench-stream -r FILE [-n REPS]\n");
}

int
main(int argc, char **argv)
{
	int c, k, i;
	char *s, *tok;

	lmf_init(argc, argv);
	while ((c = lmf_getopt(argc, argv, "d:n:s:l:k:r:hV", NULL)) != -1) {
		switch (c) {
		case 'd':
			opts.dir = optarg;
			break;
		case 'n':
			opts.reps = (int)lmf_parse_int("-n", optarg, 1, 100);
			break;
		case 's':
			opts.size = (uint64_t)lmf_parse_int("-s", optarg, 1,
			    100000) * 1000000;
			break;
		case 'l':
			opts.nlevels = 0;
			s = xstrdup(optarg);
			for (tok = s; tok; tok = strchr(tok, ',') ?
			    strchr(tok, ',') + 1 : NULL) {
				char *e = strchr(tok, ',');

				if (e)
					*e = 0;
				if (opts.nlevels == 16)
					die_usage("too many levels");
				opts.levels[opts.nlevels++] = lmf_parse_level(tok);
				if (e)
					*e = ',';
			}
			free(s);
			break;
		case 'k':
			opts.only = optarg;
			break;
		case 'r':
			opts.readfile = optarg;
			break;
		case 'h':
			lmf_help_exit(usage);
		case 'V':
			lmf_version_exit();
		default:
			BUG("option %d", c);
		}
	}
	if (optind != argc)
		lmf_usage_exit(usage);
	if (opts.readfile) {
		bench_file();
		return 0;
	}
	path = xasprintf("%s/bench-stream.lmf", opts.dir);
	make_pools();
	printf("| payload | level | write MB/s | read MB/s | read item MB/s "
	    "| ratio | file MB |\n|---|---:|---:|---:|---:|---:|---:|\n");
	for (k = 0; k < NKINDS; k++) {
		if (opts.only && strcmp(opts.only, kind_key[k]))
			continue;
		for (i = 0; i < opts.nlevels; i++)
			bench(k, opts.levels[i]);
	}
	unlink(path);
	return 0;
}
