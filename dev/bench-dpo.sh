#!/bin/sh
# bench-dpo.sh: the dpo stage's cost against sft on the same model and
# tokens. A random model of the "tiny" shape of dev/bench-train.sh (dim
# 288, 6 layers, hidden 768, vocab 32000); N random pairs (prompt 64 +
# response 192 tokens each side) as a dpo examples stream; lmf-logps
# scores them (one forward per row, timed); lmf-pack makes batches of 4
# pairs (8 rows of 256 tokens); lmf-dpo and lmf-sft (LoRA rank 8, all
# projections, 2 threads) each train STEPS steps on those same batches
# (lmf-sft reads the rows and ignores the reference tensors), peak RSS by
# /usr/bin/time -f %M. Usage: sh dev/bench-dpo.sh [N [STEPS]]
set -eu
N=${1:-32}
STEPS=${2:-4}
TOP=$(cd "$(dirname "$0")/.." && pwd)
PATH=$TOP:$PATH
d=$(mktemp -d "${TMPDIR:-/tmp}/bench-dpo.XXXXXX")
trap 'rm -rf "$d"' EXIT
cd "$d"
cat >cfg.json <<'CFG'
{"model_type": "llama", "hidden_size": 288, "intermediate_size": 768,
 "num_hidden_layers": 6, "num_attention_heads": 6, "num_key_value_heads": 6,
 "vocab_size": 32000, "max_position_embeddings": 512, "rms_norm_eps": 1e-5,
 "tie_word_embeddings": false}
CFG
lmf-load -q --init --config cfg.json -o m.lmf
python3 - "$N" <<'PY' >ex.json
import json, random, sys
n, rng = int(sys.argv[1]), random.Random(1)
print(json.dumps({"lmf": 1, "meta": {"kind": "examples", "stage": "dpo",
      "vocab_size": 32000, "pad_token_id": 0, "cutoff_len": 256}}))
for i in range(n):
    p = [rng.randrange(1, 32000) for _ in range(64)]
    ts = []
    for side in ("chosen", "rejected"):
        r = [rng.randrange(1, 32000) for _ in range(192)]
        ts.append({"name": side + "_input_ids", "dtype": "i32",
                   "shape": [256], "data": p + r})
        ts.append({"name": side + "_labels", "dtype": "i32",
                   "shape": [256], "data": [-100] * 64 + r})
    print(json.dumps({"item": i, "tensors": ts}))
print(json.dumps({"end": n}))
PY
lmf-dump -r ex.json >ex.lmf
t=$( { /usr/bin/time -f '%e %M' lmf-logps -q --threads 2 --model m.lmf \
	-o s.lmf ex.lmf; } 2>&1 | tail -1)
echo "lmf-logps: $N pairs ($((2 * N)) rows, $((512 * N)) tokens):" \
	"$t (s, peak RSS KB)"
lmf-pack -q --disable_shuffling --per_device_train_batch_size 4 \
	--num_train_epochs 1 -o b.lmf s.lmf
for tool in lmf-sft lmf-dpo; do
	/usr/bin/time -f "$tool: %e s, peak RSS %M KB" $tool --threads 2 \
		--model m.lmf --data b.lmf --max_steps "$STEPS" \
		--logging_steps 1 -o /dev/null 2>&1 | grep -v '^first' |
		sed 's/^step \([0-9/]*\): loss \([0-9.]*\).* \(tok\/s [0-9]*\).*/  step \1 \3/'
done
