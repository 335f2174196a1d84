#!/bin/sh
# lmf-config and lmf train's front end: YAML and JSON configs, overrides
# in both forms, derived defaults, shell quoting, refusals (unknown key
# with the closest one, wrong type, unimplemented key, impossible
# combination, bad YAML), dispatch, dry runs, and bad input of the drivers
# (each one stderr line).
. "$(dirname "$0")/lib.sh"
plan 42
cat >lf.yaml <<'CFG'
### model
model_name_or_path: Qwen/Qwen3-4B-Instruct-2507
trust_remote_code: true

### method
stage: sft
do_train: true
finetuning_type: lora
lora_rank: 8
lora_target: all

### dataset
dataset: identity,alpaca_en_demo
template: qwen3_nothink
cutoff_len: 2048
max_samples: 1000
preprocessing_num_workers: 16
dataloader_num_workers: 4

### output
output_dir: saves/qwen3-4b/lora/sft
logging_steps: 10
save_steps: 500
plot_loss: true
overwrite_output_dir: true
save_only_model: false
report_to: none  # choices: [none, wandb, tensorboard, swanlab, mlflow]

### train
per_device_train_batch_size: 1
gradient_accumulation_steps: 8
learning_rate: 1.0e-4
num_train_epochs: 3.0
lr_scheduler_type: cosine
warmup_ratio: 0.1
bf16: true
ddp_timeout: 180000000
resume_from_checkpoint: null
deepspeed: null
default_system: "it's a \"test\""
CFG
get() { lmf-config --get "$@"; }

check "-h prints usage" sh -c 'lmf-config -h | grep -q "^usage: lmf-config"'
check "-V prints the version" sh -c 'lmf-config -V | grep -q .'
check "LLaMA-Factory's example config resolves" lmf-config lf.yaml
check "a value from the file" test "$(get learning_rate lf.yaml)" = 1.0e-4
check "a default" test "$(get adam_beta2 lf.yaml)" = 0.999
check "lora_alpha defaults to 2 lora_rank" \
	test "$(get lora_alpha lf.yaml lora_rank=4)" = 8
check "eval_steps defaults to logging_steps" \
	test "$(get eval_steps lf.yaml)" = 10
check "packing defaults to true for pt only" test \
	"$(get packing lf.yaml) $(get packing lf.yaml stage=pt)" = "false true"
check "key=value overrides the file" \
	test "$(get learning_rate lf.yaml learning_rate=3e-4)" = 3e-4
check "--key value overrides, the last wins" test "$(get learning_rate \
	lf.yaml learning_rate=3e-4 --learning_rate 2e-4)" = 2e-4
check "a bare --flag is true" test "$(get do_train --do_train \
	--dataset x)" = true
check "yes is a YAML boolean" test "$(get plot_loss lf.yaml \
	plot_loss=no)" = false
lmf-config lf.yaml >sh.out
check "the shell form evals back to the value" sh -c \
	'eval "$(cat sh.out)"; test "$cfg_default_system" = "it'\''s a \"test\""'
check_grep "cfg_given lists the keys given" \
	"^cfg_given='model_name_or_path .*learning_rate" sh.out
python3 -c '
import json, re
d = {}
for l in open("lf.yaml"):
    l = re.sub(r" *#.*", "", l).strip()
    if l:
        k, v = l.split(": ", 1)
        d[k] = json.loads(v) if k != "dataset" and not v[0].isalpha() else v
d["dataset"] = ["identity", "alpaca_en_demo"]
d["default_system"] = "it'"'"'s a \"test\""
for k in ("trust_remote_code", "do_train", "plot_loss", "overwrite_output_dir",
          "save_only_model", "bf16"):
    d[k] = d[k] == "true"
d["resume_from_checkpoint"] = d["deepspeed"] = None
json.dump(d, open("lf.json", "w"))'
lmf-config --json lf.yaml >a.json
lmf-config --json lf.json >b.json
check_same "JSON config (with a list) resolves as the YAML" a.json b.json
printf 'dataset:\n  - a\n  - b\n' >list.yaml
check "a YAML list is a comma list" test "$(get dataset list.yaml)" = a,b
check "every config in examples/ resolves" sh -c \
	'for f in "$TOP"/examples/*.yaml; do lmf-config "$f" >/dev/null || exit; done'
check "--list names every key" sh -c \
	'lmf-config --list | grep -q "^learning_rate float 5e-05$"'

check_exit "unknown key" 2 lmf-config lf.yaml learning_rte=1
check_grep "  names the closest key" "did you mean 'learning_rate'" check.err
printf 'lora_rnak: 4\n' >typo.yaml
check_exit "unknown key in a file" 2 lmf-config typo.yaml
check_exit "wrong type" 2 lmf-config lf.yaml --lora_rank eight
check_grep "  names the key" "^lmf-config: lora_rank: 'eight'" check.err
check_exit "a choice out of its list" 2 lmf-config lf.yaml stage=grpo
check_exit "an unimplemented key is refused" 2 lmf-config lf.yaml \
	quantization_bit=4
check_grep "  saying so" "quantization_bit: not implemented" check.err
check_exit "neat_packing outside sft" 2 lmf-config lf.yaml stage=pt \
	neat_packing=true
check_exit "adapter with full fine-tuning" 2 lmf-config lf.yaml \
	finetuning_type=full adapter_name_or_path=x
check_exit "eval without val_size" 2 lmf-config lf.yaml eval_strategy=steps
printf 'a: [1\n' >bad.yaml
check_exit "bad YAML" 1 lmf-config bad.yaml
check_exit "no such config" 1 lmf-config nothere.yaml

check_exit "lmf without a command" 2 lmf
check_exit "lmf with an unknown command" 2 lmf frobnicate
if command -v lmf-train-ppo >/dev/null; then
	skip "a stage without a driver (lmf-train-ppo exists)"
else
	check_exit "a stage without a driver" 2 lmf train lf.yaml stage=ppo
fi

# the drivers on a tiny model directory
tiny_dir tiny
run="model_name_or_path=tiny train_from_scratch=true do_train=true
dataset=alpaca_demo dataset_dir=$TOP/data template=llama3 cutoff_len=64
max_samples=8 output_dir=out"
lmf train --stage sft $run --dry_run >dry.sh
check_grep "--dry_run prints the pipeline" '^lmf-tokenize --stage sft' dry.sh
check "  as a shell script" sh -n dry.sh
check_exit "do_train false: nothing to do" 2 lmf train $run do_train=false
check_exit "a dataset missing from dataset_info.json" 1 \
	lmf train $run dataset=nosuch
mkdir noweights
cp tiny/config.json noweights/
check_exit "a model directory without weights" 1 \
	lmf train $run model_name_or_path=noweights train_from_scratch=false
check_grep "  naming the problem" "no weights" check.err
mkdir out
: >out/adapter_model.safetensors
check_exit "an output_dir with weights and no checkpoint" 2 lmf train $run
check_grep "  naming the problem" "holds adapter_model.safetensors" check.err
done_testing
