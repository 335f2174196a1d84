#!/bin/sh
# bench-gemm.sh: build dev/bench-gemm and print OpenBLAS sgemm GFLOP/s on
# lmf's training shapes, with the core type OpenBLAS detects, with the
# one lmf_gemm_init would choose (SkylakeX or Haswell), and with the
# generic Prescott kernel for scale. Run from anywhere; it links libcommon.a
# (built if missing) and leaves the binary in dev/out/.
set -eu
cd "$(dirname "$0")/.."
[ -f libcommon.a ] || make libcommon.a
mkdir -p dev/out
# oneDNN when libcommon.a's gemm.o was built with it (lmf_gemm_bf16)
dnnl=$(nm libcommon.a 2>/dev/null | grep -q ' U dnnl_' && echo -ldnnl || true)
# linked as the Makefile links the tools: OpenMP and the OpenMP build of
# OpenBLAS where it is installed (libcommon.a's kernels use OpenMP)
ompblas=/usr/lib/$(cc -print-multiarch 2>/dev/null)/openblas-openmp
omp=
if [ -d "$ompblas" ]; then
	omp="-fopenmp -Wl,-rpath,$ompblas"
	PKG_CONFIG_PATH=$ompblas/pkgconfig
	export PKG_CONFIG_PATH
fi
# shellcheck disable=SC2046,SC2086
cc -O2 -std=c11 -Iinclude $(pkg-config --cflags openblas) -D_GNU_SOURCE \
	-o dev/out/bench-gemm dev/bench-gemm.c libcommon.a \
	$(pkg-config --libs openblas jansson libzstd) $dnnl -lm -lpthread $omp
unset PKG_CONFIG_PATH
best=$(dev/out/bench-gemm -b)
[ "$best" = none ] && best=Prescott
echo "== detected core type"
env -u OPENBLAS_CORETYPE dev/out/bench-gemm
echo "== OPENBLAS_CORETYPE=$best (what lmf_gemm_init re-executes with)"
OPENBLAS_CORETYPE=$best dev/out/bench-gemm
echo "== OPENBLAS_CORETYPE=Prescott (the slow generic kernel)"
OPENBLAS_CORETYPE=Prescott dev/out/bench-gemm
