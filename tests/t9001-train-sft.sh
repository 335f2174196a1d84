#!/bin/sh
# lmf train end to end: a short LoRA sft run and a pt run on data/ with a
# tiny model initialised from its config and the project's byte-level
# tokenizer; the loss falls, the output directory has the log, the adapter
# and the tokenizer, and the --dry_run pipeline run by hand gives the same
# losses.
. "$(dirname "$0")/lib.sh"
plan 14
tiny_dir tiny
cat >sft.yaml <<CFG
### model
model_name_or_path: tiny
train_from_scratch: true

### method
stage: sft
do_train: true
finetuning_type: lora
lora_rank: 8
lora_target: all

### dataset
dataset: alpaca_demo,identity
dataset_dir: $TOP/data
template: llama3
cutoff_len: 128
max_samples: 40

### output
output_dir: out
logging_steps: 2
overwrite_output_dir: true
report_to: none

### train
per_device_train_batch_size: 4
gradient_accumulation_steps: 1
learning_rate: 5.0e-3
num_train_epochs: 3.0
lr_scheduler_type: cosine
warmup_ratio: 0.1
bf16: true
CFG
loss_falls() {
	python3 -c '
import json, sys
ls = [json.loads(l)["loss"] for l in open(sys.argv[1]) if "loss" in l]
sys.exit(not (len(ls) >= 4 and ls[-1] < ls[0] - 0.2))' "$1"
}

check "lmf train sft.yaml (LoRA sft)" lmf train sft.yaml
cp check.err sft.err
check_grep "  progress lines" '^step [0-9]*/[0-9]*: loss' sft.err
check_grep "  time to the first step" 'ready in [0-9.]* s' sft.err
check "  the loss falls" loss_falls out/trainer_log.jsonl
check "  an adapter stream" sh -c \
	'lmf-dump out/adapter.lmf | grep -q "^kind: adapter"'
check "  the tokenizer beside it" test -f out/tokenizer.json -a \
	-f out/tokenizer_config.json

lmf train sft.yaml output_dir=byhand --dry_run >dry.sh
check "the --dry_run pipeline runs by hand" sh -e dry.sh
check "  to the same losses" sh -c 'python3 -c "
import json, sys
f = lambda p: [json.loads(l).get(\"loss\") for l in open(p)]
sys.exit(f(\"out/trainer_log.jsonl\") != f(\"byhand/trainer_log.jsonl\"))"'

check "lmf train --stage pt on text (packed blocks)" lmf train --stage pt \
	--model_name_or_path tiny --train_from_scratch --do_train \
	--dataset text_demo --dataset_dir "$TOP/data" --cutoff_len 64 \
	--output_dir pt --logging_steps 2 --learning_rate 5e-3 \
	--per_device_train_batch_size 2 --num_train_epochs 4 \
	--finetuning_type full
check "  the loss falls" loss_falls pt/trainer_log.jsonl
check "  a model stream" sh -c 'lmf-dump pt/model.lmf | grep -q "^kind: model"'

# evaluation during training: val_size splits an eval stream off in
# lmf-pack (per_device_eval_batch_size is its key), lmf-sft evaluates it
check "lmf train with val_size, eval_strategy steps, plot_loss" lmf train \
	sft.yaml output_dir=ev val_size=0.2 eval_strategy=steps eval_steps=2 \
	per_device_eval_batch_size=2 plot_loss=true
check "  eval_loss logged" sh -c 'grep -q eval_loss ev/trainer_log.jsonl &&
	grep -q eval_loss ev/eval_results.json'
check "  and plotted" test -s ev/training_eval_loss.png -a \
	-s ev/training_loss.png
done_testing
