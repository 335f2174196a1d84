#!/bin/sh
# LLaMA-Factory's stock train_lora/qwen3_lora_dpo.yaml and
# qwen3_lora_kto.yaml (copies in tests/data/lf-examples), with only their
# paths filled in, through `lmf train` on a tiny random Qwen3; each runs
# 8 samples for 1 epoch (max_samples=8 num_train_epochs=1 on the command
# line: their 2048-token pairs take minutes on 2 cores at 16 x 3).
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/lfex.sh"
plan 10
have_shared 10
mkmodel q3 qwen3
for y in dpo kto; do
	fill $y q3
	check "$y.yaml differs from the example only in its paths" \
		check_paths_only $y
	check "lmf train $y.yaml max_samples=8 num_train_epochs=1" sh -c \
		"lmf train $y.yaml max_samples=8 num_train_epochs=1 2>$y.err"
	check_has out/$y adapter_model.safetensors adapter_config.json \
		trainer_state.json
done
done_testing
