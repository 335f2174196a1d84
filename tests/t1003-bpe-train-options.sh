#!/bin/sh
# lmf-bpe-train's option table: the man page's OPTIONS are the options
# --list-options prints, with types and defaults; bad values exit 2 with
# one line.
. "$(dirname "$0")/lib.sh"
plan 11
man_flags lmf-bpe-train >man.txt
options_diff lmf-bpe-train man.txt >diff.txt
check "the man page lists options" test "$(wc -l <man.txt)" -ge 5
check "lmf-bpe-train(1) OPTIONS are lmf-bpe-train --list-options" sh -c \
	'cat diff.txt >&2; ! test -s diff.txt'
lmf-bpe-train --list-options >lo.txt
check "four tab-separated fields on every line" awk -F '\t' \
	'NF != 4 { exit 1 } END { exit NR < 6 }' lo.txt
check_grep "  an int with its default" "^vocab_size		int	1024$" lo.txt
check_grep "  a short flag" "^output_dir	o	string	$" lo.txt
check_exit "--min_frequency 0: exit 2" 2 lmf-bpe-train -o x --min_frequency 0
check_grep "  one line naming the range" \
	"^lmf-bpe-train: --min_frequency: 0 is out of range \[1, " check.err
check_exit "--vocab_size junk: exit 2" 2 lmf-bpe-train -o x --vocab_size 2k
check "  nothing made" test ! -e x
printf 'ab\377cd\n' >bad.txt
check_exit "a corpus that is not UTF-8: exit 1" 1 lmf-bpe-train -o y bad.txt
check "  no output directory made" test ! -e y
done_testing
