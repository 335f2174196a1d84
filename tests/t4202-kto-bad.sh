#!/bin/sh
# lmf-kto and lmf-train-kto: man pages against --list-options, usage
# errors (exit 2) and bad input (exit 1), each one line on stderr: a kto
# dataset without the kto_tag column (LLaMA-Factory keeps no example of
# it), batches without reference log-probs, without KL rows, of another
# stage, a kto_tags value other than 0 or 1; and a dataset of one
# example, whose KL row is its own response (LLaMA-Factory's rotation by
# one), so that kl is max(its log-ratio, 0).
. "$(dirname "$0")/lib.sh"
plan 18
python3 "$TOP/tests/mkfeedback.py" . 16
python3 - <<'PY'
import json
rows = json.load(open("feedback.json"))
json.dump(rows[:1], open("one.json", "w"))
d = json.load(open("dataset_info.json"))
d["one"] = dict(d["fb"], file_name="one.json")
json.dump(d, open("dataset_info.json", "w"))
PY
cat >cfg.json <<'CFG'
{"model_type": "llama", "hidden_size": 32, "intermediate_size": 64,
 "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
 "vocab_size": 576, "max_position_embeddings": 256, "rms_norm_eps": 1e-6,
 "tie_word_embeddings": false}
CFG
lmf-load -q --init --config cfg.json -o m.lmf
tok() {
	lmf-tokenize -q --tokenizer "$TOP/tests/data/tok-bytelevel" \
	    --dataset_dir . --stage kto --template default "$@"
}
kto() { lmf-kto -q --model m.lmf --threads 1 "$@"; }

for t in lmf-kto; do
	man_flags $t >$t.man
	options_diff $t $t.man >$t.diff
	check "$t(1) OPTIONS are $t --list-options" sh -c \
		"test -s $t.man && ! test -s $t.diff"
done
check "lmf-kto(1), lmf-train-kto(1) pass mandoc -Tlint" mandoc -Tlint \
	-Wwarning "$TOP/man/lmf-kto.1" "$TOP/man/lmf-train-kto.1"

tok --dataset fb -o ex.lmf
lmf-logps -q --threads 1 --model m.lmf -o s.lmf ex.lmf
lmf-pack -q --per_device_train_batch_size 4 --num_train_epochs 1 -o b.lmf \
	s.lmf
lmf-pack -q --per_device_train_batch_size 4 --num_train_epochs 1 -o nb.lmf \
	ex.lmf
check_exit "an unknown option: exit 2" 2 kto --data b.lmf --pref_loss sigmoid
check_exit "--pref_beta 0: exit 2" 2 kto --data b.lmf --pref_beta 0
check_exit "a negative --kto_rejected_weight: exit 2" 2 kto --data b.lmf \
	--kto_rejected_weight -1
check_exit "a stray argument: exit 2" 2 kto --data b.lmf b.lmf
check_exit "a dataset without the kto_tag column: exit 1" 1 \
	tok --dataset fb_notag -o x.lmf
check_grep "  no example kept, the dataset named" "no examples.*fb_notag" \
	check.err
check_exit "batches without reference log-probs: exit 1" 1 \
	kto --data nb.lmf --max_steps 1 -o /dev/null
check_grep "  lmf-logps named" "ref_logps.*lmf-logps" check.err
lmf-dump --json b.lmf | python3 -c '
import json, sys
for line in sys.stdin:
    o = json.loads(line)
    if "tensors" in o:
        o["tensors"] = [t for t in o["tensors"]
                        if not t["name"].startswith("kl_")]
    print(json.dumps(o))' >nokl.json
lmf-dump -r -o nokl.lmf nokl.json
check_exit "batches without KL rows: exit 1" 1 \
	kto --data nokl.lmf --max_steps 1 -o /dev/null
lmf-dump --json b.lmf | python3 -c '
import json, sys
for line in sys.stdin:
    o = json.loads(line)
    for t in o.get("tensors", []):
        if t["name"] == "kto_tags":
            t["data"][0] = 5
    print(json.dumps(o))' >tag5.json
lmf-dump -r -o tag5.lmf tag5.json
check_exit "a kto_tags value other than 0 or 1 (an edited stream): exit 1" \
	1 kto --data tag5.lmf --max_steps 1 -o /dev/null
check_grep "  naming it" "kto_tags 5 is not 0 or 1" check.err
python3 "$TOP/tests/mkpref.py" pref 8
lmf-tokenize -q --tokenizer "$TOP/tests/data/tok-bytelevel" \
	--dataset_dir pref --dataset pref --stage dpo --template default |
	lmf-logps -q --threads 1 --model m.lmf | lmf-pack -q -o dpo.lmf
check_exit "dpo batches: exit 1" 1 kto --data dpo.lmf -o /dev/null
check_exit "a corrupt batches stream: exit 1" 1 sh -c \
	'head -c 300 b.lmf >cut.lmf; lmf-kto -q --model m.lmf --data cut.lmf \
	-o /dev/null'

# one example: a policy moved by two steps, the reference the initial
# model; the KL row is the example's own, so kl = max(u, 0) exactly
kto --data b.lmf --finetuning_type full --learning_rate 1e-2 --max_steps 2 \
	-o p.lmf
tok --dataset one -o one.lmf 2>one.err
check "a dataset of one example: one example, its KL row its own" \
	python3 -c '
import json, subprocess, sys
o = [json.loads(l) for l in subprocess.run(["lmf-dump", "--json",
     "one.lmf"], capture_output=True, text=True).stdout.splitlines()]
t = {x["name"]: x["data"] for x in o[1]["tensors"]}
sys.exit(not (len(o) == 3 and t["input_ids"] == t["kl_input_ids"]))'
check "  lmf-kto trains on it, a batch of one" sh -c \
	'lmf-logps -q --threads 1 --model m.lmf one.lmf |
	lmf-pack -q --num_train_epochs 1 |
	lmf-kto -q --model p.lmf --threads 1 --finetuning_type full \
	--pref_beta 0.5 --dump_grads g.lmf'
check "  kl = max(rewards / beta, 0) > 0" python3 -c '
import json, subprocess, sys
o = [json.loads(l) for l in subprocess.run(["lmf-dump", "--json",
     "g.lmf"], capture_output=True, text=True).stdout.splitlines()]
t = {x["name"]: sum([x["data"]], [])[0] for x in o[1]["tensors"]
     if not x["shape"]}
u = t["rewards/chosen_sum"] / 0.5
print(t["kl"], u)
sys.exit(not (t["count/chosen"] == 1 and u > 0 and
              abs(t["kl"] - u) <= 1e-5 * abs(u)))'
done_testing
