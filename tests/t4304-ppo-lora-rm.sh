#!/bin/sh
# lmf-ppo with reward_model_type lora: the reward model is an adapter and
# value head trained by lmf-rm --finetuning_type lora, swapped in over the
# policy's base. A step's scores are checked against lmf-rm --score of the
# same base and adapter on each rollout row (query + response) alone, with
# a policy that starts from another adapter (so base and policy differ).
. "$(dirname "$0")/lib.sh"
plan 7
byte_model
pref_data 16 64
lmf-pack -q --per_device_train_batch_size 4 -o rtr.lmf rex.lmf
lmf-rm -q --model m.lmf --data rtr.lmf --threads 1 --finetuning_type lora \
	--learning_rate 1e-2 --max_steps 4 --output_dir rmo
lmf-rm -q --model m.lmf --data rtr.lmf --threads 1 --finetuning_type lora \
	--learning_rate 1e-2 --max_steps 4 --seed 7 --output_dir other
ppo_prompts
lmf-tokenize -q --tokenizer "$tok" --dataset_dir ds --dataset prompts \
	--stage ppo --cutoff_len 64 -o pex.lmf
lmf-pack -q --per_device_train_batch_size 4 -o p.lmf pex.lmf
ppo() { lmf-ppo --model m.lmf --data p.lmf --threads 1 \
	--max_new_tokens 6 "$@"; }
# the rollout rows as an examples stream, and the dump's scores
rows() {
	lmf-dump --json "$1" | python3 -c '
import json, sys
sys.stdin.readline()
t = {x["name"]: x for x in json.loads(sys.stdin.readline())["tensors"]}
T = t["input_ids"]["shape"][1]
ids = t["input_ids"]["data"]
with open("rows.jsonl", "w") as f:
    print(json.dumps({"lmf": 1, "meta": {"kind": "examples"}}), file=f)
    for i, (q, r) in enumerate(zip(t["query_len"]["data"],
                                   t["response_len"]["data"])):
        x = ids[i * T:i * T + q + r]
        print(json.dumps({"item": i, "tensors": [{"name": "input_ids",
              "dtype": "i32", "shape": [len(x)], "data": x}]}), file=f)
    print(json.dumps({"end": len(t["query_len"]["data"])}), file=f)
for s in t["scores"]["data"]:
    print("%.9g" % s)' >"$2"
	lmf-dump -r -o rows.lmf rows.jsonl
}

check "lmf-rm wrote a LoRA reward model" test -f rmo/adapter.lmf
check "a step with reward_model_type lora" ppo --reward_model rmo/adapter.lmf \
	--reward_model_type lora --dump_step d.lmf
rows d.lmf ppo.txt
check "lmf-rm --score of each row alone" sh -c 'lmf-rm --score --model m.lmf \
	--adapter_name_or_path rmo/adapter.lmf --data rows.lmf --threads 1 \
	>rm.txt && test "$(wc -l <rm.txt)" = 4'
check "the step's scores are the reward adapter's over the base" \
	python3 -c 'import sys
a = [float(x) for x in open("ppo.txt")]
b = [float(x) for x in open("rm.txt")]
d = max(abs(x - y) for x, y in zip(a, b))
print("# maxdiff", d)
sys.exit(not (len(a) == len(b) == 4 and d < 1e-4))'
check "the value head comes with the adapter (the base has none)" \
	sh -c 'lmf-rm --score --model m.lmf --data rows.lmf --threads 1 2>&1 |
	grep -q "no value head"'
check "a policy from another adapter" ppo --reward_model rmo/adapter.lmf \
	--reward_model_type lora --adapter_name_or_path other/adapter.lmf \
	--dump_step d2.lmf
rows d2.lmf ppo2.txt
lmf-rm --score --model m.lmf --adapter_name_or_path rmo/adapter.lmf \
	--data rows.lmf --threads 1 >rm2.txt
check "still scored by the reward adapter over the base alone" \
	python3 -c 'import sys
a = [float(x) for x in open("ppo2.txt")]
b = [float(x) for x in open("rm2.txt")]
d = max(abs(x - y) for x, y in zip(a, b))
print("# maxdiff", d)
sys.exit(not (len(a) == len(b) == 4 and d < 1e-4))'
done_testing
