#!/bin/sh
# lmf-kto against PyTorch: every golden case in tests/golden/kto/ (from
# tests/golden/make_kto_golden.py: batches of only desirable, only
# undesirable and mixed examples; the initial model, the base without the
# adapter or an explicit ref_model as reference; the batch KL estimate
# clamped and not; kto_chosen_weight and kto_rejected_weight != 1; ftx)
# through lmf-logps | lmf-pack | lmf-kto --dump_grads, compared by
# tests/cmpgrads.py (loss and metrics 1e-5 relative, each gradient
# max|diff| / max|ref| <= 2e-3).
. "$(dirname "$0")/lib.sh"
cases=$(ls -d "$TOP"/tests/golden/kto/*/ 2>/dev/null)
plan $(($(echo "$cases" | grep -c .) + 1))
check "at least ten golden cases" \
	test "$(echo "$cases" | grep -c .)" -ge 10
for d in $cases; do
	c=$(basename "$d")
	set -- $(cat "$d/args")
	[ -d "$d/adapter" ] && set -- "$@" --adapter_name_or_path "$d/adapter"
	ref=$c.model
	[ -d "$d/ref" ] && ref=$c.ref && lmf-load -q "$d/ref" -o "$ref"
	if lmf-load -q "$d/model" -o "$c.model" &&
	    lmf-logps -q --threads 1 --model "$ref" "$d/examples.lmf" |
	    lmf-pack -q --disable_shuffling --per_device_train_batch_size 8 \
	    --num_train_epochs 1 | lmf-kto "$@" --model "$c.model" \
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
