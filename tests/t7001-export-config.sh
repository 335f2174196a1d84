#!/bin/sh
# lmf export with LLaMA-Factory's keys: Hugging Face and PEFT directories
# (or streams) from a config, key=value or --key value; the same files as
# lmf-export on the loaded streams; an adapter that does not fit the base
# is refused naming the tensor, and nothing is written.
. "$(dirname "$0")/lib.sh"
plan 12
G=$TOP/tests/golden/sft
lmf-load -q -l 0 -o m.lmf "$G/lora_all/model"
lmf-load -q -l 0 --adapter_name_or_path "$G/lora_all/adapter" -o a.lmf
check "lmf-export on streams" lmf-export --model_name_or_path m.lmf \
	--adapter_name_or_path a.lmf --export_dir ref
cat >exp.yaml <<EOF2
model_name_or_path: $G/lora_all/model
adapter_name_or_path: $G/lora_all/adapter
finetuning_type: lora
export_dir: out1
EOF2
check "lmf export CONFIG.yaml with directories" lmf export exp.yaml
check_same "  the same model.safetensors" ref/model.safetensors \
	out1/model.safetensors
check "lmf export --key value with streams" lmf export \
	--model_name_or_path m.lmf --adapter_name_or_path a.lmf \
	--export_dir out2
check_same "  the same model.safetensors" ref/model.safetensors \
	out2/model.safetensors
lmf-load -q --init --model_name_or_path "$TOP/data/models/tiny-llama" \
	-o tiny.lmf && lmf-export --model_name_or_path tiny.lmf --export_dir tiny
lmf export exp.yaml model_name_or_path=tiny export_dir=bad >/dev/null 2>err
rc=$?
_result $([ $rc = 1 ] && [ "$(wc -l <err)" = 1 ] && grep -q "has shape" err &&
	[ ! -e bad ]; echo $?) "an adapter that does not fit the base: exit 1, one line, nothing written"

# export_dir beside the inputs: the adapter's parent keeps the adapter, a
# sibling run and foreign files; the adapter or model directory itself is
# refused, and nothing there changes
mkdir -p w/run1
cp -R "$G/lora_all/adapter" w/adapter
cp -R "$G/lora_all/model" w/model
echo keep >w/notes.txt
echo keep >w/run1/config.json
cp -R w w.orig
check "export_dir the adapter's parent" lmf export exp.yaml \
	adapter_name_or_path=w/adapter export_dir=w
check_same "  the same model.safetensors" ref/model.safetensors \
	w/model.safetensors
check "  the adapter, the model, the sibling run and notes stay" sh -c \
	'for f in adapter model run1 notes.txt; do
	diff -r w.orig/$f w/$f || exit 1; done'
check_exit "export_dir the adapter directory: exit 2" 2 lmf export \
	exp.yaml adapter_name_or_path=w/adapter export_dir=w/adapter/
check_exit "export_dir the model directory: exit 2" 2 lmf export \
	exp.yaml model_name_or_path=w/model adapter_name_or_path=w/adapter \
	export_dir=./w/model
check "  both directories are untouched" sh -c \
	'diff -r w.orig/adapter w/adapter && diff -r w.orig/model w/model'
done_testing
