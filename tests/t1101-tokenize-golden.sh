#!/bin/sh
# t1101-tokenize-golden: lmf-tokenize on LLaMA-Factory's demo data with the
# real tokenizers equals the reference of tests/golden/data (every stage;
# templates llama3, qwen, qwen3, mistral, alpaca, default, empty). Needs
# ../shared; skipped without it.
. "$(dirname "$0")/lib.sh"
plan 3

if [ -z "$SHARED" ] || [ ! -d "$SHARED/tokenizers" ]; then
	skip "no ../shared: goldens"
	skip "no ../shared: alpaca_en_demo"
	skip "no ../shared: into lmf-pack"
	done_testing
fi
python3 "$TOP/tests/golden/data/check.py" "$SHARED" >golden.out 2>&1
_ok=$?
grep -v '^ok' golden.out | head -5 | sed 's/^/# /'
_result $_ok "every golden case ($(grep -c '^ok' golden.out) ok)"
L=$SHARED/data/llamafactory
start=$(date +%s%N)
_rc=0
lmf-tokenize -q --tokenizer "$SHARED/tokenizers/qwen3" --dataset_dir "$L" \
    --stage sft --template qwen --dataset alpaca_en_demo -o alpaca.lmf || _rc=1
end=$(date +%s%N)
ms=$(( (end - start) / 1000000 ))
echo "# alpaca_en_demo, qwen3: $ms ms"
# speed is make bench's (BENCH.md); this only catches a pathological
# slowdown, with room for sanitizer builds on a loaded machine
[ "$_rc" -eq 0 ] && [ "$ms" -lt 60000 ]
_result $? "the whole alpaca_en_demo, not pathologically slow"
check "into lmf-pack" lmf-pack --per_device_train_batch_size 4 -o b.lmf \
    alpaca.lmf
done_testing
