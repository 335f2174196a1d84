#!/bin/sh
# a JSON string with \u0000, in lmf-tokenize --encode input or in a dataset,
# is tokenized as the tokenizers library does: NUL is an ordinary
# character, the ByteLevel symbol of byte 0 ('\u0100', id 0 in this
# tokenizer's byte vocabulary, where byte b is id b)
. "$(dirname "$0")/lib.sh"
plan 7
TOK="$TOP/tests/data/tok-bytelevel"
printf '{"text": "a\\u0000b"}\n{"text": "\\u0000"}\n' >in.jsonl
check "--encode takes \\u0000" sh -c \
	"lmf-tokenize --encode --tokenizer '$TOK' in.jsonl >out.jsonl"
printf '{"ids": [97, 0, 98, 508]}\n{"ids": [0, 508]}\n' >want.jsonl
check_same "  NUL is the byte-0 symbol, between a and b" want.jsonl out.jsonl
printf '{"text": "a\\u0000b", "add_special_tokens": false}\n' |
	lmf-tokenize --encode --tokenizer "$TOK" >ns.jsonl
check_grep "  without special tokens" '^{"ids": \[97, 0, 98\]}$' ns.jsonl

mkdir ds
printf '{"nul": {"file_name": "nul.jsonl"}, "arr": {"file_name": "a.json"}}' \
	>ds/dataset_info.json
printf '{"instruction": "a\\u0000b", "input": "", "output": "c\\u0000"}\n' \
	>ds/nul.jsonl
printf '[{"instruction": "\\u0000", "input": "", "output": "d"}]\n' >ds/a.json
check "a dataset (.jsonl) with \\u0000 in its strings" lmf-tokenize --stage sft \
	--tokenizer "$TOK" --template empty --dataset nul --dataset_dir ds \
	-q -o nul.lmf
lmf-dump -n 40 nul.lmf | grep -E ' (input_ids|labels) ' >got.txt
check_grep "  NUL is id 0 in the prompt and the answer" \
	'input_ids i32 \[5\] \[97, 0, 98, 99, 0\]' got.txt
check_grep "  and labelled in the answer" \
	'labels i32 \[5\] \[-100, -100, -100, 99, 0\]' got.txt
check "a .json dataset with a string of one NUL" sh -c "lmf-tokenize \
	--stage sft --tokenizer '$TOK' --template empty --dataset arr \
	--dataset_dir ds -q -o a.lmf && lmf-dump -n 9 a.lmf |
	grep -q 'input_ids i32 \[2\] \[0, 100\]'"
done_testing
