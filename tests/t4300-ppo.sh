#!/bin/sh
# lmf-ppo on a tiny random policy and a reward model trained by lmf-rm on
# synthetic preference data: usage errors, a training run's files and
# logged keys, --dump_step and its replay with --rollout giving the same
# step.
. "$(dirname "$0")/lib.sh"
plan 11
byte_model
pref_data 32 64
lmf-pack -q --per_device_train_batch_size 8 -o rtr.lmf rex.lmf
lmf-rm -q --model m.lmf --data rtr.lmf --threads 1 --finetuning_type full \
	--learning_rate 1e-3 --num_train_epochs 2 -o rm.lmf
ppo_prompts
lmf-tokenize -q --tokenizer "$tok" --dataset_dir ds --dataset prompts \
	--stage ppo --cutoff_len 64 -o pex.lmf
lmf-pack -q --per_device_train_batch_size 4 -o p.lmf pex.lmf
ppo() { lmf-ppo --model m.lmf --data p.lmf --reward_model rm.lmf \
	--reward_model_type full --threads 1 --max_new_tokens 6 "$@"; }

check "-h prints usage" sh -c 'lmf-ppo -h | grep -q "^usage: lmf-ppo"'
check_exit "reward_model_type api" 2 ppo -o x --reward_model_type api
check_exit "max_new_tokens 0" 2 ppo -o x --max_new_tokens 0
check_exit "no reward model" 2 lmf-ppo --model m.lmf --data p.lmf -o x
check_exit "--rollout without --dump_step" 2 ppo --rollout x -o x
check "a training run" ppo -q --output_dir o --max_steps 4 --logging_steps 1 \
	--learning_rate 1e-3 --gradient_accumulation_steps 2
check "output_dir holds the adapter and the value head" test -f \
	o/adapter_model.safetensors -a -f o/value_head.safetensors
check "the log has 4 steps" test "$(grep -c current_steps o/trainer_log.jsonl)" = 4
check "--dump_step" ppo --dump_step d1.lmf
check "--rollout replays the step" lmf-ppo --model m.lmf --rollout d1.lmf \
	--dump_step d2.lmf --threads 1
check "the replay gives the same step" sh -c \
	'lmf-dump --json d1.lmf | sed 1d >a.txt &&
	lmf-dump --json d2.lmf | sed 1d >b.txt && cmp a.txt b.txt'
done_testing
