#!/bin/sh
# lmf-generate's option table: the man page's OPTIONS are the options
# --list-options prints, with types and defaults; bad values exit 2 with
# one line; the usage comes from the same table.
. "$(dirname "$0")/lib.sh"
plan 17

man_flags lmf-generate >man.txt
options_diff lmf-generate man.txt >diff.txt
check "the man page lists options" test "$(wc -l <man.txt)" -ge 19
check "lmf-generate(1) OPTIONS are lmf-generate --list-options" sh -c \
	'cat diff.txt >&2; ! test -s diff.txt'
lmf-generate --list-options >lo.txt
check "four tab-separated fields on every line" awk -F '\t' \
	'NF != 4 { exit 1 } END { exit NR < 19 }' lo.txt
check_grep "  a float with its default" "^top_p		float	0.7$" lo.txt
check_grep "  a choice with its words" \
	"^output_format		choice:text|jsonl|ids	text$" lo.txt
check_grep "  a bool" "^do_sample		bool	true$" lo.txt
check_grep "  a flag" "^multiturn		flag	$" lo.txt
check_grep "  a flag with its short one" "^help	h	flag	$" lo.txt
lmf-generate -h >usage.txt
check_grep "-h: the usage from the table" \
	"^  --repetition_penalty X .*(default 1)$" usage.txt

check_exit "--top_p 0: exit 2" 2 lmf-generate --model none.lmf --top_p 0 \
	--prompt_ids 1
check_grep "  one line naming the range" \
	"^lmf-generate: --top_p: 0 is out of range (0, 1\]$" check.err
check_exit "--batch_size 0: exit 2" 2 lmf-generate --model none.lmf \
	--batch_size 0 --prompt_ids 1
check_grep "  the table's range" \
	"^lmf-generate: --batch_size: 0 is out of range \[1, 4096\]$" check.err
check_exit "--output_format xml: exit 2" 2 lmf-generate --model none.lmf \
	--output_format xml --prompt_ids 1
check_grep "  listing the words" "'xml' is not text, jsonl or ids" check.err
check_exit "--multiturn takes no value: exit 2" 2 lmf-generate \
	--model none.lmf --multiturn=yes
check_exit "--repetition_penalty 0: exit 2" 2 lmf-generate --model none.lmf \
	--repetition_penalty 0 --prompt_ids 1
done_testing
