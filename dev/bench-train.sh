#!/bin/sh
# bench-train.sh: the training benchmark of `make bench` (called at the end
# of dev/bench.sh). For the tiny and small LLaMA shapes of issue 3, full
# fine-tuning and LoRA rank 8 on all seven projections, it trains on random
# tokens with lmf-sft and with the same model in PyTorch (dev/bench_torch.py,
# fp32, AdamW, the same threads and OpenBLAS core type) and measures sgemm
# on the model's own matrix shapes (dev/gemm-shapes.c); it prints a markdown
# report (BENCH.md's Training section). A benchmark, not a test: it fails
# only when something cannot run; a side that cannot run gets "n/a" rows.
# BENCH_THREADS (2), BENCH_STEPS (timed steps, 3), BENCH_WARMUP (1),
# BENCH_GC (1: gradient checkpointing on both sides; default 0),
# BENCH_SHAPES ("tiny small"), BENCH_FT ("full lora"), BENCH_CORETYPE
# (OpenBLAS core type of both sides; default: what lmf_gemm_init picks).
# lmf-sft runs with LMF_PROFILE=1: the report ends with where its steps
# went.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
out=dev/out/train
threads=${BENCH_THREADS:-2}
steps=${BENCH_STEPS:-3}
warmup=${BENCH_WARMUP:-1}
gc=${BENCH_GC:-0}
shapes=${BENCH_SHAPES:-tiny small}
fts=${BENCH_FT:-full lora}
py=/usr/bin/python3
mkdir -p "$out"

# dev/gemm-shapes.c, linked as the tools are
make -s dev/out/gemm-shapes

# PyTorch is a benchmark dependency only (make check never needs it)
havetorch=1
if ! $py -c 'import torch' 2>/dev/null; then
	sh scripts/install-deps python3-torch python3-numpy >/dev/null 2>&1 ||
	    true
	$py -c 'import torch' 2>/dev/null || havetorch=0
fi
havesft=0
[ -x ./lmf-sft ] && [ -x ./lmf-load ] && havesft=1
havetime=0
[ -x /usr/bin/time ] && havetime=1

# shape NAME: set the shape's dimensions
shape() {
	case $1 in
	tiny) C=288 L=6 NH=6 FF=768 V=32000 T=256 B=8 ;;
	small) C=768 L=12 NH=12 FF=2048 V=32000 T=512 B=4 ;;
	*) echo "bench-train.sh: unknown shape '$1'" >&2; exit 2 ;;
	esac
}
load1() { cut -d' ' -f1 /proc/loadavg; }
# the FLOPs per token of one training step (the formula: bench_torch.py)
fpt() {
	$py dev/bench_torch.py --flops --dim $C --layers $L --heads $NH \
	    --hidden $FF --vocab $V --seq $T --batch $B --finetuning_type "$1" \
	    --gradient_checkpointing "$gc"
}

# the core type lmf_gemm_init settles on, for PyTorch's OpenBLAS too: the
# CPU's best unless OPENBLAS_CORETYPE is set (BENCH_CORETYPE sets it here;
# some machines set it in every shell, which hides AVX-512 kernels)
inherited=${OPENBLAS_CORETYPE:-}
if [ -n "${BENCH_CORETYPE:-}" ]; then
	OPENBLAS_CORETYPE=$BENCH_CORETYPE
	export OPENBLAS_CORETYPE
fi
core=$(dev/out/gemm-shapes -t 0.01 --dim 64 --heads 1 --hidden 64 \
    --vocab 64 --seq 64 --batch 1 --layers 1 |
    sed -n 's/^# openblas core \([^,]*\),.*/\1/p')
cpumodel=$(LC_ALL=C lscpu 2>/dev/null | sed -n 's/^Model name: *//p' |
    head -1)
tv=n/a
[ $havetorch = 1 ] && tv=$($py -c 'import torch; print(torch.__version__)')
echo
echo "## Training, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
echo "CPU: ${cpumodel:-unknown}, $(nproc) cores; $threads threads;" \
    "OpenBLAS core type $core (both sides: OPENBLAS_CORETYPE=$core$(
    [ -n "$inherited" ] && echo "; the shell had OPENBLAS_CORETYPE=$inherited"));" \
    "PyTorch $tv; gradient checkpointing $([ "$gc" = 1 ] && echo on ||
    echo off) (both sides); $warmup warm-up step(s), then $steps timed" \
    "steps of random tokens; tokens/s = B*T*steps / time of the timed" \
    "steps. Load: 1-minute load average when the row started" \
    "(uptime: $(uptime | sed 's/.*load average: //'))."
echo

# gemmshapes FILE: sgemm on the shape's products, into FILE unless the
# rate in FILE is higher (the best of the runs before and after the rows)
gemmshapes() {
	dev/out/gemm-shapes --dim $C --layers $L --heads $NH --hidden $FF \
	    --vocab $V --seq $T --batch $B --threads "$threads" \
	    >"$out/gemm.tmp"
	if [ ! -f "$1" ] || [ "$(rate "$out/gemm.tmp")" -gt "$(rate "$1")" ]
	then
		mv "$out/gemm.tmp" "$1"
	fi
	rm -f "$out/gemm.tmp"
}
# rate FILE: gemm-shapes' step rate in tenths of GFLOP/s
rate() {
	sed -n 's/.*at these rates: \([0-9]*\)\.\([0-9]\) GFLOP.*/\1\2/p' "$1"
}

rows=$out/rows.txt
: >"$rows"
: >"$out/sgemm.txt"
rm -f "$out"/gemm-*.txt
for s in $shapes; do
	shape "$s"
	gemmshapes "$out/gemm-$s.txt"
	if [ $havesft = 1 ]; then
		cfg=$out/$s-config.json
		cat >"$cfg" <<-EOF
		{"architectures": ["LlamaForCausalLM"], "model_type": "llama",
		 "hidden_size": $C, "intermediate_size": $FF,
		 "num_attention_heads": $NH, "num_key_value_heads": $NH,
		 "num_hidden_layers": $L, "vocab_size": $V,
		 "rms_norm_eps": 1e-05, "rope_theta": 10000.0,
		 "max_position_embeddings": 2048, "tie_word_embeddings": false,
		 "hidden_act": "silu", "torch_dtype": "float32"}
		EOF
		./lmf-load -q --init --config "$cfg" -l 0 -o "$out/$s-model.lmf"
		$py dev/mkbatches.py $B $T $V $((warmup + steps)) \
		    >"$out/$s-batches.lmf"
	fi
	for ft in $fts; do
		f=$(fpt "$ft")
		# PyTorch
		ld=$(load1)
		if [ $havetorch = 1 ] && OPENBLAS_CORETYPE=$core \
		    OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$threads \
		    $py dev/bench_torch.py --dim $C --layers $L --heads $NH \
		    --hidden $FF --vocab $V --seq $T --batch $B \
		    --finetuning_type "$ft" --gradient_checkpointing "$gc" \
		    --steps "$steps" --warmup "$warmup" --threads "$threads" \
		    >"$out/torch-$s-$ft.json" 2>"$out/torch-$s-$ft.err"; then
			$py -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(sys.argv[2], sys.argv[3], "torch", d["tokens_per_s"], d["gflops"],
      d["peak_rss_mb"], sys.argv[4])' \
			    "$out/torch-$s-$ft.json" "$s" "$ft" "$ld" \
			    >>"$rows"
		else
			[ $havetorch = 1 ] && echo "bench-train.sh: torch $s $ft" \
			    "failed: $(tail -1 "$out/torch-$s-$ft.err")" >&2
			echo "$s $ft torch n/a n/a n/a $ld" >>"$rows"
		fi
		# lmf
		ld=$(load1)
		if [ $havesft = 0 ] || [ $havetime = 0 ]; then
			echo "$s $ft lmf pending pending pending $ld" >>"$rows"
			continue
		fi
		set -- --finetuning_type "$ft"
		[ "$ft" = lora ] && set -- "$@" --lora_rank 8 --lora_target all
		[ "$gc" = 1 ] || set -- "$@" --disable_gradient_checkpointing
		rm -rf "$out/sft-$s-$ft"
		if LMF_PROFILE=1 OPENBLAS_CORETYPE=$core /usr/bin/time -f %e:%M \
		    -o "$out/sft-$s-$ft.time" ./lmf-sft --model "$out/$s-model.lmf" \
		    --data "$out/$s-batches.lmf" "$@" \
		    --max_steps $((warmup + steps)) --logging_steps 1 \
		    --threads "$threads" --output_dir "$out/sft-$s-$ft" -l 0 \
		    >"$out/sft-$s-$ft.out" 2>"$out/sft-$s-$ft.err"; then
			# the timed steps: each log line after the warm-up
			# gives its step's tokens/s, so its time is tok / that
			awk -v w="$warmup" -v n="$steps" -v tok=$((B * T)) \
			    -v f="$f" -v s="$s" -v ft="$ft" -v ld="$ld" \
			    -v rss="$(tail -1 "$out/sft-$s-$ft.time" |
			    cut -d: -f2)" '
				/^step [0-9]+/ && match($0, /tok\/s [0-9.]+/) {
					k++
					v = substr($0, RSTART + 6, RLENGTH - 6)
					if (k > w && k <= w + n && v > 0) {
						t += tok / v
						m++
					}
				}
				END {
					if (m < n || t <= 0) {
						print s, ft, "lmf", "n/a", "n/a",
						    "n/a", ld
						exit
					}
					r = tok * m / t
					printf("%s %s lmf %.1f %.1f %.0f %s\n", s,
					    ft, r, r * f / 1e9, rss / 1024, ld)
				}' "$out/sft-$s-$ft.err" >>"$rows"
		else
			echo "bench-train.sh: lmf-sft $s $ft failed:" \
			    "$(tail -1 "$out/sft-$s-$ft.err")" >&2
			echo "$s $ft lmf n/a n/a n/a $ld" >>"$rows"
		fi
	done
	gemmshapes "$out/gemm-$s.txt"
	echo "$s $(rate "$out/gemm-$s.txt")" >>"$out/sgemm.txt"
done

echo "| shape | tuning | side | tokens/s | GFLOP/s | peak RSS MB |" \
    "lmf / torch | of sgemm | load |"
echo "|---|---|---|---:|---:|---:|---:|---:|---:|"
awk '
	FILENAME ~ /sgemm/ { sg[$1] = $2 / 10; next }
	$3 == "torch" { tt[$1 " " $2] = $4 }
	{ row[++n] = $0 }
	END {
		for (i = 1; i <= n; i++) {
			split(row[i], a, " ")
			k = a[1] " " a[2]
			x = ""; y = ""
			if (a[3] == "lmf" && a[4] + 0 > 0 && tt[k] + 0 > 0)
				x = sprintf("%.2fx", a[4] / tt[k])
			if (a[5] + 0 > 0 && sg[a[1]] > 0)
				y = sprintf("%.0f%%", 100 * a[5] / sg[a[1]])
			printf("| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			    a[1], a[2], a[3], a[4], a[5], a[6], x, y, a[7])
		}
	}' "$out/sgemm.txt" "$rows"
echo
echo "GFLOP/s counts the model's FLOPs per token (N = weights in matrix" \
    "products: the seven projections of every layer and lm_head; L" \
    "layers, T sequence length, C model width, r LoRA rank, S = sum of" \
    "d_in + d_out over the LoRA-wrapped projections):" \
    "full 6N + 12LTC; LoRA 4N + 12LTC + 6rS (no weight gradients for the" \
    "frozen base, input gradients through every layer); with gradient" \
    "checkpointing one more forward of the layers (2N without lm_head +" \
    "4LTC, + 2rS for LoRA). \"of sgemm\": GFLOP/s over the OpenBLAS sgemm" \
    "rate of one full step's matrix products measured in the same run" \
    "(dev/gemm-shapes.c: each product's best time, weighted by how" \
    "often a step runs it; the better of a run before and one after the" \
    "shape's rows):"
for s in $shapes; do
	echo
	echo "sgemm on the $s shape's products ($threads threads):"
	echo
	sed 's/^/    /' "$out/gemm-$s.txt"
done
# where lmf-sft's steps went (LMF_PROFILE, include/lmf/prof.h)
echo
echo "Where lmf-sft's step goes (LMF_PROFILE=1: seconds a step after the" \
    "first, by kind of work; a kind that does not shrink with more" \
    "threads is serial or bound by memory):"
for s in $shapes; do
	for ft in $fts; do
		f=$out/sft-$s-$ft.err
		[ -f "$f" ] && grep -q '^profile:' "$f" || continue
		echo
		echo "$s $ft:"
		echo
		grep '^profile:' "$f" | sed 's/^profile: /    /'
	done
done
