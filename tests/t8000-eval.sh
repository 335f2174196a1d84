#!/bin/sh
# lmf-eval: the answer of every question of the demo task (data/eval/
# lmfdemo, 5 shots, qwen) equals PyTorch's float64 scoring of the same
# prompt ids (tests/golden/make_eval_golden.py), at batch 1 and 3; the
# prompts are the golden's; the report and results.json in LLaMA-Factory's
# format; the few-shot order follows NumPy's; bad input.
. "$(dirname "$0")/lib.sh"
plan 16
G="$TOP/tests/golden/eval"
lmf-load -q -o m.lmf "$G/model" || exit 1
E="lmf-eval -q --threads 1 --model m.lmf --template qwen --task_dir $TOP/data/eval"
$E --task lmfdemo_test --save_dir out1 --batch_size 1 --dump_ids ids.txt \
    >rep1.txt
$E --task lmfdemo_test --save_dir out3 --batch_size 3 >rep3.txt
check_same "the prompt ids are the golden's" ids.txt "$G/ids.txt"
for d in out1 out3; do
	check "$d: every answer equals PyTorch's" python3 -c "
import json
r = json.load(open('$d/results.json'))
g = [l.split() for l in open('$G/answers.txt')]
assert len(g) == 16 and sum(len(v) for v in r.values()) == 16
for s, i, a in g:
    assert r[s][i] == a, (s, i, r[s][i], a)"
done
check_same "batch 3 reports as batch 1" rep1.txt rep3.txt
# the scores from the golden answers and the gold letters of the CSVs
check "the report: Average, then categories, as LLaMA-Factory prints it" \
    python3 -c "
import csv, json
m = json.load(open('$TOP/data/eval/lmfdemo/mapping.json'))
g = {(s, int(i)): a for s, i, a in (l.split() for l in open('$G/answers.txt'))}
cats = {'Average': []}
for c in ('STEM', 'Social Sciences', 'Humanities', 'Other'):
    cats[c] = []
for s, v in m.items():
    rows = list(csv.reader(open('$TOP/data/eval/lmfdemo/data/test/%s_test.csv' % s)))
    for i, r in enumerate(rows):
        ok = g[(s, i)] == r[5]
        cats['Average'].append(ok)
        cats[v['category']].append(ok)
want = '\n'.join(f'{k:>15}: {100 * sum(v) / len(v):.2f}' for k, v in cats.items() if v)
assert open('rep1.txt').read() == want + '\n', open('rep1.txt').read()
assert open('out1/results.log').read() == want"
check "results.json is json.dump(indent=2) of {subject: {\"0\": letter}}" \
    python3 -c "
import json
r = json.load(open('out1/results.json'))
assert list(r) == list(json.load(open('$TOP/data/eval/lmfdemo/mapping.json')))
assert open('out1/results.json').read() == json.dumps(r, indent=2)"
# the few-shot order: seed 42 gives the golden; another seed other prompts
$E --task lmfdemo_test --seed 7 --dump_ids ids7.txt >/dev/null
check "another seed orders the shots otherwise" sh -c "! cmp -s ids7.txt ids.txt"
$E --task lmfdemo_test --n_shot 0 --dump_ids ids0.txt >/dev/null
check "n_shot 0: shorter prompts" test "$(wc -c <ids0.txt)" -lt \
    "$(wc -c <ids.txt)"
$E --task lmfdemo_validation --lang zh >zh.txt
check "validation split, zh prompts" grep -q "Average: " zh.txt

# bad input
mkdir -p bad/nomap bad/three/data/test bad/three/data/dev
check_exit "existing save_dir: exit 2" 2 $E --task lmfdemo_test \
    --save_dir out1
cp check.err e1
check "  naming it" grep -q "out1' already exists" e1
check_exit "no mapping.json: exit 1" 1 $E --task_dir bad --task nomap_test
cp check.err e2
check "  naming it" grep -q "nomap/mapping.json" e2
echo '{"s": {"name": "s", "category": "STEM"}}' >bad/three/mapping.json
printf 'q,a,b,c,A\n' >bad/three/data/test/s_test.csv
printf 'q,a,b,c,d,A\n' >bad/three/data/dev/s_dev.csv
check_exit "a row with 3 choices: exit 1" 1 $E --task_dir bad \
    --task three_test
cp check.err e3
check "  naming the file and line" grep -q "s_test.csv' line 1: 5 fields, expected 6" e3
check_exit "a task without split: exit 1" 1 $E --task lmfdemo
done_testing
