#!/bin/sh
# lmf-dpo learns: on preference pairs the test makes (the chosen response
# always ends in "yes", the rejected in "no"), with the byte-level tokenizer
# and a tiny random model, rewards/accuracies climbs past 0.9 and
# rewards/margins grows (full and LoRA, sigmoid and simpo); the log, the
# eval metrics with LLaMA-Factory's eval_ prefix, resume.
. "$(dirname "$0")/lib.sh"
plan 14
python3 - <<'PY'
import json, random
rnd = random.Random(7)
words = "red blue green cat dog sun moon tree rock fish bird".split()
ex = []
for i in range(40):
    q = " ".join(rnd.choice(words) for _ in range(3))
    a = " ".join(rnd.choice(words) for _ in range(2))
    ex.append({"instruction": "Say " + q, "input": "",
               "chosen": a + " yes", "rejected": a + " no"})
json.dump(ex, open("pairs.json", "w"))
json.dump({"pairs": {"file_name": "pairs.json", "ranking": True,
           "columns": {"prompt": "instruction", "query": "input",
                       "chosen": "chosen", "rejected": "rejected"}}},
          open("dataset_info.json", "w"))
PY
cat >cfg.json <<'CFG'
{"model_type": "llama", "hidden_size": 32, "intermediate_size": 64,
 "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
 "vocab_size": 576, "max_position_embeddings": 256, "rms_norm_eps": 1e-6,
 "tie_word_embeddings": false}
CFG
lmf-load -q --init --config cfg.json -o m.lmf
lmf-tokenize -q --tokenizer "$TOP/tests/data/tok-bytelevel" --dataset_dir . \
	--dataset pairs --stage dpo --template default -o ex.lmf
dpo() { lmf-dpo -q --model m.lmf --threads 1 --logging_steps 4 "$@"; }

# learns: first logged accuracy below 0.9, last above, margins grow
learns() {
	python3 - "$1" <<'PY'
import json, sys
h = [e for e in json.load(open(sys.argv[1] + "/trainer_state.json"))
     ["log_history"] if "rewards/accuracies" in e]
acc = [e["rewards/accuracies"] for e in h]
mar = [e["rewards/margins"] for e in h]
print(acc, mar)
sys.exit(not (len(h) >= 5 and acc[0] < 0.9 and acc[-1] > 0.9 and
              mar[-1] > mar[0] + 0.1 and mar[-1] > 0))
PY
}

check "lmf-logps scores the pairs" lmf-logps -q --model m.lmf -o scored.lmf \
	ex.lmf
check "lmf-pack carries the reference log-probs" sh -c \
	'lmf-pack -q --per_device_train_batch_size 8 --num_train_epochs 6 \
	--val_size 0.2 --eval_output ev.lmf -o b.lmf scored.lmf &&
	lmf-dump b.lmf | grep -q "chosen_ref_logps f32 \[8\]"'
check "full sigmoid: 24 steps" dpo --data b.lmf --finetuning_type full \
	--learning_rate 1e-3 --output_dir full --eval_data ev.lmf
check "  accuracies climb past 0.9, margins grow" learns full
check "  trainer_log.jsonl has LLaMA-Factory's accuracy" python3 -c '
import json, sys
ls = [json.loads(l) for l in open("full/trainer_log.jsonl")]
sys.exit(not any(l.get("accuracy") == 1.0 for l in ls))'
check "  eval metrics with the eval_ prefix" python3 -c '
import json, sys
r = json.load(open("full/all_results.json"))
keys = ["eval_loss", "eval_rewards/chosen", "eval_rewards/rejected",
        "eval_rewards/accuracies", "eval_rewards/margins",
        "eval_logps/chosen", "eval_logps/rejected", "eval_logits/chosen",
        "eval_logits/rejected"]
sys.exit(not (all(k in r for k in keys) and
              r["eval_rewards/accuracies"] > 0.9))'
check "LoRA sigmoid: 24 steps" dpo --data b.lmf --learning_rate 1e-2 \
	--output_dir lora
check "  accuracies climb past 0.9, margins grow" learns lora
check "  the result is an adapter" sh -c \
	'lmf-dump lora/adapter.lmf | grep -q "^kind: adapter"'
lmf-pack -q --per_device_train_batch_size 8 --num_train_epochs 6 -o nb.lmf \
	ex.lmf
check "simpo needs no reference log-probs" dpo --data nb.lmf \
	--finetuning_type full --pref_loss simpo --pref_beta 2 \
	--learning_rate 1e-3 --output_dir simpo
check "  accuracies climb past 0.9, margins grow" learns simpo
check "freeze: the last layer trains" dpo --data b.lmf --finetuning_type \
	freeze --freeze_trainable_layers 1 --max_steps 2 -o fz.lmf
check "orpo logs sft_loss and odds_ratio_loss" sh -c \
	'lmf-dpo --model m.lmf --threads 1 --data nb.lmf --finetuning_type full \
	--pref_loss orpo --max_steps 2 --logging_steps 1 -o /dev/null 2>&1 |
	grep -q "sft_loss [0-9.]* odds_ratio_loss"'
# in w1 a run of 6 steps; in w2 the same, its last checkpoint and result
# removed, then resumed from checkpoint-3
resume() {
	for w in w1 w2; do
		mkdir $w && (cd $w && lmf-dpo -q --model ../m.lmf --threads 1 \
		    --data ../b.lmf --finetuning_type full --max_steps 6 \
		    --save_steps 3 --output_dir out) || return 1
	done
	rm -rf w2/out/checkpoint-6 w2/out/model.* w2/out/config.json \
	    w2/out/*results.json
	(cd w2 && lmf-dpo -q --model ../m.lmf --threads 1 --data ../b.lmf \
	    --finetuning_type full --max_steps 6 --save_steps 3 \
	    --output_dir out) &&
	cmp w1/out/model.safetensors w2/out/model.safetensors &&
	grep -q '"step": 6' w2/out/trainer_state.json
}
check "the same run twice, one resumed from checkpoint-3: the same model" \
	resume
done_testing
