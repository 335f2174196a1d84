#!/bin/sh
# lmf-pack: usage errors (exit 2), bad examples streams (exit 1), and the
# batches of every stage checked against tests/packref.py, an independent
# model of LLaMA-Factory's packing (spec 4.3) and collators.
. "$(dirname "$0")/lib.sh"
plan 76
PY=/usr/bin/python3
[ -x $PY ] || PY=python3
T=$TOP/tests

# mk NAME STAGE N SEED [key=value...]: NAME.jsonl (the form), NAME.lmf
mk() {
	_f=$1; shift
	$PY "$T/packref.py" make "$@" >"$_f.jsonl" &&
		$PY "$T/dumpform.py" "$_f.jsonl" >"$_f.lmf"
}
# form FILE PYTHON: edit a form (l: its lines as objects) into FILE.lmf
form() {
	$PY -c "import json, sys; sys.path.insert(0, '$T'); import dumpform
l = [json.loads(x) for x in open('sft.jsonl')]
$2
sys.stdout.buffer.write(dumpform.build(l))" >"$1.lmf"
}
# ref DESC FORM [lmf-pack options] -- [packref keys]: pack and compare
ref() {
	_d=$1 _f=$2; shift 2
	_o=
	while [ "$1" != -- ]; do _o="$_o $1"; shift; done
	shift
	# shellcheck disable=SC2086
	check "$_d" sh -c "lmf-pack -q $_o -o out.lmf $_f.lmf &&
		lmf-dump --json out.lmf >out.jsonl &&
		if [ -f ev.lmf ]; then lmf-dump --json ev.lmf >ev.jsonl; fi &&
		$PY '$T/packref.py' check $_f.jsonl out.jsonl \
		    \$([ -f ev.lmf ] && echo ev.jsonl) $*"
	rm -f ev.lmf ev.jsonl
}

mk sft sft 40 1 || exit 1
for s in pt rm dpo kto ppo; do mk $s $s 30 2 extra=1 || exit 1; done
mk pk sft 300 3 lens=1,2,3,3,3,4,5,7,8,8,9,11,13,16,30,31,32 cutoff=32 ||
	exit 1

# usage errors
check "-h" lmf-pack -h
check_grep "  usage names the options" "per_device_train_batch_size" check.out
check "-V" lmf-pack -V
check_exit "unknown option" 2 lmf-pack --bogus sft.lmf
check_exit "missing value" 2 lmf-pack sft.lmf --seed
check_exit "bad batch size" 2 lmf-pack --per_device_train_batch_size 0 sft.lmf
check_exit "bad epochs" 2 lmf-pack --num_train_epochs x sft.lmf
check_exit "--val_size without --eval_output" 2 lmf-pack --val_size 0.1 sft.lmf
check_exit "--eval_output without --val_size" 2 lmf-pack --eval_output e sft.lmf
check_exit "fractional count" 2 lmf-pack --val_size 2.5 --eval_output e sft.lmf
check_exit "bad boolean" 2 lmf-pack --packing=maybe sft.lmf
check_exit "neat packing without packing" 2 lmf-pack --packing false \
	--neat_packing sft.lmf
check_exit "two inputs" 2 lmf-pack sft.lmf sft.lmf
check_exit "eval output is the output" 2 lmf-pack --val_size 2 \
	--eval_output x -o x sft.lmf
check_exit "packing for dpo" 2 lmf-pack --packing -o o dpo.lmf
check_exit "cutoff_len too small to pack" 2 lmf-pack --packing \
	--cutoff_len 1 -o o sft.lmf
if command -v script >/dev/null; then
	check "binary to a terminal is refused" sh -c 'script -qec \
		"lmf-pack sft.lmf; echo rc=\$?" /dev/null </dev/null |
		tr -d "\r" >tty.out; grep -q rc=2 tty.out &&
		grep -q "stdout is a terminal" tty.out'
else
	skip "binary to a terminal: no script(1)"
fi

# bad input
check_exit "not a stream" 1 lmf-pack -o o "$T/lib.sh"
check_exit "missing file" 1 lmf-pack -o o nosuch.lmf
head -c 300 sft.lmf >cut.lmf
check_exit "truncated stream" 1 lmf-pack -o o cut.lmf
check "a failed run leaves no output" sh -c '! ls o o.* 2>/dev/null'
form kind 'l[0]["meta"]["kind"] = "model"'
check_exit "wrong kind" 1 lmf-pack -o o kind.lmf
check_grep "  names the kind" "kind 'model', not 'examples'" check.err
form nostage 'del l[0]["meta"]["stage"]'
check_exit "no stage" 1 lmf-pack -o o nostage.lmf
form stage 'l[0]["meta"]["stage"] = "xx"'
check_exit "unknown stage" 1 lmf-pack -o o stage.lmf
form nopad 'del l[0]["meta"]["pad_token_id"]'
check_exit "no pad_token_id" 1 lmf-pack -o o nopad.lmf
form miss 'del l[5]["tensors"][1]'
check_exit "missing tensor" 1 lmf-pack -o o miss.lmf
check_grep "  names example and tensor" "example 4: no tensor 'labels'" \
	check.err
form dt 'l[3]["tensors"][0]["dtype"] = "f32"'
check_exit "wrong dtype" 1 lmf-pack -o o dt.lmf
check_grep "  names the dtype" "'input_ids' is f32, not i32" check.err
form shp 't = l[2]["tensors"][0]; t["shape"] = [1, len(t["data"])]'
check_exit "2-d input_ids" 1 lmf-pack -o o shp.lmf
form len 't = l[2]["tensors"][1]; t["data"] += [5]; t["shape"] = [len(t["data"])]'
check_exit "labels longer than input_ids" 1 lmf-pack -o o len.lmf
form voc 'l[2]["tensors"][0]["data"][0] = 500'
check_exit "id past the vocabulary" 1 lmf-pack -o o voc.lmf
form neg 'l[2]["tensors"][1]["data"][0] = -5'
check_exit "negative label" 1 lmf-pack -o o neg.lmf
form none 'l = [l[0], {"end": 0}]'
check_exit "no examples" 1 lmf-pack -o o none.lmf
form ex 'l[7]["tensors"].append({"name": "x", "dtype": "f32", "shape": [],
	"data": 1})'
check_exit "an extra tensor in one example only" 1 lmf-pack -o o ex.lmf
$PY -c "import json; l = [json.loads(x) for x in open('kto.jsonl')]
l[4]['tensors'][4]['data'] = 2
print('\n'.join(json.dumps(x) for x in l))" >tag.jsonl &&
	$PY "$T/dumpform.py" tag.jsonl >tag.lmf
check_exit "kto_tags not 0 or 1" 1 lmf-pack -o o tag.lmf
$PY -c "import json; l = [json.loads(x) for x in open('dpo.jsonl')]
l[4]['tensors'][5]['shape'] = [1]; l[4]['tensors'][5]['data'] = [1]
print('\n'.join(json.dumps(x) for x in l))" >shx.jsonl &&
	$PY "$T/dumpform.py" shx.jsonl >shx.lmf
check_exit "extra tensor of another shape" 1 lmf-pack -o o shx.lmf
check_exit "val_size leaving nothing to train" 1 lmf-pack --val_size 40 \
	--eval_output e -o o sft.lmf
check_exit "val_size 1.0" 1 lmf-pack --val_size 1 --eval_output e -o o sft.lmf
check "  and no eval file either" sh -c '! ls e e.* 2>/dev/null'
$PY "$T/packref.py" make pt 3 1 extra=1 >pe.jsonl &&
	sed -i 's/"stage": "pt"/"stage": "sft"/' pe.jsonl &&
	$PY "$T/dumpform.py" pe.jsonl >pe.lmf
check_exit "extra tensors and packing" 1 lmf-pack --packing -o o pe.lmf

# every stage against the reference
ref "sft batches" sft --per_device_train_batch_size 4 -- bs=4
ref "sft, pad_to_multiple_of 1, 2 epochs" sft --pad_to_multiple_of 1 \
	--num_train_epochs 2 -- multiple=1 epochs=2
ref "sft, fractional epochs round up" sft --num_train_epochs 1.2 -- epochs=2
ref "sft, disable_shuffling" sft --disable_shuffling true \
	--per_device_train_batch_size 3 -- bs=3 noshuffle=1
ref "pt batches (pad 1), carried tensors" pt \
	--per_device_train_batch_size 4 -- bs=4
ref "rm: chosen rows, then rejected rows" rm \
	--per_device_train_batch_size 4 -- bs=4
ref "dpo with reference log-probs carried" dpo \
	--per_device_train_batch_size 5 --pad_to_multiple_of 16 -- bs=5 \
	multiple=16
ref "kto: target, kl rows, tags" kto --per_device_train_batch_size 4 -- bs=4
ref "ppo: prompts and answers padded apart" ppo \
	--per_device_train_batch_size 4 -- bs=4
ref "val_size fraction" sft --val_size 0.25 --eval_output ev.lmf \
	--per_device_eval_batch_size 3 -- val=0.25 ebs=3
ref "val_size count, pairwise" dpo --val_size 7 --eval_output ev.lmf -- \
	val=7
ref "val_size with disable_shuffling" kto --val_size 0.1 \
	--eval_output ev.lmf --disable_shuffling -- val=0.1 noshuffle=1
ref "packing: greedy knapsack as LLaMA-Factory" pk --packing -- packing=1
check_grep "  packs" "packs 89" check.out
ref "packing in preprocessing batches of 41" pk --packing true \
	--preprocessing_batch_size 41 --per_device_train_batch_size 2 -- \
	packing=1 chunk=41 bs=2
ref "neat packing" pk --neat_packing --preprocessing_batch_size 50 -- \
	packing=1 neat=1 chunk=50
ref "packing, --cutoff_len 20, split" pk --packing --cutoff_len 20 \
	--val_size 0.2 --eval_output ev.lmf -- packing=1 cutoff=20 val=0.2
ref "packing from the header" pk --cutoff_len 17 -- packing=0
sed 's/"packing": false/"packing": true/' pk.jsonl >pkh.jsonl &&
	$PY "$T/dumpform.py" pkh.jsonl >pkh.lmf
ref "  ... when it says packing" pkh -- packing=1

# the header, determinism, pipes
check "header counts" sh -c 'lmf-pack -q --per_device_train_batch_size 3 \
	--num_train_epochs 2.5 --val_size 0.1 --eval_output ev.lmf sft.lmf |
	lmf-dump --json | head -1 >h.json'
check_grep "  num_batches" '"num_batches":36' h.json
check_grep "  batches_per_epoch" '"batches_per_epoch":12' h.json
check_grep "  num_train_epochs" '"num_train_epochs":2.5' h.json
check "same seed, same bytes" sh -c 'lmf-pack -q -l 0 sft.lmf >a &&
	lmf-pack -q -l 0 sft.lmf >b && cmp a b'
check "stdin in, the same batches" sh -c 'lmf-pack -q <sft.lmf >s &&
	lmf-dump --json s | tail -n +2 >s.j && lmf-dump --json a |
	tail -n +2 >a.j && cmp s.j a.j'
check "another seed, another order" sh -c 'lmf-pack -q -l 0 --seed 7 \
	sft.lmf >c && ! cmp -s a c'
check "summary line" sh -c 'lmf-pack -o o sft.lmf 2>&1 >/dev/null |
	grep -q "sft: 40 examples, 0 too long, 0 eval; 5 batches per epoch"'

# the whole pipeline on the project's data, every stage checked again
TOK=${SHARED:+$SHARED/tokenizers/qwen3}
for s in pt sft rm dpo kto ppo sft-neat; do
	case $s in
	pt) ds=text_demo,text_demo_txt ;;
	sft*|ppo) ds=alpaca_demo,identity,sharegpt_demo,toolcall_demo ;;
	rm|dpo) ds=dpo_demo,dpo_alpaca_demo ;;
	kto) ds=kto_demo ;;
	esac
	o="--val_size 0.2 --eval_output ev.lmf" k="val=0.2"
	[ $s = sft-neat ] && o=--neat_packing k="packing=1 neat=1"
	if [ ! -x "$TOP/lmf-tokenize" ] || [ ! -f "$TOK/tokenizer.json" ]; then
		skip "lmf-tokenize | lmf-pack, $s: no lmf-tokenize or tokenizer"
		continue
	fi
	lmf-tokenize -q --stage ${s%-neat} --dataset $ds --dataset_dir \
		"$TOP/data" --tokenizer "$TOK" --template qwen --cutoff_len 64 \
		-o tk.lmf && lmf-dump --json tk.lmf >tk.jsonl
	ref "lmf-tokenize | lmf-pack on data/, $s" tk \
		--per_device_train_batch_size 4 $o -- bs=4 $k
done
done_testing
