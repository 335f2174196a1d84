#!/bin/sh
# bench-dp.sh: data-parallel lmf-sft on the tiny shape of issue 3 (dim 288,
# 6 layers, 6 heads, hidden 768, vocab 32000, seq 256, micro-batch 8), at
# one global batch of 2 micro-batches a step: 1 rank x 1 thread (GA 2),
# 1 rank x 2 threads (GA 2), 2 ranks x 1 thread (GA 1, mpirun over shared
# memory). Prints markdown rows: tokens/s over the timed steps (the
# step lines' tok/s after the first step), and for 2 ranks the allreduce
# and the wait before it per step, from lmf-sft's last line.
# BENCH_STEPS (timed steps, 4), BENCH_FT ("full lora").
# With BENCH_CAPS (ddp_bucket_cap_mb values, e.g. "0 25 1"; 0 = one flat
# allreduce) only 2 ranks x 1 thread run, once per value and tuning in
# each of BENCH_ROUNDS (3) interleaved rounds, one row a run: tok/s, the
# allreduce ms per step (flat: the wait before it apart; buckets: the
# time in MPI calls, the wait included) and the bucket count.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
out=dev/out/dp
steps=${BENCH_STEPS:-4}
fts=${BENCH_FT:-full lora}
mkdir -p "$out"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none
C=288 L=6 NH=6 FF=768 V=32000 T=256 B=8
cat >"$out/config.json" <<EOC
{"architectures": ["LlamaForCausalLM"], "model_type": "llama",
 "hidden_size": $C, "intermediate_size": $FF,
 "num_attention_heads": $NH, "num_key_value_heads": $NH,
 "num_hidden_layers": $L, "vocab_size": $V,
 "rms_norm_eps": 1e-05, "rope_theta": 10000.0,
 "max_position_embeddings": 2048, "tie_word_embeddings": false,
 "hidden_act": "silu", "torch_dtype": "float32"}
EOC
./lmf-load -q --init --config "$out/config.json" -l 0 -o "$out/model.lmf"
python3 dev/mkbatches.py $B $T $V $((2 * (steps + 1))) >"$out/batches.lmf"

# toks FILE: mean tok/s of the step lines after the first
toks() {
	awk '/^step [0-9]+\/[0-9]+:/ && !/^step 1\// {
		for (i = 1; i < NF; i++) if ($i == "tok/s") { s += $(i + 1); n++ } }
	END { printf "%.1f", n ? s / n : 0 }' "$1"
}
if [ -n "${BENCH_CAPS-}" ]; then
	echo "| round | tuning | ddp_bucket_cap_mb | tok/s | allreduce ms/step | wait ms/step | buckets |"
	echo "|---|---|---|---|---|---|---|"
	r=1
	while [ $r -le "${BENCH_ROUNDS:-3}" ]; do
		for ft in $fts; do
			for cap in $BENCH_CAPS; do
				e="$out/2x1-$ft-$cap-$r.err"
				mpirun -np 2 --oversubscribe --mca btl vader,self \
				    ./lmf-sft --model "$out/model.lmf" \
				    --data "$out/batches.lmf" --finetuning_type $ft \
				    --max_steps $((steps + 1)) --logging_steps 1 \
				    --learning_rate 1e-4 -o /dev/null --threads 1 \
				    --gradient_accumulation_steps 1 \
				    --ddp_bucket_cap_mb $cap 2>"$e"
				ar=$(sed -n 's/.*allreduce \([0-9.]*\) ms.*/\1/p' "$e")
				wt=$(sed -n 's/.* \([0-9.]*\) ms waiting.*/\1/p' "$e")
				nb=$(sed -n 's/.* in \([0-9]*\) buckets.*/\1/p' "$e")
				echo "| $r | $ft | $cap | $(toks "$e") | $ar |" \
				    "${wt:--} | ${nb:-1} |"
			done
		done
		r=$((r + 1))
	done
	exit 0
fi
echo "| tuning | ranks x threads | tok/s | vs 1 x 1 | allreduce ms/step | wait ms/step | MB/step |"
echo "|---|---|---|---|---|---|---|"
for ft in $fts; do
	common="--model $out/model.lmf --data $out/batches.lmf \
--finetuning_type $ft --max_steps $((steps + 1)) --logging_steps 1 \
--learning_rate 1e-4 -o /dev/null"
	./lmf-sft $common --threads 1 --gradient_accumulation_steps 2 \
	    2>"$out/1x1.err"
	./lmf-sft $common --threads 2 --gradient_accumulation_steps 2 \
	    2>"$out/1x2.err"
	mpirun -np 2 --oversubscribe --mca btl vader,self ./lmf-sft $common \
	    --threads 1 --gradient_accumulation_steps 1 2>"$out/2x1.err"
	base=$(toks "$out/1x1.err")
	for k in 1x1 1x2 2x1; do
		t=$(toks "$out/$k.err")
		ar=$(sed -n 's/.*allreduce \([0-9.]*\) ms.*/\1/p' "$out/$k.err")
		wt=$(sed -n 's/.* \([0-9.]*\) ms waiting.*/\1/p' "$out/$k.err")
		mb=$(sed -n 's/.*floats (\([0-9.]*\) MB).*/\1/p' "$out/$k.err")
		echo "| $ft | $(echo $k | sed "s/x/ x /") |" \
		    "$t | $(awk "BEGIN { printf \"%.2f\", $t / $base }") |" \
		    "${ar:--} | ${wt:--} | ${mb:--} |"
	done
done
