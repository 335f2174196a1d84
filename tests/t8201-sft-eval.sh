#!/bin/sh
# sft evaluation through lmf train: eval_dataset as its own eval set
# (tokenized on its own, batched whole in order by lmf-pack --eval_only);
# compute_accuracy's eval_accuracy equal to the token accuracy that
# lmf-generate's greedy next tokens give on the same rows; do_eval with
# predict_with_generate: eval_bleu-4 and eval_rouge-* (no eval_loss) at
# each evaluation and at the end, training left as it was, the final
# scores equal to do_predict's; a missing jieba dictionary refused before
# training; LLaMA-Factory's refused combinations.
. "$(dirname "$0")/lib.sh"
plan 23
tiny_dir tiny
cat >sft.yaml <<CFG
model_name_or_path: tiny
train_from_scratch: true
stage: sft
do_train: true
finetuning_type: lora
lora_rank: 8
lora_target: all
dataset: identity
eval_dataset: alpaca_demo
dataset_dir: $TOP/data
template: llama3
cutoff_len: 48
max_samples: 6
per_device_eval_batch_size: 4
output_dir: out
logging_steps: 2
overwrite_output_dir: true
per_device_train_batch_size: 2
learning_rate: 5.0e-3
num_train_epochs: 2.0
max_new_tokens: 8
do_sample: false
CFG

lmf train sft.yaml --dry_run >dry.txt 2>&1
check_grep "--dry_run: eval_dataset tokenized on its own" \
	"^lmf-tokenize --stage sft .*--dataset alpaca_demo -o .*eval_examples" \
	dry.txt
check_grep "  and batched whole" "^lmf-pack .*--eval_only" dry.txt
check "do_eval, compute_accuracy, eval_strategy steps" lmf train sft.yaml \
	do_eval=true compute_accuracy=true eval_strategy=steps eval_steps=3 \
	plot_loss=true
check "  plot_loss: eval_accuracy plotted too" test -s \
	out/training_eval_accuracy.png -a -s out/training_eval_loss.png
check "  eval_results.json: eval_loss, eval_accuracy" python3 -c '
import json
r = json.load(open("out/eval_results.json"))
assert {"eval_loss", "eval_accuracy", "eval_runtime"} <= set(r), r
assert 0 <= r["eval_accuracy"] <= 1, r
a = json.load(open("out/all_results.json"))
assert a["eval_accuracy"] == r["eval_accuracy"]'
check "  trainer_log.jsonl: eval_loss at steps 3 and 6" python3 -c '
import json
ls = [json.loads(l) for l in open("out/trainer_log.jsonl")]
e = [l["current_steps"] for l in ls if "eval_loss" in l]
assert e == [3, 6, 6], e'

# the eval rows, and each label token's greedy prediction from its prefix
lmf-tokenize --stage sft --tokenizer tiny --template llama3 \
	--dataset alpaca_demo --dataset_dir "$TOP/data" --cutoff_len 48 \
	--max_samples 6 -q -o ev.lmf
lmf-pack -q --eval_only --per_device_eval_batch_size 4 -o evb.lmf ev.lmf
lmf-dump -j evb.lmf | python3 -c '
import json, sys
rows = []
for line in sys.stdin:
    o = json.loads(line)
    if "tensors" not in o:
        continue
    t = {x["name"]: x for x in o["tensors"]}
    B, T = t["input_ids"]["shape"]
    ids, lab = t["input_ids"]["data"], t["labels"]["data"]
    for i in range(B):
        rows.append((ids[i * T:(i + 1) * T], lab[i * T:(i + 1) * T]))
json.dump(rows, open("rows.json", "w"))
for ids, lab in rows:
    for t in range(1, len(lab)):
        if lab[t] != -100:
            print("--prompt_ids", ",".join(map(str, ids[:t])))' >args
check "  lmf-pack --eval_only: the 6 rows in order" python3 -c '
import json
assert len(json.load(open("rows.json"))) == 6'
lmf-load -q --init --seed 42 tiny -o model.lmf
check "lmf-generate: one greedy token after each label prefix" sh -c \
	'lmf-generate --model model.lmf --adapter out/adapter.lmf $(cat args) \
	--max_new_tokens 1 --do_sample false --output_format ids >next.txt'
check "  eval_accuracy is the mean of the rows' token accuracies" python3 -c '
import json
rows = json.load(open("rows.json"))
nxt = [int(l.split()[0]) if l.split() else -1 for l in open("next.txt")]
k, acc = 0, []
for ids, lab in rows:
    n = ok = 0
    for t in range(1, len(lab)):
        if lab[t] != -100:
            n += 1; ok += nxt[k] == lab[t]; k += 1
    acc.append(ok / n)
assert k == len(nxt), (k, len(nxt))
want = sum(acc) / len(acc)
got = json.load(open("out/eval_results.json"))["eval_accuracy"]
assert abs(got - want) < 1e-9, (got, want)'

check "do_eval with predict_with_generate, do_predict, steps" lmf train \
	sft.yaml output_dir=gen do_eval=true predict_with_generate=true \
	do_predict=true eval_strategy=steps eval_steps=3
check "  eval_results.json: eval_bleu-4, eval_rouge-*, no eval_loss" \
	python3 -c '
import json
r = json.load(open("gen/eval_results.json"))
k = ["eval_bleu-4", "eval_rouge-1", "eval_rouge-2", "eval_rouge-l"]
assert set(k) <= set(r) and "eval_loss" not in r, r
a = json.load(open("gen/all_results.json"))
assert all(a[x] == r[x] for x in k)
p = json.load(open("gen/predict_results.json"))
assert all(p["predict" + x[4:]] == r[x] for x in k), (p, r)'
# evaluations at 3 and 6, the end of training's line (t9103), the final
# evaluation
check "  trainer_log.jsonl: evaluations at steps 3 and 6 without a loss" \
	python3 -c '
import json
ls = [json.loads(l) for l in open("gen/trainer_log.jsonl")]
e = [l["current_steps"] for l in ls if "loss" not in l]
assert e == [3, 6, 6, 6], e
assert not any("eval_loss" in l for l in ls)'
check "  the predictions: the 6 eval_dataset rows" python3 -c '
import json
ls = [json.loads(l) for l in open("gen/generated_predictions.jsonl")]
d = json.load(open("'"$TOP"'/data/alpaca_demo.json"))
assert len(ls) == 6, len(ls)
outs = [x["output"] for x in d[:6]]
assert all(l["label"] and l["label"] in [o[:len(l["label"])] for o in outs]
           for l in ls), [l["label"] for l in ls]'
check "  trains as without the evaluations" sh -c 'lmf train sft.yaml \
	output_dir=plain >/dev/null 2>&1 &&
	cmp gen/adapter_model.safetensors plain/adapter_model.safetensors'
check "do_predict with eval_dataset, without do_eval" lmf train sft.yaml \
	output_dir=pred predict_with_generate=true do_predict=true
check "  and no evaluation (LLaMA-Factory's: no do_eval)" test ! -e \
	pred/eval_results.json
check "  predict_results.json as with do_eval" python3 -c '
import json
a = json.load(open("pred/predict_results.json"))
b = json.load(open("gen/predict_results.json"))
assert all(a[k] == b[k] for k in a if "runtime" not in k and
           "per_second" not in k), (a, b)'
check_exit "val_size with eval_dataset: exit 2" 2 lmf train sft.yaml \
	val_size=2 --dry_run
check_grep "  says so" "val_size" check.err
check_exit "compute_accuracy with predict_with_generate: exit 2" 2 \
	lmf train sft.yaml compute_accuracy=true predict_with_generate=true \
	--dry_run
check_exit "lmf-sft --predict_with_generate with training batches" 1 \
	lmf-sft --model model.lmf --data evb.lmf --eval_data evb.lmf \
	--predict_with_generate --output_dir bad --max_steps 1
lmf-tokenize --stage sft --predict_with_generate --tokenizer tiny \
	--template llama3 --dataset alpaca_demo --dataset_dir "$TOP/data" \
	--cutoff_len 48 --max_samples 6 -q -o evp.lmf
lmf-pack -q --eval_only -o evpb.lmf evp.lmf
lmf-pack -q -o tr.lmf ev.lmf
check_exit "generating evaluations without jieba's dictionary: exit 1" 1 \
	lmf-sft -q --model model.lmf --data tr.lmf --eval_data evpb.lmf \
	--predict_with_generate --jieba_dir nowhere --output_dir nj \
	--eval_strategy steps --eval_steps 2 --logging_steps 1
check "  before training: no step logged, no adapter" test \
	! -e nj/adapter.lmf -a ! -s nj/trainer_log.jsonl
done_testing
