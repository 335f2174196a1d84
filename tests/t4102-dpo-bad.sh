#!/bin/sh
# lmf-logps and lmf-dpo: man pages against --list-options, usage errors
# (exit 2) and bad input (exit 1), each one line on stderr: an unknown
# pref_loss, label smoothing or bco with a loss that cannot take it,
# batches without the reference log-probs a loss needs, a reference model
# of another vocabulary; and lmf-logps's stream: reference tensors added,
# everything else passed through, rescoring replaces them.
. "$(dirname "$0")/lib.sh"
plan 28
tiny_model
sed 's/"vocab_size": 64/"vocab_size": 80/' cfg.json >cfg80.json
lmf-load -q --init --config cfg80.json -o m80.lmf
python3 - <<'PY'
import json, random
rnd = random.Random(3)
ex = [{"instruction": "q%d" % i, "input": "", "chosen": "a%d" % i,
       "rejected": "b%d" % (i * 7)} for i in range(6)]
json.dump(ex, open("pairs.json", "w"))
json.dump({"pairs": {"file_name": "pairs.json", "ranking": True,
           "columns": {"prompt": "instruction", "query": "input",
                       "chosen": "chosen", "rejected": "rejected"}}},
          open("dataset_info.json", "w"))
PY
# a 64-token vocabulary: the bytes' ids are remapped below 64 by hand
lmf-tokenize -q --tokenizer "$TOP/tests/data/tok-bytelevel" --dataset_dir . \
	--dataset pairs --stage dpo --template empty -o ex0.lmf
lmf-dump --json ex0.lmf | python3 -c '
import json, sys
for line in sys.stdin:
    o = json.loads(line)
    if "meta" in o:
        o["meta"]["vocab_size"] = 64
        o["meta"]["pad_token_id"] = 0
    for t in o.get("tensors", []):
        t["data"] = [x if x < 0 else x % 60 + 3 for x in t["data"]]
    print(json.dumps(o))' >ex.json
lmf-dump -r ex.json >ex.lmf

for t in lmf-logps lmf-dpo; do
	man_flags $t >$t.man
	options_diff $t $t.man >$t.diff
	check "$t(1) OPTIONS are $t --list-options" sh -c \
		"test -s $t.man && ! test -s $t.diff"
	check "$t(1) passes mandoc -Tlint" mandoc -Tlint -Wwarning \
		"$TOP/man/$t.1"
done

check "lmf-logps scores the pairs" lmf-logps -q --threads 1 --model m.lmf \
	-o s.lmf ex.lmf
lmf-dump s.lmf >s.txt
check_grep "  chosen_ref_logps, a f32 scalar" "chosen_ref_logps f32 \[\]" s.txt
check_grep "  rejected_ref_logps_avg" "rejected_ref_logps_avg f32 \[\]" s.txt
check_grep "  the header says so" "ref_logps: true" s.txt
check "  the rest passes through unchanged" sh -c '
	lmf-dump --json ex.lmf | tail -n +2 >a.json
	lmf-dump --json s.lmf | tail -n +2 | python3 -c "
import json, sys
for line in sys.stdin:
    o = json.loads(line)
    if \"tensors\" in o:
        o[\"tensors\"] = [t for t in o[\"tensors\"]
                          if \"ref_logps\" not in t[\"name\"]]
    print(json.dumps(o))" >b.json
	python3 -c "
import json, sys
a = [json.loads(l) for l in open(\"a.json\")]
b = [json.loads(l) for l in open(\"b.json\")]
sys.exit(a != b)"'
check "  --batch_size 4: the same values, to float32 rounding" sh -c '
	lmf-logps -q --threads 1 --batch_size 4 --model m.lmf -o s4.lmf ex.lmf &&
	lmf-dump --json s.lmf >j1 && lmf-dump --json s4.lmf >j4 &&
	python3 -c "
import json, sys
def vals(p):
    return [(t[\"name\"], t[\"data\"][0]) for l in open(p)
            for t in json.loads(l).get(\"tensors\", [])
            if \"ref_logps\" in t[\"name\"]]
a, b = vals(\"j1\"), vals(\"j4\")
sys.exit(not (len(a) == 24 and [x[0] for x in a] == [x[0] for x in b] and
              all(abs(x[1] - y[1]) <= 1e-5 * max(1, abs(x[1]))
                  for x, y in zip(a, b))))"'
check "  rescoring replaces the values, adds nothing" sh -c '
	lmf-logps -q --threads 1 --model m.lmf -o s2.lmf s.lmf &&
	lmf-dump s2.lmf | grep -c ref_logps >n2 &&
	lmf-dump s.lmf | grep -c ref_logps >n1 && cmp n1 n2'
# the pairs as kto examples: chosen the target, rejected the KL sequence
lmf-dump --json ex.lmf | python3 -c '
import json, sys
ren = {"chosen_input_ids": "input_ids", "chosen_labels": "labels",
       "rejected_input_ids": "kl_input_ids", "rejected_labels": "kl_labels"}
for line in sys.stdin:
    o = json.loads(line)
    if "meta" in o:
        o["meta"]["stage"] = "kto"
    if "tensors" in o:
        for t in o["tensors"]:
            t["name"] = ren[t["name"]]
        o["tensors"].append({"name": "kto_tags", "dtype": "i32",
                             "shape": [1], "data": [1]})
    print(json.dumps(o))' >k.json
lmf-dump -r k.json >k.lmf
lmf-logps -q --threads 1 --model m.lmf k.lmf | lmf-dump >k.txt 2>&1
check_grep "kto examples: ref_logps" "^  ref_logps f32 \[\]" k.txt
check_grep "  and kl_ref_logps_avg" "^  kl_ref_logps_avg f32 \[\]" k.txt
lmf-pack -q --disable_shuffling --per_device_train_batch_size 3 -o b.lmf \
	s.lmf
lmf-pack -q --disable_shuffling --per_device_train_batch_size 3 -o nb.lmf \
	ex.lmf
dpo() { lmf-dpo -q --model m.lmf --threads 1 --max_steps 1 -o out.lmf "$@"; }

# dumped, edited (the reference's chosen log-probs raised by 5, so every
# reward of chosen drops by beta 5 = 0.5) and fed back
lmf-dump --json s.lmf | python3 -c '
import json, sys
for line in sys.stdin:
    o = json.loads(line)
    for t in o.get("tensors", []):
        if t["name"] == "chosen_ref_logps":
            t["data"] = [x + 5 for x in t["data"]]
    print(json.dumps(o))' >e.json
lmf-dump -r e.json | lmf-pack -q --disable_shuffling \
	--per_device_train_batch_size 3 -o eb.lmf
reward() {
	lmf-dpo -q --model m.lmf --threads 1 --data "$1" --dump_grads - |
	    lmf-dump - | sed -n 's/^  rewards\/chosen f64 \[\] \[\([^]]*\)\].*/\1/p'
}
check "an edited reference moves the rewards by beta times the edit" \
	python3 -c 'import sys; a, b = map(float, sys.argv[1:]); \
	sys.exit(not abs((a - b) - 0.5) < 1e-4)' "$(reward b.lmf)" \
	"$(reward eb.lmf)"

check_exit "lmf-logps without --model: exit 2" 2 lmf-logps ex.lmf
check_exit "lmf-logps with a stray argument: exit 2" 2 lmf-logps \
	--model m.lmf ex.lmf ex.lmf
check_exit "lmf-logps on a corrupt examples stream: exit 1" 1 sh -c \
	'head -c 200 ex.lmf >cutex.lmf; lmf-logps -q --model m.lmf cutex.lmf \
	>/dev/null'
sed 's/"vocab_size": 64/"vocab_size": 48/' cfg.json >cfg48.json
lmf-load -q --init --config cfg48.json -o m48.lmf
check_exit "lmf-logps: a reference vocabulary too small: exit 1" 1 lmf-logps -q --model m48.lmf ex.lmf
check_grep "  naming both sizes" "64 tokens, more than.*48" check.err
check_exit "lmf-logps on an sft stream: exit 1" 1 sh -c \
	'lmf-tokenize -q --tokenizer "$TOP/tests/data/tok-bytelevel" \
	--dataset_dir "$TOP/data" --dataset alpaca_demo --stage sft \
	--template empty --max_samples 2 | lmf-logps -q --model m.lmf'
check_exit "an unknown --pref_loss: exit 2" 2 dpo --data b.lmf \
	--pref_loss dpo
check_exit "label smoothing with hinge: exit 2" 2 dpo --data b.lmf \
	--pref_loss hinge --dpo_label_smoothing 0.1
check_exit "bco with simpo: exit 2" 2 dpo --data nb.lmf --pref_loss simpo \
	--pref_bco_weight 0.5
check_exit "sigmoid on batches without reference log-probs: exit 1" 1 \
	dpo --data nb.lmf
check_grep "  naming the tensor and lmf-logps" \
	"no reference log-probs 'chosen_ref_logps'.*lmf-logps" check.err
check_exit "reference log-probs of another vocabulary: exit 1" 1 \
	lmf-dpo -q --model m80.lmf --threads 1 --data b.lmf -o out.lmf
check "orpo on the same batches needs none" dpo --data nb.lmf \
	--pref_loss orpo --finetuning_type full
check_exit "a corrupt batches stream: exit 1" 1 sh -c \
	'head -c 300 b.lmf >cut.lmf; lmf-dpo -q --model m.lmf --data cut.lmf \
	--max_steps 1 -o out.lmf'
done_testing
