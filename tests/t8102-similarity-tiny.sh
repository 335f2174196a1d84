#!/bin/sh
# jieba's algorithm without the package: a hand-made dictionary and HMM
# tables (tests/golden/metric/tiny: escaped and literal keys in the Python
# tables) cut sentences into the words Python's jieba gives with the same
# files (tiny.jsonl, made by make_metric_golden.py): the DAG route, the
# Viterbi of unknown runs, letters, digits and symbols; $LMF_JIEBA_DIR.
. "$(dirname "$0")/lib.sh"
G="$TOP/tests/golden/metric"
plan 3
words() {
	perl -MJSON::PP -ne 'my $x = JSON::PP->new->decode($_);
		print join("|", @{$x->{predict_words}}), "\n"' "$@"
}
words "$G/tiny.jsonl" >want.txt
lmf-similarity --jieba_dir "$G/tiny" --per_example "$G/tiny.jsonl" >got.jsonl
words got.jsonl >got.txt
check_same "the words of Python's jieba with the same tables" want.txt got.txt
LMF_JIEBA_DIR="$G/tiny" lmf-similarity --per_example "$G/tiny.jsonl" \
	>env.jsonl
words env.jsonl >env.txt
check_same "LMF_JIEBA_DIR names the tables" want.txt env.txt
check "$(wc -l <want.txt) sentences" test "$(wc -l <want.txt)" -eq 7
done_testing
