#!/bin/sh
# lmf-dpo against PyTorch: every golden case in tests/golden/dpo/ (from
# tests/golden/make_dpo_golden.py: each pref_loss with the initial model,
# the base without the adapter, or an explicit ref_model as reference;
# label smoothing, ftx, bco) through lmf-logps | lmf-pack | lmf-dpo
# --dump_grads, compared by tests/cmpgrads.py (loss and metrics 1e-5
# relative, each gradient max|diff| / max|ref| <= 2e-3).
. "$(dirname "$0")/lib.sh"
cases=$(ls -d "$TOP"/tests/golden/dpo/*/ 2>/dev/null)
plan $(($(echo "$cases" | grep -c .) + 1))
check "at least eighteen golden cases" \
	test "$(echo "$cases" | grep -c .)" -ge 18
for d in $cases; do
	c=$(basename "$d")
	set -- $(cat "$d/args")
	[ -d "$d/adapter" ] && set -- "$@" --adapter_name_or_path "$d/adapter"
	ref=$c.model
	[ -d "$d/ref" ] && ref=$c.ref && lmf-load -q "$d/ref" -o "$ref"
	if lmf-load -q "$d/model" -o "$c.model" &&
	    lmf-logps -q --threads 1 --model "$ref" "$d/examples.lmf" |
	    lmf-pack -q --disable_shuffling --per_device_train_batch_size 8 \
	    --num_train_epochs 1 | lmf-dpo "$@" --model "$c.model" \
	    --dump_grads "$c.lmf" --output_dir out --threads 1 2>"$c.err" &&
	    lmf-dump --json "$c.lmf" >"$c.got" &&
	    lmf-dump --json "$d/grads.lmf" >"$c.ref.json" &&
	    python3 "$TOP/tests/cmpgrads.py" "$c.got" "$c.ref.json" \
	    >"$c.cmp"; then
		_result 0 "$c: $(cat "$c.cmp")"
	else
		_result 1 "$c"
		cat "$c.err" "$c.cmp" 2>/dev/null | head -3 | sed 's/^/# /'
	fi
done
done_testing
