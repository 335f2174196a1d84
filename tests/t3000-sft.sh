#!/bin/sh
# lmf-sft against PyTorch: every golden case in tests/golden/sft/ (from
# tests/golden/make_golden.py) through lmf-load | lmf-sft --dump_grads,
# compared by tests/cmpgrads.py (loss 1e-5 relative, each gradient
# max|diff| / max|ref| <= 2e-3, the same tensor names).
. "$(dirname "$0")/lib.sh"
cases=$(ls -d "$TOP"/tests/golden/sft/*/ 2>/dev/null)
plan $(($(echo "$cases" | grep -c .) + 1))
check "at least ten golden cases" test "$(echo "$cases" | grep -c .)" -ge 10
for d in $cases; do
	c=$(basename "$d")
	set -- $(cat "$d/args")
	[ -d "$d/adapter" ] && set -- "$@" --adapter_name_or_path "$d/adapter"
	if lmf-load -q "$d/model" | lmf-sft "$@" --data "$d/batches.lmf" \
	    --dump_grads "$c.lmf" --max_steps 1 --output_dir out --threads 1 \
	    2>"$c.err" &&
	    lmf-dump --json "$c.lmf" >"$c.got" &&
	    lmf-dump --json "$d/grads.lmf" >"$c.ref" &&
	    python3 "$TOP/tests/cmpgrads.py" "$c.got" "$c.ref" >"$c.cmp"; then
		_result 0 "$c: $(cat "$c.cmp")"
	else
		_result 1 "$c"
		cat "$c.err" "$c.cmp" 2>/dev/null | head -3 | sed 's/^/# /'
	fi
done
done_testing
