#!/bin/sh
# lmf train --stage dpo continuing an adapter, as LLaMA-Factory does: by
# default the adapter trains on and the reference is the base model
# without it (rewards differ from the first step); with
# create_new_adapter the adapter is merged first, so the policy starts as
# its own reference (first-step rewards 0, loss log 2) and a new adapter
# trains. lmf-train-sft still refuses create_new_adapter.
. "$(dirname "$0")/lib.sh"
plan 9
python3 - <<'PY'
import json, random
rnd = random.Random(5)
words = "red blue green cat dog sun moon tree".split()
ex = [{"instruction": "Say " + " ".join(rnd.choice(words) for _ in range(3)),
       "input": "", "chosen": rnd.choice(words) + " yes",
       "rejected": rnd.choice(words) + " no"} for _ in range(8)]
json.dump(ex, open("pairs.json", "w"))
json.dump({"pairs": {"file_name": "pairs.json", "ranking": True,
           "columns": {"prompt": "instruction", "query": "input",
                       "chosen": "chosen", "rejected": "rejected"}}},
          open("dataset_info.json", "w"))
PY
mkdir tiny
cat >tiny/config.json <<'CFG'
{"model_type": "llama", "hidden_size": 32, "intermediate_size": 64,
 "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
 "vocab_size": 576, "max_position_embeddings": 256, "rms_norm_eps": 1e-6,
 "tie_word_embeddings": false}
CFG
cp "$TOP"/tests/data/tok-bytelevel/* tiny/
lmf-load -q --init --config tiny/config.json -o tiny/model.lmf
cat >dpo.yaml <<'CFG'
model_name_or_path: tiny
stage: dpo
do_train: true
finetuning_type: lora
dataset: pairs
dataset_dir: .
template: default
output_dir: out
overwrite_output_dir: true
per_device_train_batch_size: 8
learning_rate: 1.0e-2
max_steps: 1
logging_steps: 1
CFG
# an adapter to continue: 6 LoRA steps on the pairs
lmf-tokenize -q --tokenizer tiny --dataset_dir . --dataset pairs --stage dpo \
	--template default | lmf-logps -q --model tiny/model.lmf |
	lmf-pack -q --per_device_train_batch_size 8 --num_train_epochs 6 \
	-o b.lmf
lmf-dpo -q --model tiny/model.lmf --data b.lmf --learning_rate 1e-2 \
	--threads 1 -o ad.lmf
first() { grep '^step 1/1' "$1" | sed 's/ grad_norm.*//'; }

check "continued adapter (create_new_adapter false)" env LMF_WORKDIR=w0 \
	lmf train dpo.yaml adapter_name_or_path=ad.lmf
first check.err >cont.txt
check "  the reference is the base: first rewards differ" sh -c \
	'grep -q "rewards/accuracies 1.0000" cont.txt &&
	! grep -q "loss 0.6931" cont.txt'
check "create_new_adapter: merged first" env LMF_WORKDIR=w1 lmf train \
	dpo.yaml adapter_name_or_path=ad.lmf create_new_adapter=true \
	output_dir=out1
first check.err >new.txt
check "  the reference is the merge: first loss log 2, margins 0" sh -c \
	'grep -q "loss 0.6931 .*rewards/margins 0.0000" new.txt'
check "  a merged model in the work directory" test -f w1/merged.lmf
check "  a new adapter, trained from B = 0" sh -c \
	'lmf-dump out1/adapter.lmf | grep -q "^kind: adapter"'
check_exit "create_new_adapter with full: exit 2" 2 lmf train dpo.yaml \
	adapter_name_or_path=ad.lmf create_new_adapter=true \
	finetuning_type=full --dry_run
check_exit "lmf-train-sft refuses create_new_adapter: exit 2" 2 \
	lmf train dpo.yaml stage=sft create_new_adapter=true --dry_run
lmf train dpo.yaml adapter_name_or_path=ad.lmf create_new_adapter=true \
	--dry_run >dry.txt 2>&1
check "--dry_run: lmf-export, then lmf-dpo without the old adapter" sh -c \
	'grep -q "^lmf-export .*ad.lmf" dry.txt &&
	! grep "^lmf-dpo" dry.txt | grep -q adapter_name_or_path'
done_testing
