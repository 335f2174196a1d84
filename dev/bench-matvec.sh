#!/bin/sh
# bench-matvec.sh [ARGS]: build dev/bench-matvec.c and print G weights/s of
# the decode products, the 8-lane kernels against the AVX-512 ones, per
# matrix of the small shape (ARGS go to bench-matvec: -r passes, -t
# threads, -L layers, the N to run). make builds dev/out/bench-matvec,
# linked as the tools are.
set -eu
cd "$(dirname "$0")/.."
make -s dev/out/bench-matvec
echo "# $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)," \
	"load $(cut -d' ' -f1-3 /proc/loadavg)"
dev/out/bench-matvec "$@"
echo "# load $(cut -d' ' -f1-3 /proc/loadavg)"
