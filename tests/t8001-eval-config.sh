#!/bin/sh
# lmf eval CONFIG.yaml (lmf-eval-config): examples/demo_eval.yaml runs
# offline and writes what lmf-eval writes; the evaluation keys reach it;
# an existing save_dir, a missing task and a bad lang are refused.
. "$(dirname "$0")/lib.sh"
plan 6
Y="$TOP/examples/demo_eval.yaml model_name_or_path=$TOP/tests/golden/eval/model
    task_dir=$TOP/data/eval"
check "lmf eval examples/demo_eval.yaml" lmf eval $Y save_dir=out
lmf-load -q -o m.lmf "$TOP/tests/golden/eval/model"
lmf-eval -q --model m.lmf --template qwen --task lmfdemo_test \
    --task_dir "$TOP/data/eval" --save_dir ref >ref.txt
check_same "  the same results.json as lmf-eval" out/results.json \
    ref/results.json
lmf eval $Y n_shot=0 save_dir=z >/dev/null 2>&1
lmf-eval -q --model m.lmf --template qwen --task lmfdemo_test \
    --task_dir "$TOP/data/eval" --n_shot 0 --save_dir z0 >/dev/null
check_same "n_shot=0 reaches lmf-eval" z/results.json z0/results.json
check_exit "an existing save_dir: exit 2" 2 lmf eval $Y save_dir=out
check_exit "no task: exit 2" 2 lmf eval $Y task= save_dir=n
check_exit "bad lang: exit 2" 2 lmf eval $Y lang=fr save_dir=l
done_testing
