#!/usr/bin/python3
# cmpdist.py: compare two lmf-sft output_dirs trained with save_steps 1
# (one checkpoint a step, all kept): a data-parallel run against one
# process at the same global batch. Usage:
#   python3 cmpdist.py GOT_DIR REF_DIR RESULT GOT.jsonl REF.jsonl [SKIP...]
# where RESULT is adapter.lmf or model.lmf and the .jsonl files are
# lmf-dump --json of GOT_DIR/RESULT and REF_DIR/RESULT. The loss of every
# step (the difference of train_loss_sum, unrounded, between successive
# checkpoints) agrees within 1e-5 relative, the steps are the same, and
# each final tensor within max|diff| / max|ref| <= 1e-3 (fp32 sums in
# another order, through AdamW, whose per-element normalisation turns the
# last-bit differences of small gradient elements into relative ones:
# LoRA's B matrices, starting at zero, show 1e-4 to 3e-4 after a few
# steps; lmf's gradient tolerance elsewhere is 2e-3), but the tensors
# named SKIP (one whose
# gradient is zero but for rounding, which AdamW's normalisation turns
# into steps of noise). Prints the worst of each (one line);
# exit 0 when they agree, 1 otherwise.
import json
import os
import re
import sys

LOSS_TOL = 1e-5
W_TOL = 1e-3


def losses(d):
    steps = sorted(int(m.group(1)) for m in
                   (re.match(r'checkpoint-(\d+)$', x) for x in os.listdir(d))
                   if m)
    out, prev = [], 0.0
    for s in steps:
        with open(os.path.join(d, 'checkpoint-%d' % s, 'lmf_state.json')) as f:
            t = json.load(f)['train_loss_sum']
        out.append(t - prev)
        prev = t
    return steps, out


def tensors(path):
    out = {}
    with open(path) as f:
        for line in f:
            for t in json.loads(line).get('tensors', []):
                out[t['name']] = flat(t['data'])
    return out


def flat(v):
    if isinstance(v, list):
        return [y for x in v for y in flat(x)]
    return [float(v)]


def main():
    gs, gl = losses(sys.argv[1])
    rs, rl = losses(sys.argv[2])
    if gs != rs or not rs:
        print('steps differ: %s against %s' % (gs, rs))
        return 1
    lw = max(abs(a - b) / max(abs(b), 1e-30) for a, b in zip(gl, rl))
    got, ref = tensors(sys.argv[4]), tensors(sys.argv[5])
    for name in sys.argv[6:]:
        got.pop(name, None)
        ref.pop(name, None)
    if set(got) != set(ref) or not ref:
        print('tensor names differ')
        return 1
    ww, wn = 0.0, ''
    for name, r in ref.items():
        g = got[name]
        m = max(max(abs(x) for x in r), 1e-30)
        d = max(abs(a - b) for a, b in zip(g, r)) / m
        if len(g) != len(r) or not d <= ww:
            ww, wn = (1e30 if len(g) != len(r) else d), name
    print('%d steps: loss worst rel %.3g; %s worst %.3g (%s)' %
          (len(rs), lw, sys.argv[3], ww, wn))
    return 0 if lw <= LOSS_TOL and ww <= W_TOL else 1


if __name__ == '__main__':
    sys.exit(main())
