#!/usr/bin/python3
# edit_model.py: edit the lmf-dump --json form of a model stream for the
# lmf-sft bad-input tests. Usage: python3 edit_model.py OP NAME < in > out
# OP: drop (remove tensor NAME), shape (give NAME a wrong shape, dropping
# its last row), nan (make NAME's first value NaN).
import json
import sys

op, name = sys.argv[1], sys.argv[2]
for line in sys.stdin:
    o = json.loads(line)
    if 'tensors' in o:
        ts = []
        for t in o['tensors']:
            if t['name'] == name:
                if op == 'drop':
                    continue
                if op == 'shape':
                    n = 1
                    for d in t['shape'][1:]:
                        n *= d
                    t['shape'][0] -= 1
                    t['data'] = t['data'][:len(t['data']) - n]
                if op == 'nan':
                    t['data'][0] = 'nan'
            ts.append(t)
        o['tensors'] = ts
    print(json.dumps(o))
