#!/bin/sh
# The default tool prompt (LLaMA-Factory's DefaultToolUtils, templates
# whose tool_format is default) writes each schema value as Python's
# str.format does: str() of what json.loads gives, so lists, mappings,
# booleans, null and floats as repr() writes them (['string', 'null'],
# True, None, 1e-07, '\u1680'), strings bare, an enum joined as Python
# iterates it (a string's characters, a mapping's keys); the expected
# text below is that formatter run in Python. A tool list its Python
# cannot format (an enum of numbers, items not a mapping, a tool without
# a name, required null) skips the row with one line saying why.
. "$(dirname "$0")/lib.sh"
plan 4
tok=$TOP/tests/data/tok-bytelevel
mkdir ds
cat >ds/dataset_info.json <<'J'
{"t": {"file_name": "t.json", "formatting": "sharegpt",
 "columns": {"messages": "conversations", "tools": "tools"}}}
J
python3 - <<'PY'
import json
good = [{"name": "f", "description": True, "parameters": {
    "type": "object", "required": ["x"], "properties": {
        "x": {"type": ["string", "null"], "description": "the x's \"q\""},
        "y": {"type": "array", "items": {"type": ["integer", None]}},
        "z": {"type": {"a": 1.5, "b": 1e-7, "c": False},
              "enum": ["a", "b"], "description": 3},
        "u": {"type": "string", "enum": "\u00e9a"},
        "v": {"type": "string", "enum": {"k1": 1, "k2": 2},
              "description": "\u1680 \ue000"}}}},
        {"type": "function", "function": {"name": "g", "parameters": {
            "properties": {"w": {"type": "number", "items": {}}}}}}]
bad = [[{"name": "h", "parameters": {"properties": {
           "e": {"type": "int", "enum": [1, 2]}}}}],
       [{"name": "h", "parameters": {"properties": {
           "e": {"type": "int", "items": ["x"]}}}}],
       [{"parameters": {"properties": {}}}],
       [{"name": "h", "parameters": {"properties": {
           "e": {"type": "int", "enum": 5}}}}],
       [{"name": "h", "parameters": {"required": None, "properties": {
           "e": {"type": "int"}}}}]]
rows = [{"conversations": [{"from": "human", "value": "q"},
                           {"from": "gpt", "value": "a"}],
         "tools": json.dumps(t)} for t in [good] + bad]
json.dump(rows, open("ds/t.json", "w"))

# LLaMA-Factory's DefaultToolUtils.tool_formatter, over json.loads
tools = json.loads(json.dumps(good))
text, names = "", []
for tool in tools:
    tool = tool.get("function", "") if tool.get("type") == "function" \
        else tool
    args = ""
    for name, p in tool["parameters"]["properties"].items():
        req = ", required" if name in tool["parameters"].get(
            "required", []) else ""
        enum = ", should be one of [{}]".format(", ".join(p["enum"])) \
            if p.get("enum", None) else ""
        items = ", where each item should be {}".format(
            p["items"].get("type", "")) if p.get("items", None) else ""
        args += "  - {name} ({type}{required}): {desc}{enum}{items}\n" \
            .format(name=name, type=p.get("type", ""), required=req,
                    desc=p.get("description", ""), enum=enum, items=items)
    text += "> Tool Name: {name}\nTool Description: {desc}\nTool Args:\n" \
        "{args}\n".format(name=tool["name"],
                          desc=tool.get("description", ""), args=args)
    names.append(tool["name"])
open("want.txt", "w").write(text + "Use the following format if using a "
    "tool:\n```\nAction: tool name (one of [" + ", ".join(names) + "])")
PY
check "lmf-tokenize: 6 rows, 1 written, 5 skipped" sh -c "lmf-tokenize \
	--stage sft --dataset t --dataset_dir ds --template default \
	--tokenizer '$tok' -o t.lmf 2>err.txt &&
	grep -q '6 rows, 1 examples written, 5 skipped' err.txt"
check_grep "  the enum of numbers named" "row 1: tool 0: 'e': an enum of \
other than strings" err.txt
lmf-dump --json t.lmf | python3 -c '
import json, sys
for l in sys.stdin:
    for t in json.loads(l).get("tensors", []):
        if t["name"] == "input_ids":
            print(json.dumps({"ids": t["data"]}))' |
	lmf-tokenize --decode --tokenizer "$tok" >dec.jsonl
check "  the decoded prompt holds Python's text" python3 -c '
import json
got = json.loads(open("dec.jsonl").readline())["text"]
want = open("want.txt").read()
assert want in got, (want, got)'
check "  items as a list (a mapping expected) refused" grep -q \
	"row 2: tool 0: 'e': items is not a mapping" err.txt
done_testing
