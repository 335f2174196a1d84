#!/bin/sh
# LLaMA-Factory's output layout (spec 7.2) for a LoRA sft run, its
# checkpoint and a merged export: the file lists; generation_config.json
# as GenerationConfig.from_model_config derives it; special_tokens_map.json
# from tokenizer_config.json; the README.md model card; total_flos as
# Trainer.floating_point_ops counts it; JSON as Python writes it.
. "$(dirname "$0")/lib.sh"
plan 9
PY=python3
if ! [ -d "$SHARED/tokenizers/qwen3" ]; then
	for i in 1 2 3 4 5 6 7 8 9; do skip "no ../shared tokenizers"; done
	done_testing
	exit 0
fi
cat >cfg.json <<'CFG'
{"model_type": "llama", "hidden_size": 32, "intermediate_size": 64,
 "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
 "vocab_size": 64, "max_position_embeddings": 64, "rms_norm_eps": 1e-6,
 "tie_word_embeddings": false, "bos_token_id": 1, "eos_token_id": [2, 3],
 "pad_token_id": null, "use_cache": true, "temperature": 0.7}
CFG
lmf-load -q --init --config cfg.json -o m.lmf || exit 1
$PY "$TOP/tests/mkbatches.py" -B 2 -T 16 -n 6 >b.lmf || exit 1
mkdir tk && cp "$SHARED/tokenizers/qwen3/tokenizer.json" \
	"$SHARED/tokenizers/qwen3/tokenizer_config.json" tk/ || exit 1

check "LoRA sft run" lmf-sft --model m.lmf --data b.lmf --threads 1 -l 0 \
	--learning_rate 1e-3 --max_steps 4 --save_steps 2 --logging_steps 2 \
	--warmup_ratio 0.1 -q --output_dir out --tokenizer_dir tk
check "output_dir: 7.2's files (LoRA) and lmf's stream" sh -c \
	'test "$(ls out | tr "\n" " ")" = "README.md adapter.lmf \
adapter_config.json adapter_model.safetensors all_results.json \
checkpoint-2 checkpoint-4 special_tokens_map.json tokenizer.json \
tokenizer_config.json train_results.json trainer_log.jsonl \
trainer_state.json "'
check "checkpoint-4: adapter, state and tokenizer files" sh -c \
	'test "$(ls out/checkpoint-4 | tr "\n" " ")" = "adapter.lmf \
adapter_config.json adapter_model.safetensors lmf_state.json optimizer.lmf \
special_tokens_map.json tokenizer.json tokenizer_config.json \
trainer_state.json "'
check "special_tokens_map.json from tokenizer_config.json" $PY -c '
import json
m = json.load(open("out/special_tokens_map.json"))
tc = json.load(open("tk/tokenizer_config.json"))
d = {"content": "<|im_end|>", "lstrip": False, "normalized": False,
    "rstrip": False, "single_word": False}
assert m["eos_token"] == d, m
assert m["pad_token"]["content"] == tc["pad_token"]
assert m["additional_special_tokens"] == tc["additional_special_tokens"]
assert set(m) == {"eos_token", "pad_token", "additional_special_tokens"}'
check "README.md: model card with base model, tags, hyperparameters" sh -c '
	grep -qx "base_model: cfg.json" out/README.md &&
	grep -qx -- "- llama-factory" out/README.md &&
	grep -qx -- "- lora" out/README.md &&
	grep -qx "library_name: peft" out/README.md &&
	grep -qx "## Training procedure" out/README.md &&
	grep -qx -- "- learning_rate: 0.001" out/README.md &&
	grep -qx -- "- lr_scheduler_warmup_ratio: 0.1" out/README.md &&
	grep -qx -- "- training_steps: 4" out/README.md'
# 6 * tokens * (non-embedding parameters + LoRA): layers 2 * 9280, norm 32,
# lm_head 2048, LoRA rank 8 on all 7 modules 2 * 4096; 4 steps of 2 x 16
check "total_flos = 6 * input tokens * parameters" $PY -c '
import json
want = 6.0 * 4 * 2 * 16 * (2 * 9280 + 32 + 2048 + 2 * 4096)
s = json.load(open("out/trainer_state.json"))
r = json.load(open("out/train_results.json"))
c = json.load(open("out/checkpoint-2/trainer_state.json"))
assert s["total_flos"] == r["total_flos"] == want, (s["total_flos"], want)
assert c["total_flos"] == want / 2 and isinstance(s["total_flos"], float)'
check "JSON as Python writes it (floats in repr form)" $PY -c '
import json
for f, ind, nl in (("trainer_state.json", 2, 1), ("train_results.json", 4, 0),
        ("all_results.json", 4, 0), ("adapter_config.json", 2, 0),
        ("checkpoint-2/trainer_state.json", 2, 1)):
    t = open("out/" + f).read()
    want = json.dumps(json.loads(t), indent=ind, sort_keys=True) + "\n" * nl
    assert t == want, f
for l in open("out/trainer_log.jsonl"):
    assert l == json.dumps(json.loads(l)) + "\n", l'
check "merged export" lmf-export --model_name_or_path m.lmf \
	--adapter_name_or_path out/adapter.lmf --export_dir ex --export_dtype bf16
check "export_dir: config (torch_dtype bfloat16), generation_config, weights" $PY -c '
import json, os
assert sorted(os.listdir("ex")) == ["config.json", "generation_config.json",
    "model.safetensors"], os.listdir("ex")
t = open("ex/config.json").read(); c = json.loads(t)
assert c["torch_dtype"] == "bfloat16"
assert t == json.dumps(c, indent=2, sort_keys=True) + "\n"
t = open("ex/generation_config.json").read(); g = json.loads(t)
assert g == {"_from_model_config": True, "bos_token_id": 1,
    "eos_token_id": [2, 3], "temperature": 0.7}, g
assert t == json.dumps(g, indent=2, sort_keys=True) + "\n"
st = open("ex/model.safetensors", "rb").read()
n = int.from_bytes(st[:8], "little")
h = json.loads(st[8:8 + n]); h.pop("__metadata__", None)
assert {v["dtype"] for v in h.values()} == {"BF16"}'
done_testing
