#!/bin/sh
# LLaMA-Factory's stock llama3_lora_ppo.yaml (tests/data/lf-examples)
# trained for real with only its paths filled in: max_new_tokens 512,
# top_p 0.9, 3 epochs of 16 + 16 prompts, GA 8 (12 PPO steps), its LoRA
# reward model the stock reward example (template=llama3, as t9204). The
# tiny random Llama 3 is built so that every generation ends at once
# (tests/stop_early.py: <|eot_id|>, the llama3 template's stop word, wins
# at every position), which keeps the run to seconds and checks that
# generation stops at the stop ids rather than after 512 tokens.
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/lfex.sh"
plan 8
have_shared 8
mkmodel l3 llama3
python3 "$TOP/tests/stop_early.py" l3 128009
fill rm l3
fill ppo l3 "" out/rm
check "ppo.yaml differs from the example only in its paths" \
	check_paths_only ppo
check "lmf train rm.yaml template=llama3 (the reward model)" sh -c \
	'lmf train rm.yaml template=llama3 2>rm.err'
check "lmf train ppo.yaml" sh -c 'lmf train ppo.yaml 2>ppo.err'
check_has out/ppo adapter_model.safetensors value_head.safetensors \
	reward/adapter_model.safetensors training_reward.png
check "12 steps, logged at step 10, every response the stop id alone" \
	python3 -c '
import json
s = json.load(open("out/ppo/trainer_state.json"))
assert s["global_step"] == 12 and s["max_steps"] == 12, s["global_step"]
r = [json.loads(l) for l in open("out/ppo/trainer_log.jsonl")]
assert [x["current_steps"] for x in r] == [10], r
assert r[0]["tokens/responses_len_mean"] == 1.0, r[0]
assert r[0]["tokens/queries_len_mean"] > 10, r[0]'
done_testing
