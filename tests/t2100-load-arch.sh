#!/bin/sh
# qwen3 and rope_scaling checkpoints (issue 15) against the float64 PyTorch
# goldens of tests/golden/sft (make_golden.py): each case with logits.lmf
# loads (lmf-load) to logits within 1e-4 of the reference
# (tests/unit/infer_test --golden), and greedy lmf-generate equals the
# reference's argmax decoding token for token; merged exports of a qwen3
# LoRA case and a llama3-rope case reload with the same logits, their
# config keeping q_norm / rope_scaling; unknown rope types are refused.
. "$(dirname "$0")/lib.sh"
G=$TOP/tests/golden/sft
U=$TOP/tests/unit/infer_test
cases=$(cd "$G" && ls */logits.lmf | sed 's,/logits.lmf,,')
n=$(echo "$cases" | grep -c .)
plan $((3 * n + 11))
for c in $cases; do
	d=$G/$c
	ad=-
	set --
	if [ -d "$d/adapter" ]; then
		lmf-load -q --adapter_name_or_path "$d/adapter" -o "$c.ad"
		ad=$c.ad
		set -- --adapter_name_or_path "$c.ad"
	fi
	check "$c: lmf-load" lmf-load -q -o "$c.lmf" "$d/model"
	check "$c: logits equal torch's" "$U" --golden "$c.lmf" "$ad" \
	    "$d/batches.lmf" "$d/logits.lmf"
	lmf-generate --model "$c.lmf" "$@" --prompt_ids "$(sed -n 1p \
	    "$d/greedy")" --do_sample false --max_new_tokens 12 --threads 1 \
	    --output_format ids >"$c.gen" 2>"$c.err"
	sed -n 2p "$d/greedy" >"$c.ref"
	check_same "$c: greedy generation equals torch's argmax" "$c.gen" \
	    "$c.ref"
done

# merged exports reload with the same logits
c=qwen3_lora_all
check "$c: merged export" lmf-export --model_name_or_path $c.lmf \
    --adapter_name_or_path $c.ad --export_dir q3 --threads 1
check "$c: the export reloads to torch's logits" sh -c \
    "lmf-load -q -o q3.lmf q3 && '$U' --golden q3.lmf - \
    '$G/$c/batches.lmf' '$G/$c/logits.lmf'"
check "$c: config.json is qwen3's, with head_dim 8" python3 -c "
import json, struct
c = json.load(open('q3/config.json'))
assert c['model_type'] == 'qwen3' and c['head_dim'] == 8, c
f = open('q3/model.safetensors', 'rb')
h = json.loads(f.read(struct.unpack('<Q', f.read(8))[0]))
assert h['model.layers.1.self_attn.k_norm.weight']['shape'] == [8], h"
c=llama3_rope_full
check "$c: export" lmf-export --model_name_or_path $c.lmf --export_dir l3 \
    --threads 1
check "$c: the export reloads to torch's logits" sh -c \
    "lmf-load -q -o l3.lmf l3 && '$U' --golden l3.lmf - \
    '$G/$c/batches.lmf' '$G/$c/logits.lmf'"
check "$c: rope_scaling round-trips" python3 -c "
import json
a = json.load(open('l3/config.json'))['rope_scaling']
b = json.load(open('$G/$c/model/config.json'))['rope_scaling']
assert a == b, (a, b)"

# refusals
mkdir bad
cp "$G/llama3_rope_full/model/model.safetensors" bad/
for t in longrope su; do
	python3 -c "
import json
c = json.load(open('$G/llama3_rope_full/model/config.json'))
c['rope_scaling']['rope_type'] = '$t'
json.dump(c, open('bad/config.json', 'w'))"
	check_exit "rope_scaling $t is refused" 1 lmf-load -q -o x.lmf bad
	check_grep "the message names $t" "'$t' is not supported" check.err
done
python3 -c "
import json
c = json.load(open('$G/llama3_rope_full/model/config.json'))
del c['rope_scaling']['low_freq_factor']
json.dump(c, open('bad/config.json', 'w'))"
check_exit "llama3 without low_freq_factor is refused" 1 \
    lmf-load -q -o x.lmf bad
done_testing
