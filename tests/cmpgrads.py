#!/usr/bin/python3
# cmpgrads.py: compare a "grads" stream from lmf-sft --dump_grads with a
# golden one, both as lmf-dump --json output. Usage:
#   python3 cmpgrads.py GOT.jsonl REF.jsonl
# Passes (exit 0) when both hold the same tensor names, the loss agrees
# within 1e-5 relative and each gradient within max|diff| / max|ref| <=
# 2e-3; prints the worst tensor either way (one line), exit 1 otherwise.
# Metrics (lmf-dpo's: scalars whose names have no '.') agree within 1e-5
# relative, absolute below 1 in magnitude; a NaN in REF is not compared.
import json
import math
import sys

LOSS_TOL = 1e-5
GRAD_TOL = 2e-3


def load(path):
    out = {}
    with open(path) as f:
        for line in f:
            o = json.loads(line)
            for t in o.get('tensors', []):
                out[t['name']] = [float(x) for x in flat(t['data'])]
    return out


def flat(v):
    if isinstance(v, list):
        return [y for x in v for y in flat(x)]
    return [v]


def main():
    got, ref = load(sys.argv[1]), load(sys.argv[2])
    if set(got) != set(ref):
        extra = sorted(set(got) - set(ref))[:3]
        missing = sorted(set(ref) - set(got))[:3]
        print('tensor names differ: extra %s, missing %s' % (extra, missing))
        return 1
    if 'loss' not in ref:
        print('no loss in the reference')
        return 1
    lg, lr = got['loss'][0], ref['loss'][0]
    lrel = abs(lg - lr) / max(abs(lr), 1e-30)
    worst, wname = 0.0, ''
    mworst, mname = 0.0, ''
    for name, r in ref.items():
        if name == 'loss':
            continue
        if '.' not in name and len(r) == 1:
            if math.isnan(r[0]):
                continue
            d = abs(got[name][0] - r[0]) / max(abs(r[0]), 1.0)
            if not d <= mworst:
                mworst, mname = d, name
            continue
        g = got[name]
        if len(g) != len(r):
            print('tensor %s: %d values, want %d' % (name, len(g), len(r)))
            return 1
        mr = max((abs(x) for x in r), default=0.0)
        md = max((abs(a - b) for a, b in zip(g, r)), default=0.0)
        if any(math.isnan(a) for a in g):
            md = math.inf
        rel = md / mr if mr > 0 else md
        if not rel <= worst:
            worst, wname = rel, name
    good = lrel <= LOSS_TOL and worst <= GRAD_TOL and mworst <= LOSS_TOL
    print('loss %.9g vs %.9g (rel %.2e); %d gradients, worst %s %.2e%s'
          % (lg, lr, lrel, len(ref) - 1, wname or '-', worst,
             '; worst metric %s %.2e' % (mname, mworst) if mname else ''))
    return 0 if good else 1


sys.exit(main())
