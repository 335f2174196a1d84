/* tok_test: the tokenizer against the Hugging Face `tokenizers` library.
 * For each tokenizer (the project's tiny ones in tests/data/tok-*, made
 * by make_tiny.py, and
 * the shared qwen3, llama3, mistral when /work/shared is there) every
 * string of tests/golden/tok/strings.jsonl is encoded with and without
 * special tokens and decoded (skip_special_tokens false and true), and
 * compared with tests/golden/tok/<name>.jsonl (make_tok_golden.js); the
 * long documents of long.jsonl (make_long.py) with <name>-long.jsonl where
 * there is one. Also the special-token API, refusals and invalid UTF-8.
 * TAP output. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <utf8proc.h>

#include "lmf/tok.h"
#include "lmf/util.h"

static int ntest, nfail;

static void
ok(int cond, const char *fmt, ...)
{
	va_list ap;

	ntest++;
	nfail += !cond;
	printf("%sok %d - ", cond ? "" : "not ", ntest);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

static char *top;

static json_t **
read_jsonl(const char *path, size_t *n)
{
	FILE *f = fopen(path, "r");
	json_t **v = NULL;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;

	*n = 0;
	if (!f)
		return NULL;
	while ((len = getline(&line, &cap, f)) > 0) {
		json_error_t je;
		json_t *j = json_loadb(line, (size_t)len, JSON_DECODE_ANY |
		    JSON_ALLOW_NUL, &je);
		if (!j)
			break;
		v = xrealloc(v, (*n + 1) * sizeof(*v));
		v[(*n)++] = j;
	}
	free(line);
	fclose(f);
	return v;
}

static int
same_ids(json_t *want, const int32_t *ids, size_t n)
{
	size_t i;

	if (json_array_size(want) != n)
		return 0;
	for (i = 0; i < n; i++)
		if (json_integer_value(json_array_get(want, i)) != ids[i])
			return 0;
	return 1;
}

static void
show(const char *what, size_t i, const char *s, const int32_t *ids,
    size_t n, json_t *want)
{
	char *w = json_dumps(want, JSON_COMPACT | JSON_ENCODE_ANY);
	size_t k;

	printf("# %s: string %zu %.60s\n#   got ", what, i, s);
	for (k = 0; k < n && k < 24; k++)
		printf("%d ", ids[k]);
	printf("\n#   want %.200s\n", w);
	free(w);
}

/* the long documents of long.jsonl against NAME-long.jsonl, when there */
static void
golden_long(const char *name, struct lmf_tok *t)
{
	char err[256];
	char *gp = xasprintf("%s/tests/golden/tok/%s-long.jsonl", top, name);
	char *sp = xasprintf("%s/tests/golden/tok/long.jsonl", top);
	size_t ns, ng, i, bad[2] = {0, 0}, bytes = 0;
	json_t **str, **gold;
	double t0;

	if (access(gp, R_OK) != 0) {
		free(gp);
		free(sp);
		return;
	}
	str = read_jsonl(sp, &ns);
	gold = read_jsonl(gp, &ng);
	ok(ns > 0 && ns == ng, "%s long: %zu documents, %zu goldens", name,
	    ns, ng);
	t0 = lmf_now();
	for (i = 0; ns == ng && i < ns; i++) {
		const char *s = json_string_value(str[i]);
		size_t len = json_string_length(str[i]), n;
		json_t *g = gold[i], *want = json_object_get(g, "decode");
		int32_t *ids;
		char *d;
		bytes += len;
		if (lmf_tok_encode(t, s, len, 0, &ids, &n, err,
		    sizeof(err)) < 0) {
			bad[0]++;
			continue;
		}
		if (!same_ids(json_object_get(g, "ids"), ids, n) &&
		    bad[0]++ < 3)
			show(name, i, s, ids, n, json_object_get(g, "ids"));
		d = lmf_tok_decode(t, ids, n, 0);
		if (strcmp(d, want ? json_string_value(want) : s) &&
		    bad[1]++ < 3)
			printf("# %s long decode %zu: got '%.80s'\n", name, i,
			    d);
		free(d);
		free(ids);
	}
	ok(bad[0] == 0, "%s long: ids of %zu documents, %zu bytes (%zu "
	    "differ; %.1f MB/s)", name, ns, bytes, bad[0],
	    bytes / (lmf_now() - t0 + 1e-9) / 1e6);
	ok(bad[1] == 0, "%s long: decode (%zu differ)", name, bad[1]);
	for (i = 0; i < ns; i++)
		json_decref(str[i]);
	for (i = 0; i < ng; i++)
		json_decref(gold[i]);
	free(str);
	free(gold);
	free(gp);
	free(sp);
}

static void
golden(const char *name, const char *dir)
{
	char err[256];
	char *gp = xasprintf("%s/tests/golden/tok/%s.jsonl", top, name);
	char *sp = xasprintf("%s/tests/golden/tok/strings.jsonl", top);
	size_t ns, ng, i, bad[4] = {0, 0, 0, 0};
	json_t **str = read_jsonl(sp, &ns), **gold = read_jsonl(gp, &ng);
	struct lmf_tok *t;
	double t0 = lmf_now();

	t = lmf_tok_load_dir(dir, err, sizeof(err));
	ok(t != NULL, "%s: loads (%.2f s)%s%s", name, lmf_now() - t0,
	    t ? "" : ": ", t ? "" : err);
	ok(ns > 0 && ns == ng, "%s: %zu strings, %zu goldens", name, ns, ng);
	if (!t || ns != ng || ns == 0)
		goto out;
	for (i = 0; i < ns; i++) {
		const char *s = json_string_value(str[i]);
		size_t len = json_string_length(str[i]), n;
		int32_t *ids;
		char *d;
		json_t *g = gold[i];
		if (lmf_tok_encode(t, s, len, 0, &ids, &n, err,
		    sizeof(err)) < 0) {
			bad[0]++;
			continue;
		}
		if (!same_ids(json_object_get(g, "ids"), ids, n)) {
			if (bad[0]++ < 3)
				show(name, i, s, ids, n, json_object_get(g,
				    "ids"));
		}
		free(ids);
		lmf_tok_encode(t, s, len, 1, &ids, &n, err, sizeof(err));
		if (!same_ids(json_object_get(g, "ids_special"), ids, n)) {
			if (bad[1]++ < 3)
				show(name, i, s, ids, n, json_object_get(g,
				    "ids_special"));
		}
		free(ids);
		{
			json_t *w = json_object_get(g, "ids_special");
			size_t k, m = json_array_size(w);
			int32_t *x = xcalloc(m + 1, sizeof(int32_t));
			for (k = 0; k < m; k++)
				x[k] = (int32_t)json_integer_value(
				    json_array_get(w, k));
			d = lmf_tok_decode(t, x, m, 0);
			if (strcmp(d, json_string_value(json_object_get(g,
			    "decode"))) && bad[2]++ < 3)
				printf("# %s decode %zu: got '%.120s' want "
				    "'%.120s'\n",
				    name, i, d, json_string_value(
				    json_object_get(g, "decode")));
			free(d);
			d = lmf_tok_decode(t, x, m, 1);
			if (strcmp(d, json_string_value(json_object_get(g,
			    "decode_skip"))) && bad[3]++ < 3)
				printf("# %s decode skip %zu: got '%.120s' "
				    "want '%.120s'\n", name, i, d,
				    json_string_value(json_object_get(g,
				    "decode_skip")));
			free(d);
			free(x);
		}
	}
	ok(bad[0] == 0, "%s: ids of %zu strings (%zu differ)", name, ns,
	    bad[0]);
	ok(bad[1] == 0, "%s: ids with special tokens (%zu differ)", name,
	    bad[1]);
	ok(bad[2] == 0, "%s: decode (%zu differ)", name, bad[2]);
	ok(bad[3] == 0, "%s: decode skipping special tokens (%zu differ)",
	    name, bad[3]);
	golden_long(name, t);
out:
	for (i = 0; i < ns; i++)
		json_decref(str[i]);
	for (i = 0; i < ng; i++)
		json_decref(gold[i]);
	free(str);
	free(gold);
	free(gp);
	free(sp);
	lmf_tok_free(t);
}

static int
refused(const char *json, const char *want)
{
	char err[256] = "";
	struct lmf_tok *t = lmf_tok_load(json, strlen(json), NULL, 0, err,
	    sizeof(err));

	if (t) {
		lmf_tok_free(t);
		return 0;
	}
	if (!strstr(err, want))
		printf("# error '%s' lacks '%s'\n", err, want);
	return strstr(err, want) != NULL && !strchr(err, '\n');
}

#define MINI_HEAD "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, " \
	"\"b\": 1, \"ab\": 2}, \"merges\": [\"a b\"]}"

static void
api(void)
{
	char err[256];
	const char *cfg = "{\"eos_token\": {\"content\": \"b\"}, "
	    "\"bos_token\": \"a\", \"add_bos_token\": true}";
	const char *j = MINI_HEAD ", \"added_tokens\": [{\"id\": 3, "
	    "\"content\": \"<x>\", \"special\": true}]}";
	struct lmf_tok *t = lmf_tok_load(j, strlen(j), cfg, strlen(cfg), err,
	    sizeof(err));
	int32_t *ids;
	size_t n;

	ok(t != NULL, "a minimal tokenizer loads");
	if (!t)
		return;
	ok(lmf_tok_eos_id(t) == 1 && lmf_tok_bos_id(t) == 0 &&
	    lmf_tok_pad_id(t) == -1 && lmf_tok_add_bos(t) == 1 &&
	    lmf_tok_add_eos(t) == 0, "special tokens from tokenizer_config");
	ok(lmf_tok_vocab_size(t) == 4 && lmf_tok_token_to_id(t, "<x>") == 3 &&
	    lmf_tok_token_to_id(t, "zz") == -1 &&
	    !strcmp(lmf_tok_id_to_token(t, 2), "ab") &&
	    lmf_tok_id_to_token(t, 9) == NULL, "vocab lookups");
	ok(lmf_tok_encode(t, "ab\xff", 3, 0, &ids, &n, err, sizeof(err)) < 0 &&
	    strstr(err, "byte 2"), "invalid UTF-8 refused: %s", err);
	ok(lmf_tok_encode(t, "aab<x>b", 7, 0, &ids, &n, err, sizeof(err)) ==
	    0 && n == 4 && ids[0] == 0 && ids[1] == 2 && ids[2] == 3 &&
	    ids[3] == 1, "merges and added tokens");
	free(ids);
	ok(lmf_tok_set_special(t, "pad", "<x>", 0) == 0 &&
	    lmf_tok_pad_id(t) == 3, "set_special to an existing token");
	ok(lmf_tok_set_special(t, "eos", "<new>", 0) < 0 &&
	    lmf_tok_set_special(t, "eos", "<new>", 1) == 0 &&
	    lmf_tok_eos_id(t) == 4 && lmf_tok_vocab_size(t) == 5,
	    "set_special adds a new token only when asked");
	ok(lmf_tok_encode(t, "a<new>", 6, 0, &ids, &n, err, sizeof(err)) ==
	    0 && n == 2 && ids[1] == 4, "the added token is matched");
	free(ids);
	lmf_tok_free(t);

	ok(refused("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}",
	    "model WordPiece"), "a WordPiece model is refused by name");
	ok(refused(MINI_HEAD ", \"normalizer\": {\"type\": \"Lowercase\"}}",
	    "normalizer Lowercase"), "an unknown normalizer is refused");
	ok(refused(MINI_HEAD ", \"pre_tokenizer\": {\"type\": \"Sequence\", "
	    "\"pretokenizers\": [{\"type\": \"BertPreTokenizer\"}]}}",
	    "pre_tokenizer BertPreTokenizer"),
	    "an unknown pre-tokenizer in a sequence is refused");
	ok(refused(MINI_HEAD ", \"decoder\": {\"type\": \"WordPiece\"}}",
	    "decoder WordPiece"), "an unknown decoder is refused");
	ok(refused(MINI_HEAD ", \"post_processor\": {\"type\": \"Foo\"}}",
	    "post_processor Foo"), "an unknown post-processor is refused");
	ok(refused("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, "
	    "\"merges\": [\"a a\"]}}", "not in the vocab"),
	    "a merge outside the vocab is refused");
	ok(refused("{\"model\": [1, 2", "tokenizer.json"),
	    "truncated JSON is refused");
	{
		/* a NUL inside a number the scanner skips (it once hung) */
		static const char nul[] = "{\"pad\": 7\0, \"model\": "
		    "{\"type\": \"BPE\", \"vocab\": {\"a\": 0}, "
		    "\"merges\": []}}";
		struct lmf_tok *x;
		*err = 0;
		x = lmf_tok_load(nul, sizeof(nul) - 1, NULL, 0, err,
		    sizeof(err));
		ok(x || strstr(err, "tokenizer.json"), "a NUL after a number "
		    "in the JSON: as jansson takes it (%s)", x ? "loads" :
		    err);
		lmf_tok_free(x);
	}
}

/* cut and flipped tokenizer.json texts load or fail cleanly; odd ids
 * decode; random text encodes and decodes back */
static void
robust(void)
{
	char err[256];
	char *path = xasprintf("%s/tests/data/tok-bytelevel/tokenizer.json",
	    top);
	size_t len = 0, i, fails = 0, loads = 0;
	char *json = lmf_read_file_or_die(path, &len, (size_t)1 << 24);
	struct lmf_rng r;
	struct lmf_tok *t;
	int32_t odd[] = { -5, 1 << 30, 97, 2147483647, -2147483647 - 1 };
	char *d;

	lmf_rng_seed(&r, 7);
	for (i = 0; i < 60; i++) {
		char *c = xmalloc(len + 1);
		size_t cut = lmf_rng_below(&r, (uint32_t)len);
		memcpy(c, json, len);
		if (i % 2)
			c[cut] = (char)lmf_rng_below(&r, 256);
		t = lmf_tok_load(c, i % 2 ? len : cut, NULL, 0, err,
		    sizeof(err));
		if (t)
			loads++;
		else
			fails += strchr(err, '\n') == NULL && *err;
		lmf_tok_free(t);
		free(c);
	}
	ok(loads + fails == 60, "cut and flipped tokenizer.json: %zu load, "
	    "%zu refused with one line", loads, fails);
	t = lmf_tok_load(json, len, NULL, 0, err, sizeof(err));
	if (!t) {
		ok(0, "tiny tokenizer loads: %s", err);
		goto out;
	}
	d = lmf_tok_decode(t, odd, 5, 0);
	ok(d && !strcmp(d, "a"), "ids out of range decode to nothing");
	free(d);
	for (i = 0, fails = 0; i < 300; i++) {
		char buf[256];
		size_t n = 0, k, nids;
		int32_t *ids;
		while (n < 200) {
			uint32_t cp = lmf_rng_below(&r, 4) ? lmf_rng_below(&r,
			    0x800) : lmf_rng_below(&r, 0x10ffff);
			if (cp == 0 || (cp >= 0xd800 && cp < 0xe000))
				continue;
			if (cp < 0x80)
				buf[n++] = (char)cp;
			else if (cp < 0x800) {
				buf[n++] = (char)(0xc0 | cp >> 6);
				buf[n++] = (char)(0x80 | (cp & 0x3f));
			} else if (cp < 0x10000) {
				buf[n++] = (char)(0xe0 | cp >> 12);
				buf[n++] = (char)(0x80 | ((cp >> 6) & 0x3f));
				buf[n++] = (char)(0x80 | (cp & 0x3f));
			} else {
				buf[n++] = (char)(0xf0 | cp >> 18);
				buf[n++] = (char)(0x80 | ((cp >> 12) & 0x3f));
				buf[n++] = (char)(0x80 | ((cp >> 6) & 0x3f));
				buf[n++] = (char)(0x80 | (cp & 0x3f));
			}
		}
		buf[n] = 0;
		if (lmf_tok_encode(t, buf, n, 0, &ids, &nids, err,
		    sizeof(err)) < 0) {
			if (fails++ < 3)
				printf("# encode: %s\n", err);
			continue;
		}
		for (k = 0; k < nids; k++)
			if (ids[k] < 0 || ids[k] >= lmf_tok_vocab_size(t))
				fails++;
		d = lmf_tok_decode(t, ids, nids, 0);
		/* NFC may change the text; compare only NFC-stable ones */
		if (strlen(d) == 0 && fails++ < 3)
			printf("# decode of %zu ids is empty\n", nids);
		free(d);
		free(ids);
	}
	ok(fails == 0, "random text encodes to ids in range and decodes");
	lmf_tok_free(t);
out:
	free(json);
	free(path);
}

/* NFC with its quick check (tok_text.c) equals utf8proc's NFC of the
 * whole text: random mixtures of stable code points and ones that
 * decompose, compose, reorder or are Hangul jamo, through tok-bytelevel
 * (NFC, then bytes) and back */
static void
nfc(void)
{
	static const char *pool[] = { "a", "e", " ", "Z", ".", "\u00e9",
	    "\u0301", "\u0300", "\u0323", "\u0307", "\u0308", "\u0340",
	    "\u0344", "\u03b9", "\u03af", "\u1f00", "\u0313", "\u0b47",
	    "\u0b3e", "\u0b57", "\u1100", "\u1161", "\u11a8", "\uac00",
	    "\u212b", "\u2000", "\u2019", "\u4e2d", "\u304b", "\u3099",
	    "\u0915", "\u093c", "\u0f73", "\u00c5", "A", "\u1e0b",
	    "\U0001d15e", "\U0001f600" };
	char err[256], *path = xasprintf("%s/tests/data/tok-bytelevel",
	    top);
	struct lmf_tok *t = lmf_tok_load_dir(path, err, sizeof(err));
	struct lmf_rng r;
	size_t i, k, n, bad = 0;

	free(path);
	if (!t) {
		ok(0, "nfc: tok-bytelevel loads: %s", err);
		return;
	}
	lmf_rng_seed(&r, 11);
	for (i = 0; i < 3000; i++) {
		char s[512] = "";
		size_t len = 0, m = 1 + lmf_rng_below(&r, 24);
		utf8proc_uint8_t *want;
		int32_t *ids;
		char *d;
		for (k = 0; k < m; k++) {
			const char *p = pool[lmf_rng_below(&r, (uint32_t)(
			    sizeof(pool) / sizeof(pool[0])))];
			memcpy(s + len, p, strlen(p));
			len += strlen(p);
		}
		s[len] = 0;
		want = utf8proc_NFC((const utf8proc_uint8_t *)s);
		if (lmf_tok_encode(t, s, len, 0, &ids, &n, err,
		    sizeof(err)) < 0) {
			bad++;
			free(want);
			continue;
		}
		d = lmf_tok_decode(t, ids, n, 0);
		if (strcmp(d, (const char *)want) && bad++ < 3)
			printf("# nfc: '%s' gave '%s', want '%s'\n", s, d,
			    (const char *)want);
		free(d);
		free(ids);
		free(want);
	}
	ok(bad == 0, "nfc: 3000 random mixtures equal utf8proc's NFC (%zu "
	    "differ)", bad);
	lmf_tok_free(t);
}

int
main(int argc, char **argv)
{
	char *shared;
	static const char *names[] = { "qwen3", "llama3", "mistral" };
	static const char *tiny[] = { "bytelevel", "gpt2", "sentencepiece",
		"metaspace" };
	int i;

	(void)argc;
	lmf_init(argc, argv);
	if (getenv("TOP"))
		top = xstrdup(getenv("TOP"));
	else {
		const char *slash = strrchr(argv[0], '/');
		top = slash ? xasprintf("%.*s/../..", (int)(slash - argv[0]),
		    argv[0]) : xstrdup("../..");
	}
	api();
	robust();
	nfc();
	for (i = 0; i < 4; i++) {
		char *d = xasprintf("%s/tests/data/tok-%s", top, tiny[i]);
		char *n = xasprintf("tiny-%s", tiny[i]);
		golden(n, d);
		free(d);
		free(n);
	}
	shared = xasprintf("%s/../shared/tokenizers", top);
	for (i = 0; i < 3; i++) {
		char *d = xasprintf("%s/%s", shared, names[i]);
		if (access(d, R_OK) == 0)
			golden(names[i], d);
		else
			printf("ok %d # skip no %s\n", ++ntest, d);
		free(d);
	}
	free(shared);
	free(top);
	printf("1..%d\n", ntest);
	return nfail != 0;
}
