#!/bin/sh
# issue 5's "done when" through lmf train on LLaMA-Factory's demo data:
# LoRA sft on alpaca_en_demo (qwen template, tiny random qwen2 model with
# the Qwen3 tokenizer) and on identity (llama3): the loss falls, the output
# layout (spec 7.2) is complete, the adapter has PEFT's names and shapes
# for its config, base + adapter logits equal the merged export's; pt on
# c4_demo packed, sft with neat_packing, full and freeze runs.
. "$(dirname "$0")/lib.sh"
plan 24
U="$TOP/tests/unit/infer_test"
D="$SHARED/data/llamafactory"
T="$SHARED/tokenizers"
if test -z "$SHARED" || ! test -f "$D/c4_demo.jsonl"; then
	for i in $(seq 24); do skip "no shared data"; done
	done_testing
	exit 0
fi

# mkbase DIR VOCAB TOKDIR MODEL_TYPE: a tiny random model stream DIR.lmf
mkbase() {
	mkdir "$1" && cat >"$1/config.json" <<CFG
{"architectures": ["Qwen2ForCausalLM"], "model_type": "$4",
 "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
 "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": $2,
 "max_position_embeddings": 256, "rms_norm_eps": 1e-6,
 "rope_theta": 10000.0, "tie_word_embeddings": true, "hidden_act": "silu",
 "initializer_range": ${INIT:-0.02}, "torch_dtype": "float32"}
CFG
	cp "$3"/tokenizer.json "$3"/tokenizer_config.json "$1"/ &&
	lmf-load -q --init --seed 5 "$1" -o "$1.lmf"
}
loss_falls() {
	python3 -c '
import json, sys
ls = [json.loads(l)["loss"] for l in open(sys.argv[1]) if "\"loss\"" in l]
sys.exit(not (len(ls) >= 3 and ls[-1] < ls[0] - 0.05))' "$1/trainer_log.jsonl"
}
# layout DIR FILE...: the common part of spec 7.2 and FILE...
layout() {
	d=$1; shift
	for f in trainer_log.jsonl trainer_state.json train_results.json \
	    all_results.json "$@"; do
		test -s "$d/$f" || { echo "# no $d/$f"; return 1; }
	done
	ls -d "$d"/checkpoint-[0-9]* >/dev/null 2>&1
}
# peft DIR CONFIG: adapter names and shapes as PEFT's for the config
peft() {
	python3 - "$1" "$2" <<'PY'
import json, struct, sys
d, c = sys.argv[1], json.load(open(sys.argv[2]))
a = json.load(open(d + "/adapter_config.json"))
f = open(d + "/adapter_model.safetensors", "rb")
h = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))
h.pop("__metadata__", None)
C, F, H = c["hidden_size"], c["intermediate_size"], c["num_attention_heads"]
hd = c.get("head_dim") or C // H
KV = c["num_key_value_heads"] * hd
io = {"self_attn.q_proj": (C, H * hd), "self_attn.k_proj": (C, KV),
      "self_attn.v_proj": (C, KV), "self_attn.o_proj": (H * hd, C),
      "mlp.gate_proj": (C, F), "mlp.up_proj": (C, F), "mlp.down_proj": (F, C)}
r, want = a["r"], {}
assert a["peft_type"] == "LORA" and sorted(a["target_modules"]) == \
    sorted(m.split(".")[1] for m in io), a
for l in range(c["num_hidden_layers"]):
    for m, (i, o) in io.items():
        p = "base_model.model.model.layers.%d.%s." % (l, m)
        want[p + "lora_A.weight"] = [r, i]
        want[p + "lora_B.weight"] = [o, r]
got = {k: v["shape"] for k, v in h.items()}
if got != want:
    print("# got", sorted(set(got) ^ set(want))[:4], file=sys.stderr)
    sys.exit(1)
PY
}
# lora NAME VOCAB TOKDIR TYPE DATASET TEMPLATE: the LoRA sft checks
lora() {
	# wide weights: logits large enough for LoRA to move the loss
	INIT=0.5 mkbase "$1" "$2" "$3" "$4" || return 1
	check "$1: lmf train, LoRA sft on $5, template $6" lmf train \
	    --stage sft --do_train --model_name_or_path "$1.lmf" \
	    --finetuning_type lora --lora_rank 4 --lora_alpha 8 \
	    --lora_target all --dataset "$5" --dataset_dir "$D" \
	    --template "$6" --cutoff_len 64 --max_samples 16 \
	    --output_dir "$1-out" --logging_steps 2 --save_steps 8 \
	    --per_device_train_batch_size 4 --learning_rate 5e-2 \
	    --num_train_epochs 4 --overwrite_output_dir --report_to none
	check "  the loss falls" loss_falls "$1-out"
	check "  the layout is complete" layout "$1-out" \
	    adapter_model.safetensors adapter_config.json
	check "  PEFT's adapter names and shapes" peft "$1-out" \
	    "$1/config.json"
	check "  merged export of the PEFT adapter" sh -c \
	    "lmf-load -q --adapter_name_or_path $1-out -o $1-ad.lmf &&
	    lmf export --model_name_or_path $1.lmf \
	    --adapter_name_or_path $1-ad.lmf --export_dir $1-merged"
	check "  base + adapter logits = merged logits (1e-4)" sh -c \
	    "lmf-load -q -o $1-merged.lmf $1-merged &&
	    $U $1.lmf $1-ad.lmf $1-merged.lmf"
}
lora qwen 151669 "$T/qwen3" qwen2 alpaca_en_demo qwen
lora llama 128256 "$T/llama3" llama identity llama3

# the other runs on a small byte-level tokenizer, so that they stay fast
mkbase tiny 576 "$TOP/tests/data/tok-bytelevel" llama
run() {
	n=$1; shift
	lmf train --do_train --model_name_or_path tiny.lmf \
	    --dataset_dir "$D" --cutoff_len 128 --max_samples 32 \
	    --output_dir "$n" --logging_steps 2 --save_steps 8 \
	    --per_device_train_batch_size 4 --learning_rate "${LR:-5e-3}" \
	    --overwrite_output_dir --report_to none "$@"
}
full="model.safetensors config.json tokenizer.json tokenizer_config.json"
check "pt on c4_demo, packed" run pt --stage pt --dataset c4_demo \
	--template default --finetuning_type full --num_train_epochs 3
check "  the loss falls" loss_falls pt
check "  the layout is complete" layout pt $full
LR=3e-2
check "sft with neat_packing (LoRA)" run neat --stage sft \
	--dataset alpaca_en_demo --template llama3 --finetuning_type lora \
	--lora_target all --neat_packing --num_train_epochs 3
check "  the loss falls" loss_falls neat
check "  the layout is complete" layout neat adapter_model.safetensors \
	adapter_config.json
LR=
check "full sft" run full --stage sft --dataset identity --template llama3 \
	--finetuning_type full --num_train_epochs 2
check "  the loss falls" loss_falls full
check "  the layout is complete" layout full $full
check "freeze sft" run freeze --stage sft --dataset identity \
	--template llama3 --finetuning_type freeze --freeze_trainable_layers 1 \
	--num_train_epochs 3
check "  the loss falls" loss_falls freeze
check "  the layout is complete" layout freeze $full
done_testing
