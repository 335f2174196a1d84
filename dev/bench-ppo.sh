#!/bin/sh
# bench-ppo.sh: the time split of one PPO step (BENCH.md's PPO section).
# On the tiny bench shape (dev/bench-train.sh's: dim 288, 6 layers, 6
# heads, hidden 768, vocab 32000), random weights (lmf-load --init), a
# reward model made by one lmf-rm step on random pairs, and random prompt
# ids, it runs lmf-ppo --time (LoRA rank 8, the reference is the policy
# without its adapter) and prints each part of a step: generation, the
# policy's forward (old log-probs and values), the reference's, the
# reward model's, the PPO updates. Then it times lmf-generate on the same
# model, prompts and batch (sampling as lmf-ppo samples, no stop id) and
# prints the rates side by side. A benchmark, not a test.
# BENCH_THREADS (2), BENCH_PPO_BATCH (8), BENCH_PPO_PROMPT (32),
# BENCH_PPO_NEW (64), BENCH_PPO_STEPS (3: the first is warm-up).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
out=dev/out/ppo
threads=${BENCH_THREADS:-2}
b=${BENCH_PPO_BATCH:-8}
plen=${BENCH_PPO_PROMPT:-32}
new=${BENCH_PPO_NEW:-64}
steps=${BENCH_PPO_STEPS:-3}
C=288 L=6 NH=6 FF=768 V=32000
mkdir -p "$out"
for t in lmf-load lmf-rm lmf-ppo lmf-generate lmf-dump; do
	[ -x "./$t" ] || { echo "bench-ppo.sh: no ./$t: make all" >&2; exit 1; }
done

cat >"$out/config.json" <<EOC
{"architectures": ["LlamaForCausalLM"], "model_type": "llama",
 "hidden_size": $C, "intermediate_size": $FF,
 "num_attention_heads": $NH, "num_key_value_heads": $NH,
 "num_hidden_layers": $L, "vocab_size": $V,
 "rms_norm_eps": 1e-05, "rope_theta": 10000.0,
 "max_position_embeddings": 2048, "tie_word_embeddings": false,
 "hidden_act": "silu", "torch_dtype": "float32"}
EOC
./lmf-load -q --init --config "$out/config.json" -l 0 -o "$out/m.lmf"
# random prompts (ppo batches) and random pairs (rm batches), as JSON
# Lines that lmf-dump -r turns into streams; pad id 0, no eos
python3 - "$out" "$b" "$plen" "$V" "$steps" <<'PY'
import json, random, sys
out, B, P, V, S = sys.argv[1], *map(int, sys.argv[2:])
r = random.Random(1)
def meta(stage, n):
    return {"lmf": 1, "meta": {"kind": "batches", "stage": stage,
            "pad_token_id": 0, "cutoff_len": 1024, "vocab_size": V,
            "per_device_train_batch_size": B, "batch_size": B,
            "num_batches": n, "batches_per_epoch": n, "num_epochs": 1,
            "num_train_epochs": 1.0}}
def t(name, rows):
    return {"name": name, "dtype": "i32", "shape": [len(rows), len(rows[0])],
            "data": [x for row in rows for x in row]}
with open(out + "/prompts.jsonl", "w") as f:
    print(json.dumps(meta("ppo", S)), file=f)
    for k in range(S):
        ids = [[r.randrange(1, V) for _ in range(P)] for _ in range(B)]
        print(json.dumps({"item": k, "tensors": [t("input_ids", ids),
              t("attention_mask", [[1] * P] * B)]}), file=f)
    print(json.dumps({"end": S}), file=f)
    with open(out + "/prompts.txt", "w") as g:
        for row in ids:
            print(",".join(map(str, row)), file=g)
with open(out + "/pairs.jsonl", "w") as f:
    print(json.dumps(meta("rm", 1)), file=f)
    ids = [[r.randrange(1, V) for _ in range(P)] for _ in range(2 * B)]
    print(json.dumps({"item": 0, "tensors": [t("input_ids", ids),
          t("attention_mask", [[1] * P] * (2 * B)),
          t("labels", [[-100] * P] * (2 * B))]}), file=f)
    print(json.dumps({"end": 1}), file=f)
PY
./lmf-dump -r -o "$out/prompts.lmf" "$out/prompts.jsonl"
./lmf-dump -r -o "$out/pairs.lmf" "$out/pairs.jsonl"
./lmf-rm -q --model "$out/m.lmf" --data "$out/pairs.lmf" --max_steps 1 \
    --threads "$threads" --finetuning_type full -o "$out/rm.lmf"
./lmf-ppo -q --time --model "$out/m.lmf" --data "$out/prompts.lmf" \
    --reward_model "$out/rm.lmf" --reward_model_type full \
    --threads "$threads" --max_new_tokens "$new" --max_steps "$steps" \
    --ppo_epochs 1 --learning_rate 1e-5 -o "$out/policy.lmf" \
    2>"$out/ppo.err"
# lmf-generate on the last step's prompts: the same batch, sampling
t0=$(date +%s.%N)
# shellcheck disable=SC2046
./lmf-generate --model "$out/m.lmf" $(sed 's/^/--prompt_ids /' \
    "$out/prompts.txt") --batch_size "$b" --max_new_tokens "$new" \
    --threads "$threads" --output_format ids >"$out/gen.ids"
t1=$(date +%s.%N)
t2=$(date +%s.%N)
# shellcheck disable=SC2046
./lmf-generate --model "$out/m.lmf" $(sed 's/^/--prompt_ids /' \
    "$out/prompts.txt") --batch_size "$b" --max_new_tokens 0 \
    --threads "$threads" --output_format ids >/dev/null
t3=$(date +%s.%N)
got=$(tr ',' '\n' <"$out/gen.ids" | grep -c . || true)

cpumodel=$(LC_ALL=C lscpu 2>/dev/null | sed -n 's/^Model name: *//p' |
    head -1)
echo
echo "## PPO, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
echo "CPU: ${cpumodel:-unknown}, $(nproc) cores; $threads threads; tiny" \
    "shape (C $C, L $L, NH $NH, FF $FF, V $V), random weights; LoRA rank" \
    "8 policy (reference = the policy without its adapter), a full reward" \
    "model; $b random $plen-id prompts a step, $new new tokens a row" \
    "(no stop id), ppo_epochs 1, one mini-batch. Mean of steps 2..$steps" \
    "(lmf-ppo --time; step 1 is warm-up)."
echo
awk -v st="$steps" '
/time generation/ {
	s = $3 + 0
	if (s < 2 && st > 1) next
	n++
	for (i = 1; i <= NF; i++) {
		if ($i == "generation") g += $(i + 1)
		if ($i == "(" || $i ~ /^\(/) tok += substr($i, 2)
		if ($i == "policy") p += $(i + 1)
		if ($i == "reference") rf += $(i + 1)
		if ($i == "reward") rw += $(i + 1)
		if ($i == "update") u += $(i + 1)
	}
}
END {
	if (!n) { print "bench-ppo.sh: no timings" > "/dev/stderr"; exit 1 }
	g /= n; p /= n; rf /= n; rw /= n; u /= n; tok /= n
	tot = g + p + rf + rw + u
	print "| part of one step | ms | share |"
	print "|---|---:|---:|"
	printf("| generation (%d tokens) | %.0f | %.0f%% |\n", tok, g, 100 * g / tot)
	printf("| policy forward (old log-probs, values) | %.0f | %.0f%% |\n", p, 100 * p / tot)
	printf("| reference forward | %.0f | %.0f%% |\n", rf, 100 * rf / tot)
	printf("| reward model forward | %.0f | %.0f%% |\n", rw, 100 * rw / tot)
	printf("| PPO updates | %.0f | %.0f%% |\n", u, 100 * u / tot)
	printf("| total (timed parts) | %.0f | |\n", tot)
	printf("%.3f %d\n", g, tok) > "'"$out/gen.txt"'"
}' "$out/ppo.err"
read -r gms gtok <"$out/gen.txt"
awk -v g="$gms" -v n="$gtok" -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" \
    -v got="$got" 'BEGIN {
	ppo = n / (g / 1e3)
	gen = got / ((b - a) - (d - c))
	printf("\nGeneration inside PPO: %.0f tokens/s (prefill included); " \
	    "lmf-generate on the same model and batch: %.0f tokens/s " \
	    "(%d tokens, decode only: the run minus a 0-new-token run); " \
	    "ratio %.2fx.\n", ppo, gen, got, ppo / gen)
}'
