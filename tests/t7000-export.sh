#!/bin/sh
# lmf-export: a LoRA adapter merged into its base and written as a Hugging
# Face directory reloads (lmf-load) to the merged weights, whose logits
# equal base + adapter unmerged (tests/unit/infer_test, within 1e-4);
# shards with an index, bf16, tokenizer files; --adapter_only writes a PEFT
# directory that lmf-load reads back to the same adapter; bad input.
. "$(dirname "$0")/lib.sh"
plan 41
U="$TOP/tests/unit/infer_test"
python3 - "$TOP" <<'PY'
import json, random, struct, sys, os
c = json.load(open(sys.argv[1] + '/data/models/tiny-llama/config.json'))
c['vocab_size'] = 520
json.dump(c, open('cfg.json', 'w'))
random.seed(1)
C, FF, r = c['hidden_size'], c['intermediate_size'], 4
HS = C // c['num_attention_heads']
shp = {'self_attn.q_proj': (C, C), 'self_attn.v_proj': (c['num_key_value_heads'] * HS, C),
       'mlp.down_proj': (C, FF)}
t = {}
for l in range(c['num_hidden_layers']):
    for m, (o, i) in shp.items():
        p = 'base_model.model.model.layers.%d.%s.' % (l, m)
        t[p + 'lora_A.weight'] = ([r, i], [random.gauss(0, .2) for _ in range(r * i)])
        t[p + 'lora_B.weight'] = ([o, r], [random.gauss(0, .2) for _ in range(o * r)])
hdr, data = {}, b''
for k in sorted(t):
    s, v = t[k]
    b = struct.pack('<%df' % len(v), *v)
    hdr[k] = {'dtype': 'F32', 'shape': s, 'data_offsets': [len(data), len(data) + len(b)]}
    data += b
h = json.dumps(hdr).encode()
os.mkdir('peft')
open('peft/adapter_model.safetensors', 'wb').write(struct.pack('<Q', len(h)) + h + data)
json.dump({'peft_type': 'LORA', 'r': r, 'lora_alpha': 8, 'use_rslora': False,
           'target_modules': ['q_proj', 'v_proj', 'down_proj'], 'lora_dropout': 0.0,
           'task_type': 'CAUSAL_LM'}, open('peft/adapter_config.json', 'w'))
PY
lmf-load -q --init --seed 3 --config cfg.json \
    "$TOP/tests/data/tok-bytelevel" -o base.lmf
lmf-load -q --adapter_name_or_path peft -o ad.lmf

# merged
check "export with the adapter merged" lmf-export --model_name_or_path \
    base.lmf --adapter_name_or_path ad.lmf --export_dir merged --threads 1
check "the export reloads" lmf-load -q -o merged.lmf merged
check "logits of the merged model equal base + adapter" \
    "$U" base.lmf ad.lmf merged.lmf
check "a weight equals W + scaling B A" python3 - <<'PY'
import json, struct
def st(p):
    f = open(p, 'rb'); n = struct.unpack('<Q', f.read(8))[0]
    h = json.loads(f.read(n)); d = f.read()
    def get(k):
        a, b = h[k]['data_offsets']
        return h[k]['shape'], struct.unpack('<%df' % ((b - a) // 4), d[a:b])
    return get
m, a = st('merged/model.safetensors'), st('peft/adapter_model.safetensors')
import subprocess
(o, i), w = m('model.layers.1.self_attn.v_proj.weight')
pre = 'base_model.model.model.layers.1.self_attn.v_proj.'
(r, _), A = a(pre + 'lora_A.weight')
_, B = a(pre + 'lora_B.weight')
subprocess.run(['lmf-export', '--model_name_or_path', 'base.lmf',
                '--export_dir', 'plain'], check=True)
_, w0 = st('plain/model.safetensors')('model.layers.1.self_attn.v_proj.weight')
err = max(abs(w[x * i + y] - w0[x * i + y] - 2.0 * sum(B[x * r + k] * A[k * i + y]
          for k in range(r))) for x in range(o) for y in range(i))
assert err < 1e-5, err
PY
lmf-generate --model base.lmf --adapter_name_or_path ad.lmf --prompt_ids 1,2,3 \
    --do_sample false --max_new_tokens 20 --threads 1 >g1.txt
lmf-generate --model merged.lmf --prompt_ids 1,2,3 \
    --do_sample false --max_new_tokens 20 --threads 1 >g2.txt
check_same "greedy with the adapter equals greedy with the export" g1.txt g2.txt
check "config.json says float32" grep -q '"torch_dtype": "float32"' \
    merged/config.json
check_same "tokenizer.json travels" merged/tokenizer.json \
    "$TOP/tests/data/tok-bytelevel/tokenizer.json"
check_same "tokenizer_config.json travels" merged/tokenizer_config.json \
    "$TOP/tests/data/tok-bytelevel/tokenizer_config.json"

# shards and bf16
check "export in 200 kB shards" lmf-export --model_name_or_path base.lmf \
    --adapter_name_or_path ad.lmf --export_dir shards --export_size 0.0002
check "an index and several shards" test -f \
    shards/model.safetensors.index.json -a \
    "$(ls shards/model-*-of-*.safetensors | wc -l)" -gt 1
lmf-load -q -o shards.lmf shards
lmf-dump --json merged.lmf | sed 1d >m.json
lmf-dump --json shards.lmf | sed 1d >s.json
check_same "the shards reload to the same weights" m.json s.json
check "bf16 export" lmf-export --model_name_or_path base.lmf \
    --export_dir b16 --export_dtype bf16
check "bf16: config and tensors" python3 -c "
import json, struct
assert json.load(open('b16/config.json'))['torch_dtype'] == 'bfloat16'
f = open('b16/model.safetensors', 'rb'); n = struct.unpack('<Q', f.read(8))[0]
h = json.loads(f.read(n)); h.pop('__metadata__', None)
assert {v['dtype'] for v in h.values()} == {'BF16'}"
check "bf16 reloads" lmf-load -q -o b16.lmf b16

# adapter only
check "--adapter_only writes a PEFT directory" lmf-export --adapter_only \
    --adapter_name_or_path ad.lmf --export_dir pout
lmf-load -q --adapter_name_or_path pout -o ad2.lmf
lmf-dump --json ad.lmf | sed 1d >a1.json
lmf-dump --json ad2.lmf | sed 1d >a2.json
check_same "the PEFT directory reloads to the same adapter" a1.json a2.json

# replacing, failures
lmf-export --model_name_or_path base.lmf --export_dir merged 2>/dev/null
check "a second export replaces the first, nothing left over" \
    test "$(ls -d merged* | tr '\n' ' ')" = "merged merged.lmf "
check_exit "no --export_dir: exit 2" 2 lmf-export --model_name_or_path base.lmf
check_exit "bad --export_dtype: exit 2" 2 lmf-export --model_name_or_path \
    base.lmf --export_dir x --export_dtype f16
echo keep >notdir
check_exit "export_dir a regular file: exit 1" 1 lmf-export \
    --model_name_or_path base.lmf --export_dir notdir
check "  the file stays" test "$(cat notdir)" = keep

# the export writes its own files only: foreign files, a sibling run and
# the adapter's own folder (export_dir its parent) stay as they were
mkdir -p home/run1 home/lora/sft
echo keep >home/notes.txt
echo keep >home/run1/config.json
cp ad.lmf home/lora/sft/adapter.lmf
cp peft/* home/lora/sft/
cp -R home home.orig
check "export into a directory holding other files" lmf-export \
    --model_name_or_path base.lmf --adapter_name_or_path \
    home/lora/sft/adapter.lmf --export_dir home/lora --threads 1
check "  the adapter's folder is untouched" diff -r home.orig/lora/sft \
    home/lora/sft
lmf-load -q -o home.lmf home/lora
lmf-dump --json home.lmf | sed 1d >h.json
check_same "  the export is there: the merged weights" m.json h.json
lmf-export --model_name_or_path base.lmf --export_dir home
check "export into the parent: foreign files and the sibling run stay" \
    sh -c 'diff -r home.orig/run1 home/run1 &&
    diff home.orig/notes.txt home/notes.txt && test -f home/config.json'
check "  no temporary file or directory left" sh -c \
    '! ls -a . home home/lora | grep -q tmp'

# a previous export in the directory: shards it listed and did not write
# again go; a shard-like file no index names stays
lmf-export --model_name_or_path base.lmf --export_dir re --export_size \
    0.0002 && echo keep >re/model-00009-of-00009.safetensors &&
    echo keep >re/notes.txt || exit 1
check "one file over shards" lmf-export --model_name_or_path base.lmf \
    --export_dir re
check "  the old shards and index are gone, other files stay" sh -c \
    'test "$(ls re | tr "\n" " ")" = "config.json generation_config.json \
model-00009-of-00009.safetensors model.safetensors notes.txt \
special_tokens_map.json tokenizer.json tokenizer_config.json "'
check "shards over one file" lmf-export --model_name_or_path base.lmf \
    --adapter_name_or_path ad.lmf --export_dir re --export_size 0.0002
check "  model.safetensors is gone" test ! -e re/model.safetensors
lmf-load -q -o re.lmf re
lmf-dump --json re.lmf | sed 1d >r.json
check_same "  the directory reloads to the export" m.json r.json
n1=$(ls re/model-*-of-*.safetensors | grep -vc 00009)
lmf-export --model_name_or_path base.lmf --adapter_name_or_path ad.lmf \
    --export_dir re --export_size 0.0002 &&
    lmf-export --model_name_or_path base.lmf --adapter_name_or_path ad.lmf \
    --export_dir re --export_size 0.0004 || exit 1
n2=$(ls re/model-*-of-*.safetensors | grep -vc 00009)
check "fewer shards over more: only the new ones are left" sh -c \
    "test $n2 -lt $n1 && ls re/model-*-of-*.safetensors | grep -v 00009 |
    grep -c -- -of-0000$n2.safetensors | grep -qx $n2"
lmf-load -q -o re.lmf re
lmf-dump --json re.lmf | sed 1d >r.json
check_same "  the directory reloads to the export" m.json r.json

# never an input
mkdir same
cp base.lmf same/model.safetensors
check_exit "the model stream is a file the export writes: exit 2" 2 \
    lmf-export --model_name_or_path same/model.safetensors --export_dir same
ln -s ../ad.lmf same/adapter_config.json
check_exit "a link to the adapter stream where the export writes: exit 2" \
    2 lmf-export --adapter_only --adapter_name_or_path ad.lmf \
    --export_dir same
check "  both inputs are untouched" sh -c 'cmp base.lmf same/model.safetensors &&
    test -L same/adapter_config.json && cmp ad.lmf same/adapter_config.json &&
    test "$(ls same | wc -l)" = 2'

# a tokenizer file named out of the directory is refused
lmf-dump --json base.lmf |
    sed 's|"name":"tokenizer.json"|"name":"tokenizer/../../evil"|' |
    lmf-dump -r -o evil.lmf || exit 1
mkdir -p ev/sub/tokenizer
check_exit "a tokenizer file name with a slash: exit 1" 1 lmf-export \
    --model_name_or_path evil.lmf --export_dir ev/sub
check "  nothing written outside" test ! -e evil -a ! -e ev/evil

# every u8 vector of the stream is a file of the directory, whatever its
# name (the one writer of hf.h, as lmf-sft's results have it)
lmf-dump --json base.lmf |
    sed 's|"name":"tokenizer_config.json"|"name":"special_tokens_map.json"|' |
    lmf-dump -r -o stm.lmf || exit 1
check "a u8 tensor not named tokenizer*" lmf-export --model_name_or_path \
    stm.lmf --export_dir stm
check_same "  travels as a file of its name" stm/special_tokens_map.json \
    "$TOP/tests/data/tok-bytelevel/tokenizer_config.json"

head -c 500 base.lmf >cut.lmf
check_exit "truncated model: exit 1, no directory" 1 sh -c \
    'lmf-export --model_name_or_path cut.lmf --export_dir cut && exit 0;
    r=$?; ls -d cut* | grep -v cut.lmf >&2; exit $r'
done_testing
