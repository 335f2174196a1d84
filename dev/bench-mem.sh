#!/bin/sh
# bench-mem.sh [ARGS]: build dev/bench-mem.c and print the machine's memory
# bandwidth (read-only sum and triad, 1 and 2 threads by default; ARGS go
# to bench-mem: -m MIB per array, -r repetitions, thread counts), the
# figure BENCH.md's decode roofline divides by. The binary is left in
# dev/out/.
set -eu
cd "$(dirname "$0")/.."
mkdir -p dev/out
cc -O3 -march=native -fopenmp -std=c11 -D_POSIX_C_SOURCE=200809L \
	-o dev/out/bench-mem dev/bench-mem.c
echo "# $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)," \
	"load $(cut -d' ' -f1-3 /proc/loadavg)"
dev/out/bench-mem "$@"
