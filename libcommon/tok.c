/* tok.c: tokenizers from Hugging Face tokenizer.json: loading, added
 * tokens (matched leftmost-longest, before normalisation unless the token
 * says normalized), the encode pipeline (normalizer, pre-tokenizer, BPE,
 * post-processor), decoding, and the special tokens of
 * tokenizer_config.json. The components live in tok_text.c and tok_bpe.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <utf8proc.h>

#include "lmf/tok.h"
#include "lmf/util.h"
#include "tok_priv.h"
#include "lmf/banned.h"

#define TOK_MAX_JSON ((size_t)1 << 30)

struct added {
	char *content;
	size_t len;
	char *mcontent;     /* what is matched: normalized when normalized */
	size_t mlen;
	int32_t id;
	int special, single_word, lstrip, rstrip, normalized;
};

/* the tokens of one matching pass, indexed by first byte, longest first */
struct amatch {
	int32_t *idx;       /* into added[] */
	size_t n;
	size_t first[257];  /* per first byte c: [first[c], first[c+1]) */
};

struct tok {
	struct bpe *bpe;
	struct tnorm *norm;
	struct tpre *pre;
	struct tdec *dec;
	struct added *added;
	size_t nadded;
	struct amatch raw, norm_m;   /* normalized: false / true */
	struct tmap added_map;        /* content -> id */
	int32_t added_max;            /* largest added id, -1 */
	int32_t *aidx;                /* id -> index into added, -1 */
	/* post-processor: ids before and after $A */
	int32_t *pre_ids, *post_ids;
	size_t npre, npost;
	int32_t bos, eos, pad, unk;
	int32_t *extra;               /* additional_special_tokens ids */
	size_t nextra;
	int add_bos, add_eos;
	char *chat_template;          /* tokenizer_config's, or NULL */
	int32_t *xspecial;            /* additional_special_tokens' ids */
	size_t nxspecial;
	struct tbuf nbuf;
	struct tsplits words, tmp;
};

/* the opaque public type is struct lmf_tok */
struct lmf_tok {
	struct tok t;
};

static const struct added *
added_by_id(const struct tok *t, int32_t id)
{
	if (id < 0 || id > t->added_max || t->aidx[id] < 0)
		return NULL;
	return &t->added[t->aidx[id]];
}

static int
cmp_len_desc(const void *a, const void *b, void *ctx)
{
	const struct tok *t = ctx;
	const struct added *x = &t->added[*(const int32_t *)a];
	const struct added *y = &t->added[*(const int32_t *)b];
	unsigned char cx = (unsigned char)x->mcontent[0];
	unsigned char cy = (unsigned char)y->mcontent[0];

	if (cx != cy)
		return cx < cy ? -1 : 1;
	if (x->mlen != y->mlen)
		return x->mlen > y->mlen ? -1 : 1;
	return *(const int32_t *)a < *(const int32_t *)b ? -1 : 1;
}

static void
amatch_build(struct tok *t, struct amatch *m, int normalized)
{
	size_t i, k = 0;
	int c;

	free(m->idx);
	m->idx = xcalloc(t->nadded + 1, sizeof(int32_t));
	m->n = 0;
	for (i = 0; i < t->nadded; i++)
		if (!!t->added[i].normalized == normalized &&
		    t->added[i].mlen > 0)
			m->idx[m->n++] = (int32_t)i;
	qsort_r(m->idx, m->n, sizeof(int32_t), cmp_len_desc, t);
	for (c = 0; c <= 256; c++) {
		while (k < m->n && (unsigned char)
		    t->added[m->idx[k]].mcontent[0] < c)
			k++;
		m->first[c] = k;
	}
}

static void
rebuild_added(struct tok *t)
{
	size_t i;

	for (i = 0; i < t->nadded; i++) {
		struct added *a = &t->added[i];
		free(a->mcontent);
		if (a->normalized && t->norm) {
			tok_norm_apply(t->norm, a->content, a->len, &t->nbuf);
			a->mcontent = xstrndup(t->nbuf.p, t->nbuf.n);
			a->mlen = t->nbuf.n;
		} else {
			a->mcontent = xstrndup(a->content, a->len);
			a->mlen = a->len;
		}
	}
	amatch_build(t, &t->raw, 0);
	amatch_build(t, &t->norm_m, 1);
	tok_map_free(&t->added_map);
	tok_map_init(&t->added_map, t->nadded + 1);
	t->added_max = -1;
	for (i = 0; i < t->nadded; i++) {
		tok_map_set(&t->added_map, t->added[i].content,
		    t->added[i].len, t->added[i].id);
		if (t->added[i].id > t->added_max)
			t->added_max = t->added[i].id;
	}
	free(t->aidx);
	t->aidx = xmallocarray((size_t)t->added_max + 2, sizeof(int32_t));
	for (i = 0; i < (size_t)t->added_max + 1; i++)
		t->aidx[i] = -1;
	for (i = 0; i < t->nadded; i++)
		t->aidx[t->added[i].id] = (int32_t)i;
}

/* a regex \w character: letters, marks, decimal and letter numbers,
 * connector punctuation, ZWNJ and ZWJ; at the end of s or its start */
static int
is_word_char(const char *s, size_t n, int at_end)
{
	utf8proc_int32_t c;
	size_t k = 0;

	if (n == 0)
		return 0;
	if (at_end) {
		k = n - 1;
		while (k > 0 && ((unsigned char)s[k] & 0xc0) == 0x80)
			k--;
	}
	if (utf8proc_iterate((const utf8proc_uint8_t *)s + k,
	    (utf8proc_ssize_t)(n - k), &c) <= 0)
		return 0;
	if (c == 0x200c || c == 0x200d)
		return 1;
	switch (utf8proc_category(c)) {
	case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL:
	case UTF8PROC_CATEGORY_LT: case UTF8PROC_CATEGORY_LM:
	case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_MN:
	case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME:
	case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL:
	case UTF8PROC_CATEGORY_PC:
		return 1;
	default:
		return 0;
	}
}

static int
is_space_byte(unsigned char c)
{
	return c == ' ' || (c >= 9 && c <= 13);
}

/* find the next added token in s[pos..n): 1 with match [*ms, *me) and the
 * token index, or 0 */
static int
added_next(const struct tok *t, const struct amatch *m, const char *s,
    size_t n, size_t pos, size_t minstart, size_t *ms, size_t *me,
    int32_t *which)
{
	size_t i, k;

	if (m->n == 0)
		return 0;
	for (i = pos; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		for (k = m->first[c]; k < m->first[c + 1]; k++) {
			const struct added *a = &t->added[m->idx[k]];
			size_t st = i, en = i + a->mlen;
			if (a->mlen > n - i ||
			    memcmp(s + i, a->mcontent, a->mlen))
				continue;
			/* the leftmost-longest match is this one */
			if (a->single_word && (is_word_char(s, i, 1) ||
			    is_word_char(s + en, n - en, 0))) {
				k = m->first[c + 1];
				break;
			}
			if (a->lstrip)
				while (st > minstart &&
				    is_space_byte((unsigned char)s[st - 1]))
					st--;
			if (a->rstrip)
				while (en < n &&
				    is_space_byte((unsigned char)s[en]))
					en++;
			*ms = st;
			*me = en;
			*which = m->idx[k];
			return 1;
		}
	}
	return 0;
}

static void
push(int32_t **ids, size_t *n, size_t *cap, int32_t id)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		*ids = xrealloc(*ids, *cap * sizeof(**ids));
	}
	(*ids)[(*n)++] = id;
}

/* pre-tokenize and BPE one normalized piece (no added tokens inside) */
static void
encode_piece(struct tok *t, const char *s, size_t n, size_t first_span,
    int32_t **ids, size_t *nids, size_t *cap)
{
	size_t i;

	if (n == 0)
		return;
	tok_pre_apply(t->pre, s, n, first_span, &t->words, &t->tmp);
	for (i = 0; i < t->words.n; i++)
		tok_bpe_word(t->bpe, t->words.b.p + t->words.off[i],
		    t->words.len[i], ids, nids, cap);
}

/* normalize a segment, split it by normalized added tokens, encode */
static void
encode_segment(struct tok *t, const char *s, size_t n, int first,
    int32_t **ids, size_t *nids, size_t *cap)
{
	size_t pos = 0, ms, me, span = 0;
	int32_t w;
	char *norm;

	if (n == 0)
		return;
	if (first) {
		/* what the first character became when normalized */
		span = (size_t)tok_utf8_len((unsigned char)s[0]);
		if (span == 0 || span > n)
			span = 1;
		if (t->norm) {
			tok_norm_apply(t->norm, s, span, &t->nbuf);
			span = t->nbuf.n ? t->nbuf.n : 1;
		}
	}
	if (t->norm) {
		/* nothing below writes nbuf */
		tok_norm_apply(t->norm, s, n, &t->nbuf);
		norm = t->nbuf.p;
		n = t->nbuf.n;
	} else
		norm = (char *)s;
	while (added_next(t, &t->norm_m, norm, n, pos, pos, &ms, &me, &w)) {
		encode_piece(t, norm + pos, ms - pos, pos == 0 ? span : 0,
		    ids, nids, cap);
		push(ids, nids, cap, t->added[w].id);
		pos = me;
	}
	encode_piece(t, norm + pos, n - pos, pos == 0 ? span : 0, ids,
	    nids, cap);
}

/* TEXT with each C0 80 (a NUL from a dataset, dataset.c) as the NUL */
static int
encode_nul(struct lmf_tok *tk, const char *text, size_t len, int add,
    int32_t **ids, size_t *n, char *err, size_t errlen)
{
	char *b = xmalloc(len);
	size_t i, o;
	int rc;

	for (i = o = 0; i < len; i++) {
		if ((unsigned char)text[i] == 0xc0 && i + 1 < len &&
		    (unsigned char)text[i + 1] == 0x80) {
			b[o++] = '\0';
			i++;
		} else {
			b[o++] = text[i];
		}
	}
	rc = lmf_tok_encode(tk, b, o, add, ids, n, err, errlen);
	free(b);
	return rc;
}

int
lmf_tok_encode(struct lmf_tok *tk, const char *text, size_t len,
    int add_special_tokens, int32_t **ids, size_t *n, char *err,
    size_t errlen)
{
	struct tok *t = &tk->t;
	size_t pos = 0, ms, me, cap = 0, bad, k;
	int32_t w;

	*ids = NULL;
	*n = 0;
	if (len > 1 && memmem(text, len, "\xc0\x80", 2))
		return encode_nul(tk, text, len, add_special_tokens, ids, n,
		    err, errlen);
	bad = tok_utf8_valid(text, len);
	if (bad != len) {
		snprintf(err, errlen, "invalid UTF-8 at byte %zu", bad);
		return -1;
	}
	if (add_special_tokens)
		for (k = 0; k < t->npre; k++)
			push(ids, n, &cap, t->pre_ids[k]);
	while (added_next(t, &t->raw, text, len, pos, pos, &ms, &me, &w)) {
		encode_segment(t, text + pos, ms - pos, pos == 0, ids, n,
		    &cap);
		push(ids, n, &cap, t->added[w].id);
		pos = me;
	}
	encode_segment(t, text + pos, len - pos, pos == 0, ids, n, &cap);
	if (add_special_tokens)
		for (k = 0; k < t->npost; k++)
			push(ids, n, &cap, t->post_ids[k]);
	if (!*ids)
		*ids = xmalloc(sizeof(int32_t));
	return 0;
}

char *
lmf_tok_decode(struct lmf_tok *tk, const int32_t *ids, size_t n,
    int skip_special_tokens)
{
	struct tok *t = &tk->t;
	char **toks = xcalloc(n + 1, sizeof(char *));
	size_t i, k = 0;
	char *s;

	for (i = 0; i < n; i++) {
		const struct added *a = added_by_id(t, ids[i]);
		const char *tok = a ? a->content :
		    tok_bpe_id_to_token(t->bpe, ids[i]);
		if (!tok || (skip_special_tokens && a && a->special))
			continue;
		toks[k++] = (char *)tok;
	}
	s = tok_dec_apply(t->dec, toks, k);
	free(toks);
	return s;
}

/* ---- loading ---- */

static int
load_added(struct tok *t, json_t *arr, char *err, size_t errlen)
{
	size_t i;

	if (!arr || json_is_null(arr))
		return 0;
	if (!json_is_array(arr)) {
		snprintf(err, errlen, "added_tokens is not an array");
		return -1;
	}
	t->added = xcalloc(json_array_size(arr) + 1, sizeof(*t->added));
	for (i = 0; i < json_array_size(arr); i++) {
		json_t *o = json_array_get(arr, i);
		json_t *c = json_object_get(o, "content");
		json_t *id = json_object_get(o, "id");
		struct added *a = &t->added[t->nadded];
		if (!json_is_string(c) || !json_is_integer(id) ||
		    json_integer_value(id) < 0 ||
		    json_integer_value(id) >= (1 << 26)) {
			snprintf(err, errlen, "added token %zu lacks content "
			    "or a good id", i);
			return -1;
		}
		a->content = xstrndup(json_string_value(c),
		    json_string_length(c));
		a->len = json_string_length(c);
		a->id = (int32_t)json_integer_value(id);
		a->special = json_is_true(json_object_get(o, "special"));
		a->single_word = json_is_true(json_object_get(o,
		    "single_word"));
		a->lstrip = json_is_true(json_object_get(o, "lstrip"));
		a->rstrip = json_is_true(json_object_get(o, "rstrip"));
		a->normalized = json_is_true(json_object_get(o, "normalized"));
		t->nadded++;
	}
	return 0;
}

static int32_t
tok_id(const struct tok *t, const char *s, size_t n)
{
	int32_t id = tok_map_get(&t->added_map, s, n);

	return id >= 0 ? id : tok_bpe_token_to_id(t->bpe, s, n);
}

static int
template_ids(struct tok *t, json_t *pp, char *err, size_t errlen)
{
	json_t *single = json_object_get(pp, "single");
	json_t *sp = json_object_get(pp, "special_tokens");
	size_t i, k;
	int seen = 0;

	if (!json_is_array(single)) {
		snprintf(err, errlen, "TemplateProcessing without single");
		return -1;
	}
	for (i = 0; i < json_array_size(single); i++) {
		json_t *p = json_array_get(single, i);
		json_t *st = json_object_get(p, "SpecialToken");
		json_t *ids;
		if (json_object_get(p, "Sequence")) {
			if (seen) {
				snprintf(err, errlen, "TemplateProcessing "
				    "single with two sequences");
				return -1;
			}
			seen = 1;
			continue;
		}
		ids = json_object_get(json_object_get(sp,
		    json_string_value(json_object_get(st, "id"))), "ids");
		if (!json_is_array(ids)) {
			snprintf(err, errlen, "TemplateProcessing token "
			    "without ids");
			return -1;
		}
		for (k = 0; k < json_array_size(ids); k++) {
			int32_t id = (int32_t)json_integer_value(
			    json_array_get(ids, k));
			size_t *np = seen ? &t->npost : &t->npre;
			int32_t **pp2 = seen ? &t->post_ids : &t->pre_ids;
			*pp2 = xrealloc(*pp2, (*np + 1) * sizeof(int32_t));
			(*pp2)[(*np)++] = id;
		}
	}
	return 0;
}

static int
load_post(struct tok *t, json_t *pp, char *err, size_t errlen)
{
	const char *type;
	size_t i;

	if (!pp || json_is_null(pp))
		return 0;
	type = json_string_value(json_object_get(pp, "type"));
	if (!type) {
		snprintf(err, errlen, "post_processor without a type");
		return -1;
	}
	if (!strcmp(type, "ByteLevel"))
		return 0;
	if (!strcmp(type, "TemplateProcessing"))
		return template_ids(t, pp, err, errlen);
	if (!strcmp(type, "Sequence")) {
		json_t *a = json_object_get(pp, "processors");
		for (i = 0; i < json_array_size(a); i++)
			if (load_post(t, json_array_get(a, i), err, errlen))
				return -1;
		return 0;
	}
	if (!strcmp(type, "BertProcessing") ||
	    !strcmp(type, "RobertaProcessing")) {
		json_t *cls = json_object_get(pp, "cls");
		json_t *sep = json_object_get(pp, "sep");
		t->pre_ids = xrealloc(t->pre_ids, (t->npre + 1) *
		    sizeof(int32_t));
		t->pre_ids[t->npre++] = (int32_t)json_integer_value(
		    json_array_get(cls, 1));
		t->post_ids = xrealloc(t->post_ids, (t->npost + 1) *
		    sizeof(int32_t));
		t->post_ids[t->npost++] = (int32_t)json_integer_value(
		    json_array_get(sep, 1));
		return 0;
	}
	lmf_seterr(err, errlen, "post_processor %.40s not implemented", type);
	return -1;
}

/* the special token key of tokenizer_config.json in *id: -1 when unset
 * (absent or null); a string or an AddedToken object {"content": ...} of
 * the vocabulary, or -1 with err, for another token would be used */
static int
cfg_token(const struct tok *t, json_t *cfg, const char *key, int32_t *id,
    char *err, size_t errlen)
{
	json_t *v = json_object_get(cfg, key);
	const char *s;
	size_t n;

	*id = -1;
	if (!v || json_is_null(v))
		return 0;
	if (json_is_object(v))
		v = json_object_get(v, "content");
	if (!json_is_string(v)) {
		snprintf(err, errlen, "tokenizer_config.json: %s is not a "
		    "string or an object with a \"content\" string", key);
		return -1;
	}
	s = json_string_value(v);
	n = json_string_length(v);
	if ((*id = tok_id(t, s, n)) >= 0)
		return 0;
	/* lmf_seterr escapes control characters */
	lmf_seterr(err, errlen, "tokenizer_config.json: %s '%.*s%s' is not in "
	    "the vocabulary", key, n > 40 ? 40 : (int)n, s, n > 40 ? "..." : "");
	return -1;
}

static void
tok_destroy(struct tok *t)
{
	size_t i;

	free(t->xspecial);
	tok_bpe_free(t->bpe);
	tok_norm_free(t->norm);
	tok_pre_free(t->pre);
	tok_dec_free(t->dec);
	free(t->chat_template);
	free(t->extra);
	for (i = 0; i < t->nadded; i++) {
		free(t->added[i].content);
		free(t->added[i].mcontent);
	}
	free(t->added);
	free(t->aidx);
	free(t->raw.idx);
	free(t->norm_m.idx);
	if (t->added_map.slot)
		tok_map_free(&t->added_map);
	free(t->pre_ids);
	free(t->post_ids);
	free(t->nbuf.p);
	tok_splits_free(&t->words);
	tok_splits_free(&t->tmp);
}

void
lmf_tok_free(struct lmf_tok *tk)
{
	if (!tk)
		return;
	tok_destroy(&tk->t);
	free(tk);
}

/* the ids of tokenizer_config's additional_special_tokens (strings or
 * {"content": ...}) that the vocabulary holds */
static void
xspecial(struct tok *t, json_t *a)
{
	json_t *x;
	size_t i;
	int32_t id;

	json_array_foreach(a, i, x) {
		if (json_is_object(x))
			x = json_object_get(x, "content");
		if (!json_is_string(x) || (id = tok_id(t, json_string_value(x),
		    json_string_length(x))) < 0)
			continue;
		t->xspecial = xrealloc(t->xspecial, (t->nxspecial + 1) *
		    sizeof *t->xspecial);
		t->xspecial[t->nxspecial++] = id;
	}
}

struct lmf_tok *
lmf_tok_load(const char *json, size_t len, const char *cfg, size_t cfglen,
    char *err, size_t errlen)
{
	struct lmf_tok *tk;
	struct tok *t;
	json_error_t je;
	json_t *root, *model, *v, *c = NULL;
	const char *type;

	struct tok_raw raw;
	int have_raw = tok_raw_scan(json, len, &raw) == 0;

	root = NULL;
	if (have_raw && !(root = json_loadb(raw.rest, raw.restlen,
	    JSON_ALLOW_NUL, &je)))
		tok_raw_free(&raw);
	if (!root) {
		/* jansson on the whole text, to say what is wrong */
		have_raw = 0;
		root = json_loadb(json, len, JSON_ALLOW_NUL, &je);
	}
	if (!root || !json_is_object(root)) {
		if (have_raw)
			tok_raw_free(&raw);
		lmf_seterr(err, errlen, "tokenizer.json: %s (line %d)",
		    root ? "not an object" : je.text, je.line);
		json_decref(root);
		return NULL;
	}
	tk = xcalloc(1, sizeof(*tk));
	t = &tk->t;
	model = json_object_get(root, "model");
	type = json_string_value(json_object_get(model, "type"));
	if (!type && json_is_object(json_object_get(model, "merges")))
		type = "BPE";
	if (!type && json_object_get(model, "merges"))
		type = "BPE";
	if (!type || strcmp(type, "BPE")) {
		lmf_seterr(err, errlen, "model %.40s not implemented",
		    type ? type : "(untyped)");
		goto fail;
	}
	t->bpe = tok_bpe_load(model, have_raw ? &raw : NULL, err, errlen);
	if (have_raw)
		tok_raw_free(&raw);
	have_raw = 0;
	if (!t->bpe)
		goto fail;
	v = json_object_get(root, "normalizer");
	if (v && !json_is_null(v) && !(t->norm = tok_norm_load(v, err,
	    errlen)))
		goto fail;
	v = json_object_get(root, "pre_tokenizer");
	if (v && !json_is_null(v) && !(t->pre = tok_pre_load(v, err,
	    errlen)))
		goto fail;
	v = json_object_get(root, "decoder");
	if (v && !json_is_null(v) && !(t->dec = tok_dec_load(v, err,
	    errlen)))
		goto fail;
	if (load_post(t, json_object_get(root, "post_processor"), err,
	    errlen))
		goto fail;
	if (load_added(t, json_object_get(root, "added_tokens"), err, errlen))
		goto fail;
	rebuild_added(t);
	if (cfg) {
		c = json_loadb(cfg, cfglen, JSON_DECODE_INT_AS_REAL, &je);
		if (!c || !json_is_object(c)) {
			lmf_seterr(err, errlen, "tokenizer_config.json: %s "
			    "(line %d)", c ? "not an object" : je.text,
			    je.line);
			json_decref(c);
			goto fail;
		}
	}
	if (cfg_token(t, c, "bos_token", &t->bos, err, errlen) ||
	    cfg_token(t, c, "eos_token", &t->eos, err, errlen) ||
	    cfg_token(t, c, "pad_token", &t->pad, err, errlen) ||
	    cfg_token(t, c, "unk_token", &t->unk, err, errlen)) {
		json_decref(c);
		goto fail;
	}
	for (int i = 0; i < 2; i++) {
		const char *k = i ? "add_eos_token" : "add_bos_token";

		v = json_object_get(c, k);
		if (v && !json_is_null(v) && !json_is_boolean(v)) {
			snprintf(err, errlen, "tokenizer_config.json: %s is "
			    "not true or false", k);
			json_decref(c);
			goto fail;
		}
	}
	v = json_object_get(c, "additional_special_tokens");
	for (size_t i = 0; json_is_array(v) && i < json_array_size(v); i++) {
		json_t *x = json_array_get(v, i);
		int32_t id;

		if (json_is_object(x))
			x = json_object_get(x, "content");
		if (!json_is_string(x) || (id = tok_id(t, json_string_value(x),
		    json_string_length(x))) < 0)
			continue;
		t->extra = xrealloc(t->extra, (t->nextra + 1) *
		    sizeof *t->extra);
		t->extra[t->nextra++] = id;
	}
	t->add_bos = json_is_true(json_object_get(c, "add_bos_token"));
	t->add_eos = json_is_true(json_object_get(c, "add_eos_token"));
	xspecial(t, json_object_get(c, "additional_special_tokens"));
	/* a string, or a list of {name, template}: transformers takes the
	 * one named "default" */
	v = json_object_get(c, "chat_template");
	if (json_is_string(v))
		t->chat_template = xstrdup(json_string_value(v));
	else if (json_is_array(v)) {
		size_t i;
		json_t *x;

		json_array_foreach(v, i, x)
			if (json_is_string(json_object_get(x, "template")) &&
			    json_is_string(json_object_get(x, "name")) &&
			    !strcmp(json_string_value(json_object_get(x,
			    "name")), "default") && !t->chat_template)
				t->chat_template = xstrdup(json_string_value(
				    json_object_get(x, "template")));
	}
	json_decref(c);
	json_decref(root);
	return tk;
fail:
	if (have_raw)
		tok_raw_free(&raw);
	json_decref(root);
	lmf_tok_free(tk);
	return NULL;
}

static char *
read_small(const char *path, size_t *len, int must, char *err,
    size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0, r;

	if (!f) {
		if (must)
			snprintf(err, errlen, "cannot open '%s'", path);
		return NULL;
	}
	do {
		if (n + 65536 > cap) {
			cap = (cap + 65536) * 2;
			buf = xrealloc(buf, cap);
		}
		r = fread(buf + n, 1, cap - n - 1, f);
		n += r;
	} while (r > 0 && n < TOK_MAX_JSON);
	if (ferror(f) || n >= TOK_MAX_JSON) {
		snprintf(err, errlen, "cannot read '%s'", path);
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	buf[n] = 0;
	*len = n;
	return buf;
}

struct lmf_tok *
lmf_tok_load_dir(const char *dir, char *err, size_t errlen)
{
	char *p1 = xasprintf("%s/tokenizer.json", dir);
	char *p2 = xasprintf("%s/tokenizer_config.json", dir);
	size_t l1 = 0, l2 = 0;
	char *j = read_small(p1, &l1, 1, err, errlen);
	char *c = j ? read_small(p2, &l2, 0, err, errlen) : NULL;
	struct lmf_tok *t = NULL;

	if (j)
		t = lmf_tok_load(j, l1, c, l2, err, errlen);
	free(j);
	free(c);
	free(p1);
	free(p2);
	return t;
}

struct lmf_tok *
lmf_tok_load_item(const struct lmf_item *it, char *err, size_t errlen)
{
	const struct lmf_tensor *j = NULL, *c = NULL;
	int i;

	for (i = 0; i < it->ntensors; i++) {
		const struct lmf_tensor *x = &it->t[i];
		if (x->dtype != LMF_U8 || !x->data)
			continue;
		if (!strcmp(x->name, "tokenizer.json"))
			j = x;
		else if (!strcmp(x->name, "tokenizer_config.json"))
			c = x;
	}
	if (!j) {
		snprintf(err, errlen, "no u8 tensor 'tokenizer.json' in the "
		    "model stream");
		return NULL;
	}
	return lmf_tok_load(j->data, (size_t)j->nbytes, c ? c->data : NULL,
	    c ? (size_t)c->nbytes : 0, err, errlen);
}

int32_t
lmf_tok_vocab_size(const struct lmf_tok *tk)
{
	int32_t n = tok_bpe_size(tk->t.bpe);

	return tk->t.added_max + 1 > n ? tk->t.added_max + 1 : n;
}

int32_t
lmf_tok_token_to_id(const struct lmf_tok *tk, const char *token)
{
	return tok_id(&tk->t, token, strlen(token));
}

const char *
lmf_tok_id_to_token(const struct lmf_tok *tk, int32_t id)
{
	const struct added *a = added_by_id(&tk->t, id);

	return a ? a->content : tok_bpe_id_to_token(tk->t.bpe, id);
}

int32_t
lmf_tok_bos_id(const struct lmf_tok *tk)
{
	return tk->t.bos;
}

size_t
lmf_tok_additional_special(const struct lmf_tok *tk, const int32_t **ids)
{
	*ids = tk->t.xspecial;
	return tk->t.nxspecial;
}

int32_t
lmf_tok_eos_id(const struct lmf_tok *tk)
{
	return tk->t.eos;
}

int32_t
lmf_tok_pad_id(const struct lmf_tok *tk)
{
	return tk->t.pad;
}

int32_t
lmf_tok_unk_id(const struct lmf_tok *tk)
{
	return tk->t.unk;
}

const char *
lmf_tok_chat_template(const struct lmf_tok *tk)
{
	return tk->t.chat_template;
}

int
lmf_tok_add_bos(const struct lmf_tok *tk)
{
	return tk->t.add_bos;
}

int
lmf_tok_add_eos(const struct lmf_tok *tk)
{
	return tk->t.add_eos;
}

int
lmf_tok_set_special(struct lmf_tok *tk, const char *which, const char *token,
    int add)
{
	struct tok *t = &tk->t;
	int32_t id = lmf_tok_token_to_id(tk, token);
	int32_t *slot, dummy;
	size_t i;

	if (!strcmp(which, "additional")) {
		for (i = 0; id >= 0 && i < t->nextra; i++)
			if (t->extra[i] == id)
				return 0;
		slot = &dummy;
	} else if (!strcmp(which, "eos"))
		slot = &t->eos;
	else if (!strcmp(which, "pad"))
		slot = &t->pad;
	else if (!strcmp(which, "bos"))
		slot = &t->bos;
	else if (!strcmp(which, "unk"))
		slot = &t->unk;
	else
		return -1;
	if (id < 0) {
		struct added *a;
		if (!add || !*token)
			return -1;
		id = lmf_tok_vocab_size(tk);
		t->added = xrealloc(t->added, (t->nadded + 1) *
		    sizeof(*t->added));
		a = &t->added[t->nadded++];
		memset(a, 0, sizeof(*a));
		a->content = xstrdup(token);
		a->len = strlen(token);
		a->id = id;
		a->special = 1;
		rebuild_added(t);
	}
	if (slot == &dummy) {
		t->extra = xrealloc(t->extra, (t->nextra + 1) *
		    sizeof *t->extra);
		t->extra[t->nextra++] = id;
	}
	*slot = id;
	return 0;
}

size_t
lmf_tok_additional_ids(const struct lmf_tok *tk, const int32_t **ids)
{
	*ids = tk->t.extra;
	return tk->t.nextra;
}

static int
json_encode(struct lmf_tok *t, json_t *v, FILE *out, char *err,
    size_t errlen)
{
	json_t *x = json_object_get(v, "text");
	int32_t *ids;
	size_t n;
	int special = 1;

	if (!json_is_string(x)) {
		lmf_seterr(err, errlen, "no \"text\" string");
		return -1;
	}
	if ((x = json_object_get(v, "add_special_tokens")))
		special = json_is_true(x);
	x = json_object_get(v, "text");
	if (lmf_tok_encode(t, json_string_value(x), json_string_length(x),
	    special, &ids, &n, err, errlen))
		return -1;
	fputs("{\"ids\": [", out);
	for (size_t i = 0; i < n; i++)
		fprintf(out, i ? ", %d" : "%d", (int)ids[i]);
	fputs("]}\n", out);
	free(ids);
	return 0;
}

static int
json_decode(struct lmf_tok *t, json_t *v, FILE *out, char *err,
    size_t errlen)
{
	json_t *a = json_object_get(v, "ids"), *o, *s;
	size_t n = json_array_size(a);
	int skipsp = json_is_true(json_object_get(v, "skip_special_tokens"));
	int32_t *ids;
	char *text, *dump;

	if (!json_is_array(a)) {
		lmf_seterr(err, errlen, "no \"ids\" list");
		return -1;
	}
	ids = xmallocarray(n ? n : 1, sizeof *ids);
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(a, i);

		if (!json_is_integer(e) || json_integer_value(e) < 0 ||
		    json_integer_value(e) >= lmf_tok_vocab_size(t)) {
			lmf_seterr(err, errlen, "id %zu is not a token id", i);
			free(ids);
			return -1;
		}
		ids[i] = (int32_t)json_integer_value(e);
	}
	text = lmf_tok_decode(t, ids, n, skipsp);
	free(ids);
	s = json_string(text);
	free(text);
	if (!s) {
		lmf_seterr(err, errlen, "the decoded text is not UTF-8");
		return -1;
	}
	o = json_object();
	json_object_set_new(o, "text", s);
	dump = json_dumps(o, JSON_COMPACT);
	fprintf(out, "%s\n", dump);
	free(dump);
	json_decref(o);
	return 0;
}

int
lmf_tok_json_line(struct lmf_tok *t, int decode, const char *line, size_t len,
    FILE *out, char *err, size_t errlen)
{
	json_error_t je;
	json_t *v = json_loadb(line, len, JSON_ALLOW_NUL, &je);
	int rc;

	if (!v || !json_is_object(v)) {
		lmf_seterr(err, errlen, "%s", v ? "not a JSON object" :
		    je.text);
		json_decref(v);
		return -1;
	}
	rc = decode ? json_decode(t, v, out, err, errlen) :
	    json_encode(t, v, out, err, errlen);
	json_decref(v);
	return rc;
}
