#!/bin/sh
# lmf train --stage rm with do_predict (LLaMA-Factory's key, with the
# eval split of val_size): the run writes generated_predictions.jsonl in
# LLaMA-Factory's form, one line per eval example with its chosen and
# rejected scores; the sft stage refuses do_predict (not implemented
# there) instead of ignoring it.
. "$(dirname "$0")/lib.sh"
plan 6
mkdir mdl
cp "$TOP"/tests/data/tok-bytelevel/* mdl/
cat >mdl/config.json <<'CFG'
{"architectures": ["LlamaForCausalLM"], "model_type": "llama",
 "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
 "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 576,
 "max_position_embeddings": 128, "rms_norm_eps": 1e-6,
 "tie_word_embeddings": false}
CFG
python3 "$TOP/tests/mkpref.py" ds 40
cat >rm.yaml <<'Y'
model_name_or_path: mdl
train_from_scratch: true
stage: rm
do_train: true
do_predict: true
finetuning_type: full
dataset: pref
dataset_dir: ds
template: empty
cutoff_len: 64
val_size: 0.25
per_device_train_batch_size: 8
per_device_eval_batch_size: 4
num_train_epochs: 1
output_dir: out
Y
check "lmf train rm.yaml with do_predict" lmf train rm.yaml
check "  generated_predictions.jsonl written" test -s out/generated_predictions.jsonl
check "  one line per eval example (10), each {chosen, rejected}" python3 -c '
import json, sys
t = open("out/generated_predictions.jsonl").read()
rows = [json.loads(l) for l in t.split("\n")]
ok = len(rows) == 10 and all(sorted(r) == ["chosen", "rejected"] and
    all(isinstance(v, float) for v in r.values()) for r in rows)
sys.exit(not ok)'
check "  predict_results.json as Trainer.predict's, merged into all_results" \
	python3 -c '
import json, sys
p = json.load(open("out/predict_results.json"))
a = json.load(open("out/all_results.json"))
want = {"predict_loss", "predict_accuracy", "predict_runtime",
        "predict_samples_per_second", "predict_steps_per_second"}
h = json.load(open("out/trainer_state.json"))["log_history"]
sys.exit(not (set(p) == want and all(a[k] == p[k] for k in p) and
              "train_loss" in a and
              not any("predict_loss" in e for e in h)))'
sed 's/^stage: rm/stage: sft/; s/^output_dir: out/output_dir: sft/' rm.yaml >sft.yaml
check_exit "stage sft refuses do_predict: exit 2" 2 lmf train sft.yaml
check "  and writes no output_dir" test ! -e sft
done_testing
