#!/bin/sh
# lmf train --stage ppo resumes exactly: a checkpoint keeps, beside the
# weights and AdamW, the adaptive KL coefficient, the running score moments
# (ppo_score_norm), the shuffle and sampling RNGs and the policy's step
# count (its dropout seed). A run of 6 steps, and the same run stopped
# after its checkpoint-3 (its later files removed, as a crash leaves them)
# and resumed: the same trainer_log.jsonl (but its clock fields) and the
# same final weights, for LoRA with a LoRA reward model and for full.
. "$(dirname "$0")/lib.sh"
plan 8
mkdir mdl
cp "$TOP"/tests/data/tok-bytelevel/* mdl/
cat >mdl/config.json <<'CFG'
{"architectures": ["LlamaForCausalLM"], "model_type": "llama",
 "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
 "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 576,
 "max_position_embeddings": 128, "rms_norm_eps": 1e-6,
 "tie_word_embeddings": false}
CFG
lmf-load -q --init --config mdl/config.json -o mdl/model.lmf
python3 "$TOP/tests/mkpref.py" ds 24
ppo_prompts
cat >ppo.yaml <<'Y'
model_name_or_path: mdl
stage: ppo
do_train: true
lora_dropout: 0.1
dataset: prompts
dataset_dir: ds
cutoff_len: 64
logging_steps: 1
save_steps: 3
per_device_train_batch_size: 2
gradient_accumulation_steps: 2
learning_rate: 1.0e-2
num_train_epochs: 1.0
lr_scheduler_type: cosine
ppo_epochs: 2
ppo_score_norm: true
max_new_tokens: 4
top_k: 0
temperature: 1.0
seed: 5
Y
mkrm() {
	for ft in lora full; do
		lmf train --stage rm --model_name_or_path mdl --do_train true \
		    --finetuning_type $ft --dataset pref --dataset_dir ds \
		    --cutoff_len 64 --output_dir rm-$ft \
		    --per_device_train_batch_size 8 --learning_rate 1e-2 \
		    --max_steps 3 --seed 1 2>rm-$ft.err || return 1
	done
}
check "the reward models (lora, full)" mkrm
# run FT: out-FT/a uninterrupted, out-FT/b stopped after checkpoint-3
run() {
	set -- "$1" "reward_model=rm-$1" "reward_model_type=$1" \
	    "finetuning_type=$1"
	lmf train ppo.yaml "$2" "$3" "$4" output_dir="out-$1/a" 2>"a-$1.err" &&
	lmf train ppo.yaml "$2" "$3" "$4" output_dir="out-$1/b" 2>"b-$1.err" &&
	(cd "out-$1/b" && rm -rf checkpoint-6 adapter* model* config.json \
	    value_head.safetensors reward *results.json README.md) &&
	lmf train ppo.yaml "$2" "$3" "$4" output_dir="out-$1/b" \
	    2>"r-$1.err" &&
	grep -q "resuming training from .*checkpoint-3" "r-$1.err"
}
# the logs but their clock fields, each line's keys in order
cat >samelog.py <<'PY'
import json, sys
def rd(p):
    r = []
    for l in open(p):
        o = json.loads(l)
        r.append([(k, v) for k, v in o.items() if k not in
                  ("elapsed_time", "remaining_time", "throughput")])
    return r
a, b = rd(sys.argv[1]), rd(sys.argv[2])
assert len(a) == 6 and a == b, (len(a), len(b))
assert len({dict(x)["objective/kl_coef"] for x in a}) > 1, "kl_coef fixed"
PY
for ft in lora full; do
	check "$ft: a run, and one stopped after checkpoint-3 and resumed" \
		run $ft
	check "$ft: the same trainer_log.jsonl (loss, reward, kl, ...)" \
		python3 samelog.py out-$ft/a/trainer_log.jsonl \
		out-$ft/b/trainer_log.jsonl
done
check "lora: the same adapter, value head and reward adapter" sh -c '
	cmp out-lora/a/adapter_model.safetensors out-lora/b/adapter_model.safetensors &&
	cmp out-lora/a/value_head.safetensors out-lora/b/value_head.safetensors &&
	cmp out-lora/a/reward/adapter_model.safetensors \
	    out-lora/b/reward/adapter_model.safetensors'
check "a checkpoint without the ppo state: exit 1, said why" sh -c '
	cp -r out-lora/a/checkpoint-3 ck && python3 -c "import json
j = json.load(open(\"ck/lmf_state.json\")); del j[\"tool\"]
json.dump(j, open(\"ck/lmf_state.json\", \"w\"))" &&
	lmf train ppo.yaml reward_model=rm-lora reward_model_type=lora \
	    finetuning_type=lora output_dir=out-x resume_from_checkpoint=ck \
	    2>x.err; test $? = 1 && grep -q "lmf_state.json.: no ppo state" x.err'
check "full: the same model and value head" sh -c '
	cmp out-full/a/model.safetensors out-full/b/model.safetensors &&
	cmp out-full/a/value_head.safetensors out-full/b/value_head.safetensors'
done_testing
