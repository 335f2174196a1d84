#!/usr/bin/python3
"""make_optim_golden.py: PyTorch references for lmf's optimizer (optim.h).

Writes tests/golden/optim.lmf, an uncompressed lmf stream (lmf-stream(5))
of kind "golden". Each item is one case, told by its u8 text tensor "case":

  adamw  torch.optim.AdamW (float32, two parameter groups as Hugging Face's
         Trainer makes them: weight decay on "decay" tensors, none on the
         others) for several steps, with torch.nn.utils.clip_grad_norm_
         before each step. Tensors: "cfg" f64 [beta1, beta2, eps,
         weight_decay, max_grad_norm, nsteps, ntensors], "decay" i32 per
         tensor, "lr" f64 per step, "w.I" initial values, "g.S.I" the
         gradient of tensor I at step S (before clipping), "norm" f64 the
         norm clip_grad_norm_ returned at each step, "out.S.I" the values
         after step S.
  sched  a learning-rate schedule of Hugging Face's get_scheduler,
         re-implemented here from the formulas transformers documents
         (optimization.py), and cross-checked against
         torch.optim.lr_scheduler.LambdaLR stepped T times. Tensors:
         "name" u8 text, "kwargs" u8 text (lr_scheduler_kwargs JSON),
         "cfg" f64 [lr, T, warmup_steps, warmup_ratio], "lr" f64 (T + 1):
         the learning rate after s scheduler steps, s = 0..T.

tests/unit/optim_test.c reads it.
Run with Debian's python3-torch:  /usr/bin/python3 tests/golden/make_optim_golden.py
"""
import json
import math
import os
import struct

import torch

torch.manual_seed(42)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'optim.lmf')


def rec(tag, payload):
    return tag + struct.pack('<Q', len(payload)) + payload


def tensor(name, code, shape, data):
    n = name.encode()
    p = struct.pack('<H', len(n)) + n + bytes([code, len(shape)])
    p += b''.join(struct.pack('<Q', d) for d in shape)
    return rec(b'TNSR', p + data)


def f64(name, xs):
    return tensor(name, 4, [len(xs)], struct.pack('<%dd' % len(xs), *xs))


def i32(name, xs):
    return tensor(name, 7, [len(xs)], struct.pack('<%di' % len(xs), *xs))


def text(name, s):
    b = s.encode()
    return tensor(name, 9, [len(b)], b)


def f32(name, t):
    t = t.detach().to(torch.float32).contiguous()
    xs = t.flatten().tolist()
    return tensor(name, 1, list(t.shape), struct.pack('<%df' % len(xs), *xs))


items = []


def item(recs):
    items.append(rec(b'ITEM', struct.pack('<I', len(recs))) + b''.join(recs))


# ---- AdamW ----

def adamw_case(shapes, decay, lrs, wd, max_norm, betas=(0.9, 0.999),
               eps=1e-8, gscale=1.0):
    ws = [torch.randn(*s, dtype=torch.float32) for s in shapes]
    params = [w.clone().requires_grad_(True) for w in ws]
    groups = [{'params': [p for p, d in zip(params, decay) if d],
               'weight_decay': wd},
              {'params': [p for p, d in zip(params, decay) if not d],
               'weight_decay': 0.0}]
    groups = [g for g in groups if g['params']]
    opt = torch.optim.AdamW(groups, lr=lrs[0], betas=betas, eps=eps,
                            weight_decay=wd)
    recs = [text('case', 'adamw'),
            f64('cfg', [betas[0], betas[1], eps, wd, max_norm, len(lrs),
                        len(shapes)]),
            i32('decay', decay), f64('lr', lrs)]
    recs += [f32('w.%d' % i, w) for i, w in enumerate(ws)]
    norms = []
    for s, lr in enumerate(lrs):
        for i, p in enumerate(params):
            p.grad = torch.randn(*shapes[i], dtype=torch.float32) * gscale
            recs.append(f32('g.%d.%d' % (s, i), p.grad))
        if max_norm > 0:
            n = torch.nn.utils.clip_grad_norm_(params, max_norm)
        else:
            n = torch.norm(torch.stack([p.grad.norm() for p in params]))
        norms.append(float(n))
        for g in opt.param_groups:
            g['lr'] = lr
        opt.step()
        recs += [f32('out.%d.%d' % (s, i), p) for i, p in enumerate(params)]
    recs.append(f64('norm', norms))
    item(recs)


# one step, no decay, no clipping
adamw_case([(4, 3), (5,)], [1, 0], [1e-3], 0.0, 0.0)
# one step with clipping (norm well above 1) and weight decay
adamw_case([(6, 5), (7,), (3, 4)], [1, 0, 1], [1e-2], 0.1, 1.0, gscale=3.0)
# several steps with a schedule's worth of lrs, clipping and decay
adamw_case([(8, 6), (6,), (5, 8), (8,)], [1, 0, 1, 0],
           [0.0, 5e-3, 1e-2, 7.5e-3, 5e-3, 2.5e-3], 0.01, 1.0, gscale=0.5)
# other betas and eps, clipping that does not bind
adamw_case([(3, 3), (9,)], [1, 1], [3e-3, 2e-3, 1e-3], 0.05, 100.0,
           betas=(0.8, 0.95), eps=1e-6)

# ---- schedules (transformers/optimization.py, from its formulas) ----


def warm(s, w):
    return s / max(1, w)


def lam_linear(s, W, T, kw, lr):
    if s < W:
        return warm(s, W)
    return max(0.0, (T - s) / max(1, T - W))


def lam_cosine(s, W, T, kw, lr):
    if s < W:
        return warm(s, W)
    prog = (s - W) / max(1, T - W)
    c = kw.get('num_cycles', 0.5)
    return max(0.0, 0.5 * (1.0 + math.cos(math.pi * c * 2.0 * prog)))


def lam_constant(s, W, T, kw, lr):
    return 1.0


def lam_constant_warmup(s, W, T, kw, lr):
    if s < W:
        return warm(s, W)
    return 1.0


def lam_cosine_min_lr(s, W, T, kw, lr):
    rate = kw['min_lr_rate'] if 'min_lr_rate' in kw else kw['min_lr'] / lr
    if s < W:
        return warm(s, W)
    prog = (s - W) / max(1, T - W)
    c = kw.get('num_cycles', 0.5)
    f = 0.5 * (1.0 + math.cos(math.pi * c * 2.0 * prog))
    return max(0.0, f * (1.0 - rate) + rate)


def lam_polynomial(s, W, T, kw, lr):
    end, power = kw.get('lr_end', 1e-7), kw.get('power', 1.0)
    if s < W:
        return warm(s, W)
    if s > T:
        return end / lr
    rem = 1 - (s - W) / (T - W)
    return ((lr - end) * rem ** power + end) / lr


def lam_inverse_sqrt(s, W, T, kw, lr):
    ts = kw.get('timescale') or W or 10000
    if s < W:
        return warm(s, W)
    return 1.0 / math.sqrt((s + ts - W) / ts)


def lam_wsd(s, W, T, kw, lr):
    # LLaMA-Factory fills num_stable_steps = (T - W) // 3, decay the rest
    st = kw.get('num_stable_steps', (T - W) // 3)
    de = kw.get('num_decay_steps', T - W - st)
    r = kw.get('min_lr_ratio', 0.0)
    if s < W:
        return max(0.0, warm(s, W) * (1.0 - r) + r)
    if s < W + st:
        return 1.0
    if s < W + st + de:
        prog = (s - W - st) / max(1, de)
        c = kw.get('num_cycles', 0.5)
        f = 0.5 * (1.0 + math.cos(math.pi * c * 2.0 * prog))
        return max(0.0, f * (1.0 - r) + r)
    return r


LAM = {'linear': lam_linear, 'cosine': lam_cosine, 'constant': lam_constant,
       'constant_with_warmup': lam_constant_warmup,
       'cosine_with_min_lr': lam_cosine_min_lr,
       'polynomial': lam_polynomial, 'inverse_sqrt': lam_inverse_sqrt,
       'warmup_stable_decay': lam_wsd}


def sched_case(name, lr, T, warmup_steps=0, warmup_ratio=0.0, kw=None):
    kw = kw or {}
    W = warmup_steps if warmup_steps > 0 else math.ceil(T * warmup_ratio)
    f = LAM[name]
    mine = [lr * f(s, W, T, kw, lr) for s in range(T + 1)]
    # the same through torch's LambdaLR, stepped as the Trainer steps it
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=lr)
    sch = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: f(s, W, T, kw, lr))
    theirs = [opt.param_groups[0]['lr']]
    for _ in range(T):
        opt.step()
        sch.step()
        theirs.append(opt.param_groups[0]['lr'])
    for a, b in zip(mine, theirs):
        assert abs(a - b) <= 1e-12 * max(abs(a), 1e-30), (name, a, b)
    item([text('case', 'sched'), text('name', name),
          text('kwargs', json.dumps(kw)),
          f64('cfg', [lr, T, warmup_steps, warmup_ratio]), f64('lr', mine)])


sched_case('linear', 1e-4, 20, warmup_steps=3)
sched_case('linear', 5e-5, 25, warmup_ratio=0.1)
sched_case('linear', 1e-3, 7)
sched_case('cosine', 1e-4, 20, warmup_steps=3)
sched_case('cosine', 2e-4, 30)
sched_case('cosine', 1e-4, 16, warmup_ratio=0.2, kw={'num_cycles': 1.0})
sched_case('constant', 1e-4, 10, warmup_steps=4)
sched_case('constant_with_warmup', 1e-4, 20, warmup_steps=5)
sched_case('constant_with_warmup', 1e-4, 12, warmup_ratio=0.3)
sched_case('cosine_with_min_lr', 1e-4, 20, warmup_steps=2,
           kw={'min_lr_rate': 0.1})
sched_case('cosine_with_min_lr', 1e-4, 24, warmup_ratio=0.1,
           kw={'min_lr': 1e-6})
sched_case('polynomial', 1e-4, 20, warmup_steps=3)
sched_case('polynomial', 1e-3, 18, warmup_steps=2,
           kw={'power': 2.0, 'lr_end': 1e-5})
sched_case('inverse_sqrt', 1e-4, 20, warmup_steps=4)
sched_case('inverse_sqrt', 1e-4, 15)
sched_case('warmup_stable_decay', 1e-4, 20, warmup_steps=2)
sched_case('warmup_stable_decay', 1e-4, 30, warmup_ratio=0.1,
           kw={'num_stable_steps': 10, 'num_decay_steps': 12,
               'min_lr_ratio': 0.05})

meta = json.dumps({'kind': 'golden', 'command': 'make_optim_golden.py',
                   'torch': torch.__version__}, sort_keys=True,
                  separators=(',', ':'))
with open(OUT, 'wb') as f:
    f.write(rec(b'LMFS', struct.pack('<I', 1) + meta.encode()))
    f.write(b''.join(items))
    f.write(rec(b'ENDS', struct.pack('<Q', len(items))))
print('wrote %s: %d items' % (OUT, len(items)))
