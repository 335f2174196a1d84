#!/bin/sh
# lmf-pack's option table and state: the man page's OPTIONS are the
# options --list-options prints, values checked by the table (exit 2, one
# line), and examples past the first allocation (256) carrying tensors.
. "$(dirname "$0")/lib.sh"
plan 9
PY=python3
T=$TOP/tests

# mk NAME STAGE N SEED [key=value...]: NAME.jsonl (the form), NAME.lmf
mk() {
	_f=$1; shift
	$PY "$T/packref.py" make "$@" >"$_f.jsonl" &&
		$PY "$T/dumpform.py" "$_f.jsonl" >"$_f.lmf"
}

# example 0 is the pattern of the carried tensors; the examples array
# grows past 256 while it is read
mk dpo dpo 300 2 extra=1 || exit 1
check "300 dpo examples, carried tensors" sh -c "lmf-pack -q \
	--per_device_train_batch_size 7 -o out.lmf dpo.lmf &&
	lmf-dump --json out.lmf >out.jsonl &&
	$PY '$T/packref.py' check dpo.jsonl out.jsonl bs=7"
mk kto kto 520 3 extra=1 || exit 1
check "520 kto examples, carried tensors, a split" sh -c "lmf-pack -q \
	--val_size 0.1 --eval_output ev.lmf -o out.lmf kto.lmf &&
	lmf-dump --json out.lmf >out.jsonl && lmf-dump --json ev.lmf >ev.jsonl &&
	$PY '$T/packref.py' check kto.jsonl out.jsonl ev.jsonl val=0.1"

man_flags lmf-pack >man.txt
lmf-pack --list-options >lo.txt
options_diff lmf-pack man.txt >diff.txt
check "lmf-pack(1) OPTIONS are lmf-pack --list-options" sh -c \
	'test -s man.txt && cat diff.txt >&2 && ! test -s diff.txt'
check_grep "  an int with its default" \
	"^per_device_train_batch_size		int	8$" lo.txt
check_grep "  packing: the header's, no default listed" "^packing		bool	$" \
	lo.txt
check_exit "a batch size out of range: exit 2" 2 \
	lmf-pack --per_device_train_batch_size 0 dpo.lmf
check_grep "  naming the option and the range" \
	"lmf-pack: --per_device_train_batch_size: 0 is out of range" check.err
check_exit "junk for a float: exit 2" 2 lmf-pack --val_size 0.1x dpo.lmf
check_exit "junk for a bool: exit 2" 2 lmf-pack --packing=maybe dpo.lmf
done_testing
