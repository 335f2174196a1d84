#!/bin/sh
# a JSON string with \u0000 in lmf-tokenize --encode input is tokenized as
# the tokenizers library does: NUL is an ordinary character, the ByteLevel
# symbol of byte 0 ('\u0100', id 0 in this tokenizer's byte vocabulary)
. "$(dirname "$0")/lib.sh"
plan 3
TOK="$TOP/tests/data/tok-bytelevel"
printf '{"text": "a\\u0000b"}\n{"text": "\\u0000"}\n' >in.jsonl
check "--encode takes \\u0000" sh -c \
	"lmf-tokenize --encode --tokenizer '$TOK' in.jsonl >out.jsonl"
printf '{"ids": [97, 0, 98, 508]}\n{"ids": [0, 508]}\n' >want.jsonl
check_same "  NUL is the byte-0 symbol, between a and b" want.jsonl out.jsonl
printf '{"text": "a\\u0000b", "add_special_tokens": false}\n' |
	lmf-tokenize --encode --tokenizer "$TOK" >ns.jsonl
check_grep "  without special tokens" '^{"ids": \[97, 0, 98\]}$' ns.jsonl
done_testing
