#!/bin/sh
# bench.sh: what `make bench` runs. Measures, on one core (taskset -c 0),
# the lmf stream's write and read throughput (dev/bench-stream.c) and
# lmf-load's wall time and peak memory on a ~500 MB bf16 checkpoint that
# dev/mkckpt.c generates, and prints a markdown report (BENCH.md's table).
# A benchmark, not a test: it fails only when something cannot run.
# BENCH_CPU (default 0), BENCH_REPS (default 3), BENCH_MB (default 500).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
out=dev/out
cpu=${BENCH_CPU:-0}
reps=${BENCH_REPS:-3}
mb=${BENCH_MB:-500}
mkdir -p "$out"
pin=
command -v taskset >/dev/null 2>&1 && pin="taskset -c $cpu"

[ -f libcommon.a ] || make -s libcommon.a
pcflags=$(pkg-config --cflags jansson libzstd 2>/dev/null || true)
libs=$(pkg-config --libs jansson libzstd 2>/dev/null || echo -ljansson -lzstd)
for p in bench-stream mkckpt; do
	# shellcheck disable=SC2086
	cc -O2 -g -std=c11 -Wall -Wextra -Wno-unused-parameter -Iinclude \
	    -D_GNU_SOURCE -DLMF_VERSION="\"$(cat VERSION)\"" $pcflags \
	    -o "$out/$p" "dev/$p.c" libcommon.a $libs -lm -lpthread
done

cpumodel=$(LC_ALL=C lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)
echo "## lmf benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
echo "CPU: ${cpumodel:-unknown}, $(nproc) cores, measured on core $cpu" \
    "(\`$pin\`); $(uname -sr); zstd $(zstd -V 2>/dev/null |
    sed -n 's/.*v\([0-9.]*\).*/\1/p' | head -1)"
echo
echo "### Stream throughput"
echo
echo "MB/s of tensor payload (10^6 bytes), best of $reps, ~$mb MB per" \
    "stream through a file in the page cache. Level 0 is a raw stream;" \
    "1 is the default; negative levels are zstd's fast modes. \"read\"" \
    "is lmf_rd_next + lmf_rd_payload into a 1 MiB buffer; \"read item\"" \
    "is lmf_rd_item (allocates each tensor). Ratio: payload / file bytes."
echo
# shellcheck disable=SC2086
$pin "$out/bench-stream" -d "$out" -n "$reps" -s "$mb" -l 0,1,-1,-3
echo

echo "### lmf-load"
echo
ckpt=$out/ckpt
if [ ! -f "$ckpt/config.json" ] ||
    [ "$ckpt/config.json" -ot dev/mkckpt.c ]; then
	rm -rf "$ckpt"
	"$out/mkckpt" "$ckpt" >/dev/null
fi
ckmb=$(du -sm "$ckpt" | cut -f1)
if [ ! -x ./lmf-load ]; then
	echo "lmf-load is not built yet: skipped."
	echo "bench.sh: no ./lmf-load, skipping its benchmark" >&2
	exit 0
fi
if [ ! -x /usr/bin/time ]; then
	echo "no /usr/bin/time (Debian package time): skipped."
	echo "bench.sh: no /usr/bin/time, skipping lmf-load" >&2
	exit 0
fi
echo "Checkpoint: dev/mkckpt.c, llama, hidden 1024, 12 layers," \
    "intermediate 3584, vocab 32000, bf16, 2 shards, $ckmb MiB" \
    "(page cache warm). Output piped to wc -c, except with -o FILE, which" \
    "writes atomically with fsync, so its wall time includes the disk." \
    "Best of 2 (1 for -o FILE); CPU s is user + sys of lmf-load."
echo
echo "| command | wall s | CPU s | peak RSS MB | output MB | input MB/s |"
echo "|---|---:|---:|---:|---:|---:|"
cat "$ckpt"/*.safetensors >/dev/null
ckbytes=$(cat "$ckpt"/*.safetensors | wc -c)
# load ARGS RUNS OUTPUT: one table row, the fastest of RUNS
load() {
	: >"$out/times.txt"
	i=0
	while [ $i -lt "$2" ]; do
		i=$((i + 1))
		rm -f "$out/load.lmf"
		# shellcheck disable=SC2086
		if [ "$3" = - ]; then
			/usr/bin/time -f %e:%U:%S:%M -o "$out/time.txt" $pin \
			    ./lmf-load -q --model_name_or_path "$ckpt" $1 -o - \
			    2>"$out/load.err" | wc -c >"$out/size.txt"
		else
			/usr/bin/time -f %e:%U:%S:%M -o "$out/time.txt" $pin \
			    ./lmf-load -q --model_name_or_path "$ckpt" $1 \
			    -o "$3" 2>"$out/load.err"
			wc -c <"$3" >"$out/size.txt"
		fi
		if [ -s "$out/load.err" ] || grep -q '^Command' "$out/time.txt"
		then
			echo "bench.sh: lmf-load $1 failed:" \
			    "$(head -1 "$out/load.err" "$out/time.txt")" >&2
			exit 1
		fi
		tail -1 "$out/time.txt" >>"$out/times.txt"
	done
	awk -F: -v a="lmf-load${1:+ $1}${4:+ $4}" -v s="$(cat "$out/size.txt")" \
	    -v c="$ckbytes" '
		NR == 1 || $1 < w { w = $1; cpu = $2 + $3; r = $4 }
		END { printf("| %s | %.2f | %.2f | %.0f | %.0f | %.0f |\n", a, w,
		    cpu, r / 1024, s / 1e6, (w > 0 ? c / w / 1e6 : 0)) }' \
	    "$out/times.txt"
}
load "" 2 - "(f32)"
load "--dtype bf16" 2 -
load "-l 0" 2 - "(f32)"
load "--dtype bf16 -l 0" 2 -
load "" 1 "$out/load.lmf" "-o FILE (f32)"
rm -f "$out/load.lmf" "$out/time.txt" "$out/times.txt" "$out/load.err" \
    "$out/size.txt"
sh dev/bench-train.sh
sh dev/bench-hf.sh
sh dev/bench-tok.sh
sh dev/bench-gen.sh
echo
echo "### Predict (sft do_predict, tiny shape; dev/bench-predict.sh)"
echo
sh dev/bench-predict.sh || echo "(not run: see the message above)"
sh dev/bench-pipeline.sh
