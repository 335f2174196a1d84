/* lmf-dump: print any lmf stream for a person, or as JSON Lines (--json)
 * that lmf-dump -r turns back into the identical stream, so a stage's
 * input can be crafted or edited by hand. It reads and checks the whole
 * stream a chunk at a time; it never edits a stream itself. */
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmf/dumpjson.h"
#include "lmf/stream.h"
#include "lmf/util.h"
#include "lmf/banned.h"

#define CHUNK (3u << 18)       /* payload bytes per read: a multiple of 3, 8 */
#define TEXT_MAX (256u << 20)  /* u8 tensors up to this size may be text */
#define ABBREV 1000            /* meta values longer than this are cut */
#define EXCERPT 60             /* bytes of a text tensor shown */

static struct opts {
	int json, hex, nvals, meta, quiet, undump, level;
	int outset, levelset, dumpset;
	uint64_t from, to;
	const char *out, *in;
} opt = { .nvals = 6, .level = LMF_DEFAULT_LEVEL, .to = UINT64_MAX,
	.out = "-", .in = "-" };

struct stats {
	uint64_t finite, nan, inf;
	double min, max, sum;
	int64_t imin, imax;
};

static struct lmf_rd *rd;
static unsigned char *chunk;
static uint32_t due;   /* tensors still due in the current item */
static int shown;      /* the current item is printed */
static int nelem;      /* elements printed in the current tensors array */

static void
rd_or_die(int rc)
{
	if (rc < 0)
		die("%s", lmf_rd_errmsg(rd));
}

static int
is_float(int dtype)
{
	return dtype == LMF_F32 || dtype == LMF_F64 || dtype == LMF_F16 ||
	    dtype == LMF_BF16;
}

/* a name for people: as it is when plain, else quoted with escapes */
static void
put_name(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t n = strlen(s), i;
	int plain = lmf_dumpjson_utf8_ok(s, n);

	for (i = 0; i < n && plain; i++)
		plain = u[i] > 0x20 && u[i] != 0x7f && u[i] != '"' &&
		    u[i] != '\\';
	if (plain) {
		fputs(s, stdout);
		return;
	}
	putchar('"');
	for (i = 0; i < n; i++) {
		size_t k = 0;

		if (u[i] >= 0x80)
			for (k = 4; k > 1; k--)
				if (i + k <= n &&
				    lmf_dumpjson_utf8_ok(u + i, k))
					break;
		if (k > 1) {
			fwrite(u + i, 1, k, stdout);
			i += k - 1;
		} else if (u[i] == '"' || u[i] == '\\') {
			printf("\\%c", u[i]);
		} else if (u[i] < 0x20 || u[i] >= 0x7f) {
			printf("\\x%02x", u[i]);
		} else {
			putchar(u[i]);
		}
	}
	putchar('"');
}

static void
meta_text(json_t *meta)
{
	const char **keys = xmallocarray(json_object_size(meta) + 1,
	    sizeof *keys);
	const char *k;
	json_t *v;
	size_t n = 0, i, j;

	json_object_foreach(meta, k, v)
		keys[n++] = k;
	for (i = 1; i < n; i++)
		for (j = i; j > 0 && strcmp(keys[j - 1], keys[j]) > 0; j--) {
			k = keys[j];
			keys[j] = keys[j - 1];
			keys[j - 1] = k;
		}
	printf("meta:\n");
	for (i = 0; i < n; i++) {
		char *js = json_dumps(json_object_get(meta, keys[i]),
		    JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
		size_t len = js ? strlen(js) : 0, cut = len;

		if (!js)
			die("out of memory printing the meta");
		if (!opt.meta && len > ABBREV) {
			cut = ABBREV;
			while (cut && ((unsigned char)js[cut] & 0xc0) == 0x80)
				cut--;
		}
		printf("  %s: %.*s", keys[i], (int)cut, js);
		if (cut < len)
			printf("... (%zu bytes)", len);
		putchar('\n');
		free(js);
	}
	free(keys);
}

static void
header(void)
{
	json_t *meta = lmf_rd_meta(rd);

	if (opt.json) {
		char *js = json_dumps(meta, JSON_COMPACT | JSON_SORT_KEYS);

		if (!js)
			die("out of memory printing the meta");
		printf("{\"lmf\":1,\"meta\":%s}\n", js);
		free(js);
		return;
	}
	printf("kind: %s\nversion: %d\ncompression: %s\n", lmf_rd_kind(rd),
	    LMF_STREAM_VERSION, lmf_rd_compressed(rd) ? "zstd" : "raw");
	meta_text(meta);
}

static void
stat_add(struct stats *s, int dtype, const unsigned char *p)
{
	double v;
	int64_t iv;

	switch (dtype) {
	case LMF_F32: {
		uint32_t u = lmf_get_u32(p);
		float f;

		memcpy(&f, &u, 4);
		v = f;
		break;
	}
	case LMF_F64: {
		uint64_t u = lmf_get_u64(p);

		memcpy(&v, &u, 8);
		break;
	}
	case LMF_F16: v = lmf_f16_to_f32(lmf_get_u16(p)); break;
	case LMF_BF16: v = lmf_bf16_to_f32(lmf_get_u16(p)); break;
	case LMF_I8: iv = (int8_t)p[0]; goto integer;
	case LMF_I16: iv = (int16_t)lmf_get_u16(p); goto integer;
	case LMF_I32: iv = (int32_t)lmf_get_u32(p); goto integer;
	case LMF_I64: iv = (int64_t)lmf_get_u64(p); goto integer;
	default: iv = p[0]; goto integer;
	}
	if (isnan(v)) {
		s->nan++;
		return;
	}
	if (isinf(v)) {
		s->inf++;
		return;
	}
	if (!s->finite || v < s->min)
		s->min = v;
	if (!s->finite || v > s->max)
		s->max = v;
	s->finite++;
	s->sum += v;
	return;
integer:
	if (!s->finite || iv < s->imin)
		s->imin = iv;
	if (!s->finite || iv > s->imax)
		s->imax = iv;
	s->finite++;
	s->sum += (double)iv;
}

static void
stat_print(const struct stats *s, int dtype)
{
	if (!is_float(dtype)) {
		if (s->finite)
			printf(" min %lld max %lld mean %.6g",
			    (long long)s->imin, (long long)s->imax,
			    s->sum / (double)s->finite);
		return;
	}
	if (s->finite)
		printf(" min %.6g max %.6g mean %.6g", s->min, s->max,
		    s->sum / (double)s->finite);
	else
		printf(" min - max - mean -");
	printf(" nan %llu inf %llu", (unsigned long long)s->nan,
	    (unsigned long long)s->inf);
}

/* the elements of n payload bytes; idx counts them across calls */
static void
elems(int dtype, const unsigned char *p, size_t n, uint64_t *idx,
    struct stats *s)
{
	size_t dsize = lmf_dtype_size(dtype), i;
	char buf[LMF_DUMPJSON_VALMAX];

	if (opt.json && opt.hex) {
		lmf_dumpjson_put_hex(stdout, p, n);
		return;
	}
	for (i = 0; i < n; i += dsize, ++*idx) {
		if (opt.json) {
			size_t k = lmf_dumpjson_fmt(buf, dtype, p + i, 1);

			if (*idx)
				putchar(',');
			fwrite(buf, 1, k, stdout);
			continue;
		}
		if (*idx < (uint64_t)opt.nvals) {
			lmf_dumpjson_fmt(buf, dtype, p + i, 0);
			printf("%s%s", *idx ? ", " : "", buf);
		}
		stat_add(s, dtype, p + i);
	}
}

static void
text_tensor(const unsigned char *p, size_t n)
{
	size_t cut = n;

	if (opt.json) {
		printf(",\"text\":");
		lmf_dumpjson_put_string(stdout, p, n);
		return;
	}
	if (cut > EXCERPT) {
		cut = EXCERPT;
		while (cut && (p[cut] & 0xc0) == 0x80)
			cut--;
	}
	printf(" text ");
	lmf_dumpjson_put_string(stdout, p, cut);
	if (cut < n)
		printf("... (%zu bytes)", n);
}

static void
tensor(const struct lmf_recinfo *rec)
{
	const struct lmf_tensor *t = &rec->t;
	const char *name = t->name;
	struct stats st = { 0 };
	uint64_t idx = 0, left = t->nbytes;
	char shape[LMF_MAX_DIMS * 24 + 4];
	int i, kind = 1; /* 0 text, 1 values, 2 hex */

	if (opt.json) {
		size_t len = strlen(name);

		printf("%s{", nelem++ ? "," : "");
		if (lmf_dumpjson_utf8_ok(name, len)) {
			printf("\"name\":");
			lmf_dumpjson_put_string(stdout, name, len);
		} else {
			printf("\"namehex\":\"");
			lmf_dumpjson_put_hex(stdout, name, len);
			putchar('"');
		}
		printf(",\"dtype\":\"%s\",\"shape\":[",
		    lmf_dtype_name(t->dtype));
		for (i = 0; i < t->ndim; i++)
			printf("%s%lld", i ? "," : "", (long long)t->shape[i]);
		printf("]");
	} else {
		printf("  ");
		put_name(name);
		printf(" %s %s", lmf_dtype_name(t->dtype),
		    lmf_shape_str(t, shape, sizeof shape));
	}
	if (t->dtype == LMF_U8 && !opt.hex && t->nbytes <= TEXT_MAX) {
		struct lmf_tensor full;

		rd_or_die(lmf_rd_tensor_data(rd, rec, &full));
		if (lmf_dumpjson_utf8_ok(full.data, full.nbytes)) {
			text_tensor(full.data, full.nbytes);
			kind = 0;
		} else {
			printf(opt.json ? ",\"data\":[" : " [");
			elems(LMF_U8, full.data, full.nbytes, &idx, &st);
		}
		lmf_tensor_free(&full);
	} else {
		if (!opt.json)
			printf(" [");
		else
			printf(opt.hex ? ",\"hex\":\"" : ",\"data\":[");
		kind = opt.hex ? 2 : 1;
		while (left) {
			size_t n = left < CHUNK ? (size_t)left : CHUNK;

			rd_or_die(lmf_rd_payload(rd, chunk, n));
			elems(t->dtype, chunk, n, &idx, &st);
			left -= n;
		}
	}
	if (opt.json) {
		printf(kind == 2 ? "\"}" : kind == 1 ? "]}" : "}");
		return;
	}
	if (kind == 1) {
		if (idx > (uint64_t)opt.nvals)
			printf(opt.nvals ? ", ..." : "...");
		putchar(']');
		if (idx)
			stat_print(&st, t->dtype);
	}
	putchar('\n');
}

static void
record(const struct lmf_recinfo *rec, int inside)
{
	uint64_t left = rec->len;

	if (!opt.json) {
		printf("%srecord ", inside ? "  " : "");
		lmf_dumpjson_put_tag(stdout, rec->tag);
		printf(": %llu bytes\n", (unsigned long long)rec->len);
		return;
	}
	printf("%s{\"record\":", inside ? nelem++ ? "," : "" : "");
	lmf_dumpjson_put_tag(stdout, rec->tag);
	printf(",\"base64\":\"");
	while (left) {
		size_t n = left < CHUNK ? (size_t)left : CHUNK;

		rd_or_die(lmf_rd_payload(rd, chunk, n));
		lmf_dumpjson_put_base64(stdout, chunk, n);
		left -= n;
	}
	printf("\"}%s", inside ? "" : "\n");
}

static void
item_end(void)
{
	if (shown && opt.json)
		printf("]}\n");
}

static void
dump(void)
{
	struct lmf_recinfo rec;
	uint64_t n;
	int rc;

	header();
	if (opt.meta)
		return;
	chunk = xmalloc(CHUNK);
	while ((rc = lmf_rd_next(rd, &rec)) != LMF_REC_EOF) {
		rd_or_die(rc);
		switch (rc) {
		case LMF_REC_ITEM:
			n = lmf_rd_items(rd) - 1;
			shown = n >= opt.from && n <= opt.to;
			due = rec.ntensors;
			nelem = 0;
			if (shown && opt.json)
				printf("{\"item\":%llu,\"tensors\":[",
				    (unsigned long long)n);
			else if (shown)
				printf("item %llu: %u tensors\n",
				    (unsigned long long)n, rec.ntensors);
			if (!due)
				item_end();
			break;
		case LMF_REC_TENSOR:
			if (shown)
				tensor(&rec);
			if (!--due)
				item_end();
			break;
		case LMF_REC_OTHER:
			if (!due || shown)
				record(&rec, due > 0);
			break;
		}
	}
	n = lmf_rd_items(rd);
	printf(opt.json ? "{\"end\":%llu}\n" : "end: %llu items\n",
	    (unsigned long long)n);
	free(chunk);
}

static struct lmf_wr *
open_out(json_t *meta, void *arg)
{
	struct lmf_wropts o = lmf_wropts_default;

	(void)arg;
	o.level = opt.level;
	return lmf_wr_open_or_die(opt.out, meta, &o);
}

static void
undump(void)
{
	FILE *in = stdin;
	const char *name = "<stdin>";
	struct lmf_wr *w;

	if (!strcmp(opt.out, "-"))
		lmf_stdout_binary_or_die();
	if (strcmp(opt.in, "-")) {
		in = xfopen(opt.in, "r");
		name = opt.in;
	}
	if (lmf_dumpjson_undump(in, open_out, NULL, &w) < 0)
		die("'%s': %s", name, lmf_dumpjson_errmsg());
	lmf_wr_close_or_die(w);
	if (in != stdin)
		fclose(in);
}

static void
parse_items(const char *s)
{
	const char *dash = strchr(s, '-');
	char *a;

	if (!dash) {
		opt.from = opt.to = (uint64_t)lmf_parse_int("--items", s, 0,
		    INT64_MAX);
		return;
	}
	a = xstrndup(s, (size_t)(dash - s));
	opt.from = (uint64_t)lmf_parse_int("--items", a, 0, INT64_MAX);
	free(a);
	if (dash[1])
		opt.to = (uint64_t)lmf_parse_int("--items", dash + 1, 0,
		    INT64_MAX);
	if (opt.to < opt.from)
		die_usage("--items %s: the range ends before it starts", s);
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: lmf-dump [-q] [-j | --json] [--hex] [-n N] [--items A[-B]] "
	    "[--meta] [FILE]\n"
	    "       lmf-dump -r [-o FILE] [-l N] [FILE]\n"
	    "Print an lmf stream for a person, or as JSON Lines (--json) that\n"
	    "-r turns back into the identical stream. FILE defaults to '-'.\n"
	    "  -j, --json      the complete JSON Lines form\n"
	    "      --hex       with --json: every tensor as hex bytes\n"
	    "  -n N            first values shown per tensor (default 6)\n"
	    "      --items A[-B]\n"
	    "                  only items A to B (from 0; no B: to the end)\n"
	    "      --meta      only the header, meta in full\n"
	    "  -q              print nothing: only check the stream\n"
	    "  -r              read the JSON form, write the stream\n"
	    "  -o FILE         with -r: write FILE (default stdout)\n"
	    "  -l, --level N   with -r: zstd level, 0 = raw (default 1)\n"
	    "  -h              this help\n"
	    "  -V              version\n");
}

int
main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "hex", no_argument, NULL, 'x' },
		{ "items", required_argument, NULL, 'i' },
		{ "meta", no_argument, NULL, 'm' },
		{ "level", required_argument, NULL, 'l' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	lmf_init(argc, argv);
	signal(SIGPIPE, SIG_DFL);
	while ((c = lmf_getopt(argc, argv, "jn:qro:l:hV", lopts)) != -1) {
		switch (c) {
		case 'j': opt.json = 1; opt.dumpset = 1; break;
		case 'x': opt.hex = 1; opt.dumpset = 1; break;
		case 'n':
			opt.nvals = (int)lmf_parse_int("-n", optarg, 0,
			    1000000);
			opt.dumpset = 1;
			break;
		case 'i': parse_items(optarg); opt.dumpset = 1; break;
		case 'm': opt.meta = 1; opt.dumpset = 1; break;
		case 'q': opt.quiet = 1; break;
		case 'r': opt.undump = 1; break;
		case 'o': opt.out = optarg; opt.outset = 1; break;
		case 'l':
			opt.level = lmf_parse_level(optarg);
			opt.levelset = 1;
			break;
		case 'h': lmf_help_exit(usage);
		case 'V': lmf_version_exit();
		default: BUG("option %d", c);
		}
	}
	if (argc - optind > 1)
		die_usage("one FILE at most, got %d", argc - optind);
	if (optind < argc)
		opt.in = argv[optind];
	if (opt.undump && opt.dumpset)
		die_usage("-r takes only -o, -l and FILE");
	if (!opt.undump && (opt.outset || opt.levelset))
		die_usage("-o and -l go with -r");
	if (opt.hex && !opt.json)
		die_usage("--hex goes with --json");
	if (opt.undump) {
		undump();
	} else {
		struct lmf_recinfo rec;
		int rc;

		rd = lmf_rd_open_or_die(opt.in);
		if (opt.quiet) {
			while ((rc = lmf_rd_next(rd, &rec)) != LMF_REC_EOF)
				rd_or_die(rc);
		} else {
			dump();
		}
		lmf_rd_close(rd);
	}
	lmf_close_out();
	return 0;
}
