#!/bin/sh
# lmf-generate --infer_dtype int8: the projections and lm_head held in
# int8 with a scale per row give exactly the output of an f32 model whose
# weights were replaced by those int8 values times their scales (prompts
# of 1 to 12 ids: decoding through the matvec kernel, prefill through
# sgemm in blocks), greedy and sampled, at batch 1 and 9; against plain
# f32 the greedy agreement is measured; bad values.
. "$(dirname "$0")/lib.sh"
plan 8
lmf-load -q --init --seed 4 --config "$TOP/data/models/tiny-llama/config.json" \
    -o bare.lmf
lmf-dump --json bare.lmf | python3 "$TOP/tests/i8round.py" \
    2>nround.txt | lmf-dump -r -o q8.lmf
check "15 tensors quantized (7 per layer, lm_head)" \
    test "$(cat nround.txt)" -eq 15

set --
for p in 1 1,2 3,4,5 7,7,7,7 9 10,11 12,13,14,15,16 17 \
    1,2,3,4,5,6,7,8,9,10,11,12; do
	set -- "$@" --prompt_ids "$p"
done
G="lmf-generate --threads 2 --do_sample false --max_new_tokens 100"
$G --model bare.lmf "$@" --batch_size 9 >f32.txt
$G --model bare.lmf "$@" --batch_size 9 --infer_dtype int8 >i8.txt
$G --model q8.lmf "$@" --batch_size 9 >q8.txt
check_same "int8 weights: greedy equals f32 on the quantized weights" \
    i8.txt q8.txt
$G --model bare.lmf "$@" --batch_size 1 --infer_dtype int8 >i81.txt
check_same "int8: batch 1 equals batch 9" i8.txt i81.txt
lmf-generate --threads 1 --model bare.lmf --prompt_ids 3,4,5 --seed 7 \
    --max_new_tokens 60 --temperature 1.2 --infer_dtype int8 >s1.txt
lmf-generate --threads 1 --model q8.lmf --prompt_ids 3,4,5 --seed 7 \
    --max_new_tokens 60 --temperature 1.2 >s2.txt
check_same "int8: sampling equals f32 on the quantized weights" s1.txt s2.txt
# agreement with f32: common prefix of each row, summed (BENCH.md gives
# the figure measured; a broken int8 path is far lower)
python3 -c '
a = [l.strip().split(",") for l in open("f32.txt")]
b = [l.strip().split(",") for l in open("i8.txt")]
n = 0
for x, y in zip(a, b):
    k = 0
    while k < min(len(x), len(y)) and x[k] == y[k]:
        k += 1
    n += k
print(n, sum(len(x) for x in a))' >agree.txt
echo "# greedy agreement with f32 (common prefix tokens, of all): $(cat agree.txt)"
check "greedy int8 agrees with f32 on many tokens" \
    test "$(cut -d" " -f1 agree.txt)" -ge 200
check "900 tokens each" test "$(cut -d' ' -f2 agree.txt)" -eq 900
check_exit "--infer_dtype int4: exit 2" 2 lmf-generate --model bare.lmf \
    --infer_dtype int4 --prompt_ids 1
check_grep "  listing the words" \
    "'int4' is not auto, float32, bfloat16 or int8" check.err
done_testing
