#!/bin/sh
# The shape issue 9 asked of tools/: each tool a short front over
# libcommon (at most 500 lines, lmf-sft at most 400) with no file-scope
# mutable state (tests/filescope.awk, itself checked on a planted file).
. "$(dirname "$0")/lib.sh"
plan 5
cat >planted.c <<'C'
static int count;                /* mutable: found */
int total = 3;                   /* mutable: found */
static const int k = 1;          /* const: not */
static char *names[4], *more;    /* found */
struct s { int a; };             /* a type: not */
static const struct s z = { 1 }; /* not */
static void f(int x);            /* a function: not */
static int
g(void)
{
	static int kept;         /* not file scope */
	return kept; /* "int x;" in a comment */
}
C
awk -f "$TOP/tests/filescope.awk" planted.c | cut -d: -f2 >got
printf '1\n2\n4\n' >want
check_same "filescope.awk finds what is planted, only that" want got
awk -f "$TOP/tests/filescope.awk" "$TOP"/tools/*.c >state.txt
check "no file-scope mutable state in tools/" sh -c \
	'cat state.txt >&2; ! test -s state.txt'
wc -l "$TOP"/tools/*.c | awk '$2 != "total" && $1 > 500' >long.txt
check "no tool over 500 lines" sh -c 'cat long.txt >&2; ! test -s long.txt'
check "lmf-sft.c at most 400 lines" \
	test "$(wc -l <"$TOP/tools/lmf-sft.c")" -le 400
# lmf-config's options are LLaMA-Factory's keys: args.c's key table
n=0
for f in "$TOP"/tools/*.c; do
	[ "${f##*/}" = lmf-config.c ] && continue
	grep -q 'lmf_opt_parse' "$f" || { echo "# no option table: $f"; n=$((n + 1)); }
done
_result $n "every tool parses its options with an option table (opt.h)"
done_testing
