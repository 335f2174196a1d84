#!/bin/sh
# lmf-similarity's options and bad input: the man page's OPTIONS are the
# option table's, --prefix eval names the keys, hand-checked scores of
# small pairs, and usage errors exit 2, bad input exit 1, one line each.
. "$(dirname "$0")/lib.sh"
plan 16
man_flags lmf-similarity >man.txt
options_diff lmf-similarity man.txt >diff.txt
check "lmf-similarity(1) OPTIONS are lmf-similarity --list-options" sh -c \
	'cat diff.txt >&2; ! test -s diff.txt'
check_exit "an unknown option exits 2" 2 lmf-similarity --bogus
check_exit "a bad --prefix exits 2" 2 lmf-similarity --prefix test
check_exit "two files exit 2" 2 lmf-similarity a.jsonl b.jsonl
check_exit "a missing file exits 1" 1 lmf-similarity nothere.jsonl
mkdir nojieba
check_exit "a --jieba_dir without dict.txt exits 1" 1 \
	lmf-similarity --jieba_dir nojieba /dev/null
if ! test -r "${LMF_JIEBA_DIR:-/usr/lib/python3/dist-packages/jieba}/dict.txt"
then
	for i in 7 8 9 10 11 12 13 14 15 16; do skip "no python3-jieba"; done
	exit 0
fi
J=${LMF_JIEBA_DIR:-/usr/lib/python3/dist-packages/jieba}
mkdir badhmm badhmm/finalseg
ln -s "$J/dict.txt" badhmm/dict.txt
cp "$J/finalseg/prob_start.py" "$J/finalseg/prob_trans.py" badhmm/finalseg/
printf "P={'B': {'\\\\u4e00': oops}}\n" >badhmm/finalseg/prob_emit.py
check_exit "a malformed HMM table exits 1" 1 \
	lmf-similarity --jieba_dir badhmm /dev/null
check_grep "  naming the file" "prob_emit.py" check.err
: >empty.jsonl
check_exit "no example exits 1" 1 lmf-similarity empty.jsonl
echo '{"predict": "a"}' >nolabel.jsonl
check_exit "a line without label exits 1" 1 lmf-similarity nolabel.jsonl
printf '{"predict": "a", "label": "a"}\n[1]\n' >notobj.jsonl
check_exit "a line that is no object exits 1" 1 lmf-similarity notobj.jsonl
check_grep "  naming the line" "line 2" check.err
# identical texts: nltk's 1.0 and rouge_chinese's 0.999999995 -> 100.0;
# an empty prediction: all 0; "ab" against "abc": BLEU exp(1 - 3/2) times
# (1 * 1 * 1/2 * 1/4)^(1/4), words "ab" and "abc" share nothing
cat >pairs.jsonl <<'J'
{"predict": "我爱北京天安门", "label": "我爱北京天安门"}
{"predict": "", "label": "标签"}
{"predict": "ab", "label": "abc"}
J
lmf-similarity --per_example pairs.jsonl >per.txt 2>&1
check_grep "identical texts: BLEU 1" '^{"bleu-4":1\.0,"rouge-1":0\.99999999500000003' per.txt
check_grep "jieba's words" '"predict_words":\["我","爱","北京","天安门"\]' per.txt
check_grep "an empty prediction: all 0" '^{"bleu-4":0\.0,"rouge-1":0\.0,"rouge-2":0\.0,"rouge-l":0\.0' per.txt
lmf-similarity --prefix eval pairs.jsonl >res.json
printf '%s\n' '{' '    "eval_bleu-4": 45.35483333333334,' '    "eval_rouge-1": 33.333333333333336,' \
	'    "eval_rouge-2": 33.333333333333336,' '    "eval_rouge-l": 33.333333333333336' '}' >want.json
check_same "--prefix eval: the means, rounded per example" want.json res.json
done_testing
