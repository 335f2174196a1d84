#!/bin/sh
# The fuzz harnesses (tests/fuzz/*_fuzz.c) linked with tests/fuzz/replay.c
# by the Makefile (tests/fuzz/NAME_replay, the same flags and libraries as
# the tools) and replayed over their corpora, and over cuts and byte flips
# of every named seed (not of the inputs run.sh -m merged, named by their
# SHA-1): a regression check of what `make fuzz` explores, without clang. tests/fuzz/run.sh must link with the Makefile's libraries.
. "$(dirname "$0")/lib.sh"
harnesses=$(ls "$TOP"/tests/fuzz/*_fuzz.c)
plan $(($(echo "$harnesses" | wc -l) * 3 + 1))

# run.sh -n prints its build commands; each harness's link line must name
# every library the Makefile links with
make -s --no-print-directory -C "$TOP" fuzz-flags >flags
FUZZ_CC=false sh "$TOP/tests/fuzz/run.sh" -n >cmds 2>/dev/null
: >missing
for lib in $(sed -n 2p flags); do
	grep -- '-fsanitize=fuzzer -o' cmds | grep -qv -- " $lib\( \|$\)" &&
		echo "$lib" >>missing
done
[ -s cmds ] || echo "no commands" >>missing
check "run.sh links the harnesses with the Makefile's libraries" \
    test ! -s missing

# a replay fails on a sanitizer's report too (make DEBUG=1 check)
replay() {
	"$@" 2>replay.err
	_rc=$?
	cat replay.err >&2
	! grep -q 'runtime error:' replay.err && return $_rc
	return 1
}

for src in $harnesses; do
	name=$(basename "$src" _fuzz.c)
	rep=$TOP/tests/fuzz/${name}_replay
	check "$name: harness builds" make -s --no-print-directory -C "$TOP" \
	    "tests/fuzz/${name}_replay"
	check "$name: seed corpus replays" replay timeout 120 "$rep" \
	    "$TOP/tests/fuzz/corpus/$name"/*
	mkdir "mut-$name"
	/usr/bin/python3 - "$TOP/tests/fuzz/corpus/$name" "mut-$name" <<'PY'
import os, sys
src, dst = sys.argv[1], sys.argv[2]
for f in sorted(os.listdir(src)):
    if len(f) == 40 and all(c in '0123456789abcdef' for c in f):
        continue    # merged by run.sh -m: replayed, not mutated
    d = open(os.path.join(src, f), 'rb').read()
    n = len(d)
    for k in range(12):
        open(os.path.join(dst, '%s.cut%d' % (f, k)), 'wb').write(
            d[:n * k // 12])
    for k in range(24):
        b = bytearray(d)
        if n:
            i = (k * 7919 + 13) % n
            b[i] ^= (1 << (k % 8)) | 0x10
        open(os.path.join(dst, '%s.flip%d' % (f, k)), 'wb').write(b)
PY
	check "$name: cuts and flips of the seeds replay" replay timeout 120 \
	    "$rep" "mut-$name"/*
done
done_testing
