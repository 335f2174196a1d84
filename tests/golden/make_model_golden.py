#!/usr/bin/python3
# make_model_golden.py: write tests/golden/model.lmf, the goldens of the
# model API of llama.h (hidden states, per-token log-probs, gradients of a
# loss on the log-probs and on a value head, the adapter-disabled log-probs)
# from the float64 PyTorch reference of make_golden.py, on the models and
# first batches of its cases (the same weights as tests/golden/sft/<case>).
# Usage: /usr/bin/python3 tests/golden/make_model_golden.py [OUT]
# Deterministic: the same bytes every run.
import os, sys
import torch
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_golden as mg

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), 'model.lmf')

def f32(t):
    return t.float().double()

def logps(cfg, w, lora, b, pos):
    """per-token log-prob of the next label, 0 where ignored (N)"""
    logits = mg.forward(cfg, w, lora, b['input_ids'], b['attention_mask'], pos)
    lab = b['labels']
    tgt = torch.cat((lab[:, 1:], torch.full_like(lab[:, :1], -100)), 1)
    lsm = torch.log_softmax(logits, -1)
    keep = tgt != -100
    lp = lsm.gather(-1, tgt.clamp(min=0)[..., None])[..., 0]
    return torch.where(keep, lp, torch.zeros_like(lp)).reshape(-1)

def one(name, value_head):
    """the case's first batch: hidden, logps, (reference logps), the
    gradient of sum(lp * a) (+ sum(values * c)) for every trainable"""
    cs = [c for c in mg.CASES if c[0] == name][0]
    _, cfg, batches, args, lora, seed = cs
    g = torch.Generator().manual_seed(seed + sum(map(ord, name)))
    w = mg.random_weights(cfg, g)
    b = batches[0]
    B, T = b['input_ids'].shape
    N, C = B * T, cfg['hidden_size']
    pos = b.get('position_ids', torch.arange(T).expand(B, T))
    gi = torch.Generator().manual_seed(99 + sum(map(ord, name)))
    a = f32(torch.randn(N, generator=gi))
    train = mg.trainable_names(cfg, args)
    params = [(n, w[n]) for n in train]
    if lora:
        for l in range(cfg['num_hidden_layers']):
            for p in mg.PROJ:
                key = 'model.layers.%d.%s.%s' % (l, mg.MOD[p], p)
                if key in lora['A']:
                    for ab in 'AB':
                        params.append(('base_model.model.%s.lora_%s.weight'
                                       % (key, ab), lora[ab][key]))
    items = [('a', 'f64', (N,), mg.f64bytes(a))]
    with torch.no_grad():
        h = mg.forward(cfg, w, lora, b['input_ids'], b['attention_mask'], pos,
                       hidden=True).reshape(N, C)
        items.append(('hidden', 'f64', (N, C), mg.f64bytes(h)))
        if lora:
            ref = logps(cfg, w, None, b, pos)
            items.append(('ref_logps', 'f64', (N,), mg.f64bytes(ref)))
    for _, t in params:
        t.requires_grad_(True)
    lp = logps(cfg, w, lora, b, pos)
    loss = (lp * a).sum()
    if value_head:
        c = f32(torch.randn(N, generator=gi))
        vw = f32(torch.randn(1, C, generator=gi) / C ** 0.5)
        vb = f32(0.1 * torch.randn(1, generator=gi))
        vw.requires_grad_(True)
        vb.requires_grad_(True)
        hid = mg.forward(cfg, w, lora, b['input_ids'], b['attention_mask'],
                         pos, hidden=True).reshape(N, C)
        v = (hid @ vw.t() + vb)[:, 0]          # TRL: v_head(h).squeeze(-1)
        loss = loss + (v * c).sum()
        items += [('c', 'f64', (N,), mg.f64bytes(c)),
                  ('vw', 'f64', (1, C), mg.f64bytes(vw.detach())),
                  ('vb', 'f64', (1,), mg.f64bytes(vb.detach())),
                  ('values', 'f64', (N,), mg.f64bytes(v.detach()))]
        params += [('v_head.summary.weight', vw), ('v_head.summary.bias', vb)]
    loss.backward()
    items.append(('logps', 'f64', (N,), mg.f64bytes(lp.detach())))
    items.append(('loss', 'f64', (), mg.f64bytes(loss.detach().reshape(1))))
    for n, t in params:
        items.append(('d:' + n, 'f64', tuple(t.shape), mg.f64bytes(t.grad)))
    print('%s: loss %.6f, %d gradients' % (name, loss.item(), len(params)))
    return items

def main():
    mg.define()
    cases = [('lora_all', True), ('padded_full', False), ('tied_full', True),
             ('rslora_qwen2', False)]
    items = [one(n, vh) for n, vh in cases]
    with open(OUT, 'wb') as f:
        f.write(mg.stream({'kind': 'golden', 'cases': [n for n, _ in cases],
                           'command': 'make_model_golden.py'}, items))

if __name__ == '__main__':
    main()
