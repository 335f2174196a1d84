#!/bin/sh
# LLaMA-Factory's stock llama3_lora_ppo.yaml (copy in
# tests/data/lf-examples) with only its paths filled in, on a tiny random
# Llama 3 with the real tokenizer; its reward model is the stock reward
# example trained on the same model with template=llama3 (as the
# llama3_lora_reward.yaml it was paired with had). The PPO run itself is
# only --dry_run here: 512 sampled tokens per prompt take minutes
# (t4307 runs it for real on a model whose generations end at once).
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/lfex.sh"
plan 4
have_shared 4
mkmodel l3 llama3
fill rm l3
fill ppo l3 "" out/rm
check "ppo.yaml differs from the example only in its paths" \
	check_paths_only ppo
check "lmf train rm.yaml template=llama3 (the reward model)" sh -c \
	'lmf train rm.yaml template=llama3 2>rm.err'
check "out/rm has value_head.safetensors" test -s out/rm/value_head.safetensors
check "lmf train ppo.yaml --dry_run prints the lmf-ppo step" sh -c \
	'lmf train ppo.yaml --dry_run 2>ppo.err | grep -q "^lmf-ppo .*--top_p 0.9"'
done_testing
