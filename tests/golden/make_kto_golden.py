#!/usr/bin/python3
# make_kto_golden.py: the goldens of tests/golden/kto/<case>/: one lmf-kto
# step (lmf-logps | lmf-pack | lmf-kto --dump_grads) in float64 PyTorch,
# with make_golden.py's from-scratch LLaMA and the loss and stored
# metrics of spec 5.5 written out here (not loss.c's). No transformers,
# peft or trl. Usage: /usr/bin/python3 tests/golden/make_kto_golden.py
# [OUTDIR] (default tests/golden/kto). Deterministic.
import os, shutil, sys
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_golden import (PROJ, base_cfg, f64bytes, i32bytes, lora_weights,
                         param_table, random_weights, stream)
from make_dpo_golden import (lora_grads, scalar, seq_logps, write_adapter,
                             write_model)

torch.set_default_dtype(torch.float64)
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), 'kto')
V, PAD, MULT = 48, 0, 8


def examples(g, tags):
    """one example per tag: a prompt (labels -100) and a response; the KL
    row is the prompt with the previous example's response (spec 4.6)"""
    ps, rs = [], []
    for _ in tags:
        ps.append(torch.randint(3, V, (int(torch.randint(2, 6, (1,),
                                generator=g)),), generator=g))
        rs.append(torch.randint(3, V, (int(torch.randint(2, 8, (1,),
                                generator=g)),), generator=g))
    out = []
    for i, t in enumerate(tags):
        ex = {'kto_tags': torch.tensor([t])}
        for pfx, r in (('', rs[i]), ('kl_', rs[i - 1])):
            p = ps[i]
            ex[pfx + 'input_ids'] = torch.cat((p, r))
            ex[pfx + 'labels'] = torch.cat(
                (torch.full((len(p),), -100, dtype=torch.int64), r))
        out.append(ex)
    return out


def collate(exs, pfx):
    """lmf-pack's rows of one prefix right padded to a multiple of 8"""
    rows = [(e[pfx + 'input_ids'], e[pfx + 'labels']) for e in exs]
    T = -(-max(len(r[0]) for r in rows) // MULT) * MULT
    ids = torch.full((len(rows), T), PAD, dtype=torch.int64)
    mask = torch.zeros((len(rows), T), dtype=torch.int64)
    labels = torch.full((len(rows), T), -100, dtype=torch.int64)
    for b, (i, l) in enumerate(rows):
        ids[b, :len(i)], mask[b, :len(i)], labels[b, :len(l)] = i, 1, l
    return ids, mask, labels


def kto_loss(a, p, ref, pkl, refkl, tags, avg):
    """spec 5.5: the loss, the rewards and the detached, clamped kl"""
    beta = a['pref_beta']
    kl = (pkl - refkl).mean().detach().clamp(min=0)
    c, r = tags, ~tags
    cl = 1 - torch.sigmoid(beta * (p[c] - ref[c] - kl))
    rl = 1 - torch.sigmoid(beta * (kl - (p[r] - ref[r])))
    losses = torch.cat((a.get('kto_chosen_weight', 1.0) * cl,
                        a.get('kto_rejected_weight', 1.0) * rl))
    loss = losses.nanmean()
    ftx = a.get('pref_ftx', 0.0)
    if ftx > 1e-6 and int(c.sum()) > 0:
        loss = loss + ftx * (-avg[c]).nanmean() / int(c.sum()) * len(tags)
    return loss, beta * (p - ref).detach(), kl


def metrics(p, rw, logits, tags, kl):
    """the stored sums, then the logged values (CustomKTOTrainer.log)"""
    s = {}
    for split, m in (('chosen', tags), ('rejected', ~tags)):
        s['rewards/%s_sum' % split] = float(rw[m].sum())
        s['logps/%s_sum' % split] = float(p.detach()[m].sum())
        s['logits/%s_sum' % split] = float(logits.detach()[m].sum())
        s['count/%s' % split] = float(m.sum())
    s['kl'] = float(kl)
    d = []
    for split in ('chosen', 'rejected'):
        n = s['count/%s' % split]
        if n > 0:
            d += [(k + '/' + split, s['%s/%s_sum' % (k, split)] / n)
                  for k in ('rewards', 'logps', 'logits')]
    if s['count/chosen'] > 0 and s['count/rejected'] > 0:
        d.append(('rewards/margins', d[0][1] - d[3][1]))
    return [scalar(k, v) for k, v in s.items()] + \
        [scalar(k, v) for k, v in d]


CASES = []


def case(name, args, kind, tags):
    """kind: full (the reference is the initial model), lora (the base
    without the adapter), ref (an explicit ref_model, full training)"""
    CASES.append((name, args, kind, tags))


def define():
    mixed, good, bad = [1, 0, 0, 1, 0], [1, 1, 1], [0, 0, 0, 0]
    case('mixed_full', {'pref_beta': 0.1}, 'full', mixed)
    case('mixed_lora', {'pref_beta': 0.2}, 'lora', mixed)
    case('mixed_ref', {'pref_beta': 0.3}, 'ref', mixed)
    case('mixed_weights_ref', {'pref_beta': 0.25, 'kto_chosen_weight': 1.5,
         'kto_rejected_weight': 0.5}, 'ref', [0, 1, 0, 0, 1, 0])
    case('desirable_ref', {'pref_beta': 0.2, 'kto_chosen_weight': 2.0},
         'ref', good)
    case('desirable_lora', {'pref_beta': 0.1}, 'lora', good)
    case('undesirable_ref', {'pref_beta': 0.2, 'kto_rejected_weight': 0.7},
         'ref', bad)
    case('undesirable_lora', {'pref_beta': 0.5}, 'lora', bad)
    case('ftx_mixed_ref', {'pref_beta': 0.1, 'pref_ftx': 0.5,
         'kto_chosen_weight': 1.33, 'kto_rejected_weight': 0.8}, 'ref',
         mixed)
    case('ftx_desirable_lora', {'pref_beta': 0.2, 'pref_ftx': 1.0}, 'lora',
         good)
    case('ftx_undesirable_ref', {'pref_beta': 0.2, 'pref_ftx': 1.0}, 'ref',
         bad)


def args_line(args, kind):
    a = dict(args)
    a['finetuning_type'] = 'lora' if kind == 'lora' else 'full'
    if kind == 'lora':
        a['lora_rank'] = 4
    return ' '.join('--%s %s' % (k, v) for k, v in a.items())


def run(name, args, kind, tags):
    d = os.path.join(OUT, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    g = torch.Generator().manual_seed(sum(map(ord, name)))
    cfg = base_cfg()
    w = random_weights(cfg, g)
    write_model(os.path.join(d, 'model'), cfg, w)
    lora = None
    if kind == 'lora':
        lora = lora_weights(cfg, g, 4, 8, PROJ, False)
        write_adapter(os.path.join(d, 'adapter'), lora)
    wref = w
    if kind == 'ref':
        wref = random_weights(cfg, g)
        write_model(os.path.join(d, 'ref'), cfg, wref)
    exs = examples(g, tags)
    tb, kb = collate(exs, ''), collate(exs, 'kl_')
    tg = torch.tensor(tags, dtype=torch.bool)
    with torch.no_grad():   # the reference: lmf-logps, ahead of training
        ref, _, _ = seq_logps(cfg, wref, None, *tb)
        refkl, _, _ = seq_logps(cfg, wref, None, *kb)
        pkl, _, _ = seq_logps(cfg, w, lora, *kb)   # the KL rows: no grad
    if kind == 'lora':
        for t in list(lora['A'].values()) + list(lora['B'].values()):
            t.requires_grad_(True)
        train = []
    else:
        train = [nm for nm, _, _ in param_table(cfg)]
        for nm in train:
            w[nm].requires_grad_(True)
    p, ln, logits = seq_logps(cfg, w, lora, *tb)
    loss, rw, kl = kto_loss(args, p, ref, pkl, refkl, tg, p / ln)
    loss.backward()
    out = [scalar('loss', loss)] + metrics(p, rw, logits, tg, kl)
    nm = len(out)
    out += [(n, 'f64', tuple(w[n].shape), f64bytes(w[n].grad))
            for n in train]
    if lora:
        out += lora_grads(cfg, lora)
    with open(os.path.join(d, 'grads.lmf'), 'wb') as f:
        f.write(stream({'kind': 'grads', 'case': name,
                        'command': 'make_kto_golden.py'}, [out]))
    items = [[(k, 'i32', (len(e[k]),), i32bytes(e[k])) for k in
              ('input_ids', 'labels', 'kl_input_ids', 'kl_labels')] +
             [('kto_tags', 'i32', (), i32bytes(e['kto_tags']))]
             for e in exs]
    with open(os.path.join(d, 'examples.lmf'), 'wb') as f:
        f.write(stream({'kind': 'examples', 'stage': 'kto', 'vocab_size': V,
                        'pad_token_id': PAD, 'eos_token_id': 2,
                        'cutoff_len': 64, 'command': 'make_kto_golden.py'},
                       items))
    with open(os.path.join(d, 'args'), 'w') as f:
        f.write(args_line(args, kind) + '\n')
    print('%s: loss %.6f, kl %.4g (mean %.4g), %d examples, %d gradients' %
          (name, loss.item(), float(kl), float((pkl - refkl).mean()),
           len(tags), len(out) - nm))


def main():
    define()
    os.makedirs(OUT, exist_ok=True)
    for c in CASES:
        run(*c)


if __name__ == '__main__':
    main()
