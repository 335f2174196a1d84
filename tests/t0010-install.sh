#!/bin/sh
# make install puts programs, scripts and man pages under PREFIX
. "$(dirname "$0")/lib.sh"
plan 5
d=$SCRATCH/root
check "make install DESTDIR PREFIX" make -s -C "$TOP" install DESTDIR="$d" PREFIX=/opt/lmf
n=0
for b in "$TOP"/lmf-*; do
	[ -x "$b" ] || continue
	[ -x "$d/opt/lmf/bin/$(basename "$b")" ] || n=$((n + 1))
done
_result $n "every program installed"
check "man pages installed" test -f "$d/opt/lmf/share/man/man5/lmf-stream.5" -a \
	-f "$d/opt/lmf/share/man/man7/lmf.7"
check "lmf-board's page installed" test -f \
	"$d/opt/lmf/share/lmf/board/index.html" -a \
	-f "$d/opt/lmf/share/lmf/board/board.js"
README_NOW=$(sh "$TOP/scripts/mkreadme")
printf '%s\n' "$README_NOW" >readme.now
check_same "README.md is current with man/lmf.7 (make README.md)" "$TOP/README.md" readme.now
done_testing
