#!/bin/sh
# lmf-rm against PyTorch: every golden case in tests/golden/rm/ (from
# tests/golden/make_rm_golden.py: full, padded rows, a tie, LoRA, freeze,
# a bf16 qwen2 checkpoint) through lmf-load | lmf-rm --dump_grads, the
# value head read from value_head.safetensors beside the weights or the
# adapter; compared by tests/cmpgrads.py (loss 1e-5 relative; accuracy,
# mean scores and each gradient max|diff| / max|ref| <= 2e-3; the same
# names).
. "$(dirname "$0")/lib.sh"
cases=$(ls -d "$TOP"/tests/golden/rm/*/ 2>/dev/null)
plan $(($(echo "$cases" | grep -c .) + 2))
check "at least six golden cases" test "$(echo "$cases" | grep -c .)" -ge 6
for d in $cases; do
	c=$(basename "$d")
	set -- $(cat "$d/args")
	[ -d "$d/adapter" ] && set -- "$@" --adapter_name_or_path "$d/adapter"
	if lmf-load -q "$d/model" | lmf-rm "$@" --data "$d/batches.lmf" \
	    --dump_grads "$c.lmf" --max_steps 1 --threads 1 2>"$c.err" &&
	    lmf-dump --json "$c.lmf" >"$c.got" &&
	    lmf-dump --json "$d/grads.lmf" >"$c.ref" &&
	    python3 "$TOP/tests/cmpgrads.py" "$c.got" "$c.ref" >"$c.cmp"; then
		_result 0 "$c: $(cat "$c.cmp")"
	else
		_result 1 "$c"
		cat "$c.err" "$c.cmp" 2>/dev/null | head -3 | sed 's/^/# /'
	fi
done
# the tie counts as not accurate (strict >): accuracy exactly 0
check "a tie is not accurate" python3 -c '
import json, sys
for l in open("tie_full.got"):
    for t in json.loads(l).get("tensors", []):
        if t["name"] == "accuracy":
            sys.exit(t["data"] not in (0, [0]))
sys.exit(1)'
done_testing
