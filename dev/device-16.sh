#!/bin/sh
# device-16.sh: issue 16's transformers comparisons in one run on a lent
# machine that has transformers and peft (the device tool's 16-core Xeon):
# builds lmf there, then dev/bench-hf.sh in the order of what matters most,
# each part under its own time limit, every table written to $OUT (default
# dev/out/device) as soon as it is done, so a run cut short still returns
# what it measured. Meant for one call of about 9 minutes:
#   sh dev/device-16.sh
# DEVICE_THREADS ("16 2"), DEVICE_STEPS (2). lmf-sft runs with
# LMF_PROFILE=1: $OUT/profile.txt has where each run's step time went
# (prof.h), the thread scaling of each kind of work.
set -u
cd "$(dirname "$0")/.." || exit 1
out=${OUT:-dev/out/device}
mkdir -p "$out"
th=${DEVICE_THREADS:-16 2}
export BENCH_STEPS="${DEVICE_STEPS:-2}" BENCH_WARMUP=1 LMF_PROFILE=1
{ lscpu; nproc; free -g; python3 -c 'import torch, transformers, peft
print(torch.__version__, transformers.__version__, peft.__version__)'
} >"$out/machine.txt" 2>&1
# unset: the CPU's best OpenBLAS core type on both sides
unset OPENBLAS_CORETYPE
if ! make -j"$(nproc)" all >"$out/build.log" 2>&1; then
	make -j"$(nproc)" DNNL=0 all >>"$out/build.log" 2>&1 || exit 1
fi
# part NAME SECONDS VAR=VALUE...: one bench-hf.sh run into $out/NAME.md
part() {
	n=$1 s=$2
	shift 2
	env "$@" timeout "$s" sh dev/bench-hf.sh >"$out/$n.md" \
	    2>"$out/$n.err"
	echo "$n: exit $? at $(date -u +%T)" >>"$out/parts.txt"
	cp dev/out/hf/profile.txt "$out/" 2>/dev/null
}
date -u +%T >"$out/parts.txt"
rm -f dev/out/hf/profile.txt
# attention fp32 against bf16 (AMX CPUs have AVX512-BF16), 16 and 2 threads
make dev/out/bench-attn >>"$out/build.log" 2>&1 &&
	for t in 16 2; do timeout 20 dev/out/bench-attn $t; done \
	>"$out/attn.txt" 2>&1
part small-16 150 BENCH_SHAPES=small BENCH_HF_THREADS=16 \
    BENCH_HF_GEN_BATCH=1
part tiny 100 BENCH_SHAPES=tiny "BENCH_HF_THREADS=$th" BENCH_HF_GEN_BATCH=1
part small-2 240 BENCH_SHAPES=small BENCH_HF_THREADS=2 BENCH_FT=full \
    BENCH_HF_GEN_BATCH=1
part small-2-lora 90 BENCH_SHAPES=small BENCH_HF_THREADS=2 BENCH_FT=lora \
    BENCH_HF_GEN_BATCH=
