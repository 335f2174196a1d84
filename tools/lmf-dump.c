/* lmf-dump: print any lmf stream for a person, or as JSON Lines (--json)
 * that lmf-dump -r turns back into the identical stream, so a stage's
 * input can be crafted or edited by hand. It reads and checks the whole
 * stream a chunk at a time; it never edits a stream itself. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmf/dumpjson.h"
#include "lmf/opt.h"
#include "lmf/stream.h"
#include "lmf/util.h"
#include "lmf/banned.h"

#define CHUNK (3u << 18)       /* payload bytes per read: a multiple of 3, 8 */
#define TEXT_MAX (256u << 20)  /* u8 tensors up to this size may be text */
#define ABBREV 1000            /* meta values longer than this are cut */
#define EXCERPT 60             /* bytes of a text tensor shown */

struct opts {
	int json, hex, nvals, meta, quiet, undump, level;
	struct range { uint64_t from, to; } items;
	const char *out, *in;
};

/* the stream being dumped and where the dump is in it */
struct dump {
	const struct opts *o;
	struct lmf_rd *rd;
	unsigned char *chunk;
	uint32_t due;   /* tensors still due in the current item */
	int shown;      /* the current item is printed */
	int nelem;      /* elements printed in the current tensors array */
};

static void
rd_or_die(const struct dump *d, int rc)
{
	if (rc < 0)
		die("%s", lmf_rd_errmsg(d->rd));
}

static void
header(const struct dump *d)
{
	json_t *meta = lmf_rd_meta(d->rd);

	if (d->o->json) {
		char *js = json_dumps(meta, JSON_COMPACT | JSON_SORT_KEYS);

		if (!js)
			die("out of memory printing the meta");
		printf("{\"lmf\":1,\"meta\":%s}\n", js);
		free(js);
		return;
	}
	printf("kind: %s\nversion: %d\ncompression: %s\n", lmf_rd_kind(d->rd),
	    LMF_STREAM_VERSION, lmf_rd_compressed(d->rd) ? "zstd" : "raw");
	lmf_dumpjson_put_meta(stdout, meta, d->o->meta ? 0 : ABBREV);
}

/* the elements of n payload bytes; idx counts them across calls */
static void
elems(const struct opts *o, int dtype, const unsigned char *p, size_t n,
    uint64_t *idx, struct lmf_dumpjson_stats *s)
{
	size_t dsize = lmf_dtype_size(dtype), i;
	char buf[LMF_DUMPJSON_VALMAX];

	if (o->json && o->hex) {
		lmf_dumpjson_put_hex(stdout, p, n);
		return;
	}
	for (i = 0; i < n; i += dsize, ++*idx) {
		if (o->json) {
			size_t k = lmf_dumpjson_fmt(buf, dtype, p + i, 1);

			if (*idx)
				putchar(',');
			fwrite(buf, 1, k, stdout);
			continue;
		}
		if (*idx < (uint64_t)o->nvals) {
			lmf_dumpjson_fmt(buf, dtype, p + i, 0);
			printf("%s%s", *idx ? ", " : "", buf);
		}
		lmf_dumpjson_stat_add(s, dtype, p + i);
	}
}

static void
text_tensor(const struct opts *o, const unsigned char *p, size_t n)
{
	size_t cut = n;

	if (o->json) {
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
tensor(struct dump *d, const struct lmf_recinfo *rec)
{
	const struct lmf_tensor *t = &rec->t;
	const char *name = t->name;
	struct lmf_dumpjson_stats st = { 0 };
	uint64_t idx = 0, left = t->nbytes;
	char shape[LMF_MAX_DIMS * 24 + 4];
	int i, kind = 1; /* 0 text, 1 values, 2 hex */

	if (d->o->json) {
		size_t len = strlen(name);

		printf("%s{", d->nelem++ ? "," : "");
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
		lmf_dumpjson_put_name(stdout, name);
		printf(" %s %s", lmf_dtype_name(t->dtype),
		    lmf_shape_str(t, shape, sizeof shape));
	}
	if (t->dtype == LMF_U8 && !d->o->hex && t->nbytes <= TEXT_MAX) {
		struct lmf_tensor full;

		rd_or_die(d, lmf_rd_tensor_data(d->rd, rec, &full));
		if (lmf_dumpjson_utf8_ok(full.data, full.nbytes)) {
			text_tensor(d->o, full.data, full.nbytes);
			kind = 0;
		} else {
			printf(d->o->json ? ",\"data\":[" : " [");
			elems(d->o, LMF_U8, full.data, full.nbytes, &idx, &st);
		}
		lmf_tensor_free(&full);
	} else {
		if (!d->o->json)
			printf(" [");
		else
			printf(d->o->hex ? ",\"hex\":\"" : ",\"data\":[");
		kind = d->o->hex ? 2 : 1;
		while (left) {
			size_t n = left < CHUNK ? (size_t)left : CHUNK;

			rd_or_die(d, lmf_rd_payload(d->rd, d->chunk, n));
			elems(d->o, t->dtype, d->chunk, n, &idx, &st);
			left -= n;
		}
	}
	if (d->o->json) {
		printf(kind == 2 ? "\"}" : kind == 1 ? "]}" : "}");
		return;
	}
	if (kind == 1) {
		if (idx > (uint64_t)d->o->nvals)
			printf(d->o->nvals ? ", ..." : "...");
		putchar(']');
		if (idx)
			lmf_dumpjson_stat_print(stdout, &st, t->dtype);
	}
	putchar('\n');
}

static void
record(struct dump *d, const struct lmf_recinfo *rec, int inside)
{
	uint64_t left = rec->len;

	if (!d->o->json) {
		printf("%srecord ", inside ? "  " : "");
		lmf_dumpjson_put_tag(stdout, rec->tag);
		printf(": %llu bytes\n", (unsigned long long)rec->len);
		return;
	}
	printf("%s{\"record\":", inside ? d->nelem++ ? "," : "" : "");
	lmf_dumpjson_put_tag(stdout, rec->tag);
	printf(",\"base64\":\"");
	while (left) {
		size_t n = left < CHUNK ? (size_t)left : CHUNK;

		rd_or_die(d, lmf_rd_payload(d->rd, d->chunk, n));
		lmf_dumpjson_put_base64(stdout, d->chunk, n);
		left -= n;
	}
	printf("\"}%s", inside ? "" : "\n");
}

static void
item_end(const struct dump *d)
{
	if (d->shown && d->o->json)
		printf("]}\n");
}

static void
dump(struct dump *d)
{
	struct lmf_recinfo rec;
	uint64_t n;
	int rc;

	header(d);
	if (d->o->meta)
		return;
	d->chunk = xmalloc(CHUNK);
	while ((rc = lmf_rd_next(d->rd, &rec)) != LMF_REC_EOF) {
		rd_or_die(d, rc);
		switch (rc) {
		case LMF_REC_ITEM:
			n = lmf_rd_items(d->rd) - 1;
			d->shown = n >= d->o->items.from &&
			    n <= d->o->items.to;
			d->due = rec.ntensors;
			d->nelem = 0;
			if (d->shown && d->o->json)
				printf("{\"item\":%llu,\"tensors\":[",
				    (unsigned long long)n);
			else if (d->shown)
				printf("item %llu: %u tensors\n",
				    (unsigned long long)n, rec.ntensors);
			if (!d->due)
				item_end(d);
			break;
		case LMF_REC_TENSOR:
			if (d->shown)
				tensor(d, &rec);
			if (!--d->due)
				item_end(d);
			break;
		case LMF_REC_OTHER:
			if (!d->due || d->shown)
				record(d, &rec, d->due > 0);
			break;
		}
	}
	n = lmf_rd_items(d->rd);
	printf(d->o->json ? "{\"end\":%llu}\n" : "end: %llu items\n",
	    (unsigned long long)n);
	free(d->chunk);
}

static struct lmf_wr *
open_out(json_t *meta, void *arg)
{
	const struct opts *o = arg;
	struct lmf_wropts wo = lmf_wropts_default;

	wo.level = o->level;
	return lmf_wr_open_or_die(o->out, meta, &wo);
}

static void
undump(const struct opts *o)
{
	FILE *in = stdin;
	const char *name = "<stdin>";
	struct lmf_wr *w;

	if (!strcmp(o->out, "-"))
		lmf_stdout_binary_or_die();
	if (strcmp(o->in, "-")) {
		in = xfopen(o->in, "r");
		name = o->in;
	}
	if (lmf_dumpjson_undump(in, open_out, (void *)o, &w) < 0)
		die("'%s': %s", name, lmf_dumpjson_errmsg());
	lmf_wr_close_or_die(w);
	if (in != stdin)
		fclose(in);
}

static void
opt_items(const struct lmf_opt *op, const char *s)
{
	struct range *r = op->p;
	const char *dash = strchr(s, '-');
	char *a;

	if (!dash) {
		r->from = r->to = (uint64_t)lmf_parse_int("--items", s, 0,
		    INT64_MAX);
		return;
	}
	a = xstrndup(s, (size_t)(dash - s));
	r->from = (uint64_t)lmf_parse_int("--items", a, 0, INT64_MAX);
	free(a);
	if (dash[1])
		r->to = (uint64_t)lmf_parse_int("--items", dash + 1, 0,
		    INT64_MAX);
	if (r->to < r->from)
		die_usage("--items %s: the range ends before it starts", s);
}

/* 1 if any of the options of these long names or short flags was given */
static int
given(const struct lmf_opt *tab, const char *names, const char *flags)
{
	char word[32];
	int i;

	for (i = 0; tab[i].type != LMF_OPT_END; i++) {
		snprintf(word, sizeof word, " %s ", tab[i].name ?
		    tab[i].name : "");
		if (tab[i].given && ((tab[i].name && strstr(names, word)) ||
		    (tab[i].short_name && strchr(flags, tab[i].short_name))))
			return 1;
	}
	return 0;
}

/* check the stream, or print it */
static void
check_or_dump(const struct opts *o)
{
	struct dump d = { o, lmf_rd_open_or_die(o->in), NULL, 0, 0, 0 };
	struct lmf_recinfo rec;
	int rc;

	if (o->quiet) {
		while ((rc = lmf_rd_next(d.rd, &rec)) != LMF_REC_EOF)
			rd_or_die(&d, rc);
	} else {
		dump(&d);
	}
	lmf_rd_close(d.rd);
}

int
main(int argc, char **argv)
{
	static const struct lmf_opt_usage us = { "[-q] [-j | --json] [--hex] "
	    "[-n N] [--items A[-B]] [--meta] [FILE]\n"
	    "       lmf-dump -r [-o FILE] [-l N] [FILE]",
	    "Print an lmf stream for a person, or as JSON Lines (--json) that\n"
	    "-r turns back into the identical stream. FILE defaults to '-'." };
	struct opts o = { .nvals = 6, .level = LMF_DEFAULT_LEVEL,
		.items = { 0, UINT64_MAX }, .out = "-", .in = "-" };
#define F LMF_OPT_FUNC
	struct lmf_opt tab[] = {
		{ "json", 'j', F, &o.json, NULL, 0, 0,
		    "the complete JSON Lines form", NULL, lmf_opt_set, 0 },
		{ "hex", 0, F, &o.hex, NULL, 0, 0,
		    "with --json: every tensor as hex bytes", NULL, lmf_opt_set, 0 },
		LMF_OPT_ROW(NULL, 'n', LMF_OPT_INT, &o.nvals, "N", 0, 1000000,
		    "first values shown per tensor"),
		{ "items", 0, F, &o.items, "A[-B]", 0, 0,
		    "only items A to B (from 0; no B: to the end)", "all",
		    opt_items, 0 },
		{ "meta", 0, F, &o.meta, NULL, 0, 0,
		    "only the header, meta in full", NULL, lmf_opt_set, 0 },
		{ "quiet", 'q', F, &o.quiet, NULL, 0, 0,
		    "print nothing: only check the stream", NULL, lmf_opt_set, 0 },
		{ NULL, 'r', F, &o.undump, NULL, 0, 0,
		    "read the JSON form, write the stream", NULL, lmf_opt_set, 0 },
		{ NULL, 'o', LMF_OPT_STRING, &o.out, "FILE", 0, 0,
		    "with -r: write FILE", "stdout", NULL, 0 },
		{ "level", 'l', F, &o.level, "N", 0, 0,
		    "with -r: zstd level, 0 for raw", "1", lmf_opt_level, 0 },
		LMF_OPT_LAST_ROWS,
	};
#undef F
	int i;

	lmf_init(argc, argv);
	signal(SIGPIPE, SIG_DFL);
	i = lmf_opt_parse(tab, &us, argc, argv);
	if (argc - i > 1)
		die_usage("one FILE at most, got %d", argc - i);
	if (i < argc)
		o.in = argv[i];
	if (o.undump && given(tab, " json hex items meta ", "n"))
		die_usage("-r takes only -o, -l and FILE");
	if (!o.undump && given(tab, " level ", "o"))
		die_usage("-o and -l go with -r");
	if (o.hex && !o.json)
		die_usage("--hex goes with --json");
	if (o.undump)
		undump(&o);
	else
		check_or_dump(&o);
	lmf_close_out();
	return 0;
}
