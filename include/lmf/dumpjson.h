#ifndef LMF_DUMPJSON_H
#define LMF_DUMPJSON_H
/* dumpjson.h: the JSON Lines form of an lmf stream, as lmf-dump(1)
 * documents it: one element of any dtype as text and back, the string,
 * hex and base64 codecs of the form, and the reader that turns the form
 * back into a stream, one line in memory at a time; and the pieces of the
 * text form beside it: names, the meta, a tensor's statistics. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <jansson.h>

#include "lmf/stream.h"

#define LMF_DUMPJSON_VALMAX 64   /* bytes a formatted element needs */

/* one element of dtype at p into buf (LMF_DUMPJSON_VALMAX bytes): the
 * shortest decimal that reads back to the same bits; non-finite floats as
 * "nan", "inf", ... (quoted when json is set); returns the length */
size_t lmf_dumpjson_fmt(char *buf, int dtype, const void *p, int json);
/* 1 if the n bytes are valid UTF-8 without a NUL */
int lmf_dumpjson_utf8_ok(const void *s, size_t n);
/* s as a JSON string, quotes included (s must be valid UTF-8) */
void lmf_dumpjson_put_string(FILE *f, const void *s, size_t n);
/* a record tag as a JSON string: 4 bytes as code points U+0000..U+00FF */
void lmf_dumpjson_put_tag(FILE *f, const char *tag);
/* x as Python 3 prints round(x, digits) of a float: the shortest repr
 * of the rounded double, ".0" added to a whole number */
void lmf_dumpjson_put_round(FILE *f, double x, int digits);
/* raw bytes as lowercase hex, no quotes */
void lmf_dumpjson_put_hex(FILE *f, const void *p, size_t n);
/* base64 of n bytes, no quotes; n must be a multiple of 3 except in the
 * last call for one value */
void lmf_dumpjson_put_base64(FILE *f, const void *p, size_t n);

/* the text form: a name as it is when plain, else quoted with escapes */
void lmf_dumpjson_put_name(FILE *f, const char *s);
/* the text form's "meta:" block, keys sorted, each value as compact JSON
 * cut after abbrev bytes (0: never) with the full length said */
void lmf_dumpjson_put_meta(FILE *f, json_t *meta, size_t abbrev);

/* the text form's statistics of a tensor's elements */
struct lmf_dumpjson_stats {
	uint64_t finite, nan, inf;
	double min, max, sum;
	int64_t imin, imax;
};
/* add the element of dtype at p */
void lmf_dumpjson_stat_add(struct lmf_dumpjson_stats *s, int dtype,
    const unsigned char *p);
/* " min .. max .. mean ..", with " nan .. inf .." for floats */
void lmf_dumpjson_stat_print(FILE *f, const struct lmf_dumpjson_stats *s,
    int dtype);

/* read the JSON form from in and write it as a stream. The meta of the
 * first line goes to open(meta, arg), which returns the writer or dies;
 * every later line goes to that writer. Returns 0 with the writer in *wp
 * for the caller to close, or a negative LMF_E_* with the writer aborted
 * and lmf_dumpjson_errmsg() saying what and on which line. */
int lmf_dumpjson_undump(FILE *in, struct lmf_wr *(*open)(json_t *, void *),
    void *arg, struct lmf_wr **wp);
const char *lmf_dumpjson_errmsg(void);

#endif
