#!/bin/sh
# sft predict with infer_dtype int8 (lmf-sft --infer_dtype, lmf train's
# key): the predictions of a tiny model's int8 copy equal, line for line,
# f32 predictions of tests/i8round.py's dequantized model, with a trained
# LoRA adapter (pairs unmerged, f32) and with full tuning (the live
# weights quantized), greedy and sampled, where f32 predictions of the
# model itself differ; lmf train takes the key; a bad value is a usage
# error.
. "$(dirname "$0")/lib.sh"
plan 16
tiny_dir tiny
lmf-load -q --init --seed 42 tiny -o m.lmf
lmf-dump --json m.lmf | python3 "$TOP/tests/i8round.py" 2>nround.txt |
	lmf-dump -r -o q8.lmf
check "15 tensors quantized" test "$(cat nround.txt)" -eq 15
tok() {
	lmf-tokenize -q --stage sft --tokenizer tiny --template llama3 \
		--dataset identity --dataset_dir "$TOP/data" --cutoff_len 128 \
		--max_samples 24 "$@"
}
tok -o ex.lmf
tok --predict_with_generate -o prompts.lmf
pack="lmf-pack -q --per_device_train_batch_size 4 --val_size 6"
pack="$pack --per_device_eval_batch_size 4"
$pack --eval_output eval.lmf -o train.lmf ex.lmf
$pack --eval_output predict.lmf -o ptrain.lmf prompts.lmf
lmf-sft -q --model m.lmf --data train.lmf --threads 2 --lora_rank 8 \
	--lora_target all --learning_rate 5e-3 --max_steps 4 -o a.lmf

differ() { ! cmp -s "$1" "$2"; }
# predict MODEL DIR [options]: no training (learning rate 0), then the
# predictions of the 6 held-out prompts
predict() {
	pm=$1 pd=$2
	shift 2
	lmf-sft -q --model "$pm" --data train.lmf --threads 2 \
		--learning_rate 0 --max_steps 1 --predict_data predict.lmf \
		--output_dir "$pd" --max_new_tokens 32 "$@"
}
lora="--adapter_name_or_path a.lmf --do_sample false"
check "LoRA: int8 predict" predict m.lmf li8 $lora --infer_dtype int8
predict q8.lmf lq8 $lora --infer_dtype float32
predict m.lmf lf32 $lora
check "  6 predictions, not all empty" python3 -c '
import json
p = [json.loads(l)["predict"] for l in open("li8/generated_predictions.jsonl")]
assert len(p) == 6 and sum(len(x) > 0 for x in p) >= 3, p'
check_same "  equal f32 predictions of the dequantized model" \
	li8/generated_predictions.jsonl lq8/generated_predictions.jsonl
check "  and their scores" python3 -c '
import json
a, b = (json.load(open(d + "/predict_results.json")) for d in ("li8", "lq8"))
k = [x for x in a if "bleu" in x or "rouge" in x]
assert len(k) == 4 and all(a[x] == b[x] for x in k), (a, b)'
python3 -c '
import json
a = [json.loads(l)["predict"] for l in open("lf32/generated_predictions.jsonl")]
b = [json.loads(l)["predict"] for l in open("li8/generated_predictions.jsonl")]
print("# int8 predictions equal to f32:", sum(x == y for x, y in zip(a, b)),
      "of", len(a))'
samp="--adapter_name_or_path a.lmf --do_sample true --temperature 1.5"
samp="$samp --seed 7"
predict m.lmf si8 $samp --infer_dtype int8
predict q8.lmf sq8 $samp
predict m.lmf sf32 $samp
check_same "LoRA, sampled: int8 equals f32 of the dequantized model" \
	si8/generated_predictions.jsonl sq8/generated_predictions.jsonl
check "  not f32 of the model itself" differ \
	si8/generated_predictions.jsonl sf32/generated_predictions.jsonl
full="--finetuning_type full --do_sample false"
check "full tuning: int8 predict" predict m.lmf fi8 $full --infer_dtype int8
predict q8.lmf fq8 $full
predict m.lmf ff32 $full
check_same "  equal f32 predictions of the dequantized model" \
	fi8/generated_predictions.jsonl fq8/generated_predictions.jsonl
check "  not f32 predictions of the model itself" differ \
	fi8/generated_predictions.jsonl ff32/generated_predictions.jsonl

identity_yaml
cat >>sft.yaml <<CFG
max_steps: 2
max_new_tokens: 8
do_sample: false
do_predict: true
predict_with_generate: true
infer_dtype: int8
CFG
check "lmf train: infer_dtype int8" lmf train sft.yaml
check "  6 predictions" test "$(wc -l <out/generated_predictions.jsonl)" -eq 6
check_exit "lmf train: infer_dtype int4: exit 2" 2 lmf train sft.yaml \
	output_dir=bad infer_dtype=int4
check_grep "  naming the value" int4 check.err
check_exit "lmf-sft --infer_dtype int4: exit 2" 2 lmf-sft --model m.lmf \
	--data train.lmf --infer_dtype int4
check_grep "  listing the words" \
	"'int4' is not auto, float32, bfloat16 or int8" check.err
done_testing
