#!/bin/sh
# t1100-tokenize: lmf-tokenize on the project's own data/ with the tiny
# tokenizers of tests/data: every stage, templates checked against the
# tokenizer's own --encode, usage errors and bad input.
. "$(dirname "$0")/lib.sh"
plan 51

TOK=$TOP/tests/data/tok-bytelevel
SP=$TOP/tests/data/tok-sentencepiece
D=$TOP/data
tz() { lmf-tokenize -q --tokenizer "$TOK" --dataset_dir "$D" "$@"; }

check "-h prints usage" lmf-tokenize -h
check_grep "usage names --stage" "--stage" check.out
check "-V prints the version" lmf-tokenize -V

# ---- every stage on data/ ----
check "sft: alpaca, sharegpt, identity, tools (qwen)" tz --stage sft \
    --template qwen --dataset alpaca_demo,sharegpt_demo,identity,toolcall_demo \
    -o sft.lmf
check "sft stream reads back" lmf-dump -q sft.lmf
check "pt: jsonl and txt in blocks" tz --stage pt --template qwen \
    --dataset text_demo,text_demo_txt --cutoff_len 64 -o pt.lmf
check "rm: sharegpt preference" tz --stage rm --template chatml \
    --dataset dpo_demo -o rm.lmf
check "dpo: alpaca preference" tz --stage dpo --template default \
    --dataset dpo_alpaca_demo -o dpo.lmf
check "kto: kto tags and KL pairs" tz --stage kto --template empty \
    --dataset kto_demo -o kto.lmf
check "ppo: prompts and answers" tz --stage ppo --template alpaca \
    --dataset alpaca_demo -o ppo.lmf
check "sft with the default template and tools" tz --stage sft \
    --template default --dataset toolcall_demo -o tools.lmf
check "sft with mistral on a SentencePiece tokenizer" lmf-tokenize -q \
    --tokenizer "$SP" --dataset_dir "$D" --stage sft --template mistral \
    --dataset alpaca_demo -o mistral.lmf
check "sft, qwen3 with mask_history and packing" tz --stage sft \
    --template qwen3 --mask_history --packing --dataset sharegpt_demo \
    -o q3.lmf

for f in sft pt rm dpo kto ppo tools mistral q3; do
	lmf-dump --json $f.lmf >$f.jsonl 2>/dev/null
done
check "tensors, headers and labels per stage" python3 - <<'EOF'
import json
def load(f):
    rows = [json.loads(l) for l in open(f)]
    return rows[0]["meta"], [{t["name"]: t for t in r["tensors"]} for r in rows if "item" in r]
want = {"sft": ["input_ids", "labels"], "pt": ["input_ids", "labels"],
        "rm": ["chosen_input_ids", "chosen_labels", "rejected_input_ids", "rejected_labels"],
        "dpo": ["chosen_input_ids", "chosen_labels", "rejected_input_ids", "rejected_labels"],
        "kto": ["input_ids", "labels", "kl_input_ids", "kl_labels", "kto_tags"],
        "ppo": ["input_ids", "labels"]}
for f, stage in [("sft", "sft"), ("pt", "pt"), ("rm", "rm"), ("dpo", "dpo"), ("kto", "kto"), ("ppo", "ppo")]:
    meta, items = load(f + ".jsonl")
    assert meta["kind"] == "examples" and meta["stage"] == stage, meta
    for k in ("pad_token_id", "eos_token_id", "bos_token_id", "vocab_size", "cutoff_len", "template"):
        assert k in meta, k
    assert items, f
    for it in items:
        assert sorted(it) == sorted(want[stage]), (f, sorted(it))
        for t in it.values():
            assert t["dtype"] == "i32", t
meta, items = load("pt.jsonl")
assert meta["packing"] is True
assert all(it["input_ids"]["shape"] == [64] for it in items)
for it in items:
    for i, l in zip(it["input_ids"]["data"], it["labels"]["data"]):
        assert l == (-100 if i == meta["pad_token_id"] else i)
meta, items = load("kto.jsonl")
tag = lambda d: d[0] if isinstance(d, list) else d
assert {tag(it["kto_tags"]["data"]) for it in items} == {0, 1}
assert all(it["kto_tags"]["shape"] == [] for it in items)
meta, items = load("sft.jsonl")
for it in items:
    ids, lab = it["input_ids"]["data"], it["labels"]["data"]
    assert len(ids) == len(lab) and lab[0] == -100
    assert all(l == -100 or l == i for i, l in zip(ids, lab))
    assert ids[-2] == meta["eos_token_id"] and lab[-1] == ids[-1]
meta, items = load("q3.jsonl")
assert meta["packing"] is True and meta["cutoff_len"] == 2048
EOF

# ---- templates against the tokenizer's own encoding, slot by slot ----
mkdir -p ds
cat >ds/dataset_info.json <<'EOF'
{"one": {"file_name": "one.jsonl"},
 "two": {"file_name": "two.json", "formatting": "sharegpt"},
 "pick": {"file_name": "pick.json", "ranking": true, "columns": {"prompt":
  "instruction", "query": "input", "chosen": "chosen", "rejected": "rejected"}}}
EOF
printf '%s\n' '{"instruction": "Add 2 and 3.", "input": "", "output": "5", "system": "x"}' >ds/one.jsonl
cat >ds/two.json <<'EOF'
[{"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello!"},
  {"from": "human", "value": "Sum 1 2"}, {"from": "gpt", "value": "3"}]}]
EOF
cat >ds/pick.json <<'EOF'
[{"instruction": "Q", "input": "more", "chosen": "good answer", "rejected": "bad"}]
EOF
tzd() { lmf-tokenize -q --tokenizer "$TOK" --dataset_dir ds "$@"; }
tzd --stage sft --template qwen --dataset two -o two.lmf 2>/dev/null
tzd --stage sft --template qwen --dataset two --mask_history -o twom.lmf \
    2>/dev/null
tzd --stage sft --template qwen --dataset two --train_on_prompt \
    -o twop.lmf 2>/dev/null
tzd --stage sft --template qwen --dataset two --cutoff_len 12 -o twoc.lmf \
    2>/dev/null
tzd --stage rm --template qwen --dataset pick -o pick.lmf 2>/dev/null
tzd --stage ppo --template qwen --dataset two -o twoppo.lmf 2>/dev/null
tzd --stage sft --template qwen --dataset one --default_system "Be brief." \
    -o one.lmf 2>/dev/null
for f in two twom twop twoc pick twoppo one; do
	lmf-dump --json $f.lmf >$f.jsonl 2>/dev/null
done
python3 - "$TOK" >enc.in <<'EOF'
import json, sys
for s in ["<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n",
          "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", "Hello!<|im_end|>\n",
          "<|im_start|>user\nSum 1 2<|im_end|>\n<|im_start|>assistant\n", "3<|im_end|>\n",
          "<|im_start|>user\nQ\nmore<|im_end|>\n<|im_start|>assistant\n", "good answer<|im_end|>\n",
          "bad<|im_end|>\n", "<|im_start|>system\nBe brief.<|im_end|>\n",
          "<|im_start|>user\nAdd 2 and 3.<|im_end|>\n<|im_start|>assistant\n", "5<|im_end|>\n"]:
    print(json.dumps({"text": s, "add_special_tokens": False}))
EOF
lmf-tokenize --encode --tokenizer "$TOK" enc.in >enc.out 2>/dev/null
check "qwen: multi-turn, mask_history, train_on_prompt, cutoff, rm, ppo" \
    python3 - <<'EOF'
import json
enc = [json.loads(l)["ids"] for l in open("enc.out")]
S, U1, A1, U2, A2, UQ, C, R, SB, U0, A0 = enc
def item(f, n=0):
    rows = [json.loads(l) for l in open(f + ".jsonl") if '"item"' in l]
    return {t["name"]: t["data"] for t in rows[n]["tensors"]}
I = [-100]
x = item("two")
assert x["input_ids"] == S + U1 + A1 + U2 + A2, x
assert x["labels"] == I * len(S + U1) + A1 + I * len(U2) + A2
x = item("twom")
assert x["input_ids"] == S + U1 + A1 + U2 + A2
assert x["labels"] == I * len(S + U1 + A1 + U2) + A2
x = item("twop")
assert x["labels"] == S + U1 + A1 + U2 + A2
# cutoff 12 over turn 0 = (S+U1, A1): infer_seqlen, prefixes kept
def infer(s, t, c):
    mt = c if t * 2 < c else (c - s if s * 2 < c else int(c * (t / (s + t))))
    nt = min(mt, t)
    return min(max(c - nt, 0), s), nt
src, tgt = S + U1, A1
sl, tl = infer(len(src), len(tgt), 12)
x = item("twoc")
assert x["input_ids"][:sl + tl] == src[:sl] + tgt[:tl], (x, sl, tl)
assert len(x["input_ids"]) <= 12
x = item("pick")
sl, tl = infer(len(S + UQ), max(len(C), len(R)), 2048)
assert x["chosen_input_ids"] == S + UQ + C and x["rejected_input_ids"] == S + UQ + R
assert x["chosen_labels"] == I * len(S + UQ) + C
x = item("twoppo")
assert x["input_ids"] == S + U1 + A1 + U2 and x["labels"] == A2
x = item("one")
assert x["input_ids"] == SB + U0 + A0
EOF

check "the same input gives the same stream" sh -c "lmf-tokenize -q \
    --tokenizer '$TOK' --dataset_dir '$D' --stage sft --template qwen \
    --dataset alpaca_demo,sharegpt_demo -l 0 >a1.lmf"
lmf-tokenize -q --tokenizer "$TOK" --dataset_dir "$D" --stage sft \
    --template qwen --dataset alpaca_demo,sharegpt_demo -l 0 >a2.lmf
check_same "byte-identical reruns" a1.lmf a2.lmf
check "interleave_under takes turns until one runs out" tz --stage sft \
    --template qwen --dataset one,two --mix_strategy interleave_under \
    --dataset_dir ds -o mix.lmf
lmf-dump mix.lmf | tail -1 >mix.txt
check_grep "two examples interleaved" "end: 2 items" mix.txt
check "max_samples keeps the first rows" tz --stage sft --template qwen \
    --dataset alpaca_demo --max_samples 3 -o max.lmf
lmf-dump max.lmf | tail -1 >max.txt
check_grep "three examples" "end: 3 items" max.txt

# ---- --encode, --decode, --model ----
printf '%s\n' '{"text": "hello world <|im_end|>"}' \
    '{"text": "Sum 1 2, then stop.", "add_special_tokens": false}' >e.jsonl
check "--encode" lmf-tokenize --encode --tokenizer "$TOK" e.jsonl
mv check.out e.out
sed 's/{"ids"/{"skip_special_tokens": true, "ids"/' e.out >d.jsonl
check "--decode" lmf-tokenize --decode --tokenizer "$TOK" d.jsonl
python3 -c 'import json; print(json.dumps({"text": "hello world "}, separators=(",", ":"))); print(json.dumps({"text": "Sum 1 2, then stop."}, ensure_ascii=False, separators=(",", ":")))' >d.want
check_same "decode(encode(text)) is the text" check.out d.want
python3 - "$TOK" <<'EOF' >model.jsonl
import json, sys
tensors = []
for name in ("tokenizer.json", "tokenizer_config.json"):
    b = open(sys.argv[1] + "/" + name, "rb").read()
    tensors.append({"name": name, "dtype": "u8", "shape": [len(b)], "data": list(b)})
print(json.dumps({"lmf": 1, "meta": {"kind": "model"}}))
print(json.dumps({"item": 0, "tensors": tensors}))
print(json.dumps({"end": 1}))
EOF
lmf-dump -r -o model.lmf model.jsonl 2>/dev/null
check "--model reads the tokenizer of a model stream" lmf-tokenize --encode \
    --model model.lmf e.jsonl
check_same "the same ids as --tokenizer" check.out e.out

# ---- usage errors: exit 2, one line ----
check_exit "no arguments" 2 lmf-tokenize
check_exit "no tokenizer" 2 lmf-tokenize --stage sft --dataset x
check_exit "both --tokenizer and --model" 2 lmf-tokenize --tokenizer a \
    --model b --stage sft --dataset x
check_exit "unknown stage" 2 tz --stage foo --dataset alpaca_demo
check_exit "bad --cutoff_len" 2 tz --stage sft --dataset alpaca_demo \
    --cutoff_len 12x
check_exit "unknown option" 2 tz --stage sft --dataset alpaca_demo --nope
check_exit "--interleave_probs with concat" 2 tz --stage sft \
    --dataset alpaca_demo,identity --interleave_probs 0.5,0.5
check_exit "--mask_history outside sft" 2 tz --stage dpo --dataset dpo_demo \
    --mask_history
check_exit "--encode with a dataset" 2 lmf-tokenize --encode --tokenizer \
    "$TOK" --dataset alpaca_demo
check_exit "a stray argument" 2 tz --stage sft --dataset alpaca_demo extra

# ---- bad input: exit 1, one line ----
check_exit "a dataset not in dataset_info.json" 1 tz --stage sft \
    --dataset nosuch -o x.lmf
check_grep "it names the dataset" "nosuch" check.err
check_exit "an unknown template" 1 tz --stage sft --dataset alpaca_demo \
    --template nosuch -o x.lmf
check_exit "a dataset of the wrong kind for the stage" 1 tz --stage dpo \
    --dataset alpaca_demo -o x.lmf
mkdir -p bad
cat >bad/dataset_info.json <<'EOF'
{"lines": {"file_name": "lines.jsonl"}, "nocol": {"file_name": "nocol.jsonl",
 "columns": {"prompt": "question"}}, "bin": {"file_name": "bin.txt",
 "columns": {"prompt": "text"}}}
EOF
printf '%s\n' '{"instruction": "a", "output": "b", "input": ""}' \
    '{"instruction": "a", "output": ' >bad/lines.jsonl
printf '%s\n' '{"instruction": "a", "output": "b"}' >bad/nocol.jsonl
printf 'good line\nbad \377\376 line\n' >bad/bin.txt
tzb() { lmf-tokenize -q --tokenizer "$TOK" --dataset_dir bad "$@"; }
check_exit "a malformed JSON line" 1 tzb --stage sft --dataset lines -o x.lmf
check_grep "file and line in the message" "lines.jsonl' line 2" check.err
check_exit "a missing column" 1 tzb --stage sft --dataset nocol -o x.lmf
check_grep "the column is named" "question" check.err
check_exit "a non-UTF-8 text file" 1 tzb --stage pt --dataset bin -o x.lmf
check_grep "where" "bin.txt' line 2" check.err
mkdir -p wp
sed 's/"type": *"BPE"/"type": "WordPiece"/' "$TOK/tokenizer.json" \
    >wp/tokenizer.json
check_exit "a tokenizer with an unsupported component" 1 lmf-tokenize \
    --encode --tokenizer wp e.jsonl
check_grep "the component is named" "WordPiece" check.err
printf 'not a stream' >junk.lmf
check_exit "a corrupt model stream" 1 lmf-tokenize --encode --model junk.lmf \
    e.jsonl
printf '%s\n' '{"text": "a"}' '{"text": ' >badenc.jsonl
check_exit "--encode: a malformed line" 1 lmf-tokenize --encode \
    --tokenizer "$TOK" badenc.jsonl
check_exit "--decode: an id out of range" 1 sh -c "echo '{\"ids\": [99999999]}' |
    lmf-tokenize --decode --tokenizer '$TOK'"

done_testing
