#!/bin/sh
# bench-matvec.sh [ARGS]: build dev/bench-matvec.c and print G weights/s of
# the decode products, the 8-lane kernels against the AVX-512 ones, per
# matrix of the small shape (ARGS go to bench-matvec: -r passes, -t
# threads, -L layers, the N to run). Links libcommon.a (built if missing);
# the binary is left in dev/out/.
set -eu
cd "$(dirname "$0")/.."
[ -f libcommon.a ] || make libcommon.a
mkdir -p dev/out
# the libraries libcommon.a's objects were built against
dnnl=$(nm libcommon.a 2>/dev/null | grep -q ' U dnnl_' && echo -ldnnl || true)
mpi=$(nm libcommon.a 2>/dev/null | grep -q ' U MPI_' &&
	pkg-config --libs ompi-c 2>/dev/null || true)
omp=$(nm libcommon.a 2>/dev/null | grep -q ' U omp_' && echo -fopenmp || true)
blas=/usr/lib/$(cc -print-multiarch)/openblas-openmp
[ -n "$omp" ] && [ -d "$blas" ] && export PKG_CONFIG_PATH=$blas/pkgconfig
# shellcheck disable=SC2086
cc -O2 -std=c11 -Iinclude -D_GNU_SOURCE $omp \
	-o dev/out/bench-matvec dev/bench-matvec.c libcommon.a \
	$(pkg-config --libs openblas jansson libzstd libpcre2-8 libutf8proc \
	yaml-0.1 zlib) $mpi $dnnl -lm -lpthread \
	${omp:+-Wl,-rpath,$blas}
echo "# $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)," \
	"load $(cut -d' ' -f1-3 /proc/loadavg)"
dev/out/bench-matvec "$@"
echo "# load $(cut -d' ' -f1-3 /proc/loadavg)"
