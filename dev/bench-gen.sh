#!/bin/sh
# bench-gen.sh: the generation benchmark of `make bench` (called at the end
# of dev/bench.sh). For the tiny and small LLaMA shapes, random weights
# (lmf-load --init) and random prompts of BENCH_GEN_PROMPT ids, it measures
# greedy generation of BENCH_GEN_NEW new tokens at batch 1 and 8 with
# lmf-generate and with the same model in PyTorch (dev/bench_gen_torch.py:
# prefill, then a token at a time with a key/value cache, fp32, the same
# threads) and prints a markdown report (BENCH.md's Generation section).
# tokens/s = new tokens (all rows) / decode time: lmf's is the wall time of
# the run minus that of a 0-new-token run (model load and prefill), the
# fastest of BENCH_GEN_REPS each; PyTorch times its decode loop itself.
# The config has no eos_token_id and an --init stream no tokenizer, so
# lmf-generate has no stop id; each lmf run is checked to have made every
# token. A benchmark, not a test: it fails only when something cannot run;
# a side that cannot run gets "n/a" rows.
# BENCH_THREADS (2), BENCH_GEN_REPS (1), BENCH_GEN_NEW (128),
# BENCH_GEN_PROMPT (32), BENCH_SHAPES ("tiny small"), BENCH_GEN_BATCH ("1 8"),
# BENCH_GEN_ARGS (more lmf-generate options, e.g. "--infer_dtype bfloat16"),
# BENCH_GEN_TORCH=0 (no PyTorch rows), BENCH_GEN_CPU=1 (lmf's times are the
# CPU seconds, user + system, of each run instead of its wall time: on a
# machine shared with other work, at 1 thread, what the core itself took).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
out=dev/out/gen
threads=${BENCH_THREADS:-2}
reps=${BENCH_GEN_REPS:-1}
new=${BENCH_GEN_NEW:-128}
plen=${BENCH_GEN_PROMPT:-32}
shapes=${BENCH_SHAPES:-tiny small}
batches=${BENCH_GEN_BATCH:-1 8}
py=/usr/bin/python3
mkdir -p "$out"

havetorch=1
$py -c 'import torch' 2>/dev/null || havetorch=0
[ "${BENCH_GEN_TORCH:-1}" = 0 ] && havetorch=0
havegen=0
[ -x ./lmf-generate ] && [ -x ./lmf-load ] && havegen=1

shape() {
	case $1 in
	tiny) C=288 L=6 NH=6 FF=768 V=32000 ;;
	small) C=768 L=12 NH=12 FF=2048 V=32000 ;;
	*) echo "bench-gen.sh: unknown shape '$1'" >&2; exit 2 ;;
	esac
}
load1() { cut -d' ' -f1 /proc/loadavg; }
now() { date +%s.%N; }
# lmfrun MODEL B N: run lmf-generate on B prompts for N new tokens; print
# the wall seconds, or nothing when it failed or stopped short
lmfrun() {
	set -- "$1" "$2" "$3" "$out/run.ids"
	t0=$(now)
	tm=
	[ "${BENCH_GEN_CPU:-0}" = 1 ] && tm="/usr/bin/time -f %U+%S -o $out/cpu"
	# shellcheck disable=SC2046,SC2086
	if ! $tm ./lmf-generate --model "$1" $(sed 's/^/--prompt_ids /' \
	    "$out/prompts-$2.txt") --batch_size "$2" --do_sample false \
	    --max_new_tokens "$3" --threads "$threads" --output_format ids \
	    ${BENCH_GEN_ARGS:-} \
	    >"$4" 2>"$out/run.err"; then
		echo "bench-gen.sh: lmf-generate failed:" \
		    "$(head -1 "$out/run.err")" >&2
		return 0
	fi
	t1=$(now)
	got=$(tr ',' '\n' <"$4" | grep -c . || true)
	if [ "$got" -ne $(($2 * $3)) ]; then
		echo "bench-gen.sh: lmf-generate made $got tokens," \
		    "not $(($2 * $3))" >&2
		return 0
	fi
	if [ -n "$tm" ]; then
		awk -F+ '{ printf("%.4f\n", $1 + $2) }' "$out/cpu"
		return 0
	fi
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf("%.4f\n", b - a) }'
}
# best FILE: the smallest number in FILE
best() { sort -g "$1" | head -1; }

tv=n/a
[ $havetorch = 1 ] && tv=$($py -c 'import torch; print(torch.__version__)')
cpumodel=$(LC_ALL=C lscpu 2>/dev/null | sed -n 's/^Model name: *//p' |
    head -1)
echo
echo "## Generation, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
echo "CPU: ${cpumodel:-unknown}, $(nproc) cores; $threads threads; PyTorch" \
    "$tv; greedy, fp32${BENCH_GEN_ARGS:+ (lmf: $BENCH_GEN_ARGS)}$([ "${BENCH_GEN_CPU:-0}" = 1 ] && echo " (lmf: CPU seconds, not wall)"), random weights, $plen-id random prompts, $new" \
    "new tokens per row, no EOS (every row makes all $new). tokens/s =" \
    "new tokens of all rows / decode time, load and prefill excluded" \
    "(lmf: wall of the run minus a 0-new-token run; PyTorch: its decode" \
    "loop), best of $reps. Load: 1-minute load average when the row" \
    "started (uptime: $(uptime | sed 's/.*load average: //'))."
echo

rows=$out/rows.txt
: >"$rows"
for s in $shapes; do
	shape "$s"
	if [ $havegen = 1 ]; then
		cat >"$out/$s-config.json" <<-EOF
		{"architectures": ["LlamaForCausalLM"], "model_type": "llama",
		 "hidden_size": $C, "intermediate_size": $FF,
		 "num_attention_heads": $NH, "num_key_value_heads": $NH,
		 "num_hidden_layers": $L, "vocab_size": $V,
		 "rms_norm_eps": 1e-05, "rope_theta": 10000.0,
		 "max_position_embeddings": 2048, "tie_word_embeddings": false,
		 "hidden_act": "silu", "torch_dtype": "float32"}
		EOF
		./lmf-load -q --init --config "$out/$s-config.json" -l 0 \
		    -o "$out/$s.lmf"
	fi
	for b in $batches; do
		$py -c 'import random, sys
r = random.Random(int(sys.argv[1]))
for _ in range(int(sys.argv[1])):
    print(",".join(str(r.randrange(int(sys.argv[3])))
                   for _ in range(int(sys.argv[2]))))' "$b" "$plen" "$V" \
		    >"$out/prompts-$b.txt"
		# PyTorch
		ld=$(load1)
		if [ $havetorch = 1 ] && OMP_NUM_THREADS=$threads \
		    OPENBLAS_NUM_THREADS=$threads $py dev/bench_gen_torch.py \
		    --dim $C --layers $L --heads $NH --hidden $FF --vocab $V \
		    --batch "$b" --prompt "$plen" --new "$new" \
		    --threads "$threads" --reps "$reps" \
		    >"$out/torch-$s-$b.json" 2>"$out/torch-$s-$b.err"; then
			$py -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(sys.argv[2], sys.argv[3], "torch", d["tokens_per_s"], d["decode_s"],
      d["prefill_s"], sys.argv[4])' "$out/torch-$s-$b.json" "$s" "$b" "$ld" \
			    >>"$rows"
		else
			[ $havetorch = 1 ] && echo "bench-gen.sh: torch $s $b" \
			    "failed: $(tail -1 "$out/torch-$s-$b.err")" >&2
			echo "$s $b torch n/a n/a n/a $ld" >>"$rows"
		fi
		# lmf
		ld=$(load1)
		if [ $havegen = 0 ]; then
			echo "$s $b lmf n/a n/a n/a $ld" >>"$rows"
			continue
		fi
		: >"$out/t0.txt"
		: >"$out/tn.txt"
		i=0
		while [ $i -lt "$reps" ]; do
			i=$((i + 1))
			lmfrun "$out/$s.lmf" "$b" 0 >>"$out/t0.txt"
			lmfrun "$out/$s.lmf" "$b" "$new" >>"$out/tn.txt"
		done
		if [ -s "$out/t0.txt" ] && [ -s "$out/tn.txt" ]; then
			awk -v a="$(best "$out/t0.txt")" \
			    -v b="$(best "$out/tn.txt")" -v n=$((b * new)) \
			    -v s="$s" -v bb="$b" -v ld="$ld" 'BEGIN {
				d = b - a
				if (d <= 0) {
					print s, bb, "lmf", "n/a", "n/a", "n/a",
					    ld
					exit
				}
				printf("%s %s lmf %.1f %.4f %.4f %s\n", s, bb,
				    n / d, d, a, ld)
			}' >>"$rows"
		else
			echo "$s $b lmf n/a n/a n/a $ld" >>"$rows"
		fi
	done
done
rm -f "$out/run.ids" "$out/run.err" "$out/t0.txt" "$out/tn.txt"

echo "| shape | batch | side | new tokens/s | decode s |" \
    "load+prefill s | lmf / torch | load |"
echo "|---|---:|---|---:|---:|---:|---:|---:|"
awk '
	$3 == "torch" { tt[$1 " " $2] = $4 }
	{ row[++n] = $0 }
	END {
		for (i = 1; i <= n; i++) {
			split(row[i], a, " ")
			x = ""
			k = a[1] " " a[2]
			if (a[3] == "lmf" && a[4] + 0 > 0 && tt[k] + 0 > 0)
				x = sprintf("%.2fx", a[4] / tt[k])
			printf("| %s | %s | %s | %s | %s | %s | %s | %s |\n",
			    a[1], a[2], a[3], a[4], a[5], a[6], x, a[7])
		}
	}' "$rows"
echo
echo "\"load+prefill s\": lmf, the 0-new-token run (process start, model" \
    "load, prefill of every prompt); PyTorch, the prefill alone (its" \
    "model is built in memory, not loaded)."
