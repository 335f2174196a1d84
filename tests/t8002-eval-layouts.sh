#!/bin/sh
# lmf-eval on the C-Eval and CMMLU layouts (spec 8.1; committed fixtures in
# tests/data/eval, the project's own questions): C-Eval's header with id
# and explanation, a test split without answers and with CRLF line ends;
# CMMLU's index column and capitalised header, no validation split. The
# messages lmf-eval builds (--dump_prompts) equal tests/evalprompt.py's,
# an independent build of LLaMA-Factory's EvalTemplate, for every layout
# and both languages; the scores follow from results.json and the gold
# letters; bad input is one line and exit 1.
. "$(dirname "$0")/lib.sh"
plan 17
G="$TOP/tests/golden/eval"
D="$TOP/tests/data/eval"
lmf-load -q -o m.lmf "$G/model" || exit 1
E="lmf-eval -q --threads 1 --model m.lmf --template qwen"
P="python3 $TOP/tests/evalprompt.py"

# score DIR TASK_DIR NAME SPLIT REPORT: the report (Average, categories)
# is what results.json's letters and the CSVs' gold letters give
score() {
	python3 - "$@" <<'PY'
import csv, json, os, sys
d, td, name, split, rep = sys.argv[1:6]
m = json.load(open(os.path.join(td, name, "mapping.json")))
r = json.load(open(os.path.join(d, "results.json")))
dd = {"test": "test", "validation": "val"}[split]
cats = {c: [] for c in ("Average", "STEM", "Social Sciences",
                        "Humanities", "Other")}
for s, v in m.items():
    p = os.path.join(td, name, dd, "%s_%s.csv" % (s, dd))
    if not os.path.exists(p):
        p = os.path.join(td, name, dd, "%s.csv" % s)
    rows = list(csv.DictReader(open(p, newline="", encoding="utf-8")))
    assert len(r[s]) == len(rows), (s, r[s])
    for i, row in enumerate(rows):
        ok = r[s][str(i)] == row.get("answer", row.get("Answer"))
        cats["Average"].append(ok)
        cats[v["category"]].append(ok)
want = "\n".join(f"{k:>15}: {100 * sum(v) / len(v):.2f}"
                 for k, v in cats.items() if v)
assert open(rep).read() == want + "\n", (open(rep).read(), want)
assert open(os.path.join(d, "results.log")).read() == want
PY
}

check "C-Eval validation, zh, 2 shots" sh -c "$E --task_dir $D \
	--task ceval_validation --lang zh --n_shot 2 --save_dir cv \
	--dump_prompts cv.jsonl >cv.txt"
check "  the messages are evalprompt.py's" $P "$D" ceval_validation zh 2 \
	cv.jsonl
check "  the scores follow from results.json" score cv "$D" ceval \
	validation cv.txt
check "C-Eval test (CRLF, no answer column), en, 1 shot" sh -c "$E \
	--task_dir $D --task ceval_test --n_shot 1 --save_dir ct \
	--dump_prompts ct.jsonl >ct.txt"
check "  the messages are evalprompt.py's, the answer empty" sh -c "$P \
	'$D' ceval_test en 1 ct.jsonl && grep -q '\"content\":\"\"}]}' ct.jsonl"
check "  every score 0.00, as LLaMA-Factory's" sh -c \
	'test "$(grep -vc ": 0.00$" ct.txt)" -eq 0 && grep -q Average ct.txt'
check "CMMLU test, zh, 5 shots (a pool of 1 and of 2)" sh -c "$E \
	--task_dir $D --task cmmlu_test --lang zh --save_dir cm \
	--dump_prompts cm.jsonl >cm.txt"
check "  the messages are evalprompt.py's" $P "$D" cmmlu_test zh 5 cm.jsonl
check "  the scores follow from results.json" score cm "$D" cmmlu test \
	cm.txt
check "MMLU layout (the demo task), en, 5 shots" sh -c "$E \
	--task_dir $TOP/data/eval --task lmfdemo_test --dump_prompts \
	mm.jsonl >/dev/null"
check "  the messages are evalprompt.py's" $P "$TOP/data/eval" \
	lmfdemo_test en 5 mm.jsonl
check "MMLU layout, zh, no shots: evalprompt.py's too" sh -c "$E \
	--task_dir $TOP/data/eval --task lmfdemo_validation --lang zh \
	--n_shot 0 --dump_prompts mz.jsonl >/dev/null &&
	$P '$TOP/data/eval' lmfdemo_validation zh 0 mz.jsonl"

# bad input
check_exit "CMMLU has no validation split: exit 1" 1 $E --task_dir "$D" \
	--task cmmlu_validation
check_grep "  naming the subject" "no validation CSV for subject" check.err
mkdir -p bad/ceval/val bad/ceval/dev bad/cmmlu/test bad/cmmlu/dev
echo '{"s": {"name": "s", "category": "STEM"}}' >bad/ceval/mapping.json
cp bad/ceval/mapping.json bad/cmmlu/mapping.json
printf 'id,question,A,B,C,D,answer\n0,q,a,b,c,A\n' >bad/ceval/val/s_val.csv
printf 'id,question,A,B,C,D,answer,explanation\n' >bad/ceval/dev/s_dev.csv
check_exit "C-Eval: a row with 3 choices: exit 1" 1 $E --task_dir bad \
	--task ceval_validation
check_grep "  naming the file and line" \
	"s_val.csv' line 2: 6 fields, expected 7" check.err
printf ',Question,A,B,C,Answer\n0,q,a,b,c,A\n' >bad/cmmlu/test/s.csv
printf ',Question,A,B,C,D,Answer\n' >bad/cmmlu/dev/s.csv
check_exit "CMMLU: a header without column D: exit 1" 1 $E --task_dir bad \
	--task cmmlu_test
done_testing
