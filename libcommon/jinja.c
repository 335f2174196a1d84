/* jinja.c: a Jinja2 subset for chat templates (jinja.h): a lexer with
 * whitespace control (-, trim_blocks, lstrip_blocks), a recursive-descent
 * parser to a tree, and a tree-walking evaluator over jansson values.
 * Undefined is a NULL json_t; every evaluation returns a new reference.
 * Not here: macros, call blocks, includes, extends, set blocks, string
 * % formatting. */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lmf/jinja.h"
#include "lmf/pyjson.h"
#include "lmf/util.h"
#include "lmf/banned.h"

#define MAX_DEPTH 200            /* nesting of expressions and blocks */
#define MAX_STEPS 1000000L       /* loop iterations, all loops together */
#define MAX_OUT (64L << 20)      /* bytes of output */
#define MAX_SCOPE 256

/* ---- tokens ---- */

enum { T_EOF, T_TEXT, T_VB, T_VE, T_BB, T_BE, T_NAME, T_STR, T_INT,
	T_FLOAT, T_OP };

struct tok {
	int k, line;
	char *s;      /* text, name, string value, operator */
	size_t len;   /* of s (strings may hold NUL) */
	long long i;
	double f;
};

struct lex {
	const char *src;
	size_t len, pos;
	int line;
	struct tok *v;
	size_t n, cap;
	char *err;
	size_t errlen;
};

static struct tok *
push(struct lex *L, int k, const char *s, size_t len)
{
	struct tok *t;

	if (L->n == L->cap) {
		L->cap = L->cap * 2 + 64;
		L->v = xrealloc(L->v, L->cap * sizeof *L->v);
	}
	t = &L->v[L->n++];
	memset(t, 0, sizeof *t);
	t->k = k;
	t->line = L->line;
	if (s) {
		t->s = xstrndup(s, len);
		t->len = len;
	}
	return t;
}

static int
lexerr(struct lex *L, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	lmf_seterr(L->err, L->errlen, "template line %d: %s", L->line, msg);
	return -1;
}

static void
count_lines(struct lex *L, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++)
		L->line += L->src[i] == '\n';
}

/* a quoted string at L->pos (the quote) */
static int
lex_string(struct lex *L)
{
	char q = L->src[L->pos++];
	struct lmf_buf b = { 0 };
	struct tok *t;

	lmf_buf_add(&b, "", 0);
	for (;;) {
		char c;

		if (L->pos >= L->len) {
			free(b.s);
			return lexerr(L, "unterminated string");
		}
		c = L->src[L->pos++];
		if (c == q)
			break;
		if (c == '\n')
			L->line++;
		if (c == '\\' && L->pos < L->len) {
			char e = L->src[L->pos++], o[8];
			unsigned long u = 0;
			int nd = 0;

			switch (e) {
			case 'n': c = '\n'; break;
			case 't': c = '\t'; break;
			case 'r': c = '\r'; break;
			case 'b': c = '\b'; break;
			case 'f': c = '\f'; break;
			case '0': c = '\0'; break;
			case 'u': nd = 4; break;
			case 'x': nd = 2; break;
			case '\n': continue;
			case '\\': case '\'': case '"': c = e; break;
			default:
				lmf_buf_add(&b, "\\", 1);
				c = e;
			}
			if (nd) {
				int w;

				for (int i = 0; i < nd; i++) {
					int h = L->pos < L->len ?
					    lmf_hexval(L->src[L->pos]) : -1;

					if (h < 0) {
						free(b.s);
						return lexerr(L, "bad \\%c escape",
						    e);
					}
					u = u * 16 + (unsigned long)h;
					L->pos++;
				}
				if (u < 0x80) {
					o[0] = (char)u;
					w = 1;
				} else if (u < 0x800) {
					o[0] = (char)(0xc0 | u >> 6);
					o[1] = (char)(0x80 | (u & 0x3f));
					w = 2;
				} else {
					o[0] = (char)(0xe0 | u >> 12);
					o[1] = (char)(0x80 | (u >> 6 & 0x3f));
					o[2] = (char)(0x80 | (u & 0x3f));
					w = 3;
				}
				lmf_buf_add(&b, o, (size_t)w);
				continue;
			}
		}
		lmf_buf_add(&b, &c, 1);
	}
	t = push(L, T_STR, NULL, 0);
	t->s = b.s;
	t->len = b.n;
	return 0;
}

static int
at(struct lex *L, const char *s)
{
	size_t n = strlen(s);

	return L->pos + n <= L->len && !memcmp(L->src + L->pos, s, n);
}

/* the tokens of one {{ }} or {% %} up to its end; *strip_next set by
 * a '-' before the end */
static int
lex_tag(struct lex *L, int block, int *strip_next)
{
	const char *end = block ? "%}" : "}}";
	static const char *ops[] = { "**", "//", "==", "!=", "<=", ">=",
		NULL };

	for (;;) {
		char c;

		while (L->pos < L->len && isspace((unsigned char)L->src[L->pos]))
			L->line += L->src[L->pos++] == '\n';
		if (L->pos >= L->len)
			return lexerr(L, "unclosed '%s'", block ? "{%" : "{{");
		if (at(L, end) || (L->src[L->pos] == '-' && L->pos + 1 < L->len
		    && !memcmp(L->src + L->pos + 1, end, 2)) ||
		    (L->src[L->pos] == '+' && block && L->pos + 1 < L->len
		    && !memcmp(L->src + L->pos + 1, end, 2))) {
			*strip_next = L->src[L->pos] == '-';
			L->pos += L->src[L->pos] == '-' ||
			    L->src[L->pos] == '+' ? 3 : 2;
			push(L, block ? T_BE : T_VE, NULL, 0);
			return 0;
		}
		c = L->src[L->pos];
		if (isalpha((unsigned char)c) || c == '_') {
			size_t s = L->pos;

			while (L->pos < L->len && (isalnum((unsigned char)
			    L->src[L->pos]) || L->src[L->pos] == '_'))
				L->pos++;
			push(L, T_NAME, L->src + s, L->pos - s);
		} else if (isdigit((unsigned char)c)) {
			size_t s = L->pos;
			int fl = 0;
			char *num;
			struct tok *t;

			while (L->pos < L->len && isdigit((unsigned char)
			    L->src[L->pos]))
				L->pos++;
			if (L->pos + 1 < L->len && L->src[L->pos] == '.' &&
			    isdigit((unsigned char)L->src[L->pos + 1])) {
				fl = 1;
				L->pos++;
				while (L->pos < L->len && isdigit((unsigned
				    char)L->src[L->pos]))
					L->pos++;
			}
			num = xstrndup(L->src + s, L->pos - s);
			t = push(L, fl ? T_FLOAT : T_INT, NULL, 0);
			if (fl ? lmf_strtod(num, &t->f) : lmf_strtoll(num,
			    &t->i)) {
				free(num);
				return lexerr(L, "bad number");
			}
			free(num);
		} else if (c == '\'' || c == '"') {
			if (lex_string(L))
				return -1;
		} else {
			int w = 1;

			for (int i = 0; ops[i]; i++)
				if (at(L, ops[i]))
					w = 2;
			if (!strchr("+-*/%~<>=()[]{}.,:|!", c) || (c == '!' &&
			    w == 1))
				return lexerr(L, "unexpected character '%c'",
				    c);
			push(L, T_OP, L->src + L->pos, (size_t)w);
			L->pos += (size_t)w;
		}
	}
}

static int
lex(struct lex *L)
{
	int strip_next = 0, trim_nl = 0;

	while (L->pos < L->len) {
		size_t s = L->pos, e, te;
		const char *p = NULL;
		int kind = 0, minus, plus;

		for (size_t i = s; i + 1 < L->len; i++)
			if (L->src[i] == '{' && strchr("{%#", L->src[i + 1])) {
				p = L->src + i;
				break;
			}
		e = p ? (size_t)(p - L->src) : L->len;
		te = e;
		if (trim_nl && s < te && L->src[s] == '\n')
			s++, L->line++;
		else if (trim_nl && s + 1 < te && L->src[s] == '\r' &&
		    L->src[s + 1] == '\n')
			s += 2, L->line++;
		if (strip_next)
			while (s < te && isspace((unsigned char)L->src[s]))
				L->line += L->src[s++] == '\n';
		if (p) {
			kind = p[1];
			minus = e + 2 < L->len && p[2] == '-';
			plus = e + 2 < L->len && p[2] == '+';
			if (minus)
				while (te > s && isspace((unsigned char)
				    L->src[te - 1]))
					te--;
			else if (kind != '{' && !plus) {
				/* lstrip_blocks */
				size_t k = te;

				while (k > s && (L->src[k - 1] == ' ' ||
				    L->src[k - 1] == '\t'))
					k--;
				if ((k > s && L->src[k - 1] == '\n') || (k == s
				    && (k == 0 || L->src[k - 1] == '\n')))
					te = k;
			}
		} else {
			minus = plus = 0;
			/* keep_trailing_newline is off */
			if (te > s && L->src[te - 1] == '\n') {
				te--;
				if (te > s && L->src[te - 1] == '\r')
					te--;
			}
		}
		if (te > s)
			push(L, T_TEXT, L->src + s, te - s);
		count_lines(L, s, e);
		if (!p)
			break;
		L->pos = e + 2 + (size_t)(minus || plus);
		strip_next = trim_nl = 0;
		if (kind == '#') {
			const char *c = NULL;

			for (size_t i = L->pos; i + 1 < L->len; i++)
				if (L->src[i] == '#' && L->src[i + 1] == '}') {
					c = L->src + i;
					break;
				}
			if (!c)
				return lexerr(L, "unclosed comment");
			strip_next = c > L->src + L->pos && c[-1] == '-';
			count_lines(L, L->pos, (size_t)(c - L->src));
			L->pos = (size_t)(c - L->src) + 2;
			trim_nl = !strip_next;
			continue;
		}
		push(L, kind == '%' ? T_BB : T_VB, NULL, 0);
		if (lex_tag(L, kind == '%', &strip_next))
			return -1;
		trim_nl = kind == '%' && !strip_next;
	}
	push(L, T_EOF, NULL, 0);
	return 0;
}

/* ---- the tree ---- */

enum {
	/* statements */
	N_LIST, N_TEXT, N_OUT, N_IF, N_FOR, N_SET, N_BREAK, N_CONTINUE,
	/* expressions */
	E_LIT, E_NAME, E_ATTR, E_ITEM, E_SLICE, E_CALL, E_METHOD, E_FILTER,
	E_TEST, E_NOT, E_NEG, E_BIN, E_AND, E_OR, E_COND, E_LISTLIT,
	E_DICTLIT, E_KW
};

struct node {
	int k, line;
	char *s;                 /* name, text, operator */
	json_t *lit;
	struct node *a, *b, *c;  /* operands; for: iterable, cond */
	struct node **v, **w;    /* body and else; arguments; set targets */
	int nv, nw, neg;
	char *name2;             /* for: the second target */
};

struct lmf_jinja {
	struct node *root;
};

struct parser {
	struct tok *t;
	size_t i;
	int depth;
	char *err;
	size_t errlen;
	int failed;
};

static struct node *
mk(struct parser *P, int k)
{
	struct node *n = xcalloc(1, sizeof *n);

	n->k = k;
	n->line = P->t[P->i].line;
	return n;
}

static void
add(struct node ***v, int *n, struct node *x)
{
	*v = xrealloc(*v, (size_t)(*n + 1) * sizeof **v);
	(*v)[(*n)++] = x;
}

static void
node_free(struct node *n)
{
	if (!n)
		return;
	free(n->s);
	free(n->name2);
	json_decref(n->lit);
	node_free(n->a);
	node_free(n->b);
	node_free(n->c);
	for (int i = 0; i < n->nv; i++)
		node_free(n->v[i]);
	for (int i = 0; i < n->nw; i++)
		node_free(n->w[i]);
	free(n->v);
	free(n->w);
	free(n);
}

static void *
perr(struct parser *P, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (P->failed)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	lmf_seterr(P->err, P->errlen, "template line %d: %s",
	    P->t[P->i].line, msg);
	P->failed = 1;
	return NULL;
}

static struct tok *
cur(struct parser *P)
{
	return &P->t[P->i];
}

static int
is_op(struct parser *P, const char *op)
{
	return cur(P)->k == T_OP && !strcmp(cur(P)->s, op);
}

static int
is_name(struct parser *P, const char *nm)
{
	return cur(P)->k == T_NAME && !strcmp(cur(P)->s, nm);
}

static int
eat_op(struct parser *P, const char *op)
{
	if (!is_op(P, op))
		return 0;
	P->i++;
	return 1;
}

static int
expect_op(struct parser *P, const char *op)
{
	if (eat_op(P, op))
		return 0;
	perr(P, "expected '%s'", op);
	return -1;
}

static const char *const filters[] = { "trim", "tojson", "length", "count",
	"upper", "lower", "default", "d", "items", "string", "first", "last",
	"join", "list", "reverse", "safe", "capitalize", "title", "replace",
	"int", "float", "abs", "selectattr", "rejectattr", "map", "e",
	"escape", NULL };
static const char *const tests[] = { "defined", "undefined", "none",
	"string", "mapping", "iterable", "sequence", "number", "integer",
	"float", "boolean", "true", "false", "equalto", "eq", "==", "ne",
	"!=", "odd", "even", "in", "lower", "upper", "divisibleby", "sameas",
	"callable", "gt", "lt", "ge", "le", NULL };
static const char *const functions[] = { "raise_exception", "namespace",
	"range", "dict", "strftime_now", NULL };

static int
known(const char *const *set, const char *s)
{
	for (int i = 0; set[i]; i++)
		if (!strcmp(set[i], s))
			return 1;
	return 0;
}

static struct node *expr(struct parser *P);
static struct node *or_expr(struct parser *P);
static struct node *unary(struct parser *P);

/* ( args ) after the '(' was eaten, into n->v (keywords as E_KW) */
static int
call_args(struct parser *P, struct node *n)
{
	while (!eat_op(P, ")")) {
		struct node *a;

		if (n->nv && expect_op(P, ","))
			return -1;
		if (eat_op(P, ")"))
			break;
		if (cur(P)->k == T_NAME && P->t[P->i + 1].k == T_OP &&
		    !strcmp(P->t[P->i + 1].s, "=")) {
			a = mk(P, E_KW);
			a->s = xstrdup(cur(P)->s);
			P->i += 2;
			a->a = expr(P);
		} else
			a = expr(P);
		add(&n->v, &n->nv, a);
		if (P->failed)
			return -1;
	}
	return 0;
}

static struct node *
primary(struct parser *P)
{
	struct tok *t = cur(P);
	struct node *n;

	if (t->k == T_STR || t->k == T_INT || t->k == T_FLOAT) {
		n = mk(P, E_LIT);
		n->lit = t->k == T_STR ? json_stringn_nocheck(t->s, t->len) :
		    t->k == T_INT ? json_integer(t->i) : json_real(t->f);
		P->i++;
		/* adjacent string literals concatenate */
		while (t->k == T_STR && cur(P)->k == T_STR) {
			struct lmf_buf b = { 0 };

			lmf_buf_add(&b, json_string_value(n->lit),
			    json_string_length(n->lit));
			lmf_buf_add(&b, cur(P)->s, cur(P)->len);
			json_decref(n->lit);
			n->lit = json_stringn_nocheck(b.s, b.n);
			free(b.s);
			P->i++;
		}
		return n;
	}
	if (t->k == T_NAME) {
		const char *s = t->s;

		n = mk(P, E_LIT);
		if (!strcmp(s, "true") || !strcmp(s, "True"))
			n->lit = json_true();
		else if (!strcmp(s, "false") || !strcmp(s, "False"))
			n->lit = json_false();
		else if (!strcmp(s, "none") || !strcmp(s, "None"))
			n->lit = json_null();
		else {
			n->k = E_NAME;
			n->s = xstrdup(s);
		}
		P->i++;
		if (n->k == E_NAME && is_op(P, "(")) {
			if (!known(functions, n->s)) {
				perr(P, "unknown function '%s'", n->s);
				return n;
			}
			P->i++;
			n->k = E_CALL;
			call_args(P, n);
		}
		return n;
	}
	if (eat_op(P, "(")) {
		n = expr(P);
		if (n && is_op(P, ",")) {
			struct node *l = mk(P, E_LISTLIT);

			add(&l->v, &l->nv, n);
			while (eat_op(P, ",") && !is_op(P, ")"))
				add(&l->v, &l->nv, expr(P));
			n = l;
		}
		expect_op(P, ")");
		return n;
	}
	if (eat_op(P, "[")) {
		n = mk(P, E_LISTLIT);
		while (!eat_op(P, "]") && !P->failed) {
			if (n->nv && expect_op(P, ","))
				break;
			if (eat_op(P, "]"))
				break;
			add(&n->v, &n->nv, expr(P));
		}
		return n;
	}
	if (eat_op(P, "{")) {
		n = mk(P, E_DICTLIT);
		while (!eat_op(P, "}") && !P->failed) {
			if (n->nv && expect_op(P, ","))
				break;
			if (eat_op(P, "}"))
				break;
			add(&n->v, &n->nv, expr(P));
			if (expect_op(P, ":"))
				break;
			add(&n->w, &n->nw, expr(P));
		}
		return n;
	}
	return perr(P, t->k == T_VE || t->k == T_BE || t->k == T_EOF ?
	    "expected an expression" : "unexpected '%s'", t->s ? t->s : "");
}

static struct node *
postfix(struct parser *P)
{
	struct node *n = primary(P);

	while (n && !P->failed) {
		struct node *m;

		if (eat_op(P, ".")) {
			if (cur(P)->k != T_NAME && cur(P)->k != T_INT) {
				perr(P, "expected a name after '.'");
				break;
			}
			m = mk(P, E_ATTR);
			m->a = n;
			m->s = cur(P)->k == T_NAME ? xstrdup(cur(P)->s) :
			    xasprintf("%lld", cur(P)->i);
			P->i++;
			if (eat_op(P, "(")) {
				m->k = E_METHOD;
				call_args(P, m);
			}
			n = m;
		} else if (eat_op(P, "[")) {
			struct node *x[3] = { NULL, NULL, NULL };
			int slice = 0;

			for (int k = 0; k < 3; k++) {
				if (!is_op(P, ":") && !is_op(P, "]"))
					x[k] = expr(P);
				if (k < 2 && eat_op(P, ":"))
					slice = 1;
				else
					break;
			}
			m = mk(P, slice ? E_SLICE : E_ITEM);
			m->a = n;
			m->b = x[0];
			if (slice) {
				add(&m->v, &m->nv, x[1]);
				add(&m->v, &m->nv, x[2]);
			}
			n = m;
			expect_op(P, "]");
		} else
			break;
	}
	return n;
}

/* filters and tests after a postfix expression */
static struct node *
filtered(struct parser *P)
{
	struct node *n = postfix(P);

	while (n && !P->failed) {
		struct node *m;

		if (eat_op(P, "|")) {
			if (cur(P)->k != T_NAME)
				return node_free(n), perr(P,
				    "expected a filter name");
			if (!known(filters, cur(P)->s)) {
				perr(P, "unknown filter '%s'", cur(P)->s);
				break;
			}
			m = mk(P, E_FILTER);
			m->s = xstrdup(cur(P)->s);
			m->a = n;
			P->i++;
			if (eat_op(P, "("))
				call_args(P, m);
			n = m;
		} else if (is_name(P, "is")) {
			P->i++;
			m = mk(P, E_TEST);
			m->a = n;
			n = m;
			if (is_name(P, "not")) {
				m->neg = 1;
				P->i++;
			}
			if (cur(P)->k != T_NAME && !is_op(P, "==") &&
			    !is_op(P, "!=")) {
				perr(P, "expected a test name");
				break;
			}
			if (!known(tests, cur(P)->s)) {
				perr(P, "unknown test '%s'", cur(P)->s);
				break;
			}
			m->s = xstrdup(cur(P)->s);
			P->i++;
			if (eat_op(P, "("))
				call_args(P, m);
			else if (cur(P)->k == T_STR || cur(P)->k == T_INT ||
			    cur(P)->k == T_FLOAT || (cur(P)->k == T_NAME &&
			    !is_name(P, "and") && !is_name(P, "or") &&
			    !is_name(P, "else") && !is_name(P, "if") &&
			    !is_name(P, "in") && !is_name(P, "is")))
				add(&m->v, &m->nv, postfix(P));
		} else
			break;
	}
	return n;
}

static struct node *
unary(struct parser *P)
{
	struct node *n;

	if (++P->depth > MAX_DEPTH)
		return perr(P, "expression nested too deeply");
	if (eat_op(P, "-")) {
		n = mk(P, E_NEG);
		n->a = unary(P);
	} else if (eat_op(P, "+"))
		n = unary(P);
	else
		n = filtered(P);
	P->depth--;
	return n;
}

static struct node *
bin(struct parser *P, int k, const char *op, struct node *a, struct node *b)
{
	struct node *n = mk(P, k);

	n->s = op ? xstrdup(op) : NULL;
	n->a = a;
	n->b = b;
	return n;
}

static struct node *
power(struct parser *P)
{
	struct node *n = unary(P);

	while (n && !P->failed && is_op(P, "**")) {
		P->i++;
		n = bin(P, E_BIN, "**", n, unary(P));
	}
	return n;
}

static struct node *
product(struct parser *P)
{
	struct node *n = power(P);

	while (n && !P->failed && (is_op(P, "*") || is_op(P, "/") ||
	    is_op(P, "//") || is_op(P, "%"))) {
		char *op = cur(P)->s;

		P->i++;
		n = bin(P, E_BIN, op, n, power(P));
	}
	return n;
}

static struct node *
sum(struct parser *P)
{
	struct node *n = product(P);

	while (n && !P->failed && (is_op(P, "+") || is_op(P, "-"))) {
		char *op = cur(P)->s;

		P->i++;
		n = bin(P, E_BIN, op, n, product(P));
	}
	return n;
}

static struct node *
concat(struct parser *P)
{
	struct node *n = sum(P);

	while (n && !P->failed && is_op(P, "~")) {
		P->i++;
		n = bin(P, E_BIN, "~", n, sum(P));
	}
	return n;
}

static struct node *
compare(struct parser *P)
{
	struct node *n = concat(P);

	while (n && !P->failed) {
		const char *op = NULL;

		if (cur(P)->k == T_OP && (is_op(P, "==") || is_op(P, "!=") ||
		    is_op(P, "<") || is_op(P, ">") || is_op(P, "<=") ||
		    is_op(P, ">=")))
			op = cur(P)->s;
		else if (is_name(P, "in"))
			op = "in";
		else if (is_name(P, "not") && P->t[P->i + 1].k == T_NAME &&
		    !strcmp(P->t[P->i + 1].s, "in")) {
			op = "not in";
			P->i++;
		}
		if (!op)
			break;
		op = xstrdup(op);
		P->i++;
		n = bin(P, E_BIN, op, n, concat(P));
		free((char *)op);
	}
	return n;
}

static struct node *
not_expr(struct parser *P)
{
	struct node *n;

	if (!is_name(P, "not"))
		return compare(P);
	if (++P->depth > MAX_DEPTH)
		return perr(P, "expression nested too deeply");
	P->i++;
	n = mk(P, E_NOT);
	n->a = not_expr(P);
	P->depth--;
	return n;
}

static struct node *
and_expr(struct parser *P)
{
	struct node *n = not_expr(P);

	while (n && !P->failed && is_name(P, "and")) {
		P->i++;
		n = bin(P, E_AND, NULL, n, not_expr(P));
	}
	return n;
}

static struct node *
or_expr(struct parser *P)
{
	struct node *n = and_expr(P);

	while (n && !P->failed && is_name(P, "or")) {
		P->i++;
		n = bin(P, E_OR, NULL, n, and_expr(P));
	}
	return n;
}

static struct node *
expr(struct parser *P)
{
	struct node *n;

	if (++P->depth > MAX_DEPTH)
		return perr(P, "expression nested too deeply");
	n = or_expr(P);
	if (n && !P->failed && is_name(P, "if")) {
		struct node *c = mk(P, E_COND);

		P->i++;
		c->a = n;
		c->b = or_expr(P);
		if (is_name(P, "else")) {
			P->i++;
			c->c = expr(P);
		}
		n = c;
	}
	P->depth--;
	return n;
}

/* ---- statements ---- */

static int
end_tag(struct parser *P)
{
	if (cur(P)->k == T_BE) {
		P->i++;
		return 0;
	}
	perr(P, "expected '%%}'");
	return -1;
}

/* nodes until a {% name %} with name in ends (left unread); *which is the
 * end found. what: the block being parsed, for messages */
static struct node *body(struct parser *P, const char *const *ends,
    const char *what, int open_line, const char **which);

static struct node *
stmt_if(struct parser *P)
{
	static const char *const ends[] = { "elif", "else", "endif", NULL };
	struct node *n = mk(P, N_IF), *b;
	int line = cur(P)->line;
	const char *which;

	n->a = expr(P);
	if (P->failed || end_tag(P))
		return n;
	b = body(P, ends, "if", line, &which);
	add(&n->v, &n->nv, b);
	if (P->failed)
		return n;
	P->i++;
	if (!strcmp(which, "elif"))
		add(&n->w, &n->nw, stmt_if(P));
	else if (!strcmp(which, "else")) {
		static const char *const e2[] = { "endif", NULL };

		if (end_tag(P))
			return n;
		add(&n->w, &n->nw, body(P, e2, "if", line, &which));
		if (!P->failed) {
			P->i++;
			end_tag(P);
		}
	} else
		end_tag(P);
	return n;
}

static struct node *
stmt_for(struct parser *P)
{
	static const char *const ends[] = { "else", "endfor", NULL };
	struct node *n = mk(P, N_FOR);
	int line = cur(P)->line;
	const char *which;

	if (cur(P)->k != T_NAME)
		return perr(P, "expected a loop variable"), n;
	n->s = xstrdup(cur(P)->s);
	P->i++;
	if (eat_op(P, ",")) {
		if (cur(P)->k != T_NAME)
			return perr(P, "expected a loop variable"), n;
		n->name2 = xstrdup(cur(P)->s);
		P->i++;
	}
	if (!is_name(P, "in"))
		return perr(P, "expected 'in'"), n;
	P->i++;
	n->a = or_expr(P);
	if (!P->failed && is_name(P, "if")) {
		P->i++;
		n->b = or_expr(P);
	}
	if (!P->failed && is_name(P, "recursive"))
		return perr(P, "recursive loops are not supported"), n;
	if (P->failed || end_tag(P))
		return n;
	add(&n->v, &n->nv, body(P, ends, "for", line, &which));
	if (P->failed)
		return n;
	P->i++;
	if (!strcmp(which, "else")) {
		static const char *const e2[] = { "endfor", NULL };

		if (end_tag(P))
			return n;
		add(&n->w, &n->nw, body(P, e2, "for", line, &which));
		if (P->failed)
			return n;
		P->i++;
	}
	end_tag(P);
	return n;
}

static struct node *
stmt_set(struct parser *P)
{
	struct node *n = mk(P, N_SET);

	if (cur(P)->k != T_NAME)
		return perr(P, "expected a name after 'set'"), n;
	n->s = xstrdup(cur(P)->s);
	P->i++;
	if (eat_op(P, ".")) {
		if (cur(P)->k != T_NAME)
			return perr(P, "expected an attribute name"), n;
		n->name2 = xstrdup(cur(P)->s);
		P->i++;
	} else if (is_op(P, ","))
		return perr(P, "tuple assignment is not supported"), n;
	if (cur(P)->k == T_BE)
		return perr(P, "set blocks are not supported"), n;
	if (expect_op(P, "="))
		return n;
	n->a = expr(P);
	if (!P->failed)
		end_tag(P);
	return n;
}

static struct node *
body(struct parser *P, const char *const *ends, const char *what,
    int open_line, const char **which)
{
	struct node *l = mk(P, N_LIST);

	if (++P->depth > MAX_DEPTH) {
		perr(P, "blocks nested too deeply");
		return l;
	}
	while (!P->failed) {
		struct tok *t = cur(P);
		struct node *n = NULL;

		if (t->k == T_EOF) {
			if (ends)
				perr(P, "unclosed '%s' block (opened at line "
				    "%d)", what, open_line);
			break;
		}
		if (t->k == T_TEXT) {
			n = mk(P, N_TEXT);
			n->s = xstrndup(t->s, t->len);
			n->nv = 0;
			n->lit = json_integer((json_int_t)t->len);
			P->i++;
		} else if (t->k == T_VB) {
			P->i++;
			n = mk(P, N_OUT);
			n->a = expr(P);
			if (!P->failed && cur(P)->k != T_VE)
				perr(P, "expected '}}'");
			P->i++;
		} else if (t->k == T_BB) {
			const char *nm;

			P->i++;
			if (cur(P)->k != T_NAME) {
				perr(P, "expected a tag name");
				break;
			}
			nm = cur(P)->s;
			if (ends && known(ends, nm)) {
				*which = nm;
				break;
			}
			P->i++;
			if (!strcmp(nm, "if"))
				n = stmt_if(P);
			else if (!strcmp(nm, "for"))
				n = stmt_for(P);
			else if (!strcmp(nm, "set"))
				n = stmt_set(P);
			else if (!strcmp(nm, "break") ||
			    !strcmp(nm, "continue")) {
				n = mk(P, nm[0] == 'b' ? N_BREAK : N_CONTINUE);
				end_tag(P);
			} else if (!strncmp(nm, "end", 3) || !strcmp(nm,
			    "else") || !strcmp(nm, "elif"))
				perr(P, "unexpected '%s'%s", nm, ends ? "" :
				    " outside a block");
			else
				perr(P, "unknown tag '%s'", nm);
		} else
			perr(P, "unexpected token");
		if (n)
			add(&l->v, &l->nv, n);
	}
	P->depth--;
	return l;
}

struct lmf_jinja *
lmf_jinja_parse(const char *src, size_t len, char *err, size_t errlen)
{
	struct lex L = { src, len, 0, 1, NULL, 0, 0, err, errlen };
	struct parser P = { 0 };
	struct lmf_jinja *j = NULL;
	struct node *root = NULL;

	if (!lex(&L)) {
		P.t = L.v;
		P.err = err;
		P.errlen = errlen;
		root = body(&P, NULL, NULL, 0, NULL);
		if (P.failed) {
			node_free(root);
			root = NULL;
		}
	}
	for (size_t i = 0; i < L.n; i++)
		free(L.v[i].s);
	free(L.v);
	if (root) {
		j = xcalloc(1, sizeof *j);
		j->root = root;
	}
	return j;
}

void
lmf_jinja_free(struct lmf_jinja *j)
{
	if (!j)
		return;
	node_free(j->root);
	free(j);
}

/* ---- values ---- */

struct ctx {
	json_t *scope[MAX_SCOPE];
	int ns;
	json_t *nss;            /* the namespace() objects: assignable */
	struct lmf_buf out;
	long steps;
	char *err;
	size_t errlen;
	int failed, brk, cont, line;
};

static json_t *
fail(struct ctx *C, const char *fmt, ...)
{
	char msg[300];
	va_list ap;

	if (C->failed)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	lmf_seterr(C->err, C->errlen, "template line %d: %s", C->line, msg);
	C->failed = 1;
	return NULL;
}

static int
truthy(json_t *v)
{
	if (!v || json_is_null(v) || json_is_false(v))
		return 0;
	if (json_is_integer(v))
		return json_integer_value(v) != 0;
	if (json_is_real(v))
		return json_real_value(v) != 0;
	if (json_is_string(v))
		return json_string_length(v) != 0;
	if (json_is_array(v))
		return json_array_size(v) != 0;
	if (json_is_object(v))
		return json_object_size(v) != 0;
	return 1;
}

static const char *
type_name(json_t *v)
{
	if (!v)
		return "undefined";
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "dict";
	case JSON_ARRAY: return "list";
	case JSON_STRING: return "str";
	case JSON_INTEGER: return "int";
	case JSON_REAL: return "float";
	case JSON_NULL: return "None";
	default: return "bool";
	}
}

/* Python's repr of a float: the shortest digits that read back */
static void
float_repr(double d, struct lmf_buf *b)
{
	char s[64];

	if (isnan(d)) {
		lmf_buf_puts(b, "nan");
		return;
	}
	if (isinf(d)) {
		lmf_buf_puts(b, d < 0 ? "-inf" : "inf");
		return;
	}
	for (int p = 1; p <= 17; p++) {
		snprintf(s, sizeof s, "%.*g", p, d);
		if (strtod(s, NULL) == d)
			break;
	}
	lmf_buf_puts(b, s);
	if (!strpbrk(s, ".en"))
		lmf_buf_puts(b, ".0");
}

static void repr_of(json_t *v, struct lmf_buf *b);

/* Python's str() */
static void
str_of(json_t *v, struct lmf_buf *b)
{
	char s[32];

	if (!v)
		return;
	switch (json_typeof(v)) {
	case JSON_STRING:
		lmf_buf_add(b, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		snprintf(s, sizeof s, "%lld", (long long)json_integer_value(v));
		lmf_buf_puts(b, s);
		break;
	case JSON_REAL:
		float_repr(json_real_value(v), b);
		break;
	case JSON_TRUE: lmf_buf_puts(b, "True"); break;
	case JSON_FALSE: lmf_buf_puts(b, "False"); break;
	case JSON_NULL: lmf_buf_puts(b, "None"); break;
	default:
		repr_of(v, b);
	}
}

static void
repr_of(json_t *v, struct lmf_buf *b)
{
	if (v && json_is_string(v)) {
		const char *s = json_string_value(v);
		size_t n = json_string_length(v);
		char q = memchr(s, '\'', n) && !memchr(s, '"', n) ? '"' :
		    '\'';

		lmf_buf_add(b, &q, 1);
		for (size_t i = 0; i < n; i++) {
			unsigned char c = (unsigned char)s[i];
			char e[8];

			if (c == '\\' || c == (unsigned char)q) {
				e[0] = '\\';
				e[1] = (char)c;
				lmf_buf_add(b, e, 2);
			} else if (c == '\n')
				lmf_buf_puts(b, "\\n");
			else if (c == '\t')
				lmf_buf_puts(b, "\\t");
			else if (c == '\r')
				lmf_buf_puts(b, "\\r");
			else if (c < 0x20 || c == 0x7f) {
				snprintf(e, sizeof e, "\\x%02x", c);
				lmf_buf_puts(b, e);
			} else
				lmf_buf_add(b, (const char *)&c, 1);
		}
		lmf_buf_add(b, &q, 1);
	} else if (v && json_is_array(v)) {
		size_t i;
		json_t *x;

		lmf_buf_puts(b, "[");
		json_array_foreach(v, i, x) {
			if (i)
				lmf_buf_puts(b, ", ");
			repr_of(x, b);
		}
		lmf_buf_puts(b, "]");
	} else if (v && json_is_object(v)) {
		const char *k;
		json_t *x;
		int first = 1;

		lmf_buf_puts(b, "{");
		json_object_foreach(v, k, x) {
			json_t *ks = json_string(k);

			if (!first)
				lmf_buf_puts(b, ", ");
			first = 0;
			repr_of(ks, b);
			json_decref(ks);
			lmf_buf_puts(b, ": ");
			repr_of(x, b);
		}
		lmf_buf_puts(b, "}");
	} else
		str_of(v, b);
}


static json_t *
str_value(json_t *v)
{
	struct lmf_buf b = { 0 };
	json_t *r;

	lmf_buf_add(&b, "", 0);
	str_of(v, &b);
	r = json_stringn_nocheck(b.s, b.n);
	free(b.s);
	return r;
}

/* the byte offsets of the code points of s (n + 1 entries) */
static size_t *
cp_offsets(const char *s, size_t len, size_t *n)
{
	size_t *o = xmallocarray(len + 1, sizeof *o), k = 0;

	for (size_t i = 0; i < len; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			o[k++] = i;
	o[k] = len;
	*n = k;
	return o;
}

/* the string's characters (code points) as an array of strings */
static json_t *
chars_of(json_t *v)
{
	size_t n, *o = cp_offsets(json_string_value(v), json_string_length(v),
	    &n);
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_stringn_nocheck(
		    json_string_value(v) + o[i], o[i + 1] - o[i]));
	free(o);
	return a;
}

static json_t *
join_strs(json_t *a, const char *sep)
{
	struct lmf_buf b = { 0 };
	size_t i;
	json_t *x, *r;

	lmf_buf_add(&b, "", 0);
	json_array_foreach(a, i, x) {
		if (i)
			lmf_buf_puts(&b, sep);
		str_of(x, &b);
	}
	r = json_stringn_nocheck(b.s, b.n);
	free(b.s);
	return r;
}

static int
num_of(json_t *v, double *d)
{
	if (v && json_is_integer(v))
		*d = (double)json_integer_value(v);
	else if (v && json_is_real(v))
		*d = json_real_value(v);
	else if (v && json_is_boolean(v))
		*d = json_is_true(v);
	else
		return 0;
	return 1;
}

static int
is_int(json_t *v)
{
	return v && (json_is_integer(v) || json_is_boolean(v));
}

static long long
int_of(json_t *v)
{
	return json_is_integer(v) ? (long long)json_integer_value(v) :
	    json_is_true(v);
}

static int
equal(json_t *a, json_t *b)
{
	double x, y;

	if (!a || !b)
		return !a && !b;
	if (num_of(a, &x) && num_of(b, &y))
		return x == y;
	return json_equal(a, b);
}

/* <0, 0, >0; or fails with a type error */
static int
compare_values(struct ctx *C, json_t *a, json_t *b, const char *op)
{
	double x, y;

	if (num_of(a, &x) && num_of(b, &y))
		return x < y ? -1 : x > y;
	if (a && b && json_is_string(a) && json_is_string(b)) {
		size_t la = json_string_length(a), lb = json_string_length(b);
		int c = memcmp(json_string_value(a), json_string_value(b),
		    la < lb ? la : lb);

		return c ? c : la < lb ? -1 : la > lb;
	}
	fail(C, "'%s' not supported between %s and %s", op, type_name(a),
	    type_name(b));
	return 0;
}

static const char *
find_bytes(const char *h, size_t hn, const char *n, size_t nn)
{
	if (!nn)
		return h;
	for (size_t i = 0; i + nn <= hn; i++)
		if (h[i] == n[0] && !memcmp(h + i, n, nn))
			return h + i;
	return NULL;
}

static int
contains(struct ctx *C, json_t *hay, json_t *needle)
{
	size_t i;
	json_t *x;

	if (hay && json_is_string(hay)) {
		if (!needle || !json_is_string(needle))
			return fail(C, "'in <string>' requires a string, not "
			    "%s", type_name(needle)), 0;
		return find_bytes(json_string_value(hay),
		    json_string_length(hay), json_string_value(needle),
		    json_string_length(needle)) != NULL;
	}
	if (hay && json_is_array(hay)) {
		json_array_foreach(hay, i, x)
			if (equal(x, needle))
				return 1;
		return 0;
	}
	if (hay && json_is_object(hay))
		return needle && json_is_string(needle) &&
		    json_object_get(hay, json_string_value(needle));
	fail(C, "%s is not a container", type_name(hay));
	return 0;
}

/* ---- evaluation ---- */

#define MAXARG 8

struct args {
	json_t *v[MAXARG];      /* positional, then keyword values */
	const char *kw[MAXARG]; /* NULL for positional */
	int n;
};

static json_t *ev(struct ctx *C, struct node *n);

static int
eval_args(struct ctx *C, struct node *n, struct args *A)
{
	A->n = 0;
	if (n->nv > MAXARG)
		return fail(C, "too many arguments"), -1;
	for (int i = 0; i < n->nv; i++) {
		struct node *a = n->v[i];

		A->kw[A->n] = a->k == E_KW ? a->s : NULL;
		A->v[A->n++] = ev(C, a->k == E_KW ? a->a : a);
		if (C->failed)
			return -1;
	}
	return 0;
}

static void
free_args(struct args *A)
{
	for (int i = 0; i < A->n; i++)
		json_decref(A->v[i]);
	A->n = 0;
}

/* argument i (positional) or called kw; borrowed, NULL if absent */
static json_t *
arg(struct args *A, int i, const char *kw)
{
	int p = 0;

	for (int k = 0; k < A->n; k++) {
		if (A->kw[k] && kw && !strcmp(A->kw[k], kw))
			return A->v[k];
		if (!A->kw[k] && p++ == i)
			return A->v[k];
	}
	return NULL;
}

static json_t *
lookup(struct ctx *C, const char *name)
{
	for (int i = C->ns - 1; i >= 0; i--) {
		json_t *v = json_object_get(C->scope[i], name);

		if (v)
			return json_incref(v);
	}
	return NULL;
}

static int
need_str(struct ctx *C, json_t *v, const char *what)
{
	if (v && json_is_string(v))
		return 0;
	fail(C, "%s needs a string, not %s", what, type_name(v));
	return -1;
}

static int
in_set(const char *set, size_t setn, const char *s, size_t sl)
{
	for (size_t i = 0; i + sl <= setn; i++)
		if (!memcmp(set + i, s, sl))
			return 1;
	return 0;
}

/* python strip: which 1 left, 2 right, 3 both; chars NULL: whitespace */
static json_t *
strip_str(json_t *v, json_t *chars, int which)
{
	const char *s = json_string_value(v), *set = " \t\n\r\v\f";
	size_t n, *o = cp_offsets(s, json_string_length(v), &n), a = 0, b = n;
	size_t setn = strlen(set);
	json_t *r;

	if (chars && json_is_string(chars)) {
		set = json_string_value(chars);
		setn = json_string_length(chars);
	}
	if (which & 1)
		while (a < b && in_set(set, setn, s + o[a], o[a + 1] - o[a]))
			a++;
	if (which & 2)
		while (b > a && in_set(set, setn, s + o[b - 1], o[b] -
		    o[b - 1]))
			b--;
	r = json_stringn_nocheck(s + o[a], o[b] - o[a]);
	free(o);
	return r;
}

static json_t *
replace_str(json_t *v, json_t *old, json_t *new, long long count)
{
	const char *s = json_string_value(v), *p;
	size_t n = json_string_length(v), on = json_string_length(old);
	struct lmf_buf b = { 0 };
	json_t *r;

	lmf_buf_add(&b, "", 0);
	if (!on) {
		/* Python inserts new between every character */
		json_t *c = chars_of(v);

		r = join_strs(c, json_string_value(new));
		json_decref(c);
		if (count < 0) {
			struct lmf_buf w = { 0 };

			lmf_buf_puts(&w, json_string_value(new));
			lmf_buf_puts(&w, json_string_value(r));
			lmf_buf_puts(&w, json_string_value(new));
			json_decref(r);
			r = json_string(w.s);
			free(w.s);
		}
		free(b.s);
		return r;
	}
	while (count && (p = find_bytes(s, n, json_string_value(old), on))) {
		lmf_buf_add(&b, s, (size_t)(p - s));
		lmf_buf_add(&b, json_string_value(new),
		    json_string_length(new));
		n -= (size_t)(p - s) + on;
		s = p + on;
		if (count > 0)
			count--;
	}
	lmf_buf_add(&b, s, n);
	r = json_stringn_nocheck(b.s, b.n);
	free(b.s);
	return r;
}

static json_t *
split_str(json_t *v, json_t *sep, long long max, int right)
{
	const char *s = json_string_value(v), *e = s + json_string_length(v);
	json_t *a = json_array();

	if (!sep || json_is_null(sep)) {
		/* runs of whitespace, empties dropped (left to right only) */
		while (s < e) {
			const char *w;

			while (s < e && isspace((unsigned char)*s))
				s++;
			if (s == e)
				break;
			w = s;
			if (max >= 0 && (long long)json_array_size(a) == max) {
				const char *t = e;

				while (t > w && isspace((unsigned char)t[-1]))
					t--;
				json_array_append_new(a,
				    json_stringn_nocheck(w, (size_t)(t - w)));
				break;
			}
			while (s < e && !isspace((unsigned char)*s))
				s++;
			json_array_append_new(a, json_stringn_nocheck(w,
			    (size_t)(s - w)));
		}
		return a;
	}
	{
		const char *p = json_string_value(sep);
		size_t pn = json_string_length(sep);

		if (!right) {
			const char *q;

			while ((max < 0 || (long long)json_array_size(a) <
			    max) && (q = find_bytes(s, (size_t)(e - s), p,
			    pn))) {
				json_array_append_new(a, json_stringn_nocheck(
				    s, (size_t)(q - s)));
				s = q + pn;
			}
			json_array_append_new(a, json_stringn_nocheck(s,
			    (size_t)(e - s)));
		} else {
			const char *q = e;

			while (max < 0 || (long long)json_array_size(a) <
			    max) {
				const char *f = NULL;

				for (const char *t = q - pn; t >= s; t--)
					if (!memcmp(t, p, pn)) {
						f = t;
						break;
					}
				if (!f)
					break;
				json_array_insert_new(a, 0,
				    json_stringn_nocheck(f + pn,
				    (size_t)(q - f - pn)));
				q = f;
			}
			json_array_insert_new(a, 0, json_stringn_nocheck(s,
			    (size_t)(q - s)));
		}
	}
	return a;
}

static json_t *
case_str(json_t *v, int mode)
{
	char *s = xstrndup(json_string_value(v), json_string_length(v));
	size_t n = json_string_length(v);
	int start = 1;
	json_t *r;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (mode == 0)
			s[i] = (char)toupper(c);
		else if (mode == 1)
			s[i] = (char)tolower(c);
		else if (mode == 2)
			s[i] = (char)(i ? tolower(c) : toupper(c));
		else {
			s[i] = (char)(start ? toupper(c) : tolower(c));
			start = !isalpha(c);
		}
	}
	r = json_stringn_nocheck(s, n);
	free(s);
	return r;
}

static int
prefix_match(json_t *s, json_t *p, int end)
{
	size_t n = json_string_length(s), m = json_string_length(p);

	return m <= n && !memcmp(json_string_value(s) + (end ? n - m : 0),
	    json_string_value(p), m);
}

static json_t *
method(struct ctx *C, json_t *o, const char *m, struct args *A)
{
	json_t *a0 = arg(A, 0, NULL), *a1 = arg(A, 1, NULL);

	if (o && json_is_string(o)) {
		if (!strcmp(m, "startswith") || !strcmp(m, "endswith")) {
			int end = m[0] == 'e';

			if (a0 && json_is_array(a0)) {
				size_t i;
				json_t *x;

				json_array_foreach(a0, i, x)
					if (json_is_string(x) &&
					    prefix_match(o, x, end))
						return json_true();
				return json_false();
			}
			if (need_str(C, a0, m))
				return NULL;
			return json_boolean(prefix_match(o, a0, end));
		}
		if (!strcmp(m, "strip") || !strcmp(m, "lstrip") ||
		    !strcmp(m, "rstrip"))
			return strip_str(o, a0, m[0] == 'l' ? 1 : m[0] == 'r' ?
			    2 : 3);
		if (!strcmp(m, "split") || !strcmp(m, "rsplit")) {
			json_t *mx = arg(A, 1, "maxsplit"), *sep = arg(A, 0,
			    "sep");

			if (sep && !json_is_null(sep) && (need_str(C, sep,
			    m) || (!json_string_length(sep) &&
			    !fail(C, "empty separator"))))
				return NULL;
			return split_str(o, sep, is_int(mx) ? int_of(mx) :
			    -1, m[0] == 'r' && sep && !json_is_null(sep));
		}
		if (!strcmp(m, "replace")) {
			json_t *c = arg(A, 2, "count");

			if (need_str(C, a0, m) || need_str(C, a1, m))
				return NULL;
			return replace_str(o, a0, a1, is_int(c) ? int_of(c) :
			    -1);
		}
		if (!strcmp(m, "upper") || !strcmp(m, "lower") ||
		    !strcmp(m, "capitalize") || !strcmp(m, "title"))
			return case_str(o, m[0] == 'u' ? 0 : m[0] == 'l' ? 1 :
			    m[0] == 'c' ? 2 : 3);
		if (!strcmp(m, "find") || !strcmp(m, "count")) {
			const char *s = json_string_value(o), *p;
			size_t n = json_string_length(o);
			long long k = 0;

			if (need_str(C, a0, m))
				return NULL;
			p = find_bytes(s, n, json_string_value(a0),
			    json_string_length(a0));
			if (m[0] == 'f') {
				size_t nc;
				free(cp_offsets(s, p ? (size_t)(p - s) : 0,
				    &nc));
				return json_integer(p ? (json_int_t)nc : -1);
			}
			while (json_string_length(a0) && p) {
				k++;
				n -= (size_t)(p - s) + json_string_length(a0);
				s = p + json_string_length(a0);
				p = find_bytes(s, n, json_string_value(a0),
				    json_string_length(a0));
			}
			return json_integer(k);
		}
		if (!strcmp(m, "join")) {
			if (!a0 || !json_is_array(a0))
				return fail(C, "join needs a list");
			return join_strs(a0, json_string_value(o));
		}
	}
	if (o && json_is_object(o)) {
		if (!strcmp(m, "items") || !strcmp(m, "keys") ||
		    !strcmp(m, "values")) {
			json_t *r = json_array(), *x;
			const char *k;

			json_object_foreach(o, k, x) {
				if (m[0] == 'k')
					json_array_append_new(r, json_string(k));
				else if (m[0] == 'v')
					json_array_append(r, x);
				else
					json_array_append_new(r, json_pack(
					    "[sO]", k, x));
			}
			return r;
		}
		if (!strcmp(m, "get")) {
			json_t *x;

			if (need_str(C, a0, m))
				return NULL;
			x = json_object_get(o, json_string_value(a0));
			return json_incref(x ? x : a1 ? a1 : json_null());
		}
	}
	return fail(C, "%s has no method '%s'", type_name(o), m);
}

static int
run_test(struct ctx *C, const char *t, json_t *v, struct args *A)
{
	json_t *a0 = arg(A, 0, NULL);
	double d;

	if (!strcmp(t, "defined"))
		return v != NULL;
	if (!strcmp(t, "undefined"))
		return v == NULL;
	if (!strcmp(t, "none"))
		return v && json_is_null(v);
	if (!strcmp(t, "string"))
		return v && json_is_string(v);
	if (!strcmp(t, "mapping"))
		return v && json_is_object(v);
	if (!strcmp(t, "iterable"))
		return v && (json_is_string(v) || json_is_array(v) ||
		    json_is_object(v));
	if (!strcmp(t, "sequence"))
		return v && (json_is_string(v) || json_is_array(v) ||
		    json_is_object(v));
	if (!strcmp(t, "number"))
		return v && (json_is_number(v) || json_is_boolean(v));
	if (!strcmp(t, "integer"))
		return v && json_is_integer(v);
	if (!strcmp(t, "float"))
		return v && json_is_real(v);
	if (!strcmp(t, "boolean"))
		return v && json_is_boolean(v);
	if (!strcmp(t, "true"))
		return v && json_is_true(v);
	if (!strcmp(t, "false"))
		return v && json_is_false(v);
	if (!strcmp(t, "callable"))
		return 0;
	if (!strcmp(t, "equalto") || !strcmp(t, "eq") || !strcmp(t, "=="))
		return equal(v, a0);
	if (!strcmp(t, "ne") || !strcmp(t, "!="))
		return !equal(v, a0);
	if (!strcmp(t, "sameas"))
		return (!v && !a0) || (v && a0 && (v == a0 || (json_typeof(v)
		    == json_typeof(a0) && (json_is_null(v) ||
		    json_is_boolean(v)))));
	if (!strcmp(t, "in"))
		return contains(C, a0, v);
	if (!strcmp(t, "lower") || !strcmp(t, "upper")) {
		json_t *c;
		int r;

		if (!v || !json_is_string(v))
			return 0;
		c = case_str(v, t[0] == 'u' ? 0 : 1);
		r = json_equal(c, v);
		json_decref(c);
		return r;
	}
	if (!strcmp(t, "odd") || !strcmp(t, "even")) {
		if (!is_int(v))
			return fail(C, "test '%s' needs an integer", t), 0;
		return (int)(int_of(v) & 1) == (t[0] == 'o');
	}
	if (!strcmp(t, "divisibleby")) {
		if (!is_int(v) || !is_int(a0) || !int_of(a0))
			return fail(C, "divisibleby needs integers"), 0;
		return int_of(v) % int_of(a0) == 0;
	}
	if (!num_of(v, &d) && !(v && json_is_string(v)))
		return fail(C, "test '%s' needs a value", t), 0;
	{
		int c = compare_values(C, v, a0, t);

		return t[0] == 'g' ? (t[1] == 't' ? c > 0 : c >= 0) :
		    (t[1] == 't' ? c < 0 : c <= 0);
	}
}

/* the items a for loop or a filter iterates over (a new array) */
static json_t *
iter_items(struct ctx *C, json_t *v)
{
	if (!v)
		return json_array();
	if (json_is_array(v))
		return json_copy(v);
	if (json_is_string(v))
		return chars_of(v);
	if (json_is_object(v)) {
		json_t *r = json_array(), *x;
		const char *k;

		json_object_foreach(v, k, x)
			json_array_append_new(r, json_string(k));
		return r;
	}
	return fail(C, "%s is not iterable", type_name(v));
}

static json_t *
get_attr(json_t *o, const char *name)
{
	json_t *x;

	if (o && json_is_object(o) && (x = json_object_get(o, name)))
		return json_incref(x);
	return NULL;
}

static json_t *
filter(struct ctx *C, const char *f, json_t *v, struct args *A)
{
	json_t *a0 = arg(A, 0, NULL);

	if (!strcmp(f, "default") || !strcmp(f, "d")) {
		json_t *dv = arg(A, 0, "default_value"), *bo = arg(A, 1,
		    "boolean");

		if (!v || (truthy(bo) && !truthy(v)))
			return json_incref(dv ? dv : json_string(""));
		return json_incref(v);
	}
	if (!strcmp(f, "tojson")) {
		json_t *ind = arg(A, 0, "indent"), *r;
		char *t = lmf_pyjson_dumps(v, is_int(ind) ? (int)int_of(ind) :
		    -1, 0);

		r = json_stringn_nocheck(t, strlen(t));
		free(t);
		return r;
	}
	if (!strcmp(f, "string"))
		return str_value(v);
	if (!strcmp(f, "safe"))
		return v ? json_incref(v) : json_string("");
	if (!strcmp(f, "length") || !strcmp(f, "count")) {
		size_t n = 0;

		if (v && json_is_string(v))
			free(cp_offsets(json_string_value(v),
			    json_string_length(v), &n));
		else if (v && json_is_array(v))
			n = json_array_size(v);
		else if (v && json_is_object(v))
			n = json_object_size(v);
		else if (v)
			return fail(C, "%s has no length", type_name(v));
		return json_integer((json_int_t)n);
	}
	if (!strcmp(f, "list") || !strcmp(f, "reverse") || !strcmp(f,
	    "first") || !strcmp(f, "last")) {
		json_t *it = iter_items(C, v), *r;
		size_t n;

		if (!it)
			return NULL;
		n = json_array_size(it);
		if (f[0] == 'f' || (f[0] == 'l' && f[1] == 'a')) {
			r = n ? json_incref(json_array_get(it, f[0] == 'f' ?
			    0 : n - 1)) : NULL;
			json_decref(it);
			return r;
		}
		if (f[0] == 'l')
			return it;
		r = json_array();
		for (size_t i = n; i-- > 0;)
			json_array_append(r, json_array_get(it, i));
		json_decref(it);
		if (v && json_is_string(v)) {
			json_t *s = join_strs(r, "");

			json_decref(r);
			return s;
		}
		return r;
	}
	if (!strcmp(f, "items")) {
		struct args none = { .n = 0 };

		if (!v)
			return json_array();
		if (!json_is_object(v))
			return fail(C, "items needs a mapping, not %s",
			    type_name(v));
		return method(C, v, "items", &none);
	}
	if (!strcmp(f, "join")) {
		json_t *it = iter_items(C, v), *at = arg(A, 1, "attribute"),
		    *r;
		json_t *sep = arg(A, 0, "d");

		if (!it)
			return NULL;
		if (at && json_is_string(at)) {
			json_t *m = json_array(), *x;
			size_t i;

			json_array_foreach(it, i, x) {
				json_t *y = get_attr(x, json_string_value(at));

				json_array_append_new(m, y ? y : json_string(
				    ""));
			}
			json_decref(it);
			it = m;
		}
		r = join_strs(it, sep && json_is_string(sep) ?
		    json_string_value(sep) : "");
		json_decref(it);
		return r;
	}
	if (!strcmp(f, "map") || !strcmp(f, "selectattr") || !strcmp(f,
	    "rejectattr")) {
		json_t *it = iter_items(C, v), *r = json_array(), *x;
		size_t i;

		if (!it)
			return json_decref(r), NULL;
		json_array_foreach(it, i, x) {
			const char *an;
			json_t *y;

			if (f[0] == 'm') {
				json_t *at = arg(A, 99, "attribute"), *dv;

				if (!at || !json_is_string(at)) {
					fail(C, "map needs attribute=");
					break;
				}
				y = get_attr(x, json_string_value(at));
				dv = arg(A, 99, "default");
				json_array_append_new(r, y ? y : dv ?
				    json_incref(dv) : json_null());
				continue;
			}
			if (!a0 || !json_is_string(a0)) {
				fail(C, "%s needs an attribute name", f);
				break;
			}
			an = json_string_value(a0);
			y = get_attr(x, an);
			{
				struct args TA = { .n = 0 };
				int keep;

				if (A->n > 2) {
					TA.v[0] = A->v[2];
					TA.n = 1;
				}
				if (A->n > 1) {
					const char *tn = json_is_string(
					    A->v[1]) ? json_string_value(
					    A->v[1]) : "";

					if (!known(tests, tn)) {
						json_decref(y);
						fail(C, "unknown test '%s'",
						    tn);
						break;
					}
					keep = run_test(C, tn, y, &TA);
				} else
					keep = truthy(y);
				if (keep == (f[0] == 's'))
					json_array_append(r, x);
			}
			json_decref(y);
		}
		json_decref(it);
		if (C->failed)
			return json_decref(r), NULL;
		return r;
	}
	if (!strcmp(f, "int") || !strcmp(f, "float") || !strcmp(f, "abs")) {
		double d = 0;

		if (!num_of(v, &d) && v && json_is_string(v) &&
		    lmf_strtod(json_string_value(v), &d))
			d = 0;
		if (f[0] == 'a') {
			if (!num_of(v, &d))
				return fail(C, "abs needs a number");
			return json_is_real(v) ? json_real(fabs(d)) :
			    json_integer((json_int_t)llabs(int_of(v)));
		}
		return f[0] == 'i' ? json_integer((json_int_t)d) :
		    json_real(d);
	}
	if (!strcmp(f, "e") || !strcmp(f, "escape")) {
		json_t *s = str_value(v), *r;
		struct lmf_buf b = { 0 };

		lmf_buf_add(&b, "", 0);
		for (size_t i = 0; i < json_string_length(s); i++) {
			char c = json_string_value(s)[i];

			if (c == '&') lmf_buf_puts(&b, "&amp;");
			else if (c == '<') lmf_buf_puts(&b, "&lt;");
			else if (c == '>') lmf_buf_puts(&b, "&gt;");
			else if (c == '"') lmf_buf_puts(&b, "&#34;");
			else if (c == '\'') lmf_buf_puts(&b, "&#39;");
			else lmf_buf_add(&b, &c, 1);
		}
		json_decref(s);
		r = json_stringn_nocheck(b.s, b.n);
		free(b.s);
		return r;
	}
	/* string filters */
	{
		json_t *s = v && json_is_string(v) ? json_incref(v) :
		    str_value(v), *r = NULL;

		if (!strcmp(f, "trim"))
			r = strip_str(s, a0, 3);
		else if (!strcmp(f, "upper") || !strcmp(f, "lower") ||
		    !strcmp(f, "capitalize") || !strcmp(f, "title"))
			r = case_str(s, f[0] == 'u' ? 0 : f[0] == 'l' ? 1 :
			    f[0] == 'c' ? 2 : 3);
		else if (!strcmp(f, "replace"))
			r = method(C, s, "replace", A);
		else
			fail(C, "filter '%s' is not implemented", f);
		json_decref(s);
		return r;
	}
}

static json_t *
call(struct ctx *C, const char *f, struct args *A)
{
	json_t *a0 = arg(A, 0, NULL);

	if (!strcmp(f, "raise_exception")) {
		struct lmf_buf b = { 0 };

		lmf_buf_add(&b, "", 0);
		str_of(a0, &b);
		fail(C, "raise_exception: %s", b.s);
		free(b.s);
		return NULL;
	}
	if (!strcmp(f, "namespace") || !strcmp(f, "dict")) {
		json_t *o = json_object();

		for (int i = 0; i < A->n; i++)
			if (A->kw[i])
				json_object_set(o, A->kw[i], A->v[i] ?
				    A->v[i] : json_null());
			else if (A->v[i] && json_is_object(A->v[i]))
				json_object_update(o, A->v[i]);
		if (f[0] == 'n')
			json_array_append(C->nss, o);
		return o;
	}
	if (!strcmp(f, "range")) {
		long long a = 0, b, s = 1;
		json_t *r;

		for (int i = 0; i < A->n; i++)
			if (!is_int(A->v[i]))
				return fail(C, "range needs integers");
		if (A->n == 1)
			b = int_of(A->v[0]);
		else if (A->n == 2 || A->n == 3) {
			a = int_of(A->v[0]);
			b = int_of(A->v[1]);
			if (A->n == 3)
				s = int_of(A->v[2]);
		} else
			return fail(C, "range takes 1 to 3 arguments");
		if (!s)
			return fail(C, "range step must not be zero");
		if ((b - a) / s > MAX_STEPS)
			return fail(C, "range of more than %ld items",
			    MAX_STEPS);
		r = json_array();
		for (long long i = a; s > 0 ? i < b : i > b; i += s)
			json_array_append_new(r, json_integer(i));
		return r;
	}
	if (!strcmp(f, "strftime_now")) {
		char buf[256] = "";
		time_t now = time(NULL);
		struct tm tm;

		if (need_str(C, a0, f))
			return NULL;
		localtime_r(&now, &tm);
		strftime(buf, sizeof buf, json_string_value(a0), &tm);
		return json_string(buf);
	}
	return fail(C, "unknown function '%s'", f);
}

static json_t *
arith(struct ctx *C, const char *op, json_t *a, json_t *b)
{
	double x, y;

	if (!strcmp(op, "~")) {
		struct lmf_buf s = { 0 };
		json_t *r;

		lmf_buf_add(&s, "", 0);
		str_of(a, &s);
		str_of(b, &s);
		r = json_stringn_nocheck(s.s, s.n);
		free(s.s);
		return r;
	}
	if (!strcmp(op, "+") && a && b && json_is_string(a) &&
	    json_is_string(b)) {
		struct lmf_buf s = { 0 };
		json_t *r;

		lmf_buf_add(&s, json_string_value(a), json_string_length(a));
		lmf_buf_add(&s, json_string_value(b), json_string_length(b));
		r = json_stringn_nocheck(s.s, s.n);
		free(s.s);
		return r;
	}
	if (!strcmp(op, "+") && a && b && json_is_array(a) &&
	    json_is_array(b)) {
		json_t *r = json_copy(a);

		json_array_extend(r, b);
		return r;
	}
	if (!num_of(a, &x) || !num_of(b, &y))
		return fail(C, "unsupported operand types for %s: %s and %s",
		    op, type_name(a), type_name(b));
	if (is_int(a) && is_int(b) && strcmp(op, "/")) {
		long long i = int_of(a), j = int_of(b), r;

		switch (op[0]) {
		case '+': r = i + j; break;
		case '-': r = i - j; break;
		case '*':
			if (op[1] && (j < 0 || j > 64))
				return json_real(pow(x, y));
			if (op[1])
				for (r = 1; j-- > 0;)
					r *= i;
			else
				r = i * j;
			break;
		default:
			if (!j)
				return fail(C, "division by zero");
			r = i % j;
			if (r && (r < 0) != (j < 0))
				r += j;
			if (op[0] == '/')
				r = (i - r) / j;
		}
		return json_integer(r);
	}
	switch (op[0]) {
	case '+': return json_real(x + y);
	case '-': return json_real(x - y);
	case '*': return json_real(op[1] ? pow(x, y) : x * y);
	default:
		if (y == 0)
			return fail(C, "division by zero");
		if (op[0] == '%')
			return json_real(x - y * floor(x / y));
		return json_real(op[1] ? floor(x / y) : x / y);
	}
}

/* Python slice of the items (array) */
static json_t *
slice(struct ctx *C, json_t *v, json_t *a, json_t *b, json_t *c)
{
	json_t *it, *r, *xs[3] = { a, b, c };
	long long n, st = 1, lo, hi;
	int k;

	if (!v || !(json_is_array(v) || json_is_string(v)))
		return fail(C, "cannot slice %s", type_name(v));
	for (k = 0; k < 3; k++)
		if (xs[k] && !json_is_null(xs[k]) && !is_int(xs[k]))
			return fail(C, "slice indices must be integers");
	it = iter_items(C, v);
	n = (long long)json_array_size(it);
	if (c && !json_is_null(c))
		st = int_of(c);
	if (!st)
		return json_decref(it), fail(C, "slice step cannot be zero");
	lo = a && !json_is_null(a) ? int_of(a) : st > 0 ? 0 : n - 1;
	hi = b && !json_is_null(b) ? int_of(b) : st > 0 ? n : -n - 1;
	if (lo < 0)
		lo += n;
	if (hi < 0)
		hi += n;
	if (st > 0) {
		lo = lo < 0 ? 0 : lo > n ? n : lo;
		hi = hi < 0 ? 0 : hi > n ? n : hi;
	} else {
		lo = lo < -1 ? -1 : lo > n - 1 ? n - 1 : lo;
		hi = hi < -1 ? -1 : hi > n - 1 ? n - 1 : hi;
	}
	r = json_array();
	for (long long i = lo; st > 0 ? i < hi : i > hi; i += st)
		json_array_append(r, json_array_get(it, (size_t)i));
	json_decref(it);
	if (json_is_string(v)) {
		json_t *s = join_strs(r, "");

		json_decref(r);
		return s;
	}
	return r;
}

static json_t *
item(struct ctx *C, json_t *o, json_t *k)
{
	if (o && json_is_object(o)) {
		if (k && json_is_string(k))
			return get_attr(o, json_string_value(k));
		return NULL;
	}
	if (o && (json_is_array(o) || json_is_string(o)) && is_int(k)) {
		json_t *it = json_is_array(o) ? json_incref(o) : chars_of(o),
		    *r = NULL;
		long long i = int_of(k), n = (long long)json_array_size(it);

		if (i < 0)
			i += n;
		if (i >= 0 && i < n)
			r = json_incref(json_array_get(it, (size_t)i));
		json_decref(it);
		return r;
	}
	if (!o)
		return fail(C, "undefined value has no item");
	return NULL;
}

static const char *
node_name(struct node *n)
{
	return n->k == E_NAME || n->k == E_ATTR ? n->s : "value";
}

static json_t *
ev(struct ctx *C, struct node *n)
{
	json_t *a = NULL, *b = NULL, *r = NULL;
	struct args A = { .n = 0 };

	if (!n || C->failed)
		return NULL;
	C->line = n->line;
	switch (n->k) {
	case E_LIT:
		return json_incref(n->lit);
	case E_NAME:
		return lookup(C, n->s);
	case E_ATTR:
		a = ev(C, n->a);
		if (C->failed)
			return NULL;
		if (!a)
			return fail(C, "'%s' is undefined", node_name(n->a));
		r = get_attr(a, n->s);
		if (!r && json_is_array(a) && isdigit((unsigned char)*n->s)) {
			b = json_integer(strtoll(n->s, NULL, 10));
			r = item(C, a, b);
		}
		break;
	case E_ITEM:
		a = ev(C, n->a);
		b = ev(C, n->b);
		if (!C->failed && !a)
			fail(C, "'%s' is undefined", node_name(n->a));
		if (!C->failed)
			r = item(C, a, b);
		break;
	case E_SLICE: {
		json_t *c = NULL;

		a = ev(C, n->a);
		b = ev(C, n->b);
		r = NULL;
		{
			json_t *e = ev(C, n->v[0]);

			c = ev(C, n->v[1]);
			if (!C->failed)
				r = slice(C, a, b, e, c);
			json_decref(e);
		}
		json_decref(c);
		break;
	}
	case E_CALL:
		if (!eval_args(C, n, &A))
			r = call(C, n->s, &A);
		break;
	case E_METHOD:
		a = ev(C, n->a);
		if (!C->failed && !eval_args(C, n, &A)) {
			if (!a)
				fail(C, "'%s' is undefined", node_name(n->a));
			else
				r = method(C, a, n->s, &A);
		}
		break;
	case E_FILTER:
		a = ev(C, n->a);
		if (!C->failed && !eval_args(C, n, &A))
			r = filter(C, n->s, a, &A);
		break;
	case E_TEST:
		a = ev(C, n->a);
		if (!C->failed && !eval_args(C, n, &A)) {
			int t = run_test(C, n->s, a, &A);

			r = C->failed ? NULL : json_boolean(t != n->neg);
		}
		break;
	case E_NOT:
		a = ev(C, n->a);
		r = C->failed ? NULL : json_boolean(!truthy(a));
		break;
	case E_NEG:
		a = ev(C, n->a);
		if (!C->failed) {
			b = json_integer(0);
			r = arith(C, "-", b, a);
		}
		break;
	case E_AND:
	case E_OR:
		a = ev(C, n->a);
		if (C->failed)
			return NULL;
		if (truthy(a) == (n->k == E_OR))
			return a;
		json_decref(a);
		return ev(C, n->b);
	case E_COND:
		b = ev(C, n->b);
		if (C->failed)
			break;
		r = truthy(b) ? ev(C, n->a) : ev(C, n->c);
		break;
	case E_BIN:
		a = ev(C, n->a);
		b = ev(C, n->b);
		if (C->failed)
			break;
		if (!strcmp(n->s, "==") || !strcmp(n->s, "!="))
			r = json_boolean(equal(a, b) == (n->s[0] == '='));
		else if (!strcmp(n->s, "in") || !strcmp(n->s, "not in")) {
			int t = contains(C, b, a);

			r = C->failed ? NULL : json_boolean(t == (n->s[0] ==
			    'i'));
		} else if (strchr("<>", n->s[0])) {
			int c = compare_values(C, a, b, n->s);

			if (!C->failed)
				r = json_boolean(n->s[0] == '<' ? (n->s[1] ?
				    c <= 0 : c < 0) : (n->s[1] ? c >= 0 :
				    c > 0));
		} else
			r = arith(C, n->s, a, b);
		break;
	case E_LISTLIT:
		r = json_array();
		for (int i = 0; i < n->nv && !C->failed; i++) {
			json_t *x = ev(C, n->v[i]);

			json_array_append_new(r, x ? x : json_null());
		}
		break;
	case E_DICTLIT:
		r = json_object();
		for (int i = 0; i < n->nv && !C->failed; i++) {
			json_t *k = ev(C, n->v[i]), *x = ev(C, n->w[i]);

			if (!C->failed && (!k || !json_is_string(k)))
				fail(C, "dict keys must be strings");
			else if (!C->failed)
				json_object_set(r, json_string_value(k), x ?
				    x : json_null());
			json_decref(k);
			json_decref(x);
		}
		break;
	default:
		fail(C, "bad expression");
	}
	free_args(&A);
	json_decref(a);
	json_decref(b);
	if (C->failed) {
		json_decref(r);
		return NULL;
	}
	return r;
}

static int exec(struct ctx *C, struct node *n);

static int
exec_list(struct ctx *C, struct node **v, int nv)
{
	for (int i = 0; i < nv && !C->failed && !C->brk && !C->cont; i++)
		exec(C, v[i]);
	return C->failed ? -1 : 0;
}

static int
push_scope(struct ctx *C)
{
	if (C->ns == MAX_SCOPE)
		return fail(C, "loops nested too deeply"), -1;
	C->scope[C->ns++] = json_object();
	return 0;
}

static void
pop_scope(struct ctx *C)
{
	json_decref(C->scope[--C->ns]);
}

static void
bind(struct ctx *C, struct node *n, json_t *x)
{
	json_t *top = C->scope[C->ns - 1];

	if (!n->name2) {
		json_object_set(top, n->s, x);
		return;
	}
	if (!json_is_array(x) || json_array_size(x) != 2) {
		fail(C, "cannot unpack %s into 2 names", type_name(x));
		return;
	}
	json_object_set(top, n->s, json_array_get(x, 0));
	json_object_set(top, n->name2, json_array_get(x, 1));
}

static void
exec_for(struct ctx *C, struct node *n)
{
	json_t *v = ev(C, n->a), *it, *items;
	size_t len, i;
	json_t *x;

	if (C->failed)
		return;
	if (v && json_is_null(v)) {
		json_decref(v);
		fail(C, "None is not iterable");
		return;
	}
	it = iter_items(C, v);
	json_decref(v);
	if (!it)
		return;
	if (n->b) {
		/* for x in y if cond: filter first (loop.length counts
		 * the kept items) */
		items = json_array();
		if (push_scope(C))
			goto out;
		json_array_foreach(it, i, x) {
			json_t *c;

			bind(C, n, x);
			c = ev(C, n->b);
			if (truthy(c))
				json_array_append(items, x);
			json_decref(c);
			if (C->failed)
				break;
		}
		pop_scope(C);
		json_decref(it);
		it = items;
	}
	len = json_array_size(it);
	json_array_foreach(it, i, x) {
		json_t *loop;

		if (C->failed || ++C->steps > MAX_STEPS) {
			fail(C, "more than %ld loop iterations", MAX_STEPS);
			break;
		}
		if (push_scope(C))
			break;
		bind(C, n, x);
		loop = json_pack("{s:I,s:I,s:I,s:I,s:b,s:b,s:I}",
		    "index0", (json_int_t)i, "index", (json_int_t)i + 1,
		    "revindex", (json_int_t)(len - i), "revindex0",
		    (json_int_t)(len - i - 1), "first", i == 0, "last",
		    i + 1 == len, "length", (json_int_t)len);
		if (i)
			json_object_set(loop, "previtem", json_array_get(it,
			    i - 1));
		if (i + 1 < len)
			json_object_set(loop, "nextitem", json_array_get(it,
			    i + 1));
		json_object_set_new(C->scope[C->ns - 1], "loop", loop);
		exec_list(C, n->v[0]->v, n->v[0]->nv);
		pop_scope(C);
		C->cont = 0;
		if (C->brk) {
			C->brk = 0;
			break;
		}
	}
	if (!len && n->nw && !C->failed)
		exec_list(C, n->w[0]->v, n->w[0]->nv);
out:
	json_decref(it);
}

static int
exec(struct ctx *C, struct node *n)
{
	json_t *v;

	C->line = n->line;
	switch (n->k) {
	case N_LIST:
		return exec_list(C, n->v, n->nv);
	case N_TEXT:
		lmf_buf_add(&C->out, n->s, (size_t)json_integer_value(n->lit));
		break;
	case N_OUT:
		v = ev(C, n->a);
		str_of(v, &C->out);
		json_decref(v);
		break;
	case N_IF:
		v = ev(C, n->a);
		if (!C->failed) {
			if (truthy(v))
				exec(C, n->v[0]);
			else if (n->nw)
				exec(C, n->w[0]);
		}
		json_decref(v);
		break;
	case N_FOR:
		exec_for(C, n);
		break;
	case N_SET:
		v = ev(C, n->a);
		if (C->failed)
			break;
		if (n->name2) {
			json_t *o = lookup(C, n->s);
			size_t i;
			json_t *x;
			int ok = 0;

			json_array_foreach(C->nss, i, x)
				ok |= x == o;
			if (!ok)
				fail(C, "cannot set an attribute of '%s' (not "
				    "a namespace)", n->s);
			else
				json_object_set(o, n->name2, v ? v :
				    json_null());
			json_decref(o);
		} else if (v)
			json_object_set(C->scope[C->ns - 1], n->s, v);
		else
			json_object_del(C->scope[C->ns - 1], n->s);
		json_decref(v);
		break;
	case N_BREAK:
		C->brk = 1;
		break;
	case N_CONTINUE:
		C->cont = 1;
		break;
	}
	if (C->out.n > (size_t)MAX_OUT)
		fail(C, "output longer than %ld bytes", MAX_OUT);
	return C->failed ? -1 : 0;
}

int
lmf_jinja_render(const struct lmf_jinja *j, json_t *vars, char **out,
    char *err, size_t errlen)
{
	struct ctx C = { .err = err, .errlen = errlen };

	*out = NULL;
	C.nss = json_array();
	C.scope[C.ns++] = vars ? json_incref(vars) : json_object();
	C.scope[C.ns++] = json_object();
	lmf_buf_add(&C.out, "", 0);
	exec(&C, j->root);
	while (C.ns)
		pop_scope(&C);
	json_decref(C.nss);
	if (C.failed) {
		free(C.out.s);
		return -1;
	}
	*out = C.out.s;
	return 0;
}

int
lmf_jinja_render_string(const char *src, json_t *vars, char **out,
    char *err, size_t errlen)
{
	struct lmf_jinja *j = lmf_jinja_parse(src, strlen(src), err, errlen);
	int r;

	*out = NULL;
	if (!j)
		return -1;
	r = lmf_jinja_render(j, vars, out, err, errlen);
	lmf_jinja_free(j);
	return r;
}
