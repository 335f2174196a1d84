#!/usr/bin/python3
# cmplog.py: compare the log_history of two output_dirs' trainer_state.json:
# a data-parallel run against one process at the same global batch. The
# entries are the same, with the same keys, steps and epochs; every other
# number (loss, grad_norm, learning_rate, the trainer's metrics, eval_*)
# agrees within REL relative to the reference or ABS, whichever is larger,
# runtimes and throughputs aside. kto's kl and the rewards (beta times
# differences of float32 sequence log-prob sums, tens in size; margins a
# difference of two of them) have the floor KL_ABS, the rounding of such
# sums when the weights differ in the last bit. Prints the worst
# (one line); exit 0 when they agree, 1 otherwise.
# Usage: python3 cmplog.py GOT_DIR REF_DIR
import json
import os
import sys

REL = 1e-5
ABS = 1e-6
KL_ABS = 1e-5
SKIP = ('runtime', 'per_second')


def history(d):
    with open(os.path.join(d, 'trainer_state.json')) as f:
        return json.load(f)['log_history']


def main():
    got, ref = history(sys.argv[1]), history(sys.argv[2])
    if len(got) != len(ref) or not ref:
        print('%d log entries against %d' % (len(got), len(ref)))
        return 1
    worst, wk = 0.0, ''
    for g, r in zip(got, ref):
        if set(g) != set(r):
            print('step %s: keys %s against %s' % (r.get('step'),
                  sorted(g), sorted(r)))
            return 1
        for k, v in r.items():
            if any(s in k for s in SKIP):
                continue
            if k in ('step', 'epoch') and g[k] != v:
                print('%s %s against %s' % (k, g[k], v))
                return 1
            d = abs(g[k] - v) / max(abs(v) * REL,
                                    KL_ABS if k.endswith('kl') or
                                    k.startswith('rewards/') else ABS)
            if not d <= worst:
                worst, wk = d, '%s at step %s' % (k, r.get('step'))
    print('%d entries: worst %.3g of the tolerance (%s)' %
          (len(ref), worst, wk))
    return 0 if worst <= 1 else 1


if __name__ == '__main__':
    sys.exit(main())
