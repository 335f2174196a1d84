#!/bin/sh
# lmf-ppo against PyTorch: every case in tests/golden/ppo/ (from
# tests/golden/make_ppo_golden.py: full with an explicit reference, LoRA
# against the base, LoRA with two accumulated mini-batches, score
# normalisation with whitened rewards, freeze against itself) replayed
# with --rollout and dumped with --dump_step; tests/cmpppo.py compares
# log-probs, values, KL rewards, advantages, returns and the losses
# (1e-5) and the first mini-batch's gradients (2e-3).
. "$(dirname "$0")/lib.sh"
cases=$(ls -d "$TOP"/tests/golden/ppo/*/ 2>/dev/null)
plan $(($(echo "$cases" | grep -c .) + 1))
check "at least five golden cases" test "$(echo "$cases" | grep -c .)" -ge 5
for d in $cases; do
	c=$(basename "$d")
	set -- $(cat "$d/args")
	[ -d "$d/adapter" ] && set -- "$@" --adapter_name_or_path "$d/adapter"
	if [ -d "$d/ref" ]; then
		lmf-load -q "$d/ref" -o "$c.ref.lmf"
		set -- "$@" --ref_model "$c.ref.lmf"
	fi
	if lmf-load -q "$d/model" -o "$c.m.lmf" &&
	    lmf-ppo --model "$c.m.lmf" "$@" --rollout "$d/rollout.lmf" \
	    --dump_step "$c.lmf" --threads 1 2>"$c.err" &&
	    lmf-dump --json "$c.lmf" >"$c.got" &&
	    lmf-dump --json "$d/step.lmf" >"$c.want" &&
	    python3 "$TOP/tests/cmpppo.py" "$c.got" "$c.want" >"$c.cmp"; then
		_result 0 "$c: $(cat "$c.cmp")"
	else
		_result 1 "$c"
		cat "$c.err" "$c.cmp" 2>/dev/null | head -3 | sed 's/^/# /'
	fi
done
done_testing
