#!/bin/sh
# lmf-generate stops at the tokenizer's additional special tokens, as
# LLaMA-Factory's eos_token_id list ([eos] + additional_special_tokens_ids)
# makes generation stop, the same list (sample.h's lmf_sample_stop_ids)
# sft predict and lmf-ppo use: a token the tiny model generates greedily
# ends the answer once tokenizer_config.json names it.
. "$(dirname "$0")/lib.sh"
plan 4
mkdir plain special
sed 's/"vocab_size": 512/"vocab_size": 576/' \
	"$TOP/data/models/tiny-llama/config.json" >plain/config.json
cp "$TOP"/tests/data/tok-bytelevel/* plain/
lmf-load -q --init --seed 42 plain -o plain.lmf
check "greedy ids without the extra stop" sh -c 'lmf-generate --model \
	plain.lmf --prompt_ids 40,41,42 --max_new_tokens 12 --do_sample false \
	--output_format ids >plain.ids'
# the first id from the third on that is not a special token already
python3 - <<'PY' >x.txt
import json
ids = [int(x) for x in open("plain.ids").read().split(",")]
tok = json.load(open("plain/tokenizer.json"))
inv = {v: k for k, v in tok["model"]["vocab"].items()}
x = next(i for i in ids[2:] if i in inv and i not in ids[:2])
print(x)
print(inv[x])
cfg = json.load(open("plain/tokenizer_config.json"))
cfg["additional_special_tokens"] = [inv[x]]
json.dump(cfg, open("special/tokenizer_config.json", "w"))
PY
cp plain/config.json plain/tokenizer.json special/
lmf-load -q --init --seed 42 special -o special.lmf
check "the same prompt, the token an additional special token" sh -c \
	'lmf-generate --model special.lmf --prompt_ids 40,41,42 \
	--max_new_tokens 12 --do_sample false --output_format ids >special.ids'
check "  the answer ends at that token" python3 -c '
a = [int(x) for x in open("plain.ids").read().split(",")]
b = [int(x) for x in open("special.ids").read().strip().split(",") if x]
x = int(open("x.txt").readline())
k = a.index(x)
assert len(a) == 12 and k >= 2, (a, k)
assert b in (a[:k], a[:k + 1]), (a, b, x)'
check "  the plain tokenizer still gives 12 tokens" sh -c \
	'test $(tr , " " <plain.ids | wc -w) -eq 12'
done_testing
