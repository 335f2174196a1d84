#!/bin/sh
# lmf-generate --infer_dtype bfloat16: the projections and lm_head held in
# bf16 give exactly the output of an f32 model whose same weights were
# rounded to bf16 beforehand (prompts of 1 to 12 ids: decoding through the
# matvec kernel, prefill through sgemm in blocks), greedy and sampled;
# against plain f32 the greedy output is measured, not required equal
# (rows agree for most of their tokens on the tiny model); bad values.
. "$(dirname "$0")/lib.sh"
plan 10
lmf-load -q --init --seed 4 --config "$TOP/data/models/tiny-llama/config.json" \
    -o bare.lmf
# rnd.lmf: bare.lmf with the seven projections and lm_head rounded to
# bf16 (nearest even), everything else as it was
lmf-dump --json bare.lmf | python3 "$TOP/tests/bf16round.py" \
    2>nround.txt | lmf-dump -r -o rnd.lmf
check "15 tensors rounded (7 per layer, lm_head)" test "$(cat nround.txt)" -eq 15

set --
for p in 1 1,2 3,4,5 7,7,7,7 9 10,11 12,13,14,15,16 17 \
    1,2,3,4,5,6,7,8,9,10,11,12; do
	set -- "$@" --prompt_ids "$p"
done
G="lmf-generate --threads 2 --do_sample false --max_new_tokens 100"
$G --model bare.lmf "$@" --batch_size 9 >f32.txt
$G --model bare.lmf "$@" --batch_size 9 --infer_dtype bfloat16 >bf.txt
$G --model rnd.lmf "$@" --batch_size 9 >rnd.txt
check_same "bf16 weights: greedy equals f32 on the rounded weights" bf.txt \
    rnd.txt
$G --model bare.lmf "$@" --batch_size 1 --infer_dtype bfloat16 >bf1.txt
check_same "bf16: batch 1 equals batch 9" bf.txt bf1.txt
lmf-generate --threads 1 --model bare.lmf --prompt_ids 3,4,5 --seed 7 \
    --max_new_tokens 60 --temperature 1.2 --infer_dtype bfloat16 >s1.txt
lmf-generate --threads 1 --model rnd.lmf --prompt_ids 3,4,5 --seed 7 \
    --max_new_tokens 60 --temperature 1.2 >s2.txt
check_same "bf16: sampling equals f32 on the rounded weights" s1.txt s2.txt
lmf-generate --threads 1 --model bare.lmf --prompt_ids 3,4,5 --seed 7 \
    --max_new_tokens 60 --temperature 1.2 --infer_dtype float32 >s3.txt
lmf-generate --threads 1 --model bare.lmf --prompt_ids 3,4,5 --seed 7 \
    --max_new_tokens 60 --temperature 1.2 >s4.txt
check_same "float32 is the default" s3.txt s4.txt
# agreement with f32: common prefix of each row, summed (measured 801 of
# 900 when written; a regression in the bf16 path drops it far lower)
python3 -c '
import sys
a = [l.strip().split(",") for l in open("f32.txt")]
b = [l.strip().split(",") for l in open("bf.txt")]
n = 0
for x, y in zip(a, b):
    k = 0
    while k < min(len(x), len(y)) and x[k] == y[k]:
        k += 1
    n += k
print(n, sum(len(x) for x in a))' >agree.txt
echo "# greedy agreement with f32 (common prefix tokens, of all): $(cat agree.txt)"
check "greedy bf16 agrees with f32 on most tokens" \
    test "$(cut -d' ' -f1 agree.txt)" -ge 600
check "900 tokens each" test "$(cut -d' ' -f2 agree.txt)" -eq 900

check_exit "--infer_dtype float16: exit 2" 2 lmf-generate --model bare.lmf \
    --infer_dtype float16 --prompt_ids 1
check_grep "  listing the words" \
    "'float16' is not auto, float32, bfloat16 or int8" check.err
check_exit "--infer_dtype without a value: exit 2" 2 lmf-generate \
    --model bare.lmf --prompt_ids 1 --infer_dtype
