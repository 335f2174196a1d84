#!/bin/sh
# lmf-bpe-train: the same text gives the same files; the tokenizer it writes
# loads in lmf's tokenizer and round-trips text exactly; the Hugging Face
# `tokenizers` library (node, /tmp/tokref or /tmp/tokref2, optional) loads
# it and agrees on the ids; bad input.
. "$(dirname "$0")/lib.sh"
plan 16
D="$TOP/data"
check "trains on data/" lmf-bpe-train -o a --vocab_size 600 \
    "$D/alpaca_demo.json" "$D/identity.json" "$D/text_demo.jsonl"
check "again, same input" lmf-bpe-train -o b --vocab_size 600 \
    "$D/alpaca_demo.json" "$D/identity.json" "$D/text_demo.jsonl"
check_same "tokenizer.json deterministic" a/tokenizer.json b/tokenizer.json
check_same "tokenizer_config.json deterministic" a/tokenizer_config.json \
    b/tokenizer_config.json
python3 - a <<'PY' >layout.out 2>&1
import json, sys
d = json.load(open(sys.argv[1] + '/tokenizer.json'))
c = json.load(open(sys.argv[1] + '/tokenizer_config.json'))
v, m = d['model']['vocab'], d['model']['merges']
assert len(v) + 3 == 600, len(v)
assert sorted(v.values()) == list(range(len(v)))
assert all(isinstance(x, str) and len(x.split(' ')) == 2 for x in m)
assert [v[k] for k in list(v)[:3]] == [0, 1, 2] and v['!'] == 33
assert v['\u0120'] == 32 and len(m) == len(v) - 256
assert [(t['id'], t['content'], t['special']) for t in d['added_tokens']] == \
    [(597, '<|endoftext|>', True), (598, '<|im_start|>', True),
     (599, '<|im_end|>', True)]
pt = d['pre_tokenizer']['pretokenizers']
assert pt[0]['type'] == 'Split' and pt[1] == {'type': 'ByteLevel',
    'add_prefix_space': False, 'trim_offsets': False, 'use_regex': False}
assert c['eos_token'] == '<|im_end|>' and c['pad_token'] == '<|endoftext|>'
print('layout ok')
PY
check_grep "vocab, merges, added tokens, config" "layout ok" layout.out
printf 'hello hello hello world\nhello world\n' | lmf-bpe-train -o s \
    --vocab_size 300 >/dev/null 2>&1
check_grep "stdin text: whole words merged" '"hello": ' s/tokenizer.json
python3 - <<'PY' >in.jsonl
import json
for s in ['Who are you?', 'I am lmf, a helpful assistant.\n\n  x\ty  ',
          "it's I'LL don't 1234567 3.14", 'caf\u00e9 \u00ff \u4f60\u597d!! \U0001F600',
          '<|im_start|>user\nhi<|im_end|>\n', '', ' ', '\r\n\r\n']:
    print(json.dumps({'text': s}))
PY
lmf-tokenize --encode --tokenizer a in.jsonl >ids.jsonl 2>enc.err
check "lmf-tokenize --encode loads it" test -s ids.jsonl
lmf-tokenize --decode --tokenizer a ids.jsonl >out.jsonl 2>dec.err
python3 -c '
import json, sys
a = [json.loads(l)["text"] for l in open("in.jsonl")]
b = [json.loads(l)["text"] for l in open("out.jsonl")]
sys.exit(a != b)' >/dev/null 2>&1
_result $? "decode(encode(text)) == text"
check_grep "special tokens are single ids" '"ids": \[598, ' ids.jsonl
ref=
for r in /tmp/tokref /tmp/tokref2; do
	[ -d "$r/node_modules/tokenizers" ] && command -v node >/dev/null &&
	    { ref=$r; break; }
done
if [ -n "$ref" ]; then
	cat >ref.js <<'JS'
const fs = require("fs");
const { Tokenizer } = require("tokenizers");
(async () => {
	const t = Tokenizer.fromFile("a/tokenizer.json");
	for (const l of fs.readFileSync("in.jsonl", "utf8").split("\n")) {
		if (!l) continue;
		const e = await t.encode(JSON.parse(l).text, null,
		    { addSpecialTokens: false });
		console.log(JSON.stringify(Array.from(e.getIds())));
	}
})();
JS
	NODE_PATH=$ref/node_modules node ref.js >ref.out 2>ref.err
	python3 -c '
import json, sys
a = [json.loads(l) for l in open("ref.out")]
b = [json.loads(l)["ids"] for l in open("ids.jsonl")]
sys.exit(a != b or len(a) != 8)' >/dev/null 2>&1
	_result $? "the tokenizers library agrees on the ids"
else
	skip "no tokenizers reference in /tmp/tokref or /tmp/tokref2"
fi
check_exit "no -o: usage" 2 lmf-bpe-train "$D/identity.json"
check_exit "bad --vocab_size: usage" 2 lmf-bpe-train -o x --vocab_size 10
check_exit "unknown option: usage" 2 lmf-bpe-train -o x --bogus
printf '{"a": [1, "x"' >bad.json
check_exit "corrupt JSON: exit 1" 1 lmf-bpe-train -o x bad.json
printf 'ok\n\377\376 bad\n' >bad.txt
check_exit "invalid UTF-8: exit 1" 1 lmf-bpe-train -o x bad.txt
check_exit "missing file: exit 1" 1 lmf-bpe-train -o x nosuch.txt
done_testing
