#ifndef LMF_CSV_H
#define LMF_CSV_H
/* csv.h: a CSV reader as Python's csv module reads RFC 4180 files with its
 * default dialect: fields split on commas, a field that opens with a
 * double quote runs to the closing quote (commas, line ends and doubled
 * quotes "" inside), records end at LF, CR LF or CR; a blank line is a
 * record of no fields (csv.reader gives []); a quote inside an unquoted
 * field is kept as text. A final line without a line end is a record. */
#include <stddef.h>

struct lmf_csv_row {
	char **f;        /* nf fields, each NUL-terminated (UTF-8 as read) */
	int nf;
	size_t line;     /* the line the record starts on, from 1 */
};

struct lmf_csv {
	struct lmf_csv_row *row;
	size_t n;
};

/* parse len bytes of text into c (zeroed by the caller). 0, or -1 with
 * err (a quoted field that never closes, a NUL byte) */
int lmf_csv_parse(struct lmf_csv *c, const char *text, size_t len, char *err,
    size_t errlen);
/* read and parse a file; -1 with err naming the file on failure */
int lmf_csv_read(struct lmf_csv *c, const char *path, char *err,
    size_t errlen);
void lmf_csv_free(struct lmf_csv *c);

#endif
