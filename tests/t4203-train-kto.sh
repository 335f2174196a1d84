#!/bin/sh
# lmf train --stage kto: LLaMA-Factory's kto example YAML
# (spec/lf-examples/kto.yaml, its paths changed only) on kto_en_demo with a
# tiny model and the byte-level tokenizer, narrowed on the command line to
# 4 examples; the --dry_run pipeline (lmf-logps on the base model, a
# ref_model loaded); driver usage errors.
. "$(dirname "$0")/lib.sh"
plan 8
if [ -z "$SHARED" ] || [ ! -f "$SHARED/spec/lf-examples/kto.yaml" ]; then
	for i in 1 2 3 4 5 6 7 8; do skip "no ../shared"; done
	done_testing
fi
mkdir tiny
cat >tiny/config.json <<'CFG'
{"model_type": "llama", "hidden_size": 32, "intermediate_size": 64,
 "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
 "vocab_size": 576, "max_position_embeddings": 4096, "rms_norm_eps": 1e-6,
 "tie_word_embeddings": false}
CFG
cp "$TOP"/tests/data/tok-bytelevel/* tiny/
lmf-load -q --init --config tiny/config.json -o tiny/model.lmf
sed -e 's|@MODEL@|tiny|' -e "s|@DATA@|$SHARED/data/llamafactory|" \
	-e 's|@OUT@|out|' "$SHARED/spec/lf-examples/kto.yaml" >kto.yaml

check "lmf train kto.yaml (LoRA, 4 examples)" lmf train kto.yaml \
	max_samples=4 logging_steps=1
cp check.err train.err
check_grep "  the reference scored, target and KL rows" \
	"lmf-logps: 4 examples, 8 rows" train.err
check_grep "  a step line with LLaMA-Factory's keys" \
	"^step 1/3: loss 0.5000 rewards/chosen .* kl " train.err
check "  an adapter in LLaMA-Factory's layout" test -f \
	out/kto/adapter_model.safetensors -a -f out/kto/adapter_config.json \
	-a -f out/kto/trainer_state.json -a -f out/kto/all_results.json

lmf train kto.yaml --dry_run >dry.txt 2>&1
check_grep "--dry_run: lmf-logps on the model itself" \
	"^lmf-logps --model tiny/model.lmf " dry.txt
check_grep "  lmf-kto with pref_beta" "^lmf-kto .* --pref_beta 0.1" dry.txt
lmf train kto.yaml ref_model=tiny kto_chosen_weight=2 --dry_run \
	>ref.txt 2>&1
check "ref_model loaded and scored; kto_chosen_weight to lmf-kto" sh -c \
	'grep -q "^lmf-logps --model .*ref.lmf" ref.txt &&
	grep -q "^lmf-kto .* --kto_chosen_weight 2" ref.txt'
check_exit "ref_model_adapters without ref_model: exit 2" 2 \
	lmf train kto.yaml ref_model_adapters=ad --dry_run
done_testing
