#!/bin/sh
# run.sh [-bcmn] [-j JOBS] [-w WORKERS] [-d DIR] [SECONDS [NAME...]]:
# build every tests/fuzz/NAME_fuzz.c (or only the NAMEs given) with
# libFuzzer, ASan and UBSan into tests/fuzz/build/, then run each for
# SECONDS (default 60) and print one line per harness: execs, coverage
# (cov: and ft: of the final stats), corpus size and findings.
#   -b  build only (tests/fuzz/build/NAME_fuzz), run nothing
#   -c  first rebuild the stream seeds with tests/fuzz/mkcorpus.c
#   -m  after fuzzing, merge into tests/fuzz/corpus/NAME/ the inputs that
#       add coverage to it (libFuzzer -merge=1; named by their SHA-1)
#   -n  print the build commands instead of running them
#   -j  libFuzzer -jobs=JOBS; -w  -workers=WORKERS (default: JOBS)
#   -d  fuzz in DIR/NAME/ (made if missing, seeded from the committed
#       corpus, kept: new inputs stay there); default a scratch copy
#       of tests/fuzz/corpus/NAME/ in tests/fuzz/build/
# libcommon is compiled once, with the Makefile's packages (make
# fuzz-flags). Per harness, tests/fuzz/NAME.dict is its dictionary and
# tests/fuzz/NAME.options holds more libFuzzer flags. Findings are saved
# as tests/fuzz/build/NAME-crash-* (leak-, timeout-, oom-); exit 1 if
# any, 2 on a usage or build problem. FUZZ_CC (default clang),
# FUZZ_FLAGS (more libFuzzer flags for all).
set -eu
prog=run.sh
usage() {
	echo "usage: $prog [-bcmn] [-j jobs] [-w workers] [-d dir]" \
	    "[seconds [name ...]]" >&2
	exit 2
}
build_only=0 mkc=0 merge=0 dry=0 jobs=0 workers=0 dir=
while getopts bcmnj:w:d:h o; do
	case $o in
	b) build_only=1 ;;
	c) mkc=1 ;;
	m) merge=1 ;;
	n) dry=1 ;;
	j) jobs=$OPTARG ;;
	w) workers=$OPTARG ;;
	d) dir=$OPTARG ;;
	h) echo "usage: $prog [-bcmn] [-j jobs] [-w workers] [-d dir]" \
	    "[seconds [name ...]]"; exit 0 ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
secs=${1:-60}
[ $# -gt 0 ] && shift
for n in "$secs" "$jobs" "$workers"; do
	case $n in ''|*[!0-9]*) echo "$prog: bad number '$n'" >&2; exit 2 ;;
	esac
done
[ "$workers" -gt 0 ] || workers=$jobs
case $dir in ''|/*) ;; *) dir=$(pwd)/$dir ;; esac

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
cc=${FUZZ_CC:-clang}
if [ $dry -eq 0 ]; then
	command -v "$cc" >/dev/null 2>&1 ||
		{ echo "$prog: no '$cc' (apt-get install clang)" >&2; exit 2; }
fi
flags=$(make -s --no-print-directory fuzz-flags) ||
	{ echo "$prog: cannot get the flags from the Makefile" >&2; exit 2; }
pcflags=$(echo "$flags" | sed -n 1p)
libs=$(echo "$flags" | sed -n 2p)
# UBSan must abort, not just print, for libFuzzer to see a finding
san="-fsanitize=address,undefined -fno-sanitize-recover=all"
cflags="-g -O1 -fno-omit-frame-pointer -std=c11 -Iinclude -D_GNU_SOURCE
-DLMF_VERSION=\"fuzz\" $pcflags"
b=tests/fuzz/build
run() {
	if [ $dry -eq 1 ]; then echo "$*"; else "$@"; fi
}

names=
if [ $# -gt 0 ]; then
	for n in "$@"; do
		[ -f "tests/fuzz/${n}_fuzz.c" ] ||
			{ echo "$prog: no harness '$n'" >&2; exit 2; }
		names="$names $n"
	done
else
	for src in tests/fuzz/*_fuzz.c; do
		names="$names $(basename "$src" _fuzz.c)"
	done
fi

run mkdir -p "$b/obj"
if [ $mkc -eq 1 ]; then
	# shellcheck disable=SC2086
	run cc -O1 -g -std=c11 -Iinclude -D_GNU_SOURCE -DLMF_VERSION='"fuzz"' \
	    $pcflags -o "$b/mkcorpus" tests/fuzz/mkcorpus.c libcommon/*.c \
	    $libs -lm -lpthread ||
		{ echo "$prog: cannot build mkcorpus" >&2; exit 2; }
	run rm -rf tests/fuzz/corpus/stream
	run mkdir -p tests/fuzz/corpus/stream
	run "$b/mkcorpus" tests/fuzz/corpus/stream
fi

# libcommon once, instrumented for coverage but without libFuzzer's main
echo "$prog: building libcommon into $b/obj" >&2
objs=
for src in libcommon/*.c; do
	o=$b/obj/$(basename "$src" .c).o
	objs="$objs $o"
	[ $dry -eq 0 ] && [ -f "$o" ] && [ "$o" -nt "$src" ] &&
	    [ -z "$(find include -newer "$o" -name '*.h')" ] && continue
	# shellcheck disable=SC2086
	run $cc $cflags $san -fsanitize=fuzzer-no-link -c -o "$o" "$src" ||
		{ echo "$prog: cannot build '$src'" >&2; exit 2; }
done

for name in $names; do
	exe=$b/${name}_fuzz
	echo "$prog: building $exe" >&2
	# shellcheck disable=SC2086
	run $cc $cflags $san -fsanitize=fuzzer -o "$exe" \
	    "tests/fuzz/${name}_fuzz.c" $objs $libs -lm -lpthread ||
		{ echo "$prog: cannot build '$name'" >&2; exit 2; }
done
[ $build_only -eq 1 ] || [ $dry -eq 1 ] && exit 0

status=0
for name in $names; do
	exe=$top/$b/${name}_fuzz
	if [ -n "$dir" ]; then
		work=$dir/$name
		if [ ! -d "$work" ]; then
			mkdir -p "$work"
			cp "tests/fuzz/corpus/$name"/* "$work"/ 2>/dev/null || :
		fi
	else
		work=$top/$b/$name.corpus
		rm -rf "$work"
		mkdir -p "$work"
		cp "tests/fuzz/corpus/$name"/* "$work"/ 2>/dev/null || :
	fi
	extra=
	[ -f "tests/fuzz/$name.dict" ] &&
		extra="-dict=$top/tests/fuzz/$name.dict"
	[ -f "tests/fuzz/$name.options" ] &&
		extra="$extra $(grep -v '^#' "tests/fuzz/$name.options")"
	par=
	[ "$jobs" -gt 0 ] && par="-jobs=$jobs -workers=$workers"
	log=$top/$b/$name.log
	rm -rf "${log%.log}.jobs"
	mkdir -p "${log%.log}.jobs"
	rm -f "$top/$b/$name"-crash-* "$top/$b/$name"-leak-* \
	    "$top/$b/$name"-timeout-* "$top/$b/$name"-oom-*
	echo "$prog: fuzzing $name for ${secs}s (log $log)" >&2
	# -jobs writes fuzz-N.log into the current directory
	# shellcheck disable=SC2086
	(cd "${log%.log}.jobs" && "$exe" -max_total_time="$secs" -timeout=10 \
	    -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
	    -artifact_prefix="$top/$b/$name-" $extra $par ${FUZZ_FLAGS:-} \
	    "$work" >"$log" 2>&1) || :
	# execs summed over the jobs, coverage the best of them
	stats=$(cat "$log" "${log%.log}.jobs"/fuzz-*.log 2>/dev/null | awk '
	    /^stat::number_of_executed_units:/ { ex += $2 }
	    / (cov|ft): / {
		for (i = 1; i < NF; i++) {
			if ($i == "cov:" && $(i + 1) > cov) cov = $(i + 1)
			if ($i == "ft:" && $(i + 1) > ft) ft = $(i + 1)
		}
	    }
	    END { printf "execs %d cov %d ft %d", ex, cov, ft }')
	found=$(find "$b" -maxdepth 1 \( -name "$name-crash-*" -o \
	    -name "$name-leak-*" -o -name "$name-timeout-*" -o \
	    -name "$name-oom-*" \) | wc -l)
	ninputs=$(find "$work" -type f | wc -l)
	echo "$prog: $name: $stats corpus $ninputs findings $found"
	if [ $merge -eq 1 ]; then
		mkdir -p "tests/fuzz/corpus/$name"
		before=$(find "tests/fuzz/corpus/$name" -type f | wc -l)
		# shellcheck disable=SC2086
		"$exe" -merge=1 -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
		    "tests/fuzz/corpus/$name" "$work" >"${log%.log}.merge.log" \
		    2>&1 || echo "$prog: $name: merge failed (see" \
		    "${log%.log}.merge.log)" >&2
		after=$(find "tests/fuzz/corpus/$name" -type f | wc -l)
		echo "$prog: $name: merged $((after - before)) inputs into" \
		    "tests/fuzz/corpus/$name"
	fi
	if [ "$found" -gt 0 ]; then
		status=1
		grep -hE 'ERROR|SUMMARY|_fuzz:|Test unit written' "$log" \
		    "${log%.log}.jobs"/fuzz-*.log 2>/dev/null | head -5 |
		    sed "s/^/$prog: $name: /" >&2
	fi
done
exit $status
