#!/bin/sh
# run.sh [-c] [SECONDS]: build every tests/fuzz/*_fuzz.c with libFuzzer,
# ASan and UBSan (together with libcommon/*.c) into tests/fuzz/build/ and
# run each for SECONDS (default 60) on a copy of tests/fuzz/corpus/NAME/.
# Exits 1 if any fuzzer finds something (its input is saved as
# tests/fuzz/build/NAME-crash-*), 2 on a usage or build problem.
# -c first rebuilds the seed corpus with tests/fuzz/mkcorpus.c.
# FUZZ_CC (default clang), FUZZ_FLAGS (more libFuzzer flags).
set -eu
prog=run.sh
usage() { echo "usage: $prog [-c] [SECONDS]" >&2; exit 2; }
mkc=0
while getopts ch o; do
	case $o in
	c) mkc=1 ;;
	h) echo "usage: $prog [-c] [SECONDS]"; exit 0 ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -le 1 ] || usage
secs=${1:-60}
case $secs in ''|*[!0-9]*) echo "$prog: bad SECONDS '$secs'" >&2; exit 2 ;; esac

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
cc=${FUZZ_CC:-clang}
command -v "$cc" >/dev/null 2>&1 ||
	{ echo "$prog: no '$cc' (apt-get install clang)" >&2; exit 2; }
pkgs="jansson libzstd openblas"
pcflags=$(pkg-config --cflags $pkgs 2>/dev/null || true)
libs=$(pkg-config --libs $pkgs 2>/dev/null || echo -ljansson -lzstd -lopenblas)
# UBSan must abort, not just print, for libFuzzer to see a finding
flags="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
-fno-omit-frame-pointer -std=c11 -Iinclude -D_GNU_SOURCE $pcflags"
b=tests/fuzz/build
mkdir -p "$b"

if [ $mkc -eq 1 ]; then
	cc -O1 -g -std=c11 -Iinclude -D_GNU_SOURCE -DLMF_VERSION='"fuzz"' \
	    $pcflags -o "$b/mkcorpus" tests/fuzz/mkcorpus.c libcommon/*.c \
	    $libs -lm -lpthread || { echo "$prog: cannot build mkcorpus" >&2; exit 2; }
	rm -rf tests/fuzz/corpus/stream
	mkdir -p tests/fuzz/corpus/stream
	"$b/mkcorpus" tests/fuzz/corpus/stream
fi

status=0
for src in tests/fuzz/*_fuzz.c; do
	[ -e "$src" ] || continue
	name=$(basename "$src" _fuzz.c)
	exe=$b/${name}_fuzz
	echo "$prog: building $exe" >&2
	# shellcheck disable=SC2086
	$cc $flags -DLMF_VERSION='"fuzz"' -o "$exe" "$src" libcommon/*.c \
	    $libs -lm -lpthread ||
		{ echo "$prog: cannot build '$src'" >&2; exit 2; }
	work=$b/$name.corpus
	rm -rf "$work"
	mkdir -p "$work"
	[ -d "tests/fuzz/corpus/$name" ] && cp "tests/fuzz/corpus/$name"/* "$work"/
	dict=
	[ -f "tests/fuzz/$name.dict" ] && dict=-dict=tests/fuzz/$name.dict
	echo "$prog: fuzzing $name for ${secs}s (log $b/$name.log)" >&2
	# shellcheck disable=SC2086
	if "$exe" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	    -max_len=65536 -print_final_stats=1 -artifact_prefix="$b/$name-" \
	    $dict ${FUZZ_FLAGS:-} "$work" >"$b/$name.log" 2>&1; then
		grep -E '^(stat::number_of_executed_units|Done )' "$b/$name.log" |
			sed "s/^/$prog: $name: /" >&2
	else
		status=1
		echo "$prog: $name: FINDING (see $b/$name.log):" >&2
		grep -E 'ERROR|SUMMARY|stream_fuzz:|Test unit written' \
		    "$b/$name.log" | head -5 | sed "s/^/$prog: $name: /" >&2
	fi
done
exit $status
