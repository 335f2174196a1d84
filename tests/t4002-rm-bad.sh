#!/bin/sh
# lmf-rm and its stage's bad input, each one stderr line and exit 1 or 2
# with nothing overwritten: a ranking dataset without its rejected column,
# a non-ranking dataset given to stage rm, sft batches given to lmf-rm, a
# batch of an odd row count, value heads of the wrong shape (in
# value_head.safetensors read by lmf-load, in a model stream).
. "$(dirname "$0")/lib.sh"
plan 10
T=$TOP/tests/data/tok-bytelevel
byte_model
python3 "$TOP/tests/mkpref.py" ds 16
python3 - <<'PY'
import json
info = json.load(open('ds/dataset_info.json'))
info['norej'] = {'file_name': 'pref.json', 'ranking': True,
                 'columns': {'prompt': 'instruction', 'chosen': 'chosen',
                             'rejected': 'answer_b'}}
info['plain'] = {'file_name': 'pref.json',
                 'columns': {'prompt': 'instruction', 'response': 'chosen'}}
json.dump(info, open('ds/dataset_info.json', 'w'))
PY
tz() { lmf-tokenize -q --tokenizer "$T" --dataset_dir ds "$@"; }
tz --dataset pref --stage rm -o ex.lmf
lmf-pack -q --per_device_train_batch_size 4 -o tr.lmf ex.lmf

echo keep >x.lmf
check_exit "ranking dataset without its rejected column" 1 \
	tz --dataset norej --stage rm -o x.lmf
check_exit "a non-ranking dataset given to stage rm" 1 \
	tz --dataset plain --stage rm -o x.lmf
check "nothing written over the output" test "$(cat x.lmf)" = keep

tz --dataset plain --stage sft -o sft.lmf
lmf-pack -q -o sftb.lmf sft.lmf
check_exit "sft batches given to lmf-rm" 1 \
	lmf-rm --model m.lmf --data sftb.lmf -o r.lmf
check "no result written" test ! -e r.lmf
lmf-dump --json tr.lmf | python3 -c '
import json, sys
for l in sys.stdin:
    o = json.loads(l)
    for t in o.get("tensors", []):
        n = len(t["data"]) // t["shape"][0]
        t["shape"][0] -= 1
        t["data"] = t["data"][:len(t["data"]) - n]
    print(json.dumps(o))' | lmf-dump -r -o odd.lmf
check_exit "a batch of an odd row count" 1 \
	lmf-rm --model m.lmf --data odd.lmf -o r.lmf

# a Hugging Face directory whose value_head.safetensors has a wrong shape
lmf-rm -q --model m.lmf --data tr.lmf --output_dir hf --finetuning_type full \
	--max_steps 1 --threads 1
python3 - <<'PY'
import json, struct
p = 'hf/value_head.safetensors'
b = open(p, 'rb').read()
n = struct.unpack('<Q', b[:8])[0]
h = json.loads(b[8:8 + n])
h['v_head.summary.weight']['shape'] = [1, 31]
w = h['v_head.summary.weight']['data_offsets']
w[1] -= 4
j = json.dumps(h, separators=(',', ':')).encode()
j += b' ' * (-len(j) % 8)
open(p, 'wb').write(struct.pack('<Q', len(j)) + j + b[8 + n:])
PY
cp m.lmf keep.lmf
check_exit "lmf-load: value_head.safetensors of the wrong shape" 1 \
	lmf-load -q hf -o keep.lmf
check_same "the output file is left as it was" m.lmf keep.lmf

# a model stream whose value head has the wrong shape
lmf-dump --json hf/model.lmf | python3 "$TOP/tests/edit_model.py" shape \
	v_head.summary.weight | lmf-dump -r -o badvh.lmf
check_exit "lmf-rm: a model stream's value head of the wrong shape" 1 \
	lmf-rm --model badvh.lmf --data tr.lmf --output_dir o2
check "no weights written" sh -c '! ls o2/*.safetensors o2/*.lmf 2>/dev/null'
done_testing
