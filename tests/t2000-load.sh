#!/bin/sh
# lmf-load: golden checks of sharded bf16 llama, f16/f32 qwen2 (tied
# embeddings), stories260K and a LoRA adapter against the safetensors read
# independently in Python (tests/ckcheck.py); --init; --dtype bf16; memory.
. "$(dirname "$0")/lib.sh"
plan 29
PY=/usr/bin/python3
[ -x $PY ] || PY=python3
T=$TOP/tests

RAW=
dumpjson() { lmf-dump --json "$1"; }

# golden NAME DIR DTYPE [ARGS]: load, dump, compare every tensor bit for bit
golden() {
	_name=$1 _dir=$2 _dt=$3; shift 3
	if lmf-load -q $RAW --dtype "$_dt" -o "$_name.lmf" "$@" "$_dir" &&
	    dumpjson "$_name.lmf" >"$_name.json" &&
	    $PY "$T/ckcheck.py" model "$_dir" "$_dt" "$_name.json" 2>ck.err
	then
		_result 0 "golden: $_name"
	else
		_result 1 "golden: $_name"
		sed 's/^/# /' ck.err | head -5
	fi
}

$PY "$T/mkckpt.py" llama ll && $PY "$T/mkckpt.py" qwen2 qw &&
	$PY "$T/mkckpt.py" qwen2f32 qf && $PY "$T/mkckpt.py" adapter ad ||
	exit 1

check "-h prints usage to stdout" lmf-load -h
check_grep "usage names --adapter_name_or_path" adapter_name_or_path check.out
check "-V" lmf-load -V
check_grep "-V prints the version" "lmf-load $(cat "$TOP/VERSION")" check.out

golden llama-bf16-sharded-f32 ll f32
golden llama-bf16-sharded-bf16 ll bf16
golden qwen2-f16-tied-f32 qw f32
golden qwen2-f16-tied-bf16 qw bf16
golden qwen2-f32-tied-bf16 qf bf16
golden llama-model_name_or_path ll f32 --model_name_or_path

# mistral: the llama layout under another model_type, with a sliding window
cp -r ll mi
$PY - mi/config.json <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c.update(model_type="mistral", architectures=["MistralForCausalLM"],
         sliding_window=4096)
json.dump(c, open(sys.argv[1], "w"))
PY
golden mistral-bf16-sharded-f32 mi f32
check_grep "mistral's model_type is in the header" '"model_type":"mistral"' \
	mistral-bf16-sharded-f32.json

lmf-load qf >qf.lmf 2>qf.err
check_grep "a stored tied lm_head is dropped with a warning" \
	"dropping lm_head.weight" qf.err
check "the default stream is zstd" sh -c \
	'head -c 4 qf.lmf | od -An -tx1 | grep -q "28 b5 2f fd"'
check "-l 0 writes a raw stream" sh -c \
	'lmf-load -q -l 0 qw | head -c 4 | grep -q LMFS'
check "-q is quiet" sh -c 'lmf-load -q qf >/dev/null 2>q.err && ! [ -s q.err ]'
lmf-load -q $RAW qw >a.lmf
lmf-load -q $RAW -o b.lmf qw
dumpjson a.lmf | sed -n 2p >a.j
dumpjson b.lmf | sed -n 2p >b.j
check_same "stdout and -o give the same tensors" a.j b.j

if [ -n "$SHARED" ] && [ -d "$SHARED/models/stories260K" ]; then
	golden stories260K "$SHARED/models/stories260K" f32
	golden stories260K-bf16 "$SHARED/models/stories260K" bf16
else
	skip "no \$SHARED/models/stories260K"
	skip "no \$SHARED/models/stories260K"
fi

# adapter, with and without the base model's shapes
if lmf-load -q $RAW --adapter_name_or_path ad -o ad.lmf &&
    dumpjson ad.lmf >ad.json && $PY "$T/ckcheck.py" adapter ad f32 ad.json \
    2>ck.err; then _result 0 "golden: adapter"; else
	_result 1 "golden: adapter"; sed 's/^/# /' ck.err | head -5; fi
if lmf-load -q $RAW --dtype bf16 --adapter_name_or_path ad \
    --model_name_or_path ll -o ad2.lmf && dumpjson ad2.lmf >ad2.json &&
    $PY "$T/ckcheck.py" adapter ad bf16 ad2.json 2>ck.err; then
	_result 0 "golden: adapter checked against the model, bf16"; else
	_result 1 "golden: adapter checked against the model, bf16"
	sed 's/^/# /' ck.err | head -5; fi
check_grep "adapter stream kind" '"kind": *"adapter"' ad.json

# --init: deterministic for a seed, norms ones, biases zeros, std ~ range
lmf-load -q $RAW --init --seed 7 ll -o i1.lmf
lmf-load -q $RAW --init --seed 7 --config ll/config.json -o i2.lmf ll
lmf-load -q $RAW --init --seed 8 ll -o i3.lmf
lmf-load -q $RAW --init qw -o iq.lmf
for f in i1 i2 i3 iq; do dumpjson $f.lmf | sed -n 2p >$f.j; done
check_same "--init is deterministic for a seed" i1.j i2.j
check "--init differs for another seed" sh -c '! cmp -s i1.j i3.j'
cat >initstat.py <<'EOF'
import json, statistics, sys
cfg = json.load(open(sys.argv[2]))
r = cfg.get("initializer_range", 0.02)
ts = json.loads(open(sys.argv[1]).read())["tensors"]
bad = []
for t in ts:
    if t["dtype"] == "u8":
        continue
    d = [float(x) for x in t["data"]]
    n = t["name"]
    if n.endswith("norm.weight"):
        ok = all(x == 1.0 for x in d)
    elif n.endswith(".bias"):
        ok = all(x == 0.0 for x in d)
    else:
        s = statistics.pstdev(d)
        ok = abs(s - r) < 0.2 * r and abs(statistics.fmean(d)) < 0.2 * r
    if not ok:
        bad.append(n)
print(bad)
sys.exit(1 if bad or len(ts) < 3 else 0)
EOF
check "--init: norms ones, std close to initializer_range" \
	$PY initstat.py i1.j ll/config.json
check "--init qwen2: biases zeros" $PY initstat.py iq.j qw/config.json
check_grep "--init keeps the tokenizer files" '"tokenizer.json"' i1.j
lmf-load -q $RAW --init --dtype bf16 qw -o ib.lmf
dumpjson ib.lmf >ib.json
check_grep "--init --dtype bf16" '"dtype": *"bf16"' ib.json

# memory: a 64 MiB embedding goes through with far less resident memory
cat >big.py <<'EOF'
import json, os, struct, sys
d = sys.argv[1]
os.makedirs(d, exist_ok=True)
cfg = {"model_type": "llama", "hidden_size": 256, "intermediate_size": 8,
       "num_hidden_layers": 1, "num_attention_heads": 4,
       "vocab_size": 65536, "tie_word_embeddings": True}
json.dump(cfg, open(d + "/config.json", "w"))
C, F = 256, 8
ts = [("model.embed_tokens.weight", [65536, C]),
      ("model.layers.0.input_layernorm.weight", [C]),
      ("model.layers.0.self_attn.q_proj.weight", [C, C]),
      ("model.layers.0.self_attn.k_proj.weight", [C, C]),
      ("model.layers.0.self_attn.v_proj.weight", [C, C]),
      ("model.layers.0.self_attn.o_proj.weight", [C, C]),
      ("model.layers.0.post_attention_layernorm.weight", [C]),
      ("model.layers.0.mlp.gate_proj.weight", [F, C]),
      ("model.layers.0.mlp.up_proj.weight", [F, C]),
      ("model.layers.0.mlp.down_proj.weight", [C, F]),
      ("model.norm.weight", [C])]
hdr, off = {}, 0
for n, s in ts:
    k = 4
    for x in s:
        k *= x
    hdr[n] = {"dtype": "F32", "shape": s, "data_offsets": [off, off + k]}
    off += k
h = json.dumps(hdr).encode()
with open(d + "/model.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h)
    f.truncate(8 + len(h) + off)
EOF
cat >rss.py <<'EOF'
import resource, subprocess, sys
subprocess.run(sys.argv[2:], check=True, stdout=subprocess.DEVNULL)
kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print("max rss %d KiB" % kb)
sys.exit(0 if kb < int(sys.argv[1]) else 1)
EOF
$PY big.py big
check "64 MiB tensor loads in under 32 MiB of memory" \
	$PY rss.py 32768 lmf-load -q big
sed 's/^/# /' check.out

done_testing
