#!/bin/sh
# lmf train takes every key of LLaMA-Factory's example YAMLs (issue 15):
# the keys with no effect in lmf (deepspeed, save_only_model, report_to,
# ...) get one note line each, never a refusal (bf16 takes effect: no
# note); the JSON that lmf-config --json prints trains as the YAML it came
# from; lmf train -h; logging_strategy epoch and no; use_llama_pro's
# layers.
. "$(dirname "$0")/lib.sh"
plan 18
mkdir tiny t4
sed 's/"vocab_size": 512/"vocab_size": 576/' \
	"$TOP/data/models/tiny-llama/config.json" >tiny/config.json
cp "$TOP"/tests/data/tok-bytelevel/* tiny/
sed 's/"num_hidden_layers": 2/"num_hidden_layers": 4/' tiny/config.json \
	>t4/config.json
cp "$TOP"/tests/data/tok-bytelevel/* t4/
# LLaMA-Factory's examples/train_lora/qwen3_lora_sft.yaml, its keys as
# they are, the model, data and length made small
cat >sft.yaml <<CFG
### model
model_name_or_path: tiny
trust_remote_code: true
train_from_scratch: true

### method
stage: sft
do_train: true
finetuning_type: lora
lora_rank: 8
lora_target: all
deepspeed: examples/deepspeed/ds_z3_config.json

### dataset
dataset: identity
dataset_dir: $TOP/data
template: llama3
cutoff_len: 64
max_samples: 16
overwrite_cache: true
preprocessing_num_workers: 16
dataloader_num_workers: 4

### output
output_dir: out
logging_steps: 1
save_steps: 500
plot_loss: true
overwrite_output_dir: true
save_only_model: true
report_to: wandb  # choices: [none, wandb, tensorboard, swanlab, mlflow]

### train
per_device_train_batch_size: 4
gradient_accumulation_steps: 1
learning_rate: 1.0e-3
num_train_epochs: 1.0
lr_scheduler_type: cosine
warmup_ratio: 0.1
bf16: true
ddp_timeout: 180000000
resume_from_checkpoint: null
flash_attn: auto
CFG
NOTED='trust_remote_code deepspeed overwrite_cache preprocessing_num_workers
dataloader_num_workers save_only_model report_to ddp_timeout flash_attn'
check "the stock keys train" sh -c 'lmf train sft.yaml 2>err'
notes_ok() {
	for k in $NOTED; do
		[ "$(grep -c "note: $k (" "$1")" = 1 ] || return 1
	done
	[ "$(grep -c 'note: ' "$1")" = 9 ] && ! grep -q 'not used' "$1" &&
	    ! grep -q 'note: bf16' "$1"
}
check "  one note line for each key with no effect" notes_ok err
check_grep "  saying how lmf treats it" \
	"note: deepspeed (examples/deepspeed/ds_z3_config.json): the DeepSpeed config is not read" err
for st in rm:dpo_demo dpo:dpo_demo kto:kto_demo; do
	check "save_only_model true, deepspeed: stage ${st%:*} takes them" \
		sh -c "lmf train sft.yaml stage=${st%:*} dataset=${st#*:} --dry_run \
		>/dev/null 2>err.${st%:*} && grep -q 'note: save_only_model' err.${st%:*}"
done

check "report_to none: what lmf does, no note" sh -c 'lmf train sft.yaml \
	report_to=none --dry_run >/dev/null 2>err.none &&
	! grep -q "note: report_to" err.none'
lmf-config --json sft.yaml >c.json
check "lmf-config --json, read back: the same JSON" sh -c \
	'lmf-config --json c.json >c2.json && cmp c.json c2.json'
check "lmf train c.json" sh -c 'lmf train c.json output_dir=out2 2>err2'
# flash_attn: auto is its default, so the JSON's copy counts as not given
grep 'note: ' err | grep -v 'note: flash_attn' >n1
grep 'note: ' err2 >n2
check_same "  the same notes, but for a key at its default" n1 n2
losses() {
	python3 -c 'import json, sys
for l in open(sys.argv[1]):
    print(json.loads(l).get("loss"))' "$1/trainer_log.jsonl"
}
losses out >l1
losses out2 >l2
check_same "  and the same losses as the YAML" l1 l2

check "lmf train -h: help, exit 0" sh -c 'lmf train -h >h.txt'
check_grep "  usage of lmf train" "^usage: lmf train config.yaml" h.txt

check "logging_strategy epoch" sh -c 'lmf train sft.yaml output_dir=ep \
	num_train_epochs=2 logging_strategy=epoch 2>/dev/null'
check "  one log line per epoch" sh -c \
	'[ "$(grep -c "\"loss\"" ep/trainer_log.jsonl)" = 2 ] &&
	grep -q "\"epoch\": 2.0" ep/trainer_log.jsonl'
check "logging_strategy no: no log line" sh -c 'lmf train sft.yaml \
	output_dir=no logging_strategy=no 2>/dev/null &&
	! grep -q "\"loss\"" no/trainer_log.jsonl 2>/dev/null'

# LLaMA Pro (freeze): of 4 layers with 2 trainable, layers 1 and 3 train
lmf-load -q --init --seed 42 t4 -o i4.lmf
check "use_llama_pro with freeze" sh -c 'lmf train sft.yaml \
	model_name_or_path=t4 output_dir=pro finetuning_type=freeze \
	freeze_trainable_layers=2 use_llama_pro=true max_steps=2 2>/dev/null'
down() { lmf-dump -n 3 "$1" | grep 'layers\.[0-9]\.mlp\.down' | cut -c1-80; }
down i4.lmf >d0
down pro/model.lmf >d1
check "  layers 1 and 3 trained, 0 and 2 did not" sh -c \
	'diff d0 d1 | grep "^<" | grep -o "layers\.[0-9]" | tr "\n" " " |
	grep -qx "layers.1 layers.3 "'
done_testing
