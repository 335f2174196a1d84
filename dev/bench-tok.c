/* bench-tok: tokenizer throughput. Loads DIR/tokenizer.json (timed), reads
 * FILE as documents (one per line; for .jsonl the "text" field of each
 * line, else the line itself) and encodes each, without special tokens, as
 * lmf-tokenize does. Prints one markdown row: load s, MB/s (10^6 bytes of
 * text per second, best of -n runs), tokens, bytes per token. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lmf/tok.h"
#include "lmf/util.h"

static void
usage(FILE *f)
{
	fprintf(f, "usage: bench-tok [-n runs] tokenizer-dir file\n");
}

int
main(int argc, char **argv)
{
	char err[256], *data, **doc = NULL;
	size_t len, ndoc = 0, *dlen = NULL, i, bytes = 0, ntok = 0;
	int c, runs = 3, r, jsonl;
	double t0, load, best = 1e30;
	struct lmf_tok *t;

	lmf_init(argc, argv);
	while ((c = lmf_getopt(argc, argv, "hn:", NULL)) != -1)
		if (c == 'n')
			runs = (int)lmf_parse_int("-n", optarg, 1, 100);
		else
			lmf_help_exit(usage);
	if (argc - optind != 2)
		lmf_usage_exit(usage);
	t0 = lmf_now();
	t = lmf_tok_load_dir(argv[optind], err, sizeof(err));
	load = lmf_now() - t0;
	if (!t)
		die("%s", err);
	data = lmf_read_file_or_die(argv[optind + 1], &len, (size_t)1 << 30);
	jsonl = strlen(argv[optind + 1]) > 6 &&
	    !strcmp(argv[optind + 1] + strlen(argv[optind + 1]) - 6, ".jsonl");
	for (char *p = data, *e; p < data + len; p = e + 1) {
		e = memchr(p, '\n', (size_t)(data + len - p));
		if (!e)
			e = data + len;
		doc = xrealloc(doc, (ndoc + 1) * sizeof(*doc));
		dlen = xrealloc(dlen, (ndoc + 1) * sizeof(*dlen));
		if (jsonl) {
			json_error_t je;
			json_t *j = json_loadb(p, (size_t)(e - p), 0, &je);
			json_t *s = json_object_get(j, "text");
			if (!json_is_string(s)) {
				json_decref(j);
				continue;
			}
			doc[ndoc] = xstrndup(json_string_value(s),
			    json_string_length(s));
			dlen[ndoc] = json_string_length(s);
			json_decref(j);
		} else {
			doc[ndoc] = xstrndup(p, (size_t)(e - p) + (e < data +
			    len));
			dlen[ndoc] = (size_t)(e - p) + (e < data + len);
		}
		bytes += dlen[ndoc++];
	}
	for (r = 0; r < runs; r++) {
		ntok = 0;
		t0 = lmf_now();
		for (i = 0; i < ndoc; i++) {
			int32_t *ids;
			size_t n;
			if (lmf_tok_encode(t, doc[i], dlen[i], 0, &ids, &n, err,
			    sizeof(err)) < 0)
				die("document %zu: %s", i + 1, err);
			ntok += n;
			free(ids);
		}
		t0 = lmf_now() - t0;
		if (t0 < best)
			best = t0;
	}
	printf("%.2f %.1f %zu %.2f\n", load, bytes / best / 1e6, ntok,
	    (double)bytes / (double)(ntok ? ntok : 1));
	for (i = 0; i < ndoc; i++)
		free(doc[i]);
	free(doc);
	free(dlen);
	free(data);
	lmf_tok_free(t);
	return 0;
}
