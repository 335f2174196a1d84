#!/bin/sh
# More of the audit's defects (2026-12-08), each now refused with one line
# before anything runs, or told plainly: a YAML mapping as a value is a
# usage error (exit 2, as a list of the wrong type), except
# lr_scheduler_kwargs, which LLaMA-Factory takes as a dict; an empty
# output_dir; a resume whose optimizer state does not fit the run (another
# finetuning_type) says so in one line; a model config's
# summary_dropout_prob outside [0, 1); a stream write error names its
# file; lmf-generate takes --help, --version and -q as every tool does;
# lmf export refuses an unknown template, as LLaMA-Factory does.
. "$(dirname "$0")/lib.sh"
plan 15
printf 'stage: rm\nlearning_rate: {a: 1}\n' >map.yaml
check_exit "lmf-config: a mapping for learning_rate: exit 2" 2 \
	lmf-config map.yaml
printf 'stage: rm\nlr_scheduler_kwargs: {num_cycles: 2, power: 1.5}\n' \
	>kw.yaml
check "lmf-config: lr_scheduler_kwargs as a YAML mapping" sh -c \
	"lmf-config kw.yaml | grep -qx \"cfg_lr_scheduler_kwargs='{\\\"num_cycles\\\":2,\\\"power\\\":1.5}'\""
printf 'stage: rm\nlr_scheduler_kwargs: {a: 0x2, b: 1e-5, c: 1_000, d: on}\n' \
	>py.yaml
check "  its values as PyYAML reads them (1e-5 a string: no dot)" sh -c \
	"lmf-config py.yaml | grep -qx \"cfg_lr_scheduler_kwargs='{\\\"a\\\":2,\\\"b\\\":\\\"1e-5\\\",\\\"c\\\":1000,\\\"d\\\":true}'\""
printf 'stage: rm\nlr_scheduler_kwargs:\n  a: {b: 1}\n' >deep.yaml
check_exit "  a mapping inside it: exit 2" 2 lmf-config deep.yaml
printf "stage: rm\noutput_dir: ''\n" >empty.yaml
check_exit "lmf-config: an empty output_dir: exit 2" 2 lmf-config empty.yaml

byte_model
pref_data 16 64
lmf-pack -q --per_device_train_batch_size 4 -o tr.lmf rex.lmf
set -- -q --model m.lmf --data tr.lmf --threads 1
lmf-rm "$@" --finetuning_type full --max_steps 2 --save_steps 2 \
	--output_dir d
rm d/model.lmf
check_exit "resume with another finetuning_type: exit 1, one line" 1 \
	lmf-rm "$@" --finetuning_type freeze --max_steps 4 --output_dir d
check_grep "  saying why" "optimizer.lmf.*not trainable in this run" \
	check.err
python3 - <<'PY'
import json
c = json.load(open("cfg.json"))
c["summary_dropout_prob"] = 2
json.dump(c, open("cfg2.json", "w"))
c["summary_dropout_prob"] = None
json.dump(c, open("cfg0.json", "w"))
PY
lmf-load -q --init --config cfg2.json -o m2.lmf
lmf-load -q --init --config cfg0.json -o m0.lmf
check_exit "summary_dropout_prob 2 in the config: exit 1" 1 \
	lmf-rm -q --model m2.lmf --data tr.lmf --threads 1 --max_steps 1 \
	-o x.lmf
check "  null: no dropout (trl's Identity), trains" lmf-rm -q \
	--model m0.lmf --data tr.lmf --threads 1 --max_steps 1 -o x.lmf
check_exit "a write error: exit 1" 1 lmf-pack -q -o /dev/full rex.lmf
check_grep "  naming the file" "write error on '/dev/full'" check.err
check "lmf-generate --help" sh -c 'lmf-generate --help | grep -q "^usage"'
check "lmf-generate --version" sh -c 'lmf-generate --version |
	grep -q "^lmf-generate "'
check "lmf-generate -q" sh -c 'lmf-generate -q --model m.lmf \
	--prompt_ids 1,2 --max_new_tokens 2 --threads 1 >/dev/null'
check_exit "lmf export: an unknown template: exit 2" 2 lmf export \
	model_name_or_path=m.lmf export_dir=ex template=bogus
done_testing
