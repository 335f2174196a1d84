#!/bin/sh
# Defects found by a bad-input audit (2026-12-08): a failing lmf-eval
# left --dump_ids / --dump_prompts empty (now written atomically); the
# two dumps, or lmf-pack's -o and --eval_output, naming one file under
# other spellings (./x, dir/../x, a symbolic or hard link) wrote one over
# the other (now a usage error); lmf-ppo aborted on a reference of
# another vocabulary and crashed on a pad_token_id outside the vocabulary
# (now one line, exit 1), ignored --ref_model under LoRA (LLaMA-Factory
# uses it) and `lmf train` dropped ref_model, ref_model_adapters and
# reward_model_adapters for stage ppo.
. "$(dirname "$0")/lib.sh"
plan 19
tok=$TOP/tests/data/tok-bytelevel
mkdir mt
cp "$tok"/* mt/
byte_model
cp cfg.json mt/config.json
lmf-load -q --init mt -o mt.lmf

# lmf-eval: the dumps of a failing run
cp -r "$TOP/data/eval/lmfdemo" bt
printf 'q,a,b,c,A\n' >>bt/data/test/unix_tools_test.csv
echo precious >ids.txt
echo precious >pr.txt
set -- -q --threads 1 --model mt.lmf --template qwen
check_exit "lmf-eval on a bad csv: exit 1" 1 lmf-eval "$@" --task_dir . \
	--task bt_test --dump_ids ids.txt --dump_prompts pr.txt
check "  --dump_ids and --dump_prompts as they were" sh -c \
	'test "$(cat ids.txt pr.txt)" = "$(printf "precious\nprecious")"'
check "  no temporary file left" sh -c '! ls -a | grep -q "tmp"'
check_exit "lmf-eval: the two dumps one file (./s.txt): usage" 2 \
	lmf-eval "$@" --task_dir "$TOP/data/eval" --task lmfdemo_test \
	--dump_ids s.txt --dump_prompts ./s.txt
check "lmf-eval: both dumps written" sh -c "lmf-eval $* \
	--task_dir '$TOP/data/eval' --task lmfdemo_test --dump_ids s.txt \
	--dump_prompts s2.txt >/dev/null && test -s s.txt -a -s s2.txt"

# lmf-pack: -o and --eval_output
pref_data 16 64
set -- -q --val_size 0.25 rex.lmf
check_exit "lmf-pack: --eval_output ./a.lmf, -o a.lmf: usage" 2 \
	lmf-pack "$@" --eval_output ./a.lmf -o a.lmf
mkdir sub
check_exit "  sub/../a.lmf: usage" 2 lmf-pack "$@" \
	--eval_output sub/../a.lmf -o a.lmf
ln -s a.lmf al.lmf
check_exit "  a symbolic link to -o (dangling): usage" 2 lmf-pack "$@" \
	--eval_output al.lmf -o a.lmf
check "  other files: both written" sh -c "lmf-pack $* --eval_output \
	e.lmf -o a.lmf && lmf-dump e.lmf | grep -q 'split: \"eval\"'"
ln a.lmf hard.lmf
check_exit "  a hard link to -o: usage" 2 lmf-pack "$@" \
	--eval_output hard.lmf -o a.lmf

# lmf-ppo: the reference and the pad id
ppo_data 16
small_llama 1 100 128
mv m.lmf m100.lmf
byte_model
set -- -q --model m.lmf --reward_model rm.lmf --reward_model_type full \
	--threads 1 --max_new_tokens 4 --max_steps 1
check_exit "lmf-ppo: a reference of another vocabulary: exit 1" 1 \
	lmf-ppo "$@" --data p.lmf --finetuning_type full \
	--ref_model m100.lmf -o x.lmf
check_grep "  saying so" "vocabulary (100) is not the policy's (576)" \
	check.err
lmf-dump --json p.lmf | sed '1s/"pad_token_id":[0-9]*/"pad_token_id":-1/' |
	lmf-dump -r -o pneg.lmf
check_exit "lmf-ppo: pad_token_id -1 in the batches: exit 1" 1 \
	lmf-ppo "$@" --data pneg.lmf -o x.lmf
check_grep "  naming it" "pad_token_id -1 is outside the vocabulary" \
	check.err
# LoRA with --ref_model: the reference is that model (LLaMA-Factory's
# create_ref_model), not the policy with its adapter off
lmf-load -q --init --seed 7 --config cfg.json -o other.lmf
lmf-ppo "$@" --data p.lmf --dump_step d0.lmf
lmf-ppo "$@" --data p.lmf --ref_model other.lmf --dump_step d1.lmf
lmf-ppo "$@" --data p.lmf --ref_model m.lmf --dump_step d2.lmf
reflp() {
	lmf-dump --json "$1" | python3 -c '
import json, sys
for line in sys.stdin:
    for t in json.loads(line).get("tensors", []):
        if t["name"] == "ref_logprobs":
            print(" ".join(map(str, t["data"])))'
}
reflp d0.lmf >r0
reflp d1.lmf >r1
reflp d2.lmf >r2
check "  lora + --ref_model: another model's log-probs, the base's the same" \
	python3 -c '
a, b, c = ([float(x) for x in open(f).read().split()] for f in
           ("r0", "r1", "r2"))
assert len(a) == len(b) == len(c) > 8
assert max(abs(x - z) for x, z in zip(a, c)) < 1e-5
assert max(abs(x - y) for x, y in zip(a, b)) > 1e-3'
check_exit "lmf-ppo: --ref_model_adapters without --ref_model: usage" 2 \
	lmf-ppo "$@" --data p.lmf --ref_model_adapters x.lmf -o x.lmf

# lmf train: the keys reach lmf-ppo
cat >ppo.yaml <<Y
model_name_or_path: m.lmf
reward_model: rm.lmf
reward_model_type: full
ref_model: other.lmf
stage: ppo
do_train: true
finetuning_type: full
dataset: prompts
dataset_dir: ds
template: qwen
cutoff_len: 64
output_dir: out
Y
lmf train ppo.yaml --dry_run >dry.txt 2>dry.err
check_grep "lmf train --dry_run: lmf-ppo gets --ref_model" \
	"^lmf-ppo .*--ref_model other.lmf" dry.txt
check "  and says nothing of unused keys" sh -c '! grep -q "not used" dry.err'
check_exit "  a missing ref_model: exit 1" 1 lmf train ppo.yaml \
	ref_model=nosuch.lmf --dry_run
done_testing
