#!/usr/bin/python3
# cmpppo.py: compare lmf-ppo --dump_step's "ppo_step" stream with a golden
# one (tests/golden/ppo/<case>/step.lmf), both as lmf-dump --json output.
# Usage: python3 cmpppo.py GOT.jsonl REF.jsonl
# The same tensor names; i32 tensors and the mask equal; the per-token
# (n, T) arrays at the masked positions (those predicting response
# tokens) within max|diff| <= 1e-5 max(max|ref|, 1); the scalars within
# 1e-5 relative (absolute below 1); each gradient (a name with a '.')
# within max|diff| / max|ref| <= 2e-3. Prints the worst of each kind (one
# line); exit 0 when all pass, 1 otherwise.
import json
import sys

TOL = 1e-5
GRAD_TOL = 2e-3
TOKEN = ('logprobs', 'ref_logprobs', 'values', 'rewards', 'advantages',
         'returns')


def flat(v):
    if isinstance(v, list):
        return [y for x in v for y in flat(x)]
    return [v]


def load(path):
    out = {}
    with open(path) as f:
        for line in f:
            for t in json.loads(line).get('tensors', []):
                out[t['name']] = [float(x) for x in flat(t['data'])]
    return out


def main():
    got, ref = load(sys.argv[1]), load(sys.argv[2])
    if set(got) != set(ref):
        print('tensor names differ: extra %s, missing %s' %
              (sorted(set(got) - set(ref))[:3],
               sorted(set(ref) - set(got))[:3]))
        return 1
    mask = ref['mask']
    bad = [n for n in ('input_ids', 'query_len', 'response_len', 'mask')
           if got[n] != ref[n]]
    if bad:
        print('%s differs' % bad[0])
        return 1
    worst = {'token': (0.0, '-'), 'scalar': (0.0, '-'), 'grad': (0.0, '-')}

    def note(kind, d, name):
        if not d <= worst[kind][0]:
            worst[kind] = (d, name)
    for name, r in ref.items():
        g = got[name]
        if len(g) != len(r):
            print('tensor %s: %d values, want %d' % (name, len(g), len(r)))
            return 1
        if name in TOKEN or name == 'scores':
            m = mask if name in TOKEN else [1] * len(r)
            mr = max(abs(x) for x, k in zip(r, m) if k)
            md = max(abs(a - b) if a == a else float('inf')
                     for a, b, k in zip(g, r, m) if k)
            note('token', md / max(mr, 1.0), name)
        elif '.' not in name and len(r) == 1 and name not in (
                'query_len', 'response_len', 'input_ids', 'mask'):
            d = abs(g[0] - r[0]) if g[0] == g[0] else float('inf')
            note('scalar', d / max(abs(r[0]), 1.0), name)
        elif '.' in name:
            mr = max(abs(x) for x in r)
            md = max(abs(a - b) if a == a else float('inf')
                     for a, b in zip(g, r))
            note('grad', md / mr if mr > 0 else md, name)
    print('worst per-token %s %.2e; scalar %s %.2e; gradient %s %.2e' %
          (worst['token'][1], worst['token'][0], worst['scalar'][1],
           worst['scalar'][0], worst['grad'][1], worst['grad'][0]))
    return 0 if worst['token'][0] <= TOL and worst['scalar'][0] <= TOL \
        and worst['grad'][0] <= GRAD_TOL else 1


sys.exit(main())
