#!/bin/sh
# lmf-load's option table: the man page's OPTIONS are the options
# --list-options prints, with their types and defaults; values checked by
# the table (exit 2, one line); the usage it makes.
. "$(dirname "$0")/lib.sh"
plan 19

man_flags lmf-load >man.txt
lmf-load --list-options >lo.txt
options_diff lmf-load man.txt >diff.txt
check "the man page lists options" test -s man.txt
check "lmf-load(1) OPTIONS are lmf-load --list-options" sh -c \
	'cat diff.txt >&2; ! test -s diff.txt'
check "four tab-separated fields on every line" awk -F '\t' \
	'NF != 4 { exit 1 } END { exit NR < 12 }' lo.txt
check_grep "  --dtype: a choice, default f32" "^dtype		choice:f32|bf16	f32$" lo.txt
check_grep "  --seed: an int, default 42" "^seed		int	42$" lo.txt
check_grep "  --init takes no value" "^init		flag	$" lo.txt
check_grep "  -l is --level" "^level	l	" lo.txt
check_grep "  -o has no long name, default stdout" "^	o	string	-$" lo.txt

check_exit "a word not in a choice: exit 2" 2 lmf-load --dtype f8 d
check_grep "  listing the words" \
	"^lmf-load: --dtype: 'f8' is not f32 or bf16$" check.err
check_exit "a seed out of range: exit 2" 2 lmf-load --init --seed -1 d
check_grep "  naming the option and the range" \
	"lmf-load: --seed: -1 is out of range \[0, " check.err
check_exit "a value given to --init: exit 2" 2 lmf-load --init=yes d
check_exit "junk for a level: exit 2" 2 lmf-load -l 3x d
lmf-load -h >h.txt
check_grep "-h: the usage, to stdout" "^usage: lmf-load .*--model_name_or_path" \
	h.txt
check_grep "  with the defaults" "--seed N .*(default 42)" h.txt
# a config whose model fills no disk: refused before a byte is written
python3 -c 'import json, sys
c = json.load(open(sys.argv[1] + "/data/models/tiny-llama/config.json"))
c["intermediate_size"] = 2 ** 31 - 1
json.dump(c, open("huge.json", "w"))' "$TOP"
check_exit "--init of a 3.3 TB model: exit 1" 1 lmf-load -q --init \
	--config huge.json -o huge.lmf
check_grep "  saying how much it needs" "GB to write, its file system has" \
	check.err
check "  nothing written" sh -c '! ls -a | grep -q huge.lmf'
done_testing
