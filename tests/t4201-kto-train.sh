#!/bin/sh
# lmf-kto learns: on feedback the test makes (tests/mkfeedback.py: the
# desirable answers end in "yes", the undesirable in "no"), with the
# byte-level tokenizer and a tiny random model, rewards/chosen rises above
# rewards/rejected and the margin grows (full and LoRA); LLaMA-Factory's
# logged keys (ratios of window sums, kl a sum), the eval keys, resume
# inside a log window.
. "$(dirname "$0")/lib.sh"
plan 12
python3 "$TOP/tests/mkfeedback.py" . 40
cat >cfg.json <<'CFG'
{"model_type": "llama", "hidden_size": 32, "intermediate_size": 64,
 "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
 "vocab_size": 576, "max_position_embeddings": 256, "rms_norm_eps": 1e-6,
 "tie_word_embeddings": false}
CFG
lmf-load -q --init --config cfg.json -o m.lmf
lmf-tokenize -q --tokenizer "$TOP/tests/data/tok-bytelevel" --dataset_dir . \
	--dataset fb --stage kto --template default -o ex.lmf
kto() { lmf-kto -q --model m.lmf --threads 1 --logging_steps 4 "$@"; }

# learns: the desirable rewards end above the undesirable, margins grow
learns() {
	python3 - "$1" <<'PY'
import json, sys
h = [e for e in json.load(open(sys.argv[1] + "/trainer_state.json"))
     ["log_history"] if "rewards/margins" in e]
c = [e["rewards/chosen"] for e in h]
r = [e["rewards/rejected"] for e in h]
m = [e["rewards/margins"] for e in h]
print(c, r)
sys.exit(not (len(h) >= 5 and c[-1] > r[-1] and c[-1] > 0 > r[-1] and
              m[-1] > m[0] + 0.1))
PY
}

check "lmf-logps scores target and KL rows" lmf-logps -q --model m.lmf \
	-o scored.lmf ex.lmf
check "lmf-pack carries the tags and both reference log-probs" sh -c \
	'lmf-pack -q --per_device_train_batch_size 8 --num_train_epochs 6 \
	--val_size 0.2 --eval_output ev.lmf -o b.lmf scored.lmf &&
	lmf-dump b.lmf >b.txt && grep -q "kto_tags i32 \[8\]" b.txt &&
	grep -q "kl_ref_logps f32 \[8\]" b.txt'
check "full: 24 steps" kto --data b.lmf --finetuning_type full \
	--learning_rate 1e-3 --output_dir full --eval_data ev.lmf
check "  desirable rewards rise above undesirable ones" learns full
check "  LLaMA-Factory's keys, margins = chosen - rejected" python3 -c '
import json, sys
h = json.load(open("full/trainer_state.json"))["log_history"][0]
keys = ["loss", "rewards/chosen", "logps/chosen", "logits/chosen",
        "rewards/rejected", "logps/rejected", "logits/rejected",
        "rewards/margins", "kl", "grad_norm", "learning_rate"]
sys.exit(not (all(k in h for k in keys) and not any("_sum" in k or
    "count/" in k for k in h) and abs(h["rewards/margins"] -
    (h["rewards/chosen"] - h["rewards/rejected"])) < 1e-6))'
check "  eval keys with the eval_ prefix (kl without, as LLaMA-Factory)" \
	python3 -c '
import json, sys
r = json.load(open("full/all_results.json"))
keys = ["eval_loss", "eval_rewards/chosen", "eval_rewards/rejected",
        "eval_rewards/margins", "eval_logps/chosen", "eval_logps/rejected",
        "eval_logits/chosen", "eval_logits/rejected", "kl"]
sys.exit(not (all(k in r for k in keys) and
              r["eval_rewards/margins"] > 0))'
check "LoRA: 24 steps" kto --data b.lmf --learning_rate 1e-2 \
	--output_dir lora
check "  desirable rewards rise above undesirable ones" learns lora
check "  the result is an adapter" sh -c \
	'lmf-dump lora/adapter.lmf | grep -q "^kind: adapter"'
check "freeze: the last layer trains, weights and ftx taken" kto --data \
	b.lmf --finetuning_type freeze --freeze_trainable_layers 1 \
	--kto_chosen_weight 1.5 --kto_rejected_weight 0.5 --pref_ftx 0.1 \
	--max_steps 2 -o fz.lmf
# in w1 a run of 6 steps; in w2 the same, its last checkpoint and result
# removed, then resumed from checkpoint-3, inside the log window 1-4
resume() {
	for w in w1 w2; do
		mkdir $w && (cd $w && lmf-kto -q --model ../m.lmf --threads 1 \
		    --data ../b.lmf --finetuning_type full --max_steps 6 \
		    --save_steps 3 --logging_steps 4 --output_dir out) ||
		    return 1
	done
	rm -rf w2/out/checkpoint-6 w2/out/model.* w2/out/config.json \
	    w2/out/*results.json
	(cd w2 && lmf-kto -q --model ../m.lmf --threads 1 --data ../b.lmf \
	    --finetuning_type full --max_steps 6 --save_steps 3 \
	    --logging_steps 4 --output_dir out) &&
	cmp w1/out/model.safetensors w2/out/model.safetensors
}
check "the same run twice, one resumed from checkpoint-3: the same model" \
	resume
check "  and the same logged window sums" python3 -c '
import json, sys
def h(w):
    return [{k: v for k, v in e.items() if k in ("rewards/chosen", "kl",
             "logits/rejected", "step")} for e in json.load(open(w +
             "/out/trainer_state.json"))["log_history"]]
a, b = h("w1"), h("w2")
print(a, b)
sys.exit(not (a and a == b))'
done_testing
