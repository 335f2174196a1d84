#!/bin/sh
# data/: the project's own demo datasets. Every dataset in
# data/dataset_info.json loads and gives only valid examples by
# LLaMA-Factory's conversion rules (tests/datacheck.py); the checker
# itself agrees with LLaMA-Factory's demo data when ../shared has it.
. "$(dirname "$0")/lib.sh"
plan 7
PY=/usr/bin/python3
[ -x $PY ] || PY=python3

check "dataset_info.json is JSON" $PY -m json.tool "$TOP/data/dataset_info.json"
check "every demo dataset is valid" $PY "$TOP/tests/datacheck.py" "$TOP/data"
cp check.out data.out
check_grep "  an alpaca dataset with history" "^alpaca_demo .* sft" data.out
check_grep "  a role/content dataset with tools" "^toolcall_demo .* tools" \
	data.out
check_grep "  preference, both formats" "^dpo_demo .* pairwise" data.out
check "  kto, and text both as .jsonl and .txt" sh -c "grep -q '^kto_demo' \
	data.out && grep -q '^text_demo ' data.out &&
	grep -q '^text_demo_txt ' data.out"
L=$SHARED/data/llamafactory
if [ -n "$SHARED" ] && [ -d "$L" ]; then
	mkdir lf && for f in "$L"/*; do ln -s "$f" lf/; done && rm lf/dataset_info.json
	$PY -c "import json; d = json.load(open('$L/dataset_info.json'))
json.dump({k: d[k] for k in ('alpaca_en_demo', 'identity',
    'glaive_toolcall_en_demo', 'dpo_en_demo', 'kto_en_demo', 'c4_demo',
    'wiki_demo')}, open('lf/dataset_info.json', 'w'))"
	check "the checker passes LLaMA-Factory's demo data" \
		$PY "$TOP/tests/datacheck.py" lf
else
	skip "no ../shared: LLaMA-Factory's demo data"
fi
done_testing
