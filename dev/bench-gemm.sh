#!/bin/sh
# bench-gemm.sh: build dev/bench-gemm and print OpenBLAS sgemm GFLOP/s on
# lmf's training shapes, with the core type OpenBLAS detects, with the
# one lmf_gemm_init would choose (SkylakeX or Haswell), and with the
# generic Prescott kernel for scale. Run from anywhere; make builds it
# (dev/out/bench-gemm, linked as the tools are).
set -eu
cd "$(dirname "$0")/.."
make -s dev/out/bench-gemm
best=$(dev/out/bench-gemm -b)
[ "$best" = none ] && best=Prescott
echo "== detected core type"
env -u OPENBLAS_CORETYPE dev/out/bench-gemm
echo "== OPENBLAS_CORETYPE=$best (what lmf_gemm_init re-executes with)"
OPENBLAS_CORETYPE=$best dev/out/bench-gemm
echo "== OPENBLAS_CORETYPE=Prescott (the slow generic kernel)"
OPENBLAS_CORETYPE=Prescott dev/out/bench-gemm
