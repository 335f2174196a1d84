#!/bin/sh
# lmf-ppo --infer_dtype bfloat16: greedy rollouts of a LoRA policy from the
# bf16 copy of its base equal f32 rollouts of the base rounded to bf16
# beforehand (the step's queries and responses); full tuning copies the
# weights again each step and trains; a bad value is a usage error.
. "$(dirname "$0")/lib.sh"
plan 6
byte_model
lmf-dump --json m.lmf | python3 "$TOP/tests/bf16round.py" 2>/dev/null |
    lmf-dump -r -o rnd.lmf
ppo_data 16
ppo() { lmf-ppo --data p.lmf --reward_model rm.lmf --reward_model_type full \
	--threads 1 --max_new_tokens 12 --do_sample false "$@"; }
check "bf16 rollouts (LoRA)" ppo --model m.lmf --dump_step bf.lmf \
	--infer_dtype bfloat16
ppo --model rnd.lmf --dump_step rnd.lmf.step
rollout bf.lmf >bf.txt
rollout rnd.lmf.step >rnd.txt
check "  three tensors" test "$(wc -l <bf.txt)" -eq 3
check_same "  equal f32 rollouts of the rounded base" bf.txt rnd.txt
check "bf16 rollouts, full tuning, 3 steps" ppo --model m.lmf -q \
	--finetuning_type full --infer_dtype bfloat16 --max_steps 3 \
	--learning_rate 1e-3 --logging_steps 1 --output_dir o
check "  trained 3 steps" \
	test "$(grep -c current_steps o/trainer_log.jsonl)" -eq 3
check_exit "--infer_dtype fp8: exit 2" 2 ppo --model m.lmf -o x \
	--infer_dtype fp8
