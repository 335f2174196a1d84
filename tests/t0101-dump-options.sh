#!/bin/sh
# lmf-dump's option table: the man page's OPTIONS are the options
# --list-options prints, the usage shows each, values are checked by the
# table (exit 2, one line), and the options that go with -r (or without
# it) are still told apart.
. "$(dirname "$0")/lib.sh"
plan 17

tiny_model >/dev/null 2>&1 || exit 1
lmf-dump --json m.lmf >m.jsonl || exit 1

man_flags lmf-dump >man.txt
lmf-dump --list-options >lo.txt
options_diff lmf-dump man.txt >diff.txt
check "lmf-dump(1) OPTIONS are lmf-dump --list-options" sh -c \
	'test -s man.txt && cat diff.txt >&2 && ! test -s diff.txt'
lmf-dump -h >usage.txt
awk -F '\t' '{ print $1 != "" ? "--" $1 : "-" $2 }' lo.txt >flags.txt
check "-h shows every listed option" sh -c '
	while read -r f; do
		grep -qE -e "^  (-[A-Za-z], )?$f( |$)" usage.txt ||
			{ echo "no $f" >&2; exit 1; }
	done <flags.txt'
check_grep "  -n, short only, an int with its default" "^	n	int	6$" lo.txt
check_grep "  --json, a flag with its short name" "^json	j	flag	$" lo.txt

check_exit "-n out of range: exit 2" 2 lmf-dump -n 1000001 m.lmf
check_grep "  naming the option and the range" \
	"lmf-dump: -n: 1000001 is out of range \[0, 1000000\]" check.err
check_exit "-l out of range: exit 2" 2 lmf-dump -r -l 20 m.jsonl
check_exit "--items backwards: exit 2" 2 lmf-dump --items 3-1 m.lmf
check_grep "  saying so" "the range ends before it starts" check.err
check_exit "a flag given a value: exit 2" 2 lmf-dump --meta=1 m.lmf
check_exit "-r with -n: exit 2" 2 lmf-dump -r -n 3 m.jsonl
check_exit "-o without -r: exit 2" 2 lmf-dump -o x.lmf m.lmf
check_exit "--hex without --json: exit 2" 2 lmf-dump --hex m.lmf
check "-q and --quiet only check" sh -c \
	'test -z "$(lmf-dump -q m.lmf)" && test -z "$(lmf-dump --quiet m.lmf)"'
{
	echo '{"lmf":1,"meta":{"kind":"examples"}}'
	for i in 0 1 2; do
		echo "{\"item\":$i,\"tensors\":[{\"name\":\"input_ids\",\"dtype\":\"i32\",\"shape\":[4],\"data\":[$i,7,8,9]}]}"
	done
	echo '{"end":3}'
} >ex.jsonl
lmf-dump -r -o ex.lmf ex.jsonl || exit 1
lmf-dump -n 2 --items 1-1 ex.lmf >t.txt
check_grep "-n 2 --items 1-1: item 1" "^item 1: 1 tensors$" t.txt
check "  only item 1, its first two values" sh -c '
	test "$(grep -c "^item" t.txt)" = 1 &&
	grep -q "^  input_ids i32 \[4\] \[1, 7, \.\.\.\] min 1 max 9" t.txt'
check "-r -l 0 -o FILE: the identical stream, raw" sh -c '
	lmf-dump -r -l 0 -o back.lmf m.jsonl && lmf-dump --json back.lmf |
	cmp -s - m.jsonl && lmf-dump back.lmf | grep -q "^compression: raw"'
done_testing
