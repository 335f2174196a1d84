#!/bin/sh
# lmf-export's option table: the man page's OPTIONS are the options
# --list-options prints; values are checked by the table (exit 2, one line)
# before anything is read or written.
. "$(dirname "$0")/lib.sh"
plan 8
man_flags lmf-export >man.txt
lmf-export --list-options >lo.txt
options_diff lmf-export man.txt >diff.txt
check "lmf-export(1) OPTIONS are lmf-export --list-options" sh -c \
	'test -s man.txt && cat diff.txt >&2 && ! test -s diff.txt'
check_grep "  a float with its default" "^export_size		float	5$" lo.txt
check_exit "a shard size out of range: exit 2" 2 \
	lmf-export --export_size 0 --export_dir out --model_name_or_path m
check_grep "  naming the option and the range" \
	"lmf-export: --export_size: 0 is out of range" check.err
check_exit "an unknown dtype: exit 2" 2 lmf-export --export_dtype f16 \
	--export_dir out --model_name_or_path m
check_exit "an adapter with full tuning: exit 2" 2 lmf-export \
	--finetuning_type full --adapter_name_or_path a \
	--model_name_or_path m --export_dir out
check_exit "an operand: exit 2" 2 lmf-export --export_dir out \
	--model_name_or_path m extra
check "  nothing written" test ! -e out
done_testing
