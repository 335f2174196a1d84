#!/bin/sh
# LMF_PROFILE=1 (prof.h): a trainer prints where its steps after the first
# went, one "profile:" line a kind of work, the products with their
# GFLOP/s and "other" the rest; the shares add up to the wall time; the
# training itself is the same (loss lines and weights); unset or 0 it
# prints nothing of it; another value is a usage error before training.
. "$(dirname "$0")/lib.sh"
plan 8
tiny_model
python3 "$TOP/tests/mkbatches.py" -B 2 -T 32 -n 4 >b.lmf
# sft NAME [VAR=VALUE]: lmf-sft into NAME.lmf, its log in NAME.err
sft() {
	env ${2:-} lmf-sft --model m.lmf --data b.lmf --threads 1 -l 0 \
	    --max_steps 4 --logging_steps 1 --learning_rate 1e-3 -o "$1.lmf" \
	    2>"$1.err"
}
# the log less the profile and the step lines' tokens/s, and the weights
same() {
	for f in "$@"; do
		grep -v '^profile:' "$f.err" | sed 's/ tok\/s .*//' >"$f.log"
		lmf-dump -j --hex "$f.lmf" | sed 1d >>"$f.log"
	done
	cmp "$1.log" "$2.log"
}
check "LMF_PROFILE=1" sft p LMF_PROFILE=1
check "unset" sft u
check "LMF_PROFILE=0" sft z LMF_PROFILE=0
check "  nothing of it unset or 0" sh -c \
	'grep -q "^step 4/4" u.err && ! grep -q "^profile:" u.err &&
	! grep -q "^profile:" z.err'
check "  the same log and weights" same p u
grep '^profile:' p.err | sed 1d >slots.txt
check "  3 steps after the first; products, attention, other" awk '
	/^profile: 3 steps after the first, 1 threads, / { h = 1 }
	/^profile: products \(sgemm\) .* GFLOP\/s/ { p = 1 }
	/^profile: attention / { a = 1 }
	/^profile: other / { o = 1 }
	END { exit !(h && p && a && o) }' p.err
check "  the shares add up to 100%" awk '
	{ for (i = 1; i <= NF; i++) if ($i ~ /%$/) s += $i + 0 }
	END { print "# " s "%"; exit !(s > 99.5 && s < 100.5) }' slots.txt
check_exit "LMF_PROFILE=yes: exit 2" 2 env LMF_PROFILE=yes lmf-sft \
	--model m.lmf --data b.lmf --threads 1 -l 0 --max_steps 1 -o y.lmf
done_testing
