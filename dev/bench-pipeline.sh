#!/bin/sh
# bench-pipeline: does composing the tools cost training speed? The whole
# `lmf train --stage sft` (tokenize, pack, load, train, each to a file)
# against lmf-sft alone on the very batches and model that run made, in
# wall time for the same tokens. Issue 5's target: within 10%.
# Env: BENCH_EPOCHS (3). Both runs use all cores (lmf-sft's default).
set -eu
cd "$(dirname "$0")/.."
PATH="$PWD:$PWD/scripts:$PATH"
out=dev/out/pipeline
rm -rf "$out"
mkdir -p "$out/base" "$out/work"
epochs=${BENCH_EPOCHS:-3}
cp tests/data/tok-bytelevel/tokenizer.json \
	tests/data/tok-bytelevel/tokenizer_config.json "$out/base/"
# the tiny shape of dev/bench-train.sh, with the tokenizer's vocabulary
cat >"$out/base/config.json" <<'CFG'
{"model_type": "llama", "architectures": ["LlamaForCausalLM"],
 "hidden_size": 288, "intermediate_size": 768, "num_hidden_layers": 6,
 "num_attention_heads": 6, "num_key_value_heads": 6, "vocab_size": 520,
 "max_position_embeddings": 512, "rms_norm_eps": 1e-5,
 "rope_theta": 10000.0, "tie_word_embeddings": false,
 "hidden_act": "silu", "initializer_range": 0.02}
CFG
now() { date +%s.%N; }
pipe() {
	rm -rf "$out/work" "$out/pipe" && mkdir -p "$out/work"
	LMF_WORKDIR=$out/work lmf train --stage sft --do_train true \
		--model_name_or_path "$out/base" --train_from_scratch true \
		--dataset alpaca_demo,identity --template qwen \
		--cutoff_len 256 --finetuning_type full \
		--per_device_train_batch_size 8 --num_train_epochs "$epochs" \
		--logging_steps 1000 --save_steps 100000 \
		--output_dir "$out/pipe" 2>"$out/pipe.err"
}
alone() {
	rm -rf "$out/alone"
	lmf-sft --model "$out/work/model.lmf" --data "$out/work/train.lmf" \
		--finetuning_type full --num_train_epochs "$epochs" \
		--logging_steps 1000 --save_steps 100000 \
		--output_dir "$out/alone" 2>"$out/alone.err"
}
# best of two each, interleaved, so that load and caches hit both alike
best_pipe=1e9 best_alone=1e9
for rep in 1 2; do
	t0=$(now); pipe; t1=$(now); alone; t2=$(now)
	best_pipe=$(echo "$t0 $t1 $best_pipe" | awk '{d = $2 - $1; print d < $3 ? d : $3}')
	best_alone=$(echo "$t1 $t2 $best_alone" | awk '{d = $2 - $1; print d < $3 ? d : $3}')
done
tokens=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))
	['num_input_tokens_seen'])" "$out/alone/trainer_state.json" 2>/dev/null ||
	echo n/a)
# the same weights: the streams less their header (which names the command)
lmf-dump --json "$out/pipe/model.lmf" | sed 1d >"$out/pipe.json"
lmf-dump --json "$out/alone/model.lmf" | sed 1d >"$out/alone.json"
cmp -s "$out/pipe.json" "$out/alone.json" && same=yes || same=no
awk -v pipe="$best_pipe" -v alone="$best_alone" -v tok="$tokens" \
    -v same="$same" \
    -v load="$(cut -d' ' -f1-3 /proc/loadavg)" 'BEGIN {
	printf "| run | wall s | tokens/s |\n|---|---:|---:|\n"
	if (tok == "n/a") {
		printf "| lmf train (whole pipeline) | %.2f | n/a |\n", pipe
		printf "| lmf-sft alone, same batches | %.2f | n/a |\n", alone
	} else {
		printf "| lmf train (whole pipeline) | %.2f | %.0f |\n", pipe, tok / pipe
		printf "| lmf-sft alone, same batches | %.2f | %.0f |\n", alone, tok / alone
	}
	printf "\npipeline / alone tokens/s: %.3f (target >= 0.9); the same " \
	    "final weights: %s; load average after: %s\n", alone / pipe, same, load
}'
