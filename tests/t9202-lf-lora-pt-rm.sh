#!/bin/sh
# LLaMA-Factory's stock train_lora/qwen3_lora_pretrain.yaml and
# qwen3_lora_reward.yaml (copies in tests/data/lf-examples), with only
# their paths filled in, through `lmf train` on a tiny random Qwen3;
# pretrain runs 1 epoch of its 3 (num_train_epochs=1 on the command line)
# to keep the test short.
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/lfex.sh"
plan 12
have_shared 12
mkmodel q3 qwen3
fill lora_pt q3
fill rm q3
for y in lora_pt rm; do
	check "$y.yaml differs from the example only in its paths" \
		check_paths_only $y
done
check "lmf train lora_pt.yaml num_train_epochs=1" sh -c \
	'lmf train lora_pt.yaml num_train_epochs=1 2>pt.err'
check_has out/lora_pt adapter_model.safetensors adapter_config.json \
	trainer_state.json
check "out/lora_pt has trainer_log.jsonl" test -f out/lora_pt/trainer_log.jsonl
check "lmf train rm.yaml" sh -c 'lmf train rm.yaml 2>rm.err'
check_has out/rm adapter_model.safetensors value_head.safetensors \
	trainer_state.json
check "out/rm has trainer_log.jsonl" test -f out/rm/trainer_log.jsonl
done_testing
