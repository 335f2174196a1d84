#!/bin/sh
# t1102-tokenize-bad: lmf-tokenize on damaged or mistyped input: dataset
# folders. Each is one line on stderr and exit 1; the legal variants next
# to them still work.
. "$(dirname "$0")/lib.sh"
plan 6

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

done_testing
