#!/bin/sh
# lmf-sft's option table: the man page's OPTIONS are the options
# --list-options prints, its format, values checked by the table (exit 2),
# the output_dir rule (--print_resume, and a run refusing a finished lmf
# output_dir), --list-options of a tool without a table, and the driver
# routing keys by --list-options.
. "$(dirname "$0")/lib.sh"
plan 22
PY=python3

man_flags lmf-sft >man.txt
options_diff lmf-sft man.txt >diff.txt
check "the man page lists options" test -s man.txt
check "lmf-sft(1) OPTIONS are lmf-sft --list-options" sh -c \
	'cat diff.txt >&2; ! test -s diff.txt'
lmf-sft --list-options >lo.txt
check "four tab-separated fields on every line" awk -F '\t' \
	'NF != 4 { exit 1 } END { exit NR < 40 }' lo.txt
check_grep "  a float with its default" "^learning_rate		float	5e-05$" lo.txt
check_grep "  a choice with its words" \
	"^finetuning_type		choice:lora|full|freeze	lora$" lo.txt
check_grep "  a short flag" "^level	l	" lo.txt
check_exit "a value out of range: exit 2" 2 lmf-sft --lora_rank 0
check_grep "  naming the option and the range" \
	"lmf-sft: --lora_rank: 0 is out of range \[1, 65536\]" check.err
check_exit "a word not in a choice: exit 2" 2 lmf-sft --save_strategy often
check_grep "  listing the words" "'often' is not no, steps or epoch" check.err
check_exit "junk for a bool: exit 2" 2 lmf-sft --plot_loss=maybe
check_exit "junk for a float: exit 2" 2 lmf-sft --learning_rate 1e-4x

# the output_dir rule
mkdir -p ck/checkpoint-3 ck/checkpoint-12 done
: >done/adapter.lmf
lmf-sft --output_dir ck --print_resume >r.txt
check_grep "--print_resume: the last checkpoint" '^ck/checkpoint-12$' r.txt
check "  nothing for a directory not there" sh -c \
	'lmf-sft --output_dir none --print_resume >n.txt && ! test -s n.txt'
check_exit "  a finished lmf output_dir: exit 2" 2 \
	lmf-sft --output_dir done --print_resume
check_grep "  naming what it holds" "'done' already holds adapter.lmf" check.err
check "  overwrite_output_dir trains over it" \
	lmf-sft --output_dir done --overwrite_output_dir --print_resume
# one layer, the smallest model the checks need
printf '{"model_type": "llama", "hidden_size": 16, "intermediate_size": 32, %s}\n' \
	'"num_hidden_layers": 1, "num_attention_heads": 2, "vocab_size": 32' \
	>cfg.json
lmf-load -q --init --config cfg.json -o m.lmf
$PY "$TOP/tests/mkbatches.py" -V 32 -n 2 >b.lmf
check_exit "a run into an output_dir holding adapter.lmf only: exit 1" 1 \
	lmf-sft -q --model m.lmf --data b.lmf --max_steps 1 --output_dir done
check_grep "  naming the file" "already holds adapter.lmf and no checkpoint" \
	check.err

# tools without a table, and the driver
lmf-load --list-options >load.txt
check_grep "lmf-load --list-options (no table)" "^config		string	$" load.txt
mkdir tiny
cp cfg.json tiny/config.json
# save_only_model has no effect in lmf (issue 15): a note, not a refusal
check_exit "save_only_model true: accepted by lmf train" 0 \
	lmf train --stage sft --do_train true --model_name_or_path tiny \
	--train_from_scratch true \
	--dataset alpaca_demo --dataset_dir "$TOP/data" --template llama3 \
	--output_dir out --save_only_model true --dry_run
check_grep "  with a note saying how lmf treats it" \
	"note: save_only_model (true): lmf checkpoints always hold" check.err
done_testing
