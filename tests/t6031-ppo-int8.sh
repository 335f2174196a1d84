#!/bin/sh
# lmf-ppo --infer_dtype int8: on tests/i8round.py's dequantized model
# (which int8 holds exactly: quantizing it again changes nothing), int8
# rollouts give the very step of f32 rollouts: the dumped step (queries,
# responses, scores, loss and metrics, first mini-batch gradients) is bit
# for bit the same, LoRA and full tuning, and 3 LoRA steps log the same
# losses (the pairs live in the rollouts); rollouts of the model itself
# with int8 equal f32 rollouts of the dequantized model; full tuning
# copies the weights again each step and trains; lmf train passes the
# key on; a bad value is a usage error.
. "$(dirname "$0")/lib.sh"
plan 14
byte_model
lmf-dump --json m.lmf | python3 "$TOP/tests/i8round.py" 2>/dev/null |
	lmf-dump -r -o q8.lmf
lmf-dump --json q8.lmf | python3 "$TOP/tests/i8round.py" 2>/dev/null |
	lmf-dump -r -o q8q8.lmf
check "quantizing the dequantized model again changes nothing" sh -c \
	'lmf-dump --json q8.lmf >a.json && lmf-dump --json q8q8.lmf >b.json &&
	cmp a.json b.json'
ppo_data 16
ppo() { lmf-ppo --data p.lmf --reward_model rm.lmf --reward_model_type full \
	--threads 1 --max_new_tokens 12 "$@"; }
differ() { ! cmp -s "$1" "$2"; }
# body FILE: a dumped step's tensors, as text (no header: its command)
body() { lmf-dump --json "$1" | sed 1d; }
check "LoRA, sampled: int8 rollouts of the dequantized model" \
	ppo --model q8.lmf --dump_step li8.lmf --infer_dtype int8
ppo --model q8.lmf --dump_step lf32.lmf --infer_dtype float32
body li8.lmf >li8.json
body lf32.lmf >lf32.json
check_same "  the step as with f32 rollouts, bit for bit" li8.json lf32.json
rollout li8.lmf >li8.txt
check "  a rollout of 4 rows with responses" python3 -c '
r = dict(l.split(" ", 1) for l in open("li8.txt"))
n = eval(r["response_len"])
assert len(n) == 4 and sum(n) > 4, n'
check "full tuning, greedy: int8 rollouts" ppo --model q8.lmf \
	--finetuning_type full --do_sample false --dump_step fi8.lmf \
	--infer_dtype int8
ppo --model q8.lmf --finetuning_type full --do_sample false \
	--dump_step ff32.lmf
body fi8.lmf >fi8.json
body ff32.lmf >ff32.json
check_same "  the step as with f32 rollouts, bit for bit" fi8.json ff32.json
ppo --model m.lmf --do_sample false --dump_step mi8.lmf --infer_dtype int8
ppo --model q8.lmf --do_sample false --dump_step mq8.lmf
ppo --model m.lmf --do_sample false --dump_step mf32.lmf
rollout mi8.lmf >mi8.txt
rollout mq8.lmf >mq8.txt
rollout mf32.lmf >mf32.txt
check_same "int8 rollouts of the model equal f32 ones of its dequantized copy" \
	mi8.txt mq8.txt
check "  not f32 ones of the model itself" differ mi8.txt mf32.txt
# steps N OUT [options]: the logged loss and reward of N LoRA steps
steps() {
	sn=$1 so=$2
	shift 2
	ppo --model q8.lmf -q --max_steps "$sn" --learning_rate 1e-2 \
		--logging_steps 1 --output_dir "$so" "$@" &&
	python3 -c '
import json, sys
for l in open(sys.argv[1] + "/trainer_log.jsonl"):
    o = json.loads(l)
    if "loss" in o:
        print(o["current_steps"], o["loss"], o["reward"])' "$so" >"$so.txt"
}
steps 3 l3i8 --infer_dtype int8
steps 3 l3f32
check "LoRA, 3 steps: 3 logged" test "$(wc -l <l3i8.txt)" -eq 3
check_same "  int8 rollouts log the losses of f32 ones" l3i8.txt l3f32.txt
check "int8 rollouts, full tuning, 3 steps" ppo --model m.lmf -q \
	--finetuning_type full --infer_dtype int8 --max_steps 3 \
	--learning_rate 1e-3 --logging_steps 1 --output_dir o
check_exit "--infer_dtype int4: exit 2" 2 ppo --model m.lmf -o x \
	--infer_dtype int4
mkdir mdl
cp m.lmf mdl/model.lmf
cp "$tok"/* mdl/
cat >ppo.yaml <<'Y'
model_name_or_path: mdl
reward_model: rm.lmf
reward_model_type: full
stage: ppo
do_train: true
dataset: prompts
dataset_dir: ds
output_dir: t
infer_dtype: int8
Y
check "lmf train: infer_dtype int8 goes to lmf-ppo" sh -c \
	'lmf train ppo.yaml --dry_run | grep -q "^lmf-ppo .*--infer_dtype int8"'
check_exit "lmf train: infer_dtype int4: exit 2" 2 lmf train ppo.yaml \
	--dry_run infer_dtype=int4
done_testing
