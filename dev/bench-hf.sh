#!/bin/sh
# bench-hf.sh: the transformers comparison of `make bench` (called at the
# end of dev/bench.sh). Where python3 imports transformers and peft, it
# times ../shared/bench/hf_bench.py (LLaMA-Factory's engine: transformers +
# PEFT on PyTorch) and lmf-sft in the same run, on the tiny and small
# shapes, full and LoRA rank 8 on all seven projections, at each thread
# count asked: lmf fp32 against transformers fp32, and where the CPU has
# AVX512-BF16 or AMX lmf --bf16 against transformers' bf16 autocast; the
# peak RSS of both fp32 runs. Then greedy generation (dev/bench_gen_hf.py
# against lmf-generate through dev/bench-gen.sh), fp32 and bf16 weights on
# both sides. Prints markdown tables; without transformers, peft or
# hf_bench.py it prints one line saying why and exits 0. A benchmark, not
# a test: it fails only when something cannot run.
# BENCH_HF (hf_bench.py's path, default ../shared/bench/hf_bench.py beside
# the checkout), BENCH_HF_THREADS ("2"), BENCH_HF_BF16 (auto, 0 or 1),
# BENCH_STEPS (3), BENCH_WARMUP (1), BENCH_SHAPES ("tiny small"),
# BENCH_FT ("full lora"), BENCH_PY (python3), BENCH_HF_TRAIN (1; 0: no
# training table), BENCH_HF_GEN_BATCH ("1"; empty: no generation table),
# BENCH_GEN_NEW (128). With LMF_PROFILE=1 each lmf-sft run's profile
# (prof.h: seconds a step by kind of work) is added to
# dev/out/hf/profile.txt. The shape "micro" (width 32, 2 layers, 2 x 32
# tokens) is a smoke test's, which hf_bench.py lacks.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
out=dev/out/hf
hf=${BENCH_HF:-$top/../shared/bench/hf_bench.py}
threads=${BENCH_HF_THREADS:-2}
steps=${BENCH_STEPS:-3}
warmup=${BENCH_WARMUP:-1}
shapes=${BENCH_SHAPES:-tiny small}
fts=${BENCH_FT:-full lora}
py=${BENCH_PY:-python3}
bf16=${BENCH_HF_BF16:-auto}
train=${BENCH_HF_TRAIN:-1}
genb=${BENCH_HF_GEN_BATCH-1}
new=${BENCH_GEN_NEW:-128}

echo
echo "## Against transformers, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
if [ ! -f "$hf" ]; then
	echo "Skipped: no hf_bench.py at $hf (BENCH_HF)."
	exit 0
fi
if ! $py -c 'import transformers, peft' 2>/dev/null; then
	echo "Skipped: $py cannot import transformers and peft" \
	    "(not packaged by Debian; pip install transformers peft)."
	exit 0
fi
if [ "$bf16" = auto ]; then
	bf16=0
	grep -qw -e avx512_bf16 -e amx_bf16 /proc/cpuinfo 2>/dev/null &&
	    bf16=1
fi
if [ ! -x ./lmf-sft ] || [ ! -x ./lmf-load ]; then
	echo "bench-hf.sh: lmf-sft or lmf-load is not built" >&2
	exit 1
fi
mkdir -p "$out"

shape() {
	case $1 in
	tiny) C=288 L=6 NH=6 FF=768 V=32000 T=256 B=8 ;;
	small) C=768 L=12 NH=12 FF=2048 V=32000 T=512 B=4 ;;
	micro) C=32 L=2 NH=4 FF=64 V=512 T=32 B=2 ;;
	*) echo "bench-hf.sh: unknown shape '$1'" >&2; exit 2 ;;
	esac
}
# lmf SHAPE FT THREADS [OPTION...]: lmf-sft's tokens/s over the timed
# steps and its peak RSS in MB ("n/a n/a" when it failed)
lmf() {
	r=$1 ft=$2 th=$3
	shift 3
	set -- "$@" --finetuning_type "$ft"
	[ "$ft" = lora ] && set -- "$@" --lora_rank 8 --lora_target all
	rm -rf "$out/sft"
	if /usr/bin/time -f %M -o "$out/sft.rss" ./lmf-sft \
	    --model "$out/$r-model.lmf" --data "$out/$r-batches.lmf" \
	    "$@" --disable_gradient_checkpointing \
	    --max_steps $((warmup + steps)) --logging_steps 1 --threads "$th" \
	    --output_dir "$out/sft" -l 0 >/dev/null 2>"$out/sft.err"; then
		awk -v w="$warmup" -v tok=$((B * T)) '
			/^step [0-9]+/ && match($0, /tok\/s [0-9.]+/) {
				k++
				v = substr($0, RSTART + 6, RLENGTH - 6)
				if (k > w && v > 0) { t += tok / v; m++ }
			}
			END {
				if (m == 0 || t <= 0) printf("n/a ")
				else printf("%.1f ", tok * m / t)
			}' "$out/sft.err"
		awk '{ printf("%.0f\n", $1 / 1024) }' "$out/sft.rss"
		[ -z "${LMF_PROFILE:-}" ] || { echo "# $r $ft, $th threads $*"
			grep '^profile:' "$out/sft.err"; } >>"$out/profile.txt"
	else
		echo "bench-hf.sh: lmf-sft $r $ft failed:" \
		    "$(tail -1 "$out/sft.err")" >&2
		echo n/a n/a
	fi
}
# hfrun SHAPE FT THREADS: hf_bench.py's lines, "fp32 TOK/S RSS" and
# "bf16 TOK/S RSS" (n/a for a run that failed; the fp32 run comes first,
# so its RSS is its own)
hfrun() {
	runs=$1:$2:cpu:fp32
	[ "$bf16" = 1 ] && runs=$runs,$1:$2:cpu:bf16
	$py "$hf" --threads "$3" --steps "$steps" --warmup "$warmup" \
	    --runs "$runs" >"$out/hf.json" 2>"$out/hf.err" || true
	$py -c 'import json, sys
got = {}
for line in open(sys.argv[1]):
    try:
        d = json.loads(line)
    except ValueError:
        continue
    if "tokens_per_s" in d:
        got[d["dtype"]] = "%s %s" % (d["tokens_per_s"],
                                     d.get("peak_rss_mb", "n/a"))
    elif "run" in d:
        print("bench-hf.sh: transformers %s failed: %s"
              % (d["run"], d.get("error", "?")), file=sys.stderr)
for dt in sys.argv[2:]:
    print(dt, got.get(dt, "n/a n/a"))' "$out/hf.json" fp32 bf16
}

ver=$($py -c 'import transformers, torch
print("transformers %s, PyTorch %s" % (transformers.__version__,
    torch.__version__))' 2>/dev/null || echo "transformers (version n/a)")
echo "CPU: $(LC_ALL=C lscpu 2>/dev/null | sed -n 's/^Model name: *//p' |
    head -1), $(nproc) cores; $ver; $warmup warm-up step(s), then $steps" \
    "timed steps of random tokens, no gradient checkpointing; bf16" \
    "autocast $([ "$bf16" = 1 ] && echo measured ||
    echo "not measured (no AVX512-BF16 or AMX)")."
echo
# ratio X Y: "X/Yx", or empty when either is not a number
ratio() {
	awk -v x="$1" -v y="$2" 'BEGIN {
		if (x + 0 > 0 && y + 0 > 0) printf("%.2fx", x / y) }'
}
# model SHAPE: its config, an --init model and the batches in $out
model() {
	shape "$1"
	[ -f "$out/$1-model.lmf" ] && [ -f "$out/$1-batches.lmf" ] && return 0
	cat >"$out/$1-config.json" <<-E
	{"architectures": ["LlamaForCausalLM"], "model_type": "llama",
	 "hidden_size": $C, "intermediate_size": $FF,
	 "num_attention_heads": $NH, "num_key_value_heads": $NH,
	 "num_hidden_layers": $L, "vocab_size": $V, "rms_norm_eps": 1e-05,
	 "rope_theta": 10000.0, "max_position_embeddings": 2048,
	 "tie_word_embeddings": false, "hidden_act": "silu",
	 "torch_dtype": "float32"}
	E
	./lmf-load -q --init --config "$out/$1-config.json" -l 0 \
	    -o "$out/$1-model.lmf"
	$py dev/mkbatches.py $B $T $V $((warmup + steps)) \
	    >"$out/$1-batches.lmf"
}
rm -f "$out"/*-model.lmf "$out"/*-batches.lmf

if [ "$train" = 1 ]; then
echo "| shape | tuning | threads | lmf fp32 | transformers fp32 |" \
    "lmf / transformers | lmf bf16 | transformers bf16 autocast |" \
    "lmf bf16 / transformers bf16 | lmf peak RSS MB |" \
    "transformers peak RSS MB | lmf / transformers RSS |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for s in $shapes; do
	model "$s"
	for ft in $fts; do for th in $threads; do
		# shellcheck disable=SC2046
		set -- $(lmf "$s" "$ft" "$th")
		l=$1 lr=$2
		lb=
		[ "$bf16" = 1 ] && lb=$(lmf "$s" "$ft" "$th" --bf16 | cut -d' ' -f1)
		hfrun "$s" "$ft" "$th" >"$out/hf.txt"
		# shellcheck disable=SC2046
		set -- $(sed -n 's/^fp32 //p' "$out/hf.txt")
		f=$1 fr=$2
		b=$(sed -n 's/^bf16 //p' "$out/hf.txt" | cut -d' ' -f1)
		[ "$bf16" = 1 ] || b=
		echo "| $s | $ft | $th | $l | $f | $(ratio "$l" "$f") |" \
		    "$lb | $b | $(ratio "$lb" "$b") | $lr | $fr |" \
		    "$(ratio "$lr" "$fr") |"
	done; done
done
echo
echo "tokens/s of the timed steps; peak RSS of the fp32 runs (transformers:" \
    "ru_maxrss of hf_bench.py's process, lmf: of lmf-sft)."
fi

if [ -n "$genb" ]; then
echo
echo "Generation: greedy, random weights, 32-id random prompts, $new new" \
    "tokens per row, no EOS; tokens/s = new tokens / decode time (load," \
    "prefill and first token excluded: lmf, a run less a 0-new-token run" \
    "(dev/bench-gen.sh); transformers, a generate() less a 1-token one" \
    "(dev/bench_gen_hf.py)); bf16 = bf16 weights (lmf --infer_dtype" \
    "bfloat16, transformers model.to(bfloat16))."
echo
echo "| shape | batch | threads | lmf fp32 | lmf bf16 | transformers fp32 |" \
    "transformers bf16 | lmf bf16 / transformers' best |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
# lmfgen SHAPE B THREADS [ARGS]: lmf-generate's new tokens/s
lmfgen() {
	BENCH_SHAPES=$1 BENCH_GEN_BATCH=$2 BENCH_THREADS=$3 \
	    BENCH_GEN_ARGS=${4:-} BENCH_GEN_TORCH=0 BENCH_GEN_NEW=$new \
	    BENCH_GEN_REPS=2 sh dev/bench-gen.sh >/dev/null 2>"$out/gen.err" ||
	    true
	awk '$3 == "lmf" { print $4 }' dev/out/gen/rows.txt 2>/dev/null |
	    grep . || echo n/a
}
# hfgen SHAPE B THREADS DTYPE: transformers' new tokens/s
hfgen() {
	$py dev/bench_gen_hf.py --size "$1" --batch "$2" --threads "$3" \
	    --dtype "$4" --new "$new" >"$out/gen.json" 2>"$out/gen.err" ||
	    true
	$py -c 'import json, sys
try:
    print(json.load(open(sys.argv[1]))["tokens_per_s"] or "n/a")
except (ValueError, KeyError, OSError):
    print("n/a")' "$out/gen.json"
}
for s in $shapes; do
	[ "$s" = micro ] && continue
	for b in $genb; do for th in $threads; do
		lf=$(lmfgen "$s" "$b" "$th")
		lb=$(lmfgen "$s" "$b" "$th" "--infer_dtype bfloat16")
		hf32=$(hfgen "$s" "$b" "$th" fp32)
		hb=$(hfgen "$s" "$b" "$th" bf16)
		best=$(awk -v x="$hf32" -v y="$hb" 'BEGIN {
			print (y + 0 > x + 0) ? y : x }')
		echo "| $s | $b | $th | $lf | $lb | $hf32 | $hb |" \
		    "$(ratio "$lb" "$best") |"
	done; done
done
fi
rm -rf "$out/sft" "$out/sft.err" "$out/sft.rss" "$out/hf.json" "$out/hf.err" \
    "$out/hf.txt" "$out/gen.json" "$out/gen.err"
