#!/bin/sh
# lmf-ppo's input: the stop ids, the eos and the tokenizer's additional
# special tokens (LLaMA-Factory's eos_token_id = [eos] +
# additional_special_tokens_ids), carried from lmf-tokenize --stage ppo in
# the batches' meta; prompts longer than that cutoff_len (lmf-tokenize
# truncates them, so another tool made them) and a reward model of another
# vocabulary refused in one line.
. "$(dirname "$0")/lib.sh"
plan 10
byte_model
pref_data 8 64
lmf-pack -q --per_device_train_batch_size 4 -o rtr.lmf rex.lmf
lmf-rm -q --model m.lmf --data rtr.lmf --threads 1 --finetuning_type full \
	--max_steps 1 -o rm.lmf
ppo_prompts
# the first response token of row 0 and that row's length, from a dump
first() {
	lmf-dump --json "$1" | python3 -c '
import json, sys
sys.stdin.readline()
t = {x["name"]: x for x in json.loads(sys.stdin.readline())["tensors"]}
q = t["query_len"]["data"][0]
print(t["input_ids"]["data"][q], t["response_len"]["data"][0])'
}
ppo() { lmf-ppo --model m.lmf --data "$1" --reward_model rm.lmf \
	--reward_model_type full --threads 1 --max_new_tokens 6 \
	--dump_step "$2"; }
lmf-tokenize -q --tokenizer "$tok" --dataset_dir ds --dataset prompts \
	--stage ppo --cutoff_len 64 -o pex.lmf
lmf-pack -q --per_device_train_batch_size 4 -o p.lmf pex.lmf
ppo p.lmf d1.lmf
set -- $(first d1.lmf)
id=$1
# the same tokenizer with that token as an additional special token
mkdir tok2
cp "$tok"/* tok2/
python3 - "$id" <<'PY'
import json, sys
v = json.load(open('tok2/tokenizer.json'))['model']['vocab']
w = [k for k, i in v.items() if i == int(sys.argv[1])][0]
c = json.load(open('tok2/tokenizer_config.json'))
c['additional_special_tokens'] = [w]
json.dump(c, open('tok2/tokenizer_config.json', 'w'))
PY
lmf-tokenize -q --tokenizer tok2 --dataset_dir ds --dataset prompts \
	--stage ppo --cutoff_len 64 -o pex2.lmf
lmf-pack -q --per_device_train_batch_size 4 -o p2.lmf pex2.lmf

n1=$2
ppo p2.lmf d2.lmf
set -- $(first d2.lmf)

check "without it, row 0 runs past its first token" test "$n1" -gt 1
check "lmf-tokenize writes additional_special_tokens_ids" sh -c \
	"lmf-dump --meta pex2.lmf | grep -q 'additional_special_tokens_ids.*$id'"
check "lmf-pack keeps them" sh -c \
	"lmf-dump --meta p2.lmf | grep -q 'additional_special_tokens_ids.*$id'"
check "generation stops at it" test "$1 $2" = "$id 1"
lmf-dump --json p.lmf | sed 's/"cutoff_len":64/"cutoff_len":4/' |
	lmf-dump -r -o long.lmf
sed 's/"vocab_size": 576/"vocab_size": 600/' cfg.json >cfg2.json
lmf-load -q --init --config cfg2.json -o m2.lmf
lmf-rm -q --model m2.lmf --data rtr.lmf --threads 1 --finetuning_type full \
	--max_steps 1 -o rm2.lmf
bad() { lmf-ppo --model m.lmf --threads 1 --max_new_tokens 2 \
	--reward_model_type full --dump_step x.lmf "$@"; }
bad --data long.lmf --reward_model rm.lmf 2>e1.txt
bad --data p.lmf --reward_model rm2.lmf 2>e2.txt
check_exit "prompts longer than cutoff_len" 1 bad --data long.lmf \
	--reward_model rm.lmf
check "in one line naming it" sh -c 'test "$(wc -l <e1.txt)" = 1 &&
	grep -q "row 0: a prompt of .* tokens, longer than cutoff_len 4" e1.txt'
check_exit "a reward model of another vocabulary" 1 bad --data p.lmf \
	--reward_model rm2.lmf
check "in one line naming it" sh -c 'test "$(wc -l <e2.txt)" = 1 &&
	grep -q "vocabulary (600) is not the policy.s (576)" e2.txt'
man_flags lmf-ppo >man.txt
options_diff lmf-ppo man.txt >diff.txt
check "lmf-ppo(1) OPTIONS are lmf-ppo --list-options" sh -c \
	"test -s man.txt && ! test -s diff.txt"
check "lmf-ppo(1) passes mandoc -Tlint" mandoc -Tlint -Wwarning \
	"$TOP/man/lmf-ppo.1"
done_testing
