#!/bin/sh
# The fuzz harnesses (tests/fuzz/*_fuzz.c) built with plain cc and replayed
# over their seed corpora, and over cuts and byte flips of every seed: a
# regression check of what `make fuzz` explores, without clang.
. "$(dirname "$0")/lib.sh"
harnesses=$(ls "$TOP"/tests/fuzz/*_fuzz.c)
plan $(($(echo "$harnesses" | wc -l) * 3))
libs=$(pkg-config --libs jansson libzstd openblas 2>/dev/null ||
	echo -ljansson -lzstd -lopenblas)
for src in $harnesses; do
	name=$(basename "$src" _fuzz.c)
	# shellcheck disable=SC2086
	check "$name: harness builds" cc -O1 -g -std=c11 -I"$TOP/include" \
	    -D_GNU_SOURCE -o "replay-$name" "$TOP/tests/fuzz/replay.c" "$src" \
	    "$TOP/libcommon.a" $libs -lm -lpthread
	check "$name: seed corpus replays" "./replay-$name" \
	    "$TOP/tests/fuzz/corpus/$name"/*
	mkdir "mut-$name"
	/usr/bin/python3 - "$TOP/tests/fuzz/corpus/$name" "mut-$name" <<'PY'
import os, sys
src, dst = sys.argv[1], sys.argv[2]
for f in sorted(os.listdir(src)):
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
	check "$name: cuts and flips of the seeds replay" "./replay-$name" \
	    "mut-$name"/*
done
done_testing
