#!/bin/sh
# lmf train --stage dpo: LLaMA-Factory's dpo example YAML
# (spec/lf-examples/dpo.yaml, its paths changed only) on dpo_en_demo with a
# tiny model and the byte-level tokenizer, narrowed on the command line to
# 2 pairs; the --dry_run pipeline (lmf-logps on the base model, none for
# simpo, lmf-load of a ref_model); driver usage errors.
. "$(dirname "$0")/lib.sh"
plan 11
if [ -z "$SHARED" ] || [ ! -f "$SHARED/spec/lf-examples/dpo.yaml" ]; then
	for i in 1 2 3 4 5 6 7 8 9 10 11; do skip "no ../shared"; done
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
	-e 's|@OUT@|out|' "$SHARED/spec/lf-examples/dpo.yaml" >dpo.yaml

check "lmf train dpo.yaml (LoRA sigmoid, 2 pairs)" lmf train dpo.yaml \
	max_samples=2 logging_steps=1
cp check.err train.err
check_grep "  the reference scored" "lmf-logps: 2 examples, 4 rows" train.err
check_grep "  a step line with the rewards" \
	"^step 1/3: loss 0.6931 rewards/chosen" train.err
check "  an adapter in LLaMA-Factory's layout" test -f \
	out/dpo/adapter_model.safetensors -a -f out/dpo/adapter_config.json \
	-a -f out/dpo/trainer_state.json -a -f out/dpo/all_results.json
check "  rewards/accuracies in the log history" grep -q \
	'"rewards/accuracies"' out/dpo/trainer_state.json

lmf train dpo.yaml --dry_run >dry.txt 2>&1
check_grep "--dry_run: lmf-logps on the model itself" \
	"^lmf-logps --model tiny/model.lmf " dry.txt
check_grep "  lmf-dpo with pref_beta" "^lmf-dpo .* --pref_beta 0.1" dry.txt
lmf train dpo.yaml pref_loss=simpo --dry_run >simpo.txt 2>&1
check "simpo: no lmf-logps" sh -c '! grep -q lmf-logps simpo.txt &&
	grep -q "^lmf-pack .*examples.lmf" simpo.txt'
lmf train dpo.yaml ref_model=tiny ref_model_adapters=ad --dry_run \
	>ref.txt 2>&1
check_grep "ref_model: loaded, its adapter too" \
	"^lmf-logps --model .*ref.lmf.* --adapter_name_or_path" ref.txt
check_exit "ref_model_adapters without ref_model: exit 2" 2 \
	lmf train dpo.yaml ref_model_adapters=ad --dry_run
check_exit "an unknown pref_loss: exit 2" 2 \
	lmf train dpo.yaml pref_loss=wobbly --dry_run
done_testing
