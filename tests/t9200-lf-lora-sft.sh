#!/bin/sh
# LLaMA-Factory's stock train_lora/qwen3_lora_sft.yaml, then
# merge_lora/qwen3_lora_sft.yaml and inference/qwen3_lora_sft.yaml (copies
# in tests/data/lf-examples), with only their paths filled in, through
# `lmf train`, `lmf export` and `lmf chat` on a tiny random Qwen3 with the
# real tokenizer; each output directory has what LLaMA-Factory writes.
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/lfex.sh"
plan 20
have_shared 20
mkmodel q3 qwen3
fill lora_sft q3
fill merge q3 out/lora_sft
fill chat_lora q3 out/lora_sft
for y in lora_sft merge chat_lora; do
	check "$y.yaml differs from the example only in its paths" \
		check_paths_only $y
done
check "lmf train lora_sft.yaml" sh -c 'lmf train lora_sft.yaml 2>sft.err'
check_has out/lora_sft adapter_model.safetensors adapter_config.json \
	README.md tokenizer.json tokenizer_config.json trainer_state.json \
	train_results.json all_results.json trainer_log.jsonl \
	training_loss.png
check "out/lora_sft has checkpoint-12 (16 samples, 8 accumulated, 3 epochs)" \
	test -s out/lora_sft/checkpoint-12/adapter_model.safetensors
check "lmf export merge.yaml" sh -c 'lmf export merge.yaml 2>merge.err'
check_has out/export config.json model.safetensors tokenizer.json
check "lmf chat chat_lora.yaml answers (2 greedy tokens)" sh -c \
	'printf "hello\n" | lmf chat chat_lora.yaml max_new_tokens=2 \
	    do_sample=false >chat.out 2>chat.err && test -s chat.out'
done_testing
