#!/bin/sh
# lmf-tokenize's option table: the man page's OPTIONS are the options
# --list-options prints, the drivers' tokenizer keys are among them, the
# usage shows each, and values are checked by the table (exit 2, one line).
. "$(dirname "$0")/lib.sh"
plan 15
TOK=$TOP/tests/data/tok-bytelevel

man_flags lmf-tokenize >man.txt
lmf-tokenize --list-options >lo.txt
options_diff lmf-tokenize man.txt >diff.txt
check "lmf-tokenize(1) OPTIONS are lmf-tokenize --list-options" sh -c \
	'test -s man.txt && cat diff.txt >&2 && ! test -s diff.txt'

# every key a driver routes to lmf-tokenize (its TOKENIZE_KEYS)
for f in "$TOP"/scripts/lmf-train-*; do
	sed -n "/^TOKENIZE_KEYS='/,/'/p" "$f"
done | tr -d "'" | sed 's/^TOKENIZE_KEYS=//' | tr ' ' '\n' |
	grep . | sort -u >keys.txt
cut -f1 lo.txt >names.txt
check "the drivers' TOKENIZE_KEYS are all listed" sh -c \
	'test -s keys.txt && ! grep -vxF -f names.txt keys.txt >&2'

lmf-tokenize -h >usage.txt
awk -F '\t' '{ print $1 != "" ? "--" $1 : "-" $2 }' lo.txt >flags.txt
check "-h shows every listed option" sh -c '
	while read -r f; do
		grep -qE -e "^  (-[A-Za-z], )?$f( |$)" usage.txt ||
			{ echo "no $f" >&2; exit 1; }
	done <flags.txt'
check_grep "  an int with its default" "^cutoff_len		int	2048$" lo.txt
check_grep "  packing: the stage's, no default listed" "^packing		bool	$" \
	lo.txt
check_grep "  -o, a short flag with a value" "^	o	string	-$" lo.txt

check_exit "--cutoff_len 0: exit 2" 2 \
	lmf-tokenize --tokenizer "$TOK" --stage sft --dataset a --cutoff_len 0
check_grep "  naming the option and the range" \
	"lmf-tokenize: --cutoff_len: 0 is out of range \[1, 1073741824\]" \
	check.err
check_exit "junk for --max_samples: exit 2" 2 \
	lmf-tokenize --tokenizer "$TOK" --max_samples 3x
check_exit "a negative --seed: exit 2" 2 lmf-tokenize --seed -1
check_exit "an unknown --stage: exit 2" 2 lmf-tokenize --stage rl
check_grep "  naming the stages" \
	"unknown stage 'rl' (pt, sft, rm, dpo, kto, ppo)" check.err
check_exit "an unknown --mix_strategy: exit 2" 2 \
	lmf-tokenize --mix_strategy shuffle
check_exit "--enable_thinking takes a boolean: exit 2" 2 \
	lmf-tokenize --enable_thinking maybe
# interleave_over with a dataset of probability 0: it counts as run out
# (was a loop without end, gigabytes a second)
mkdir ds
echo '{"a": {"file_name": "a.json"}, "b": {"file_name": "b.json"}}' \
	>ds/dataset_info.json
echo '[{"instruction": "a1", "input": "", "output": "x"},
 {"instruction": "a2", "input": "", "output": "y"}]' >ds/a.json
echo '[{"instruction": "b1", "input": "", "output": "z"}]' >ds/b.json
check "interleave_over, probabilities 1,0: ends, a's two rows" sh -c \
	"ulimit -v 4000000; timeout 60 lmf-tokenize --tokenizer '$TOK' \
	--stage sft --dataset a,b --dataset_dir ds --template qwen \
	--mix_strategy interleave_over --interleave_probs 1,0 -o o.lmf \
	2>o.err && grep -q '2 examples written' o.err"
done_testing
