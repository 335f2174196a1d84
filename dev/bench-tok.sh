#!/bin/sh
# bench-tok.sh: tokenizer throughput (dev/bench-tok.c) on one core for the
# three shared tokenizers on LLaMA-Factory's wiki_demo.txt and
# c4_demo.jsonl, beside the Hugging Face `tokenizers` library
# (dev/bench-tok-ref.js, run when node finds the npm package `tokenizers`,
# e.g. NODE_PATH=/tmp/tokref/node_modules; RAYON_NUM_THREADS=1). Prints
# markdown (BENCH.md's "Tokenizer" section). Skips without /work/shared.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
out=dev/out
cpu=${BENCH_CPU:-0}
reps=${BENCH_REPS:-3}
shared=$(cd "$top/../shared" 2>/dev/null && pwd || true)
mkdir -p "$out"
pin=
command -v taskset >/dev/null 2>&1 && pin="taskset -c $cpu"
echo "### Tokenizer"
echo
if [ -z "$shared" ] || [ ! -d "$shared/tokenizers" ]; then
	echo "No /work/shared/tokenizers: skipped."
	exit 0
fi
[ -f libcommon.a ] || make -s libcommon.a
libs=$(pkg-config --libs jansson libzstd libpcre2-8 libutf8proc \
	2>/dev/null || echo -ljansson -lzstd -lpcre2-8 -lutf8proc)
# shellcheck disable=SC2086
cc -O2 -g -std=c11 -Wall -Wextra -Wno-unused-parameter -Iinclude \
    -D_GNU_SOURCE -o "$out/bench-tok" dev/bench-tok.c libcommon.a $libs \
    -lm -lpthread
ref=
command -v node >/dev/null 2>&1 &&
    node -e 'require("tokenizers")' 2>/dev/null && ref=1
echo "MB/s = 10^6 bytes of text encoded per second (no special tokens)," \
    "one encode call per document (a line of wiki_demo.txt, the \"text\"" \
    "of a c4_demo.jsonl line), best of $reps, on core $cpu. Load s:" \
    "reading and parsing tokenizer.json. HF: the \`tokenizers\` library" \
    "0.23.2 through its Node binding, RAYON_NUM_THREADS=1, same" \
    "documents; its token counts are printed to show both agree." \
    "loadavg: the machine's 1-minute load average as the row began" \
    "($(nproc 2>/dev/null || echo ?) cores; other work shares them)."
echo
echo "| tokenizer | file | load s | MB/s | tokens | HF load s | HF MB/s |" \
    "HF tokens | speed-up | loadavg |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for t in qwen3 llama3 mistral; do
	for f in wiki_demo.txt c4_demo.jsonl; do
		in=$shared/data/llamafactory/$f
		la=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo -)
		# shellcheck disable=SC2086
		set -- $($pin "$out/bench-tok" -n "$reps" \
		    "$shared/tokenizers/$t" "$in")
		if [ -n "$ref" ]; then
			# shellcheck disable=SC2046
			set -- "$@" $(RAYON_NUM_THREADS=1 $pin node \
			    dev/bench-tok-ref.js "$shared/tokenizers/$t" "$in" \
			    "$reps")
		else
			set -- "$@" - - - -
		fi
		echo "| $t | $f | $1 | $2 | $3 | $5 | $6 | $7 |" \
		    "$(awk -v a="$2" -v b="$6" 'BEGIN {
			if (b + 0 > 0) printf("%.1fx", a / b); else print "-" }') |" \
		    "$la |"
	done
done
echo
echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC'); load average at the end:" \
    "$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo -)."
