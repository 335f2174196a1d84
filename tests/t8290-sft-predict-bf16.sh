#!/bin/sh
# sft predict with infer_dtype bfloat16 (lmf-sft --infer_dtype): a tiny
# LoRA model trained on data/identity, its val_size split generated for
# from the bf16 copy of the trained base; the predictions file as with
# f32, the training unchanged by it, the greedy predictions' agreement with
# f32's printed (not required equal); a bad value is a usage error.
. "$(dirname "$0")/lib.sh"
plan 4
tiny_dir tiny
identity_yaml
cat >>sft.yaml <<CFG
logging_steps: 2
num_train_epochs: 2.0
max_new_tokens: 16
do_sample: false
do_predict: true
predict_with_generate: true
CFG

check "predict with infer_dtype bfloat16" lmf train sft.yaml \
	output_dir=bf infer_dtype=bfloat16
check "  6 predictions" test "$(wc -l <bf/generated_predictions.jsonl)" -eq 6
lmf train sft.yaml output_dir=f32 >/dev/null 2>&1
check "  the adapter trained as with f32" cmp \
	bf/adapter_model.safetensors f32/adapter_model.safetensors
python3 -c '
import json
a = [json.loads(l)["predict"] for l in open("f32/generated_predictions.jsonl")]
b = [json.loads(l)["predict"] for l in open("bf/generated_predictions.jsonl")]
print("# bf16 predictions equal to f32:", sum(x == y for x, y in zip(a, b)),
      "of", len(a))'
check_exit "infer_dtype fp8: exit 2" 2 lmf-sft --model x --data y \
	--infer_dtype fp8
