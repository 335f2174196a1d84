#!/bin/sh
# --bf16 (LLaMA-Factory's bf16: true): the bf16 goldens on the path
# without bf16 instructions (LMF_BF16_ISA=none; t0000-unit's llama_test
# runs the CPU's own), a short loss curve within 1% of fp32's at every
# step on both paths, fp32 unchanged without the flag, a resume that ends
# where the uninterrupted run does, LoRA, the key's way from a YAML config
# to lmf-sft, and usage errors.
. "$(dirname "$0")/lib.sh"
plan 18
PY=python3
cat >cfg.json <<'CFG'
{"model_type": "llama", "hidden_size": 64, "intermediate_size": 160,
 "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
 "vocab_size": 576, "max_position_embeddings": 64, "rms_norm_eps": 1e-6,
 "tie_word_embeddings": false}
CFG
lmf-load -q --init --config cfg.json -o m.lmf
$PY "$TOP/tests/mkbatches.py" -B 4 -T 32 -V 256 -n 8 >b.lmf
sft() {
	lmf-sft --model m.lmf --data b.lmf --threads 1 -l 0 --max_steps 40 \
	    --learning_rate 3e-3 --logging_steps 1 -q "$@"
}
# every step's loss of two trainer_log.jsonl within 1% (relative)
close() {
	$PY - "$1" "$2" <<'PY'
import json, sys
def losses(p):
    return [json.loads(l)["loss"] for l in open(p) if '"loss"' in l]
a, b = losses(sys.argv[1]), losses(sys.argv[2])
worst = max(abs(x - y) / abs(y) for x, y in zip(a, b))
print("steps %d, worst %.2e" % (len(a), worst))
sys.exit(not (len(a) == len(b) == 40 and worst < 0.01))
PY
}

check "the bf16 goldens without bf16 instructions (LMF_BF16_ISA=none)" \
	sh -c 'LMF_BF16_ISA=none "$TOP/tests/unit/llama_test" --bf16 >u.out &&
	    ! grep -q "^not ok" u.out && grep -q "^1\.\.24$" u.out &&
	    grep -q "^# bf16 products: sgemm$" u.out'

check "40 full steps in fp32" sft --finetuning_type full --output_dir f32
check "40 full steps in bf16" sft --finetuning_type full --output_dir b16 \
	--bf16
check "40 full steps in bf16 without bf16 instructions" env \
	LMF_BF16_ISA=none lmf-sft --model m.lmf --data b.lmf --threads 1 -l 0 \
	--max_steps 40 --learning_rate 3e-3 --logging_steps 1 -q \
	--finetuning_type full --output_dir b16n --bf16
check "  bf16's loss within 1% of fp32's at every step" close \
	b16/trainer_log.jsonl f32/trainer_log.jsonl
sed 's/^/# /' check.out
check "  so is the path without bf16 instructions" close \
	b16n/trainer_log.jsonl f32/trainer_log.jsonl
check "  bf16 is not fp32: the models differ" sh -c \
	'! cmp -s b16/model.lmf f32/model.lmf'
check "without --bf16, LMF_BF16_ISA changes nothing" sh -c \
	'LMF_BF16_ISA=none lmf-sft --model m.lmf --data b.lmf --threads 1 \
	    -l 0 --max_steps 40 --learning_rate 3e-3 --logging_steps 1 -q \
	    --finetuning_type full --output_dir f32n &&
	    cmp f32n/model.safetensors f32/model.safetensors'

check "40 LoRA steps in fp32 and bf16" sh -c \
	'lmf-sft --model m.lmf --data b.lmf --threads 1 -l 0 --max_steps 40 \
	    --learning_rate 3e-3 --logging_steps 1 -q --output_dir lf32 &&
	    lmf-sft --model m.lmf --data b.lmf --threads 1 -l 0 --max_steps 40 \
	    --learning_rate 3e-3 --logging_steps 1 -q --output_dir lb16 --bf16'
check "  LoRA bf16's loss within 1% of fp32's at every step" close \
	lb16/trainer_log.jsonl lf32/trainer_log.jsonl

# a resume holds fp32 masters: it ends where the uninterrupted run does
check "bf16 with checkpoints" sft --finetuning_type full --max_steps 12 \
	--save_steps 4 --output_dir r1 --bf16
mkdir -p r2/out && cp -r r1/checkpoint-4 r2/out/
check "  resumed from checkpoint-4 ends with the same model" sh -c \
	'lmf-sft --model m.lmf --data b.lmf --threads 1 -l 0 --max_steps 12 \
	    --learning_rate 3e-3 --logging_steps 1 -q --finetuning_type full \
	    --save_steps 4 --output_dir r2/out --bf16 &&
	    cmp r2/out/model.safetensors r1/model.safetensors'

# dpo: the reference scored with --bf16 equals the bf16 policy at first,
# so the first step's loss is ln 2, as in fp32
$PY - <<'PY'
import json
ex = [{"instruction": "Say %d" % i, "input": "", "chosen": "%d yes" % i,
       "rejected": "%d no" % i} for i in range(8)]
json.dump(ex, open("pairs.json", "w"))
json.dump({"pairs": {"file_name": "pairs.json", "ranking": True,
           "columns": {"prompt": "instruction", "query": "input",
                       "chosen": "chosen", "rejected": "rejected"}}},
          open("dataset_info.json", "w"))
PY
lmf-tokenize -q --tokenizer "$TOP/tests/data/tok-bytelevel" --dataset_dir . \
	--dataset pairs --stage dpo --template default -o ex.lmf
check "lmf-logps --bf16 scores the pairs" sh -c \
	'lmf-logps -q --bf16 --model m.lmf --threads 1 -o sc.lmf ex.lmf &&
	lmf-pack -q --per_device_train_batch_size 4 -o pb.lmf sc.lmf'
lmf-dpo --bf16 --model m.lmf --data pb.lmf --threads 1 --max_steps 1 \
	--logging_steps 1 -o /dev/null 2>dpo.err
check_grep "  lmf-dpo --bf16 starts at ln 2" \
	'^step 1/1: loss 0\.6931 rewards/chosen 0\.0000 ' dpo.err

# the YAML key reaches lmf-sft; pure_bf16 stays refused
cat >c.yaml <<'CFG'
stage: sft
do_train: true
model_name_or_path: hf
dataset: alpaca_en_demo
template: default
output_dir: o
train_from_scratch: true
bf16: true
CFG
mkdir hf && cp cfg.json hf/config.json
lmf train c.yaml --dry_run >dry.out 2>&1
check_grep "bf16: true in a config becomes lmf-sft --bf16" 'lmf-sft .*--bf16' \
	dry.out
check_exit "pure_bf16: true is refused" 2 lmf-config c.yaml pure_bf16=true
check_exit "a bad LMF_BF16_ISA is a usage error" 2 env LMF_BF16_ISA=amx \
	lmf-sft --model m.lmf --data b.lmf --threads 1 --max_steps 1 -o x \
	--bf16
check_grep "  one line naming it" "^lmf-sft: LMF_BF16_ISA: 'amx' is not none or auto$" check.err
done_testing
