#!/bin/sh
# lmf train --stage rm: LLaMA-Factory's own rm example config
# (../shared/spec/lf-examples/rm.yaml, LoRA on dpo_en_demo with the
# qwen3_nothink template), with only its placeholders filled in, trains a
# tiny qwen2-type model on the qwen3 tokenizer; the output directory has
# the adapter, value_head.safetensors and the logs; --dry_run prints the
# pipeline.
. "$(dirname "$0")/lib.sh"
plan 7
Y=$SHARED/spec/lf-examples/rm.yaml
if ! [ -f "$Y" ] || ! [ -d "$SHARED/tokenizers/qwen3" ] ||
    ! [ -f "$SHARED/data/llamafactory/dpo_en_demo.json" ]; then
	for i in 1 2 3 4 5 6 7; do skip "no ../shared examples"; done
	done_testing
	exit 0
fi
mkdir q3
cp "$SHARED"/tokenizers/qwen3/tokenizer.json \
	"$SHARED"/tokenizers/qwen3/tokenizer_config.json q3/
cat >q3/config.json <<'CFG'
{"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2",
 "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
 "num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": 151936,
 "max_position_embeddings": 4096, "rms_norm_eps": 1e-6,
 "rope_theta": 1000000.0, "tie_word_embeddings": true,
 "bos_token_id": 151643, "eos_token_id": 151645}
CFG
lmf-load -q --init --config q3/config.json -o q3/model.lmf
sed "s|@MODEL@|q3|; s|@DATA@|$SHARED/data/llamafactory|; s|@OUT@|out|" \
	"$Y" >rm.yaml
check "the example config is changed only in its placeholders" sh -c \
	"diff '$Y' rm.yaml | grep '^[<>]' | grep -v '@MODEL@\|@DATA@\|@OUT@\|q3\|llamafactory\|out/rm' | grep -q . && exit 1 || exit 0"
check "lmf train rm.yaml" lmf train rm.yaml
for f in adapter_model.safetensors adapter_config.json \
    value_head.safetensors trainer_state.json; do
	check "out/rm has $f" test -s "out/rm/$f"
done
check "--dry_run prints the lmf-rm step" sh -c \
	'lmf train rm.yaml output_dir=dry --dry_run | grep -q "^lmf-rm "'
done_testing
