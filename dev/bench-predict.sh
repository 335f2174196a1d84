#!/bin/sh
# bench-predict.sh: sft predict throughput (prompts/s). The tiny bench
# shape (dim 288, 6 layers, 6 heads, hidden 768, vocab 32000) with random
# weights and the Mistral tokenizer (../shared/tokenizers/mistral) is
# trained one step by `lmf train` and then, with do_predict and
# predict_with_generate, generates greedily for BENCH_PRED_N prompts of
# data/alpaca_demo (eval_dataset, the llama2-style mistral template) at
# each eval batch size of BENCH_PRED_BATCH, BENCH_PRED_NEW new tokens per
# prompt (random weights rarely stop early). It prints one markdown row
# per batch size from predict_results.json: predict_samples_per_second
# (prompts/s over predict_runtime, which counts loading jieba's
# dictionary, generation, decoding, BLEU/ROUGE and writing the file).
# A benchmark, not a test. BENCH_PRED_N (32), BENCH_PRED_NEW (32),
# BENCH_PRED_BATCH ("1 8"), BENCH_PRED_REPS (1: best of).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
out=dev/out/predict
n=${BENCH_PRED_N:-32}
new=${BENCH_PRED_NEW:-32}
batches=${BENCH_PRED_BATCH:-1 8}
reps=${BENCH_PRED_REPS:-1}
tok=../shared/tokenizers/mistral
[ -f "$tok/tokenizer.json" ] || {
	echo "bench-predict.sh: no $tok (the shared tokenizers)" >&2
	exit 1
}
rm -rf "$out"
mkdir -p "$out/tiny"
cp "$tok/tokenizer.json" "$tok/tokenizer_config.json" "$out/tiny/"
cat >"$out/tiny/config.json" <<'CFG'
{"model_type": "llama", "hidden_size": 288, "intermediate_size": 768,
 "num_hidden_layers": 6, "num_attention_heads": 6, "num_key_value_heads": 6,
 "vocab_size": 32000, "max_position_embeddings": 2048,
 "rms_norm_eps": 1e-5, "tie_word_embeddings": false}
CFG
echo "| batch | prompts | new tokens | predict s | prompts/s | load |"
echo "|---:|---:|---:|---:|---:|---:|"
for b in $batches; do
	best=
	r=0
	while [ $r -lt "$reps" ]; do
		r=$((r + 1))
		rm -rf "$out/run"
		PATH="$top:$top/scripts:$PATH" lmf train --stage sft \
		    --model_name_or_path "$out/tiny" --train_from_scratch true \
		    --do_train true --finetuning_type lora --dataset alpaca_demo \
		    --eval_dataset alpaca_demo --dataset_dir data \
		    --template mistral --cutoff_len 256 --max_samples "$n" \
		    --max_steps 1 --per_device_train_batch_size 1 \
		    --per_device_eval_batch_size "$b" --do_predict true \
		    --predict_with_generate true --do_sample false \
		    --max_new_tokens "$new" --output_dir "$out/run" \
		    >"$out/run.log" 2>&1 || {
			echo "bench-predict.sh: lmf train failed:" \
			    "$(tail -1 "$out/run.log")" >&2
			exit 1
		}
		t=$(python3 -c 'import json, sys
print(json.load(open(sys.argv[1]))["predict_runtime"])' \
		    "$out/run/predict_results.json")
		if [ -z "$best" ] || awk "BEGIN { exit !($t < $best) }"; then
			best=$t
		fi
	done
	awk -v b="$b" -v n="$n" -v new="$new" -v t="$best" \
	    -v l="$(cut -d' ' -f1 /proc/loadavg)" 'BEGIN {
		printf "| %d | %d | %d | %.2f | %.2f | %s |\n", b, n, new, t,
		    n / t, l }'
done
