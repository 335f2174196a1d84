#!/bin/sh
# rm, dpo and kto evaluation through lmf train with eval_dataset: the eval
# rows tokenized on their own (dpo and kto scored by the reference too),
# and LLaMA-Factory's eval_ keys in trainer_log.jsonl (eval_loss at each
# evaluation), eval_results.json and all_results.json for each stage.
. "$(dirname "$0")/lib.sh"
plan 13
tiny_dir tiny
lmf-load -q --init --seed 1 tiny -o tiny/model.lmf
cat >base.yaml <<CFG
model_name_or_path: tiny/model.lmf
do_train: true
do_eval: true
finetuning_type: lora
lora_rank: 4
lora_target: all
dataset_dir: $TOP/data
template: llama3
cutoff_len: 64
max_samples: 4
per_device_train_batch_size: 2
per_device_eval_batch_size: 2
num_train_epochs: 2.0
learning_rate: 1.0e-3
logging_steps: 1
eval_strategy: steps
eval_steps: 2
overwrite_output_dir: true
CFG

# keys STAGE DIR KEY...: eval_results.json has the keys and all_results.json
# the same values (kto: and kl); trainer_log.jsonl has eval_loss at steps 2 and 4 and
# the final evaluation
keys() {
	python3 - "$@" <<'PY'
import json, sys
stage, d, want = sys.argv[1], sys.argv[2], sys.argv[3:]
r = json.load(open(d + "/eval_results.json"))
a = json.load(open(d + "/all_results.json"))
assert set(want + ["eval_runtime", "epoch"]) <= set(r), (want, list(r))
# kto's kl: LLaMA-Factory adds it unprefixed in evaluation too (spec 5.5)
extra = ["epoch", "kl"] if stage == "kto" else ["epoch"]
assert all(k.startswith("eval_") or k in extra for k in r), list(r)
assert stage != "kto" or "kl" in r, list(r)
assert all(a[k] == r[k] for k in want), (a, r)
ls = [json.loads(l) for l in open(d + "/trainer_log.jsonl")]
e = [l["current_steps"] for l in ls if "eval_loss" in l]
assert e == [2, 4, 4], e
PY
}

lmf train base.yaml stage=rm dataset=dpo_demo eval_dataset=dpo_alpaca_demo \
	output_dir=rm --dry_run >rm.dry 2>&1
check_grep "rm --dry_run: eval_dataset tokenized on its own" \
	"^lmf-tokenize --stage rm .*--dataset dpo_alpaca_demo" rm.dry
check "rm with eval_dataset" lmf train base.yaml stage=rm dataset=dpo_demo \
	eval_dataset=dpo_alpaca_demo output_dir=rm
check "  eval_loss, eval_accuracy" keys rm rm eval_loss eval_accuracy

lmf train base.yaml stage=dpo dataset=dpo_demo \
	eval_dataset=dpo_alpaca_demo output_dir=dpo --dry_run >dpo.dry 2>&1
check_grep "dpo --dry_run: the eval rows scored by the reference" \
	"^lmf-logps .*eval_scored.lmf.*eval_examples.lmf" dpo.dry
check "dpo with eval_dataset" lmf train base.yaml stage=dpo \
	dataset=dpo_demo eval_dataset=dpo_alpaca_demo output_dir=dpo
check "  eval_loss, eval_rewards/*, eval_logps/*, eval_logits/*" keys dpo \
	dpo eval_loss eval_rewards/chosen eval_rewards/rejected \
	eval_rewards/accuracies eval_rewards/margins eval_logps/chosen \
	eval_logps/rejected eval_logits/chosen eval_logits/rejected
lmf train base.yaml stage=dpo pref_loss=simpo dataset=dpo_demo \
	eval_dataset=dpo_alpaca_demo output_dir=simpo --dry_run >simpo.dry 2>&1
check "simpo --dry_run: no reference for the eval rows either" sh -c \
	'! grep -q lmf-logps simpo.dry &&
	grep -q "^lmf-pack .*--eval_only .*eval_examples.lmf" simpo.dry'

check "kto with eval_dataset" lmf train base.yaml stage=kto \
	dataset=kto_demo eval_dataset=kto_demo output_dir=kto
check "  eval_loss, eval_rewards/*, eval_logps/*, kl" keys kto kto \
	eval_loss eval_rewards/chosen eval_rewards/rejected \
	eval_rewards/margins eval_logps/chosen eval_logps/rejected
check "kto with val_size still splits" lmf train base.yaml stage=kto \
	dataset=kto_demo val_size=2 max_samples=6 output_dir=ktov
check "  eval_loss in its results" keys kto ktov eval_loss
check_exit "dpo: val_size with eval_dataset: exit 2" 2 lmf train base.yaml \
	stage=dpo dataset=dpo_demo eval_dataset=dpo_demo val_size=1 \
	output_dir=x --dry_run
check_exit "lmf-pack --eval_only with --val_size: exit 2" 2 lmf-pack \
	--eval_only --val_size 1 --eval_output e.lmf -o o.lmf /dev/null
done_testing
