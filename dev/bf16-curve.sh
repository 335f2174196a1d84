#!/bin/sh
# bf16-curve.sh: the loss curve of --bf16 against fp32 (issue 16): CURVE_STEPS
# (200) steps of full fine-tuning on the tiny bench shape (dim 288, 6
# layers, 6 heads, hidden 768, vocab 32000, seq 256, batch 8; random
# initial weights) over CURVE_BATCHES (4) fixed batches of random tokens,
# read again each epoch, so that the model memorises them and the loss
# falls far from its start; AdamW at lr CURVE_LR (1e-3), 2 threads, the
# same seed. Prints the losses every 20 steps and the worst relative
# difference over all steps; exit 1 when some step differs by 1% or more.
# CURVE_ARGS: more lmf-sft options for both runs (e.g. "--finetuning_type
# lora"). CURVE_RUNS ("fp32 bf16"): the two runs compared, the second
# against the first, each one of fp32, bf16 and bf16-sgemm (--bf16 with
# LMF_BF16_ISA=none: the same numbers as bf16 up to the order of the fp32
# sums, so "bf16-sgemm bf16" measures how far two runs drift apart from
# summation order alone, the floor the fp32/bf16 difference is read
# against). A benchmark, not a test: too slow for make check (t9710 runs a
# short version).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
o=$top/dev/out/curve
py=/usr/bin/python3
steps=${CURVE_STEPS:-200}
mkdir -p "$o"
cat >"$o/tiny.json" <<E
{"architectures": ["LlamaForCausalLM"], "model_type": "llama",
 "hidden_size": 288, "intermediate_size": 768, "num_attention_heads": 6,
 "num_key_value_heads": 6, "num_hidden_layers": 6, "vocab_size": 32000,
 "rms_norm_eps": 1e-05, "rope_theta": 10000.0,
 "max_position_embeddings": 2048, "tie_word_embeddings": false,
 "hidden_act": "silu", "torch_dtype": "float32"}
E
"$top/lmf-load" -q --init --config "$o/tiny.json" -l 0 -o "$o/model.lmf"
$py "$top/dev/mkbatches.py" 8 256 32000 "${CURVE_BATCHES:-4}" >"$o/b.lmf"
# shellcheck disable=SC2086
set -- ${CURVE_RUNS:-fp32 bf16}
[ $# -eq 2 ] || { echo "bf16-curve.sh: CURVE_RUNS must name two runs" >&2; exit 2; }
first=$1 second=$2
for p in "$first" "$second"; do
	isa=${LMF_BF16_ISA:-}
	set -- --finetuning_type full
	case $p in
	fp32) ;;
	bf16) set -- "$@" --bf16 ;;
	bf16-sgemm) set -- "$@" --bf16; isa=none ;;
	*) echo "bf16-curve.sh: unknown run '$p'" >&2; exit 2 ;;
	esac
	rm -rf "$o/$p"
	# shellcheck disable=SC2086
	LMF_BF16_ISA=$isa "$top/lmf-sft" --model "$o/model.lmf" --data "$o/b.lmf" "$@" \
	    ${CURVE_ARGS:-} --max_steps "$steps" --learning_rate \
	    "${CURVE_LR:-1e-3}" --logging_steps 1 --threads 2 -q -l 0 \
	    --output_dir "$o/$p" >/dev/null
done
$py - "$o/$first/trainer_log.jsonl" "$o/$second/trainer_log.jsonl" \
    "$first" "$second" <<'PY'
import json, sys
def losses(p):
    return [json.loads(l)["loss"] for l in open(p) if '"loss"' in l]
a, b = losses(sys.argv[1]), losses(sys.argv[2])
na, nb = sys.argv[3], sys.argv[4]
print("| step | %s loss | %s loss | %s / %s - 1 |" % (na, nb, nb, na))
print("|---:|---:|---:|---:|")
for i in range(len(a)):
    if i == 0 or (i + 1) % 20 == 0:
        print("| %d | %.4f | %.4f | %+.2e |" % (i + 1, a[i], b[i],
              b[i] / a[i] - 1))
d = [abs(y / x - 1) for x, y in zip(a, b)]
k = max(range(len(d)), key=d.__getitem__)
print("\nsteps %d and %d; worst relative difference %.2e at step %d; "
      "mean %.2e" % (len(a), len(b), d[k], k + 1, sum(d) / len(d)))
sys.exit(not (len(a) == len(b) and d[k] < 0.01))
PY
