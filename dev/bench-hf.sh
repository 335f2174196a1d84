#!/bin/sh
# bench-hf.sh: the transformers comparison of `make bench` (called at the
# end of dev/bench.sh). Where python3 imports transformers and peft, it
# times ../shared/bench/hf_bench.py (LLaMA-Factory's engine: transformers +
# PEFT on PyTorch) and lmf-sft in the same run, on the tiny and small
# shapes, full and LoRA rank 8 on all seven projections, at each thread
# count asked: transformers fp32, and bf16 autocast where the CPU has
# AVX512-BF16 or AMX. Prints a markdown table; without transformers, peft
# or hf_bench.py it prints one line saying why and exits 0. A benchmark,
# not a test: it fails only when something cannot run.
# BENCH_HF (hf_bench.py's path, default ../shared/bench/hf_bench.py beside
# the checkout), BENCH_HF_THREADS ("2"), BENCH_HF_BF16 (auto, 0 or 1),
# BENCH_STEPS (3), BENCH_WARMUP (1), BENCH_SHAPES ("tiny small"),
# BENCH_FT ("full lora"), BENCH_PY (python3). The shape "micro" (width
# 32, 2 layers, 2 x 32 tokens) is a smoke test's, which hf_bench.py lacks.
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
# lmf SHAPE FT THREADS: lmf-sft's tokens/s over the timed steps, or n/a
lmf() {
	set -- "$1" "$2" "$3" --finetuning_type "$2"
	[ "$2" = lora ] && set -- "$@" --lora_rank 8 --lora_target all
	rm -rf "$out/sft"
	r=$1 ft=$2 th=$3
	shift 3
	if ./lmf-sft --model "$out/$r-model.lmf" --data "$out/$r-batches.lmf" \
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
				if (m == 0 || t <= 0) print "n/a"
				else printf("%.1f\n", tok * m / t)
			}' "$out/sft.err"
	else
		echo "bench-hf.sh: lmf-sft $r $ft failed:" \
		    "$(tail -1 "$out/sft.err")" >&2
		echo n/a
	fi
}
# hfrun SHAPE FT THREADS: hf_bench.py's lines, "fp32 TOK/S" and
# "bf16 TOK/S" (n/a for a run that failed)
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
        got[d["dtype"]] = d["tokens_per_s"]
    elif "run" in d:
        print("bench-hf.sh: transformers %s failed: %s"
              % (d["run"], d.get("error", "?")), file=sys.stderr)
for dt in sys.argv[2:]:
    print(dt, got.get(dt, "n/a"))' "$out/hf.json" fp32 bf16
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
echo "| shape | tuning | threads | lmf fp32 | transformers fp32 |" \
    "lmf / transformers | transformers bf16 autocast | lmf / bf16 |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
for s in $shapes; do
	shape "$s"
	cat >"$out/$s-config.json" <<-E
	{"architectures": ["LlamaForCausalLM"], "model_type": "llama",
	 "hidden_size": $C, "intermediate_size": $FF,
	 "num_attention_heads": $NH, "num_key_value_heads": $NH,
	 "num_hidden_layers": $L, "vocab_size": $V, "rms_norm_eps": 1e-05,
	 "rope_theta": 10000.0, "max_position_embeddings": 2048,
	 "tie_word_embeddings": false, "hidden_act": "silu",
	 "torch_dtype": "float32"}
	E
	./lmf-load -q --init --config "$out/$s-config.json" -l 0 \
	    -o "$out/$s-model.lmf"
	$py dev/mkbatches.py $B $T $V $((warmup + steps)) \
	    >"$out/$s-batches.lmf"
	for ft in $fts; do for th in $threads; do
		l=$(lmf "$s" "$ft" "$th")
		hfrun "$s" "$ft" "$th" >"$out/hf.txt"
		f=$(sed -n 's/^fp32 //p' "$out/hf.txt")
		b=$(sed -n 's/^bf16 //p' "$out/hf.txt")
		[ "$bf16" = 1 ] || b=
		awk -v s="$s" -v ft="$ft" -v th="$th" -v l="$l" -v f="$f" \
		    -v b="$b" 'function r(x, y) {
				if (x + 0 > 0 && y + 0 > 0)
					return sprintf("%.2fx", x / y)
				return ""
			}
			BEGIN {
				printf("| %s | %s | %s | %s | %s | %s |",
				    s, ft, th, l, f, r(l, f))
				printf(" %s | %s |\n", b, r(l, b))
			}'
	done; done
done
rm -rf "$out/sft" "$out/sft.err" "$out/hf.json" "$out/hf.err" "$out/hf.txt"
