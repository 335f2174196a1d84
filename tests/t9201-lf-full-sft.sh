#!/bin/sh
# LLaMA-Factory's stock train_full/qwen3_full_sft.yaml, then
# merge_lora/qwen3_full_sft.yaml and inference/qwen3_full_sft.yaml (copies
# in tests/data/lf-examples), with only their paths filled in, through
# `lmf train`, `lmf export` and `lmf chat` on a tiny random Qwen3.
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/lfex.sh"
plan 16
have_shared 16
mkmodel q3 qwen3
fill full_sft q3
fill merge_full out/full_sft
fill chat_full out/full_sft
for y in full_sft merge_full chat_full; do
	check "$y.yaml differs from the example only in its paths" \
		check_paths_only $y
done
check "lmf train full_sft.yaml" sh -c 'lmf train full_sft.yaml 2>sft.err'
check_has out/full_sft config.json generation_config.json \
	model.safetensors tokenizer.json trainer_state.json \
	train_results.json trainer_log.jsonl training_loss.png
check "lmf export merge_full.yaml" sh -c 'lmf export merge_full.yaml 2>m.err'
check_has out/export config.json model.safetensors
check "lmf chat chat_full.yaml answers (2 greedy tokens)" sh -c \
	'printf "hello\n" | lmf chat chat_full.yaml max_new_tokens=2 \
	    do_sample=false >chat.out 2>chat.err && test -s chat.out'
done_testing
