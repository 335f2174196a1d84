#!/usr/bin/python3
# bf16_spread.py: how far make_golden.py's bf16 reference (grads_bf16.lmf)
# itself moves when every value it rounds to bf16 is first moved by up to
# 2^-22 relative (4 fp32 ulps, random, 6 seeds): the part of the bf16
# goldens that depends on which side of a bf16 tie an fp32 value falls,
# which fp32 and float64 arithmetic decide differently. llama_test's bf16
# tolerances are twice the largest spread printed here.
# Usage: /usr/bin/python3 tests/golden/bf16_spread.py
import os, sys
import torch
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_golden as mg

plain = mg.bf16
gen = [None]


def moved(t):
    n = torch.rand(t.shape, generator=gen[0], dtype=torch.float64) * 2 - 1
    return plain(t * (1 + n * 2.0 ** -22))


def grads(w, lora, train):
    d = {n: w[n].grad for n in train}
    for ab in 'AB':
        for k, t in (lora or {}).get(ab, {}).items():
            d[ab + k] = t.grad
    return d


def worst(a, b):
    return max(float((a[n] - b[n]).abs().max() /
                     max(float(b[n].abs().max()), 1e-300)) for n in b)


def main():
    mg.define()
    for name, cfg, batches, args, lora, seed, extra in mg.CASES:
        if name not in mg.BF16_CASES:
            continue
        g = torch.Generator().manual_seed(seed + sum(map(ord, name)))
        w = mg.random_weights(cfg, g)
        train = mg.trainable_names(cfg, args)
        mg.BF16[0] = True
        mg.bf16 = plain
        l0, w0, lo0 = mg.step_grads(cfg, w, lora, batches, train)
        g0 = grads(w0, lo0, train)
        ml = mw = 0
        for s in range(6):
            gen[0] = torch.Generator().manual_seed(s)
            mg.bf16 = moved
            l1, w1, lo1 = mg.step_grads(cfg, w, lora, batches, train)
            ml = max(ml, abs(float(l1 - l0)) / abs(float(l0)))
            mw = max(mw, worst(grads(w1, lo1, train), g0))
        mg.bf16 = plain
        mg.BF16[0] = False
        print('%-16s loss %.1e, gradients %.1e of max|ref|' % (name, ml, mw))


if __name__ == '__main__':
    main()
