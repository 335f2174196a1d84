#!/bin/sh
# lmf train --stage ppo end to end: a tiny reward model trained by
# `lmf train --stage rm` on synthetic preference data (tests/mkpref.py),
# then `lmf train ppo.yaml` (LLaMA-Factory's keys) against it on the
# preference prompts: trainer_log.jsonl has reward and trl's statistics,
# the mean reward of the last 10% of steps is clearly above the first
# 10% (fixed seed), the KL to the reference stays bounded; --dry_run of
# LLaMA-Factory's own ppo example prints the pipeline.
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
python3 "$TOP/tests/mkpref.py" ds 64
ppo_prompts
cat >ppo.yaml <<'Y'
### model
model_name_or_path: mdl
reward_model: rmout
reward_model_type: full

### method
stage: ppo
do_train: true
finetuning_type: full

### dataset
dataset: prompts
dataset_dir: ds
cutoff_len: 64

### output
output_dir: ppoout
logging_steps: 1
plot_loss: true
overwrite_output_dir: true

### train
per_device_train_batch_size: 8
gradient_accumulation_steps: 1
learning_rate: 1.0e-2
num_train_epochs: 10.0
lr_scheduler_type: constant
seed: 1

### generate
max_new_tokens: 2
top_k: 8
top_p: 1.0
temperature: 1.0
Y
check "lmf train --stage rm makes the reward model" sh -c "lmf train --stage rm \
	--model_name_or_path mdl --do_train true --finetuning_type full \
	--dataset pref --dataset_dir ds --cutoff_len 64 --output_dir rmout \
	--per_device_train_batch_size 8 --learning_rate 1e-3 \
	--num_train_epochs 3 --seed 1 2>rm.err"
check "--dry_run prints the lmf-ppo step" sh -c \
	'lmf train ppo.yaml --dry_run | grep -q "^lmf-ppo .*--reward_model rmout/model.lmf"'
check "lmf train ppo.yaml" sh -c 'lmf train ppo.yaml 2>ppo.err'
check "ppoout has the model and the value head" test -s \
	ppoout/model.safetensors -a -s ppoout/value_head.safetensors
check "trainer_log.jsonl has reward and trl's statistics" python3 -c '
import json
r = [json.loads(l) for l in open("ppoout/trainer_log.jsonl")]
k = list(r[0])
assert len(r) == 80 and k[2:5] == ["loss", "reward", "lr"], k
for s in ("objective/kl", "objective/kl_coef", "ppo/policy/clipfrac",
          "ppo/val/clipfrac", "tokens/responses_len_mean"):
    assert s in k, s'
check "the reward rises: last 10% of steps above the first 10% + 0.25" \
	python3 -c '
import json
r = [json.loads(l)["reward"] for l in open("ppoout/trainer_log.jsonl")]
n = len(r) // 10
a, b = sum(r[:n]) / n, sum(r[-n:]) / n
print("# first %.3f last %.3f" % (a, b))
assert b > a + 0.25'
check "the KL to the reference stays bounded" python3 -c '
import json
k = [json.loads(l)["objective/kl"] for l in open("ppoout/trainer_log.jsonl")]
assert max(k) < 12, max(k)'
Y=$SHARED/spec/lf-examples/ppo.yaml
if [ -f "$Y" ]; then
	sed "s|@MODEL@|mdl|; s|@RM@|rmout|; s|@DATA@|ds|; s|@OUT@|out|" "$Y" \
		>lf.yaml
	check "LLaMA-Factory's ppo example: every key known (--dry_run)" sh -c \
		'lmf train lf.yaml --dry_run | grep -q "^lmf-ppo .*--top_p 0.9"'
else
	skip "no ../shared examples"
fi
done_testing
