#!/bin/sh
# lmf train --stage ppo with reward_model_type lora: LLaMA-Factory's policy
# is a PeftModel holding a second adapter "reward" (the rm's), which PEFT's
# save_pretrained writes to output_dir/reward/ (adapter_model.safetensors
# and adapter_config.json; the rm's value head lives in unsaved buffers),
# at the end and in every checkpoint-N. The reward adapter is the rm's.
. "$(dirname "$0")/lib.sh"
plan 9
mkdir mdl
cp "$TOP"/tests/data/tok-bytelevel/* mdl/
cat >mdl/config.json <<'CFG'
{"architectures": ["LlamaForCausalLM"], "model_type": "llama",
 "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
 "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 576,
 "max_position_embeddings": 128, "rms_norm_eps": 1e-6,
 "tie_word_embeddings": false}
CFG
lmf-load -q --init --config mdl/config.json -o mdl/model.lmf
python3 "$TOP/tests/mkpref.py" ds 16
ppo_prompts
cat >ppo.yaml <<'Y'
model_name_or_path: mdl
reward_model: rmout
reward_model_type: lora
stage: ppo
do_train: true
finetuning_type: lora
lora_rank: 4
dataset: prompts
dataset_dir: ds
cutoff_len: 64
output_dir: ppoout
logging_steps: 1
save_steps: 2
overwrite_output_dir: true
per_device_train_batch_size: 4
learning_rate: 1.0e-3
max_steps: 4
ppo_epochs: 1
max_new_tokens: 3
seed: 1
Y
check "lmf train --stage rm (lora) makes the reward adapter" sh -c \
	"lmf train --stage rm --model_name_or_path mdl --do_train true \
	--finetuning_type lora --lora_rank 8 --dataset pref --dataset_dir ds \
	--cutoff_len 64 --output_dir rmout --per_device_train_batch_size 8 \
	--learning_rate 1e-2 --max_steps 3 --seed 1 2>rm.err"
check "lmf train ppo.yaml (reward_model_type lora)" sh -c \
	'lmf train ppo.yaml 2>ppo.err'
for d in ppoout ppoout/checkpoint-2 ppoout/checkpoint-4; do
	check "$d/reward has the adapter files, no value head" sh -c "
	test -s $d/reward/adapter_model.safetensors &&
	test -s $d/reward/adapter_config.json &&
	test ! -e $d/reward/value_head.safetensors"
done
check "reward/adapter_config.json is the rm's (inference_mode true)" sh -c '
	cmp rmout/adapter_config.json ppoout/reward/adapter_config.json &&
	cmp rmout/adapter_config.json ppoout/checkpoint-2/reward/adapter_config.json &&
	grep -q "\"inference_mode\": true" ppoout/reward/adapter_config.json'
# the safetensors files' tensors: name -> (dtype, shape, bytes)
cat >st.py <<'PY'
import json, struct, sys
def load(p):
    b = open(p, 'rb').read()
    n = struct.unpack('<Q', b[:8])[0]
    h = json.loads(b[8:8 + n])
    meta = h.pop('__metadata__', None)
    return meta, {k: (v['dtype'], v['shape'],
                      b[8 + n + v['data_offsets'][0]:8 + n + v['data_offsets'][1]])
                  for k, v in h.items()}
PY
check "reward/: PEFT's names and shapes (rank 8, 2 layers, 7 modules)" \
	python3 -c '
import st
meta, t = st.load("ppoout/reward/adapter_model.safetensors")
assert meta == {"format": "pt"}, meta
out = {"q_proj": 32, "k_proj": 16, "v_proj": 16, "o_proj": 32,
       "gate_proj": 64, "up_proj": 64, "down_proj": 32}
inp = dict(out, q_proj=32, k_proj=32, v_proj=32, o_proj=32, gate_proj=32,
           up_proj=32, down_proj=64)
want = {}
for l in range(2):
    for m in out:
        p = "base_model.model.model.layers.%d.%s.%s" % (
            l, "mlp" if m.endswith("_proj") and m[0] in "gud" else "self_attn", m)
        want[p + ".lora_A.weight"] = ["F32", [8, inp[m]]]
        want[p + ".lora_B.weight"] = ["F32", [out[m], 8]]
got = {k: [v[0], v[1]] for k, v in t.items()}
assert got == want, sorted(set(got) ^ set(want))'
check "the reward adapter is the rm's, tensor for tensor" python3 -c '
import st
_, a = st.load("rmout/adapter_model.safetensors")
for d in ("ppoout", "ppoout/checkpoint-2", "ppoout/checkpoint-4"):
    _, b = st.load(d + "/reward/adapter_model.safetensors")
    assert a == b, d'
check "the policy's own adapter (rank 4) differs from it" python3 -c '
import st
_, a = st.load("ppoout/adapter_model.safetensors")
_, b = st.load("ppoout/reward/adapter_model.safetensors")
k = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"
assert a[k][1] == [4, 32] and b[k][1] == [8, 32]'
done_testing
