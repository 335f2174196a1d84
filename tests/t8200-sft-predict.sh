#!/bin/sh
# sft predict with predict_with_generate through lmf train: a tiny LoRA
# model trained on data/identity, the val_size split generated for;
# generated_predictions.jsonl and predict_results.json as LLaMA-Factory
# writes them, the scores equal lmf-similarity's on the written file, the
# greedy predictions equal lmf-generate's on the same prompts and model;
# predict_with_generate alone leaves training as it was; do_predict
# without it is refused.
. "$(dirname "$0")/lib.sh"
plan 14
tiny_dir tiny
identity_yaml
cat >>sft.yaml <<CFG
logging_steps: 2
num_train_epochs: 2.0
max_new_tokens: 16
do_sample: false
CFG

check "lmf train with do_predict, predict_with_generate" lmf train sft.yaml \
	do_predict=true predict_with_generate=true
check "  generated_predictions.jsonl: 6 lines of prompt, predict, label" \
	python3 -c '
import json, sys
ls = open("out/generated_predictions.jsonl", encoding="utf-8").read()
assert ls.endswith("\n")
ls = ls.split("\n")[:-1]
assert len(ls) == 6, len(ls)
for l in ls:
    o = json.loads(l)
    assert list(o) == ["prompt", "predict", "label"], list(o)
    assert l == json.dumps(o, ensure_ascii=False), l
    assert o["prompt"].startswith("<|start_header_id|>user"), o["prompt"]
    assert o["label"] and "<|eot_id|>" not in o["label"]'
check "  predict_results.json: the metrics and runtime keys" python3 -c '
import json
r = json.load(open("out/predict_results.json"))
k = ["predict_bleu-4", "predict_rouge-1", "predict_rouge-2",
     "predict_rouge-l", "predict_runtime", "predict_samples_per_second",
     "predict_steps_per_second"]
assert list(r) == k, list(r)
a = json.load(open("out/all_results.json"))
assert all(a[x] == r[x] for x in k)'
lmf-similarity --prefix predict out/generated_predictions.jsonl >sim.json
check "  the scores are lmf-similarity's on the written file" python3 -c '
import json
r = json.load(open("out/predict_results.json"))
s = json.load(open("sim.json"))
assert s and all(r[k] == v for k, v in s.items()), (r, s)'

# the same prompts and model through lmf-generate, greedily
lmf-tokenize --stage sft --predict_with_generate --tokenizer tiny \
	--template llama3 --dataset identity --dataset_dir "$TOP/data" \
	--cutoff_len 128 --max_samples 24 -o prompts.lmf 2>/dev/null
lmf-pack --per_device_train_batch_size 4 --val_size 6 \
	--per_device_eval_batch_size 4 --eval_output predict.lmf \
	-o ptrain.lmf prompts.lmf 2>/dev/null
lmf-load --init --seed 42 tiny -o model.lmf 2>/dev/null
lmf-dump -j predict.lmf | python3 -c '
import json, sys
for line in sys.stdin:
    o = json.loads(line)
    if "tensors" not in o:
        continue
    t = {x["name"]: x for x in o["tensors"]}
    B, T = t["input_ids"]["shape"]
    ids, m = t["input_ids"]["data"], t["attention_mask"]["data"]
    for i in range(B):
        print("--prompt_ids", ",".join(str(ids[i * T + j])
            for j in range(T) if m[i * T + j]))' >args
check "lmf-generate on the same prompts and model" sh -c \
	'lmf-generate --model model.lmf --adapter out/adapter.lmf $(cat args) \
	--max_new_tokens 16 --do_sample false --output_format jsonl >gen.jsonl'
check "  the greedy predictions are lmf-generate's" python3 -c '
import json
a = [json.loads(l)["predict"] for l in open("gen.jsonl")]
b = [json.loads(l)["predict"]
     for l in open("out/generated_predictions.jsonl")]
assert len(a) == 6 and a == b, (a, b)'

check "predict_with_generate without do_predict" lmf train sft.yaml \
	output_dir=pg predict_with_generate=true
check "  trains as without it" sh -c 'lmf train sft.yaml output_dir=plain \
	>/dev/null 2>&1 &&
	cmp pg/adapter_model.safetensors plain/adapter_model.safetensors'
check "  and predicts nothing" test ! -e pg/generated_predictions.jsonl
check_exit "do_predict without predict_with_generate" 2 lmf train sft.yaml \
	output_dir=np do_predict=true
check_grep "  says so" predict_with_generate check.err
check_exit "lmf-sft --predict_data with no output_dir" 2 lmf-sft \
	--model model.lmf --data ptrain.lmf --predict_data predict.lmf
check_exit "lmf-sft --predict_data of training batches" 1 lmf-sft \
	--model model.lmf --data ptrain.lmf --output_dir bad \
	--max_steps 1 --predict_data ptrain.lmf
check "  refused before training" test ! -e bad/adapter.lmf
done_testing
