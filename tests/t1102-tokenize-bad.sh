#!/bin/sh
# t1102-tokenize-bad: lmf-tokenize on damaged or mistyped input: dataset
# folders, empty files, NUL bytes, dataset_info.json values of the wrong
# type, numbers or objects where text is expected, a run that would write
# no example, and tokenizer_config.json special tokens. Each is one line
# on stderr and exit 1; the legal variants next to them still work.
. "$(dirname "$0")/lib.sh"
plan 78

TOK=$TOP/tests/data/tok-bytelevel
mkdir ds
tz() { lmf-tokenize -q --tokenizer "$TOK" --dataset_dir ds --template qwen \
    "$@"; }
items() { lmf-dump "$1" 2>/dev/null | tail -1; }

cat >ds/dataset_info.json <<'EOF'
{"dir": {"file_name": "dir"},
 "dirmix": {"file_name": "dirmix"},
 "dirbad": {"file_name": "dirbad"},
 "dirnone": {"file_name": "dirnone"},
 "empty": {"file_name": "empty.json"},
 "emptyl": {"file_name": "empty.jsonl"},
 "emptyt": {"file_name": "empty.txt", "columns": {"prompt": "text"}},
 "blank": {"file_name": "blank.jsonl"},
 "nul": {"file_name": "nul.jsonl"},
 "nulstr": {"file_name": "nulstr.jsonl"},
 "arr": {"file_name": "arr.json"},
 "ok": {"file_name": "ok.json"},
 "rankyes": {"file_name": "ok.json", "ranking": "yes"},
 "rank1": {"file_name": "ok.json", "ranking": 1},
 "ranknull": {"file_name": "ok.json", "ranking": null, "num_samples": null},
 "nsneg": {"file_name": "ok.json", "num_samples": -1},
 "nsstr": {"file_name": "ok.json", "num_samples": "3"},
 "nszero": {"file_name": "ok.json", "num_samples": 0},
 "nsthree": {"file_name": "ok.json", "num_samples": 3},
 "nshuge": {"file_name": "ok.json", "num_samples": 94444444444444444},
 "fnint": {"file_name": 7},
 "colint": {"file_name": "ok.json", "columns": {"prompt": 1}},
 "split": {"file_name": "ok.json", "split": ["train"]},
 "intins": {"file_name": "intins.json"},
 "objin": {"file_name": "objin.json"},
 "intout": {"file_name": "intout.json"},
 "sys": {"file_name": "sys.json", "columns": {"prompt": "instruction",
   "response": "output", "system": "system"}},
 "hist": {"file_name": "hist.json", "columns": {"prompt": "instruction",
   "response": "output", "history": "history"}},
 "tools": {"file_name": "tools.json", "columns": {"prompt": "instruction",
   "response": "output", "tools": "tools"}},
 "pick": {"file_name": "pick.json", "ranking": true, "columns": {"prompt":
   "instruction", "chosen": "chosen", "rejected": "rejected"}},
 "kto": {"file_name": "kto.json", "columns": {"prompt": "instruction",
   "response": "output", "kto_tag": "label"}},
 "msgint": {"file_name": "msgint.json", "formatting": "sharegpt"},
 "msgsys": {"file_name": "msgsys.json", "formatting": "sharegpt"},
 "msgnone": {"file_name": "msgnone.json", "formatting": "sharegpt"},
 "msgsome": {"file_name": "msgsome.json", "formatting": "sharegpt"},
 "nullok": {"file_name": "nullok.json", "columns": {"prompt": "instruction",
   "query": "input", "response": "output", "system": "system", "tools":
   "tools", "history": "history"}}}
EOF
A='{"instruction": "a", "input": "", "output": "b"}'
B='{"instruction": "c", "input": "", "output": "d"}'
mkdir ds/dir ds/dirmix ds/dirbad ds/dirnone
echo "[$A]" >ds/dir/a.json
echo "[$B]" >ds/dir/b.json
echo "[$A]" >ds/dirmix/a.json
echo "$B" >ds/dirmix/b.jsonl
echo "[$A]" >ds/dirbad/a.json
echo "text" >ds/dirbad/b.txt
: >ds/empty.json
: >ds/empty.jsonl
: >ds/empty.txt
printf '\n  \n\t\n' >ds/blank.jsonl
printf '%s\n\000\000\n' "$A" >ds/nul.jsonl
printf '%s\n{"instruction": "x\000", "output": "y"}\n' "$A" >ds/nulstr.jsonl
echo '[]' >ds/arr.json
echo "[$A, $B]" >ds/ok.json
echo '[{"instruction": 5, "input": "", "output": "b"}]' >ds/intins.json
echo '[{"instruction": "a", "input": {"k": 1}, "output": "b"}]' >ds/objin.json
echo '[{"instruction": "a", "input": "", "output": 3}]' >ds/intout.json
echo '[{"instruction": "a", "output": "b", "system": {"a": 1}}]' >ds/sys.json
echo '[{"instruction": "a", "output": "b", "history": [["q", 1]]}]' \
    >ds/hist.json
echo '[{"instruction": "a", "output": "b", "tools": 12}]' >ds/tools.json
echo '[{"instruction": "a", "chosen": "b", "rejected": 0}]' >ds/pick.json
echo '[{"instruction": "a", "output": "b", "label": "yes"}]' >ds/kto.json
cat >ds/msgint.json <<'EOF'
[{"conversations": [{"from": "human", "value": 7}, {"from": "gpt", "value": "x"}]}]
EOF
cat >ds/msgsys.json <<'EOF'
[{"conversations": [{"from": "system", "value": ["s"]}, {"from": "human",
  "value": "q"}, {"from": "gpt", "value": "x"}]}]
EOF
echo '[{"conversations": []}]' >ds/msgnone.json
cat >ds/msgsome.json <<'EOF'
[{"conversations": []},
 {"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "x"}]}]
EOF
cat >ds/nullok.json <<'EOF'
[{"instruction": "a", "input": null, "output": "b", "system": null,
  "tools": null, "history": null},
 {"instruction": "a", "input": "more", "output": "b", "system": "s",
  "tools": [{"name": "f", "description": "d", "parameters": {"type": "object",
  "properties": {}}}], "history": [["q0", "a0"]]}]
EOF

# ---- a dataset folder (once a use-after-free) ----
check "a folder of two .json files loads" tz --stage sft --dataset dir \
    -o dir.lmf
items dir.lmf >dir.txt
check_grep "  both files' rows" "end: 2 items" dir.txt
check "a folder of .json and .jsonl files (one type) loads" tz --stage sft \
    --dataset dirmix -o dirmix.lmf
items dirmix.lmf >dirmix.txt
check_grep "  both files' rows" "end: 2 items" dirmix.txt
check_exit "a folder of .json and .txt files" 1 tz --stage sft \
    --dataset dirbad -o x.lmf
check_grep "  says so" "files of different types" check.err
check_exit "an empty folder" 1 tz --stage sft --dataset dirnone -o x.lmf
check_grep "  no rows" "no rows in 'ds/dirnone'" check.err

# ---- empty files, NUL bytes, no rows ----
check_exit "a 0-byte .json file" 1 tz --stage sft --dataset empty -o x.lmf
check_grep "  is empty" "'ds/empty.json' is empty" check.err
check_exit "a 0-byte .jsonl file" 1 tz --stage sft --dataset emptyl -o x.lmf
check_grep "  is empty" "'ds/empty.jsonl' is empty" check.err
check_exit "a 0-byte .txt file" 1 tz --stage pt --dataset emptyt -o x.lmf
check_grep "  is empty" "'ds/empty.txt' is empty" check.err
check_exit "a .jsonl file of blank lines" 1 tz --stage sft --dataset blank \
    -o x.lmf
check_exit "a line of NUL bytes in a .jsonl file" 1 tz --stage sft \
    --dataset nul -o x.lmf
check_grep "  file and line" "nul.jsonl' line 2: a NUL byte" check.err
check_exit "a NUL byte in a string of a .jsonl line" 1 tz --stage sft \
    --dataset nulstr -o x.lmf
check_grep "  file and line" "nulstr.jsonl' line 2" check.err
check_exit "a file holding []" 1 tz --stage sft --dataset arr -o x.lmf
check_grep "  no rows" "dataset 'arr': no rows" check.err
check "  no failing run left an output file" test ! -e x.lmf

# ---- dataset_info.json values of the wrong type ----
check_exit "ranking: \"yes\"" 1 tz --stage rm --dataset rankyes -o x.lmf
check_grep "  names the key and the type" \
    "'ranking' is a string, not true or false" check.err
check_exit "ranking: 1" 1 tz --stage sft --dataset rank1 -o x.lmf
check "ranking and num_samples null are their defaults" tz --stage sft \
    --dataset ranknull -o null.lmf
items null.lmf >null.txt
check_grep "  every row" "end: 2 items" null.txt
check_exit "num_samples: -1" 1 tz --stage sft --dataset nsneg -o x.lmf
check_grep "  names the value" "'num_samples' is negative (-1)" check.err
check_exit "num_samples: \"3\"" 1 tz --stage sft --dataset nsstr -o x.lmf
check_grep "  names the type" "'num_samples' is a string" check.err
check_exit "num_samples: 0 leaves no example" 1 tz --stage sft \
    --dataset nszero -o x.lmf
check_grep "  says so" "no examples" check.err
check "num_samples above the row count draws with replacement" tz \
    --stage sft --dataset nsthree -o three.lmf
items three.lmf >three.txt
check_grep "  three examples" "end: 3 items" three.txt
check_exit "num_samples: 94444444444444444 is refused, not allocated" 1 tz \
    --stage sft --dataset nshuge -o x.lmf
check_grep "  names the limit" "more than 64 times its" check.err
check_exit "file_name: 7" 1 tz --stage sft --dataset fnint -o x.lmf
check_grep "  names the key" "'file_name' is a number" check.err
check_exit "columns.prompt: 1" 1 tz --stage sft --dataset colint -o x.lmf
check_grep "  names the key" "'columns.prompt' is a number" check.err
check_exit "split: a list" 1 tz --stage sft --dataset split -o x.lmf

# ---- a number or an object where text is expected ----
check_exit "an instruction that is a number" 1 tz --stage sft \
    --dataset intins -o x.lmf
check_grep "  dataset, row and column" \
    "dataset 'intins' row 0: 'instruction' is a number, not a string" \
    check.err
check_exit "an input that is an object" 1 tz --stage sft --dataset objin \
    -o x.lmf
check_grep "  names the type" "'input' is an object" check.err
check_exit "an output that is a number" 1 tz --stage sft --dataset intout \
    -o x.lmf
check_exit "a system prompt that is an object" 1 tz --stage sft \
    --dataset sys -o x.lmf
check_grep "  names the column" "'system' is an object" check.err
check_exit "a history entry that is not two strings" 1 tz --stage sft \
    --dataset hist -o x.lmf
check_grep "  names the entry" "'history' entry 0 is not a pair" check.err
check_exit "tools that are a number" 1 tz --stage sft --dataset tools \
    -o x.lmf
check_exit "a rejected answer that is a number" 1 tz --stage rm \
    --dataset pick -o x.lmf
check_grep "  names the column" "'rejected' is a number" check.err
check_exit "a kto tag that is a string" 1 tz --stage kto --dataset kto \
    -o x.lmf
check_grep "  names the column" "'label' is a string, not true or false" \
    check.err
check_exit "a message content that is a number" 1 tz --stage sft \
    --dataset msgint -o x.lmf
check_grep "  names the message" "row 0: message 0: 'value' is a number" \
    check.err
check_exit "a system message whose content is a list" 1 tz --stage sft \
    --dataset msgsys -o x.lmf
check "null text, null tools, null history, and tools as a list" tz \
    --stage sft --dataset nullok -o nullok.lmf
items nullok.lmf >nullok.txt
check_grep "  both rows" "end: 2 items" nullok.txt

# ---- empty message lists: skipped with a warning, as LLaMA-Factory
# does; a run left with no example at all fails ----
check_exit "only an empty message list: no example" 1 tz --stage sft \
    --dataset msgnone -o x.lmf
check_grep "  says why" "no examples: 1 row, 1 skipped: 'msgnone' row 0" \
    check.err
lmf-tokenize -q --tokenizer "$TOK" --dataset_dir ds --template qwen \
    --stage sft --dataset msgnone >x.out 2>/dev/null
check "  nothing on stdout" test ! -s x.out
check_exit "an empty message list beside a good row: warned, skipped" 0 tz \
    --stage sft --dataset msgsome -o some.lmf
check_grep "  the warning names the row" "skipped 1 invalid example: \
'msgsome' row 0" check.err
items some.lmf >some.txt
check_grep "  the good row is kept" "end: 1 items" some.txt

# ---- tokenizer_config.json special tokens ----
mk() {  # dir config-json
	mkdir -p "$1" && cp "$TOK/tokenizer.json" "$1/" &&
	printf '%s\n' "$2" >"$1/tokenizer_config.json"
}
enc() { echo '{"text": "hi"}' | lmf-tokenize --encode --tokenizer "$1"; }
mk t-eosint '{"eos_token": 5, "pad_token": "<|endoftext|>"}'
mk t-eosout '{"eos_token": "<|nope|>", "pad_token": "<|endoftext|>"}'
mk t-padout '{"eos_token": "<|im_end|>", "pad_token": "</s>"}'
mk t-bosobj '{"eos_token": "<|im_end|>", "bos_token": {"content": 3}}'
mk t-addbos '{"eos_token": "<|im_end|>", "add_bos_token": "yes"}'
mk t-eosnl '{"eos_token": "a\nb"}'
mk t-added '{"eos_token": {"__type": "AddedToken", "content": "<|im_end|>",
 "lstrip": false, "normalized": false, "rstrip": false, "single_word": false,
 "special": true}, "pad_token": {"content": "<|endoftext|>"},
 "bos_token": null, "unk_token": null, "add_bos_token": null}'
check_exit "an eos_token that is a number" 1 enc t-eosint
check_grep "  names the key" "eos_token is not a string" check.err
check_exit "an eos_token not in the vocabulary" 1 enc t-eosout
check_grep "  names the token" "eos_token '<|nope|>' is not in the \
vocabulary" check.err
check_exit "  the same through a dataset run" 1 lmf-tokenize -q \
    --tokenizer t-eosout --dataset_dir ds --template qwen --stage sft \
    --dataset ok -o x.lmf
check_exit "a pad_token not in the vocabulary" 1 enc t-padout
check_exit "a bos_token object without a content string" 1 enc t-bosobj
check_exit "add_bos_token: \"yes\"" 1 enc t-addbos
check_exit "an eos_token with a newline: still one line" 1 enc t-eosnl
check "eos and pad as AddedToken objects, nulls unset" lmf-tokenize -q \
    --tokenizer t-added --dataset_dir ds --template qwen --stage sft \
    --dataset ok -o added.lmf
tz --stage sft --dataset ok -o plain.lmf
for f in added plain; do
	lmf-dump --json $f.lmf 2>/dev/null | sed 's/"command":"[^"]*",//' \
	    >$f.json
done
check_same "  the same stream as with plain strings" added.json plain.json

done_testing
