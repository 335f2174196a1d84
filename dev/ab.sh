#!/bin/sh
# ab.sh OLD: lmf-sft and lmf-generate of another checkout OLD (built with
# make lmf-sft lmf-load lmf-generate) against this one's, interleaved on the
# shapes of dev/bench-train.sh (tiny and small, full and LoRA rank 8 on all
# projections; greedy generation of 128 tokens at batch 1 and 8). Prints
# "train SHAPE FT old|new TOK/S" (harmonic mean of steps 2-4) and "gen SHAPE
# bB old|new SECONDS" (wall, load included), AB_ROUNDS rounds (default 2).
# AB_SHAPES ("tiny small"), AB_STEPS (training steps, 4), AB_PARTS
# ("train gen": which measurements, in that order, each round),
# AB_GEN_ARGS (more lmf-generate options for the new side, e.g.
# "--infer_dtype bfloat16"), AB_GEN_OLD_ARGS (the same for the old side),
# AB_GEN_NEW (new tokens, 128; 0 times the load and the prefill alone),
# AB_GEN_BATCH ("1 8"), AB_REUSE=1 (keep the models of an earlier run),
# AB_TRAIN_ARGS (more lmf-sft options for the new side, e.g. "--bf16";
# OLD may then be this checkout itself). With /usr/bin/time, each train
# line ends with the run's peak RSS in KiB.
# BENCH.md's "Speed after the trainer core" table came from it.
set -eu
[ $# -eq 1 ] || { echo "usage: dev/ab.sh OLD_CHECKOUT" >&2; exit 2; }
new=$(cd "$(dirname "$0")/.." && pwd)
old=$(cd "$1" && pwd)
o=$new/dev/out/ab
py=/usr/bin/python3
mkdir -p "$o"
cfg() {
	cat >"$o/$1.json" <<-E
	{"architectures": ["LlamaForCausalLM"], "model_type": "llama",
	 "hidden_size": $2, "intermediate_size": $4,
	 "num_attention_heads": $3, "num_key_value_heads": $3,
	 "num_hidden_layers": $5, "vocab_size": 32000, "rms_norm_eps": 1e-05,
	 "rope_theta": 10000.0, "max_position_embeddings": 2048,
	 "tie_word_embeddings": false, "hidden_act": "silu",
	 "torch_dtype": "float32"}
	E
}
dir() { if [ "$1" = old ]; then echo "$old"; else echo "$new"; fi; }
cfg tiny 288 6 768 6
cfg small 768 12 2048 12
for v in old new; do
	for s in tiny small; do
		[ "${AB_REUSE:-0}" = 1 ] && [ -s "$o/$v-$s.lmf" ] && continue
		"$(dir $v)/lmf-load" -q --init --config "$o/$s.json" -l 0 \
		    -o "$o/$v-$s.lmf"
	done
done
case ${AB_PARTS:-train gen} in *train*)
	$py "$new/dev/mkbatches.py" 8 256 32000 4 >"$o/tiny-b.lmf"
	$py "$new/dev/mkbatches.py" 4 512 32000 4 >"$o/small-b.lmf"
esac
shapes=${AB_SHAPES:-tiny small}
steps=${AB_STEPS:-4}
# train: one round of the training rows
train() {
	for s in $shapes; do for ft in full lora; do for v in old new; do
		set -- --finetuning_type $ft
		[ $ft = lora ] && set -- "$@" --lora_rank 8 --lora_target all
		# shellcheck disable=SC2086
		[ $v = new ] && set -- "$@" ${AB_TRAIN_ARGS:-}
		rm -rf "$o/out-$v"
		tm=
		[ -x /usr/bin/time ] && tm="/usr/bin/time -f %M -o $o/rss"
		: >"$o/rss"
		$tm "$(dir $v)/lmf-sft" --model "$o/$v-$s.lmf" --data "$o/$s-b.lmf" \
		    "$@" --disable_gradient_checkpointing --max_steps $steps \
		    --logging_steps 1 --threads 2 --output_dir "$o/out-$v" \
		    -l 0 2>"$o/err" >/dev/null
		echo "train $s $ft $v $(grep -o 'tok/s [0-9.]*' "$o/err" |
		    tail -$((steps - 1)) | awk '{ s += 1 / $2; n++ }
		    END { printf("%.1f", n / s) }') $(cat "$o/rss")"
	done; done; done
}
# gen: one round of the generation rows
gen() {
	for s in $shapes; do for b in ${AB_GEN_BATCH:-1 8}; do for v in old new; do
		# shellcheck disable=SC2046
		set -- $(i=0; while [ $i -lt $b ]; do i=$((i + 1));
		    printf -- '--prompt_ids %s ' "$(seq -s, $((i * 7)) \
		    $((i * 7 + 31)))"; done)
		# shellcheck disable=SC2086
		[ $v = new ] && set -- "$@" ${AB_GEN_ARGS:-}
		# shellcheck disable=SC2086
		[ $v = old ] && set -- "$@" ${AB_GEN_OLD_ARGS:-}
		t0=$(date +%s.%N)
		"$(dir $v)/lmf-generate" --model "$o/$v-$s.lmf" "$@" \
		    --batch_size $b --do_sample false --max_new_tokens ${AB_GEN_NEW:-128} \
		    --threads 2 --output_format ids >/dev/null 2>"$o/err"
		t1=$(date +%s.%N)
		echo "gen $s b$b $v $(echo "$t1 - $t0" | bc)"
	done; done; done
}
r=0
while [ $r -lt "${AB_ROUNDS:-2}" ]; do
	r=$((r + 1))
	for part in ${AB_PARTS:-train gen}; do
		$part
	done
done
