#!/usr/bin/python3
# make_dpo_golden.py: the goldens of tests/golden/dpo/<case>/: one lmf-dpo
# step (lmf-logps | lmf-pack | lmf-dpo --dump_grads) in float64 PyTorch,
# with make_golden.py's from-scratch LLaMA and the formulas of spec 5.1
# and 5.4 written out here (not loss.c's). No transformers, peft or trl.
# Usage: /usr/bin/python3 tests/golden/make_dpo_golden.py [OUTDIR]
# (default tests/golden/dpo). Deterministic: the same files every run.
import json, math, os, shutil, sys
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_golden import (PROJ, MOD, base_cfg, forward, f64bytes, i32bytes,
                         lora_weights, param_table, random_weights, stream,
                         write_st)

torch.set_default_dtype(torch.float64)
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), 'dpo')
V, PAD, MULT = 48, 0, 8
F = torch.nn.functional


def examples(g, n):
    """n pairs: a shared prompt (labels -100), then each response"""
    out = []
    for _ in range(n):
        p = int(torch.randint(2, 6, (1,), generator=g))
        prompt = torch.randint(3, V, (p,), generator=g)
        ex = {}
        for side in ('chosen', 'rejected'):
            r = int(torch.randint(2, 8, (1,), generator=g))
            resp = torch.randint(3, V, (r,), generator=g)
            ex[side + '_input_ids'] = torch.cat((prompt, resp))
            ex[side + '_labels'] = torch.cat(
                (torch.full((p,), -100, dtype=torch.int64), resp))
        out.append(ex)
    return out


def collate(exs):
    """lmf-pack's pairwise batch: chosen rows, then rejected rows, right
    padded together to a multiple of 8"""
    rows = [(e['chosen_input_ids'], e['chosen_labels']) for e in exs]
    rows += [(e['rejected_input_ids'], e['rejected_labels']) for e in exs]
    T = max(len(r[0]) for r in rows)
    T = -(-T // MULT) * MULT
    B = len(rows)
    ids = torch.full((B, T), PAD, dtype=torch.int64)
    mask = torch.zeros((B, T), dtype=torch.int64)
    labels = torch.full((B, T), -100, dtype=torch.int64)
    for b, (i, l) in enumerate(rows):
        ids[b, :len(i)], mask[b, :len(i)], labels[b, :len(l)] = i, 1, l
    return ids, mask, labels


def batch_logps(logits, labels):
    """get_batch_logps: summed log-probs of the labels and their count"""
    lab = labels[:, 1:].clone()
    lg = logits[:, :-1, :]
    m = lab != -100
    lab[~m] = 0
    lp = torch.gather(lg.log_softmax(-1), 2, lab[..., None]).squeeze(2)
    return (lp * m).sum(-1), m.sum(-1).double()


def seq_logps(cfg, w, lora, ids, mask, labels):
    B, T = ids.shape
    logits = forward(cfg, w, lora, ids, mask, torch.arange(T).expand(B, T))
    s, n = batch_logps(logits, labels)
    return s, n, logits


def pref_loss(a, pc, pr, rc, rr, lc, lr, delta):
    """spec 5.4: per-pair losses, rewards; pc, pr policy sums, rc, rr
    reference sums (None without), lc, lr lengths"""
    beta, kind = a['pref_beta'], a['pref_loss']
    if kind in ('ipo', 'orpo', 'simpo'):
        pc, pr = pc / lc, pr / lr
        if rc is not None:
            rc, rr = rc / lc, rr / lr
    if kind == 'orpo':
        lo = (pc - pr) - (torch.log1p(-torch.exp(pc)) -
                          torch.log1p(-torch.exp(pr)))
        losses = -pc + beta * -F.logsigmoid(lo)
        return losses, beta * pc.detach(), beta * pr.detach()
    if kind == 'simpo':
        losses = -F.logsigmoid(beta * (pc - pr) - a.get('simpo_gamma', 0.5))
        return losses, beta * pc.detach(), beta * pr.detach()
    uc, ur = pc - rc, pr - rr
    z = uc - ur
    e = a.get('dpo_label_smoothing', 0.0)
    if kind == 'sigmoid':
        losses = -F.logsigmoid(beta * z) * (1 - e) - F.logsigmoid(-beta * z) * e
    elif kind == 'hinge':
        losses = torch.relu(1 - beta * z)
    elif kind == 'ipo':
        losses = (z - 1 / (2 * beta)) ** 2
    else:   # kto_pair as TRL <= 0.8 wrote it, halves averaged per pair
        klc = uc.mean().clamp(min=0)
        klr = ur.mean().clamp(min=0)
        losses = ((1 - torch.sigmoid(beta * (uc - klr))) +
                  (1 - torch.sigmoid(beta * (klc - ur)))) / 2
    wb = a.get('pref_bco_weight', 0.0)
    if wb > 1e-6:
        bco = -F.logsigmoid(beta * uc - delta) - \
            F.logsigmoid(-(beta * ur - delta))
        losses = (losses + wb * bco) / (1 + wb)
    return losses, beta * uc.detach(), beta * ur.detach()


CASES = []


def case(name, args, kind, n=3):
    """kind: full (the reference is the initial model), lora (the base
    without the adapter), ref (an explicit ref_model, full training)"""
    CASES.append((name, args, kind, n))


def define():
    for loss in ('sigmoid', 'hinge', 'ipo', 'kto_pair'):
        beta = {'ipo': 0.5}.get(loss, 0.1)
        for kind in ('full', 'lora', 'ref'):
            # kto_pair at the first full step: mean(policy - reference)
            # is 0 exactly, where clamp's gradient is a tie float32
            # noise decides; lora and ref cover it
            if loss == 'kto_pair' and kind == 'full':
                continue
            case('%s_%s' % (loss, kind), {'pref_loss': loss,
                 'pref_beta': beta}, kind)
    case('orpo_full', {'pref_loss': 'orpo', 'pref_beta': 0.1}, 'full')
    case('orpo_lora', {'pref_loss': 'orpo', 'pref_beta': 0.2}, 'lora')
    case('simpo_full', {'pref_loss': 'simpo', 'pref_beta': 2.0,
         'simpo_gamma': 0.5}, 'full')
    case('simpo_lora', {'pref_loss': 'simpo', 'pref_beta': 2.5,
         'simpo_gamma': 1.0}, 'lora')
    case('sigmoid_smoothing_ref', {'pref_loss': 'sigmoid', 'pref_beta': 0.25,
         'dpo_label_smoothing': 0.1}, 'ref')
    case('sigmoid_ftx_lora', {'pref_loss': 'sigmoid', 'pref_beta': 0.1,
         'pref_ftx': 0.5}, 'lora')
    case('orpo_ftx_full', {'pref_loss': 'orpo', 'pref_beta': 0.3,
         'pref_ftx': 1.0}, 'full')
    case('sigmoid_bco_ref', {'pref_loss': 'sigmoid', 'pref_beta': 0.1,
         'pref_bco_weight': 0.5}, 'ref', n=4)
    case('ipo_bco_lora', {'pref_loss': 'ipo', 'pref_beta': 0.5,
         'pref_bco_weight': 2.0}, 'lora')


def args_line(args, kind):
    a = dict(args)
    a['finetuning_type'] = 'lora' if kind == 'lora' else 'full'
    if kind == 'lora':
        a['lora_rank'] = 4
    return ' '.join('--%s %s' % (k, v) for k, v in a.items())


def write_model(d, cfg, w):
    os.makedirs(d)
    with open(os.path.join(d, 'config.json'), 'w') as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write('\n')
    write_st(os.path.join(d, 'model.safetensors'),
             [(n, w[n]) for n, _, _ in param_table(cfg)])


def write_adapter(d, lora):
    os.makedirs(d)
    ac = {'peft_type': 'LORA', 'task_type': 'CAUSAL_LM', 'r': lora['r'],
          'lora_alpha': lora['alpha'], 'lora_dropout': 0.0,
          'target_modules': sorted(lora['targets']), 'bias': 'none',
          'use_rslora': False, 'use_dora': False, 'fan_in_fan_out': False,
          'inference_mode': True, 'init_lora_weights': True,
          'base_model_name_or_path': None, 'modules_to_save': None}
    with open(os.path.join(d, 'adapter_config.json'), 'w') as f:
        json.dump(ac, f, indent=2, sort_keys=True)
        f.write('\n')
    ts = []
    for key in lora['A']:
        ts.append(('base_model.model.%s.lora_A.weight' % key, lora['A'][key]))
        ts.append(('base_model.model.%s.lora_B.weight' % key, lora['B'][key]))
    write_st(os.path.join(d, 'adapter_model.safetensors'), ts)


def lora_grads(cfg, lora):
    out = []
    for l in range(cfg['num_hidden_layers']):
        for p in PROJ:
            key = 'model.layers.%d.%s.%s' % (l, MOD[p], p)
            for ab in 'AB':
                t = lora[ab][key]
                out.append(('base_model.model.%s.lora_%s.weight' % (key, ab),
                            'f64', tuple(t.shape), f64bytes(t.grad)))
    return out


def scalar(name, v):
    return (name, 'f64', (), f64bytes(torch.tensor([float(v)])))


def run(name, args, kind, n):
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
    exs = examples(g, n)
    ids, mask, labels = collate(exs)
    with torch.no_grad():   # the reference: lmf-logps, ahead of training
        rs, _, _ = seq_logps(cfg, wref, None, ids, mask, labels)
    noref = args['pref_loss'] in ('orpo', 'simpo')
    if kind == 'lora':
        for t in list(lora['A'].values()) + list(lora['B'].values()):
            t.requires_grad_(True)
        train = []
    else:
        train = [nm for nm, _, _ in param_table(cfg)]
        for nm in train:
            w[nm].requires_grad_(True)
    s, ln, logits = seq_logps(cfg, w, lora, ids, mask, labels)
    pc, pr, lc, lr = s[:n], s[n:], ln[:n], ln[n:]
    rc, rr = (None, None) if noref else (rs[:n], rs[n:])
    beta = args['pref_beta']
    delta = 0.0
    if args.get('pref_bco_weight', 0) > 1e-6:
        avg = args['pref_loss'] == 'ipo'
        dc, dr = (lc, lr) if avg else (1, 1)
        delta = float(torch.cat((beta * (pc - rc) / dc,
                                 beta * (pr - rr) / dr)).mean())
    losses, r_c, r_r = pref_loss(args, pc, pr, rc, rr, lc, lr, delta)
    sft = -pc / lc
    if args.get('pref_ftx', 0) > 1e-6:
        losses = losses + args['pref_ftx'] * sft
    loss = losses.mean()
    loss.backward()
    avgd = args['pref_loss'] in ('ipo', 'orpo', 'simpo')
    lpc, lpr = (pc / lc, pr / lr) if avgd else (pc, pr)
    # at the first full step the rewards are 0 exactly: accuracies is a
    # tie float32 noise decides, so it is not compared (NaN)
    acc = float('nan') if kind == 'full' and not noref else \
        float((r_c > r_r).double().mean())
    m = [scalar('loss', loss),
         scalar('rewards/chosen', r_c.mean()),
         scalar('rewards/rejected', r_r.mean()),
         scalar('rewards/accuracies', acc),
         scalar('rewards/margins', (r_c - r_r).mean()),
         scalar('logps/chosen', lpc.detach().mean()),
         scalar('logps/rejected', lpr.detach().mean()),
         scalar('logits/chosen', logits[:n].detach().mean()),
         scalar('logits/rejected', logits[n:].detach().mean())]
    if args['pref_loss'] == 'orpo':
        m.append(scalar('sft_loss', sft.detach().mean()))
        m.append(scalar('odds_ratio_loss',
                        ((losses.detach() - sft.detach()) / beta).mean()))
    out = m + [(nm, 'f64', tuple(w[nm].shape), f64bytes(w[nm].grad))
               for nm in train]
    if lora:
        out += lora_grads(cfg, lora)
    with open(os.path.join(d, 'grads.lmf'), 'wb') as f:
        f.write(stream({'kind': 'grads', 'case': name,
                        'command': 'make_dpo_golden.py'}, [out]))
    items = [[(k, 'i32', (len(e[k]),), i32bytes(e[k])) for k in
              ('chosen_input_ids', 'chosen_labels', 'rejected_input_ids',
               'rejected_labels')] for e in exs]
    with open(os.path.join(d, 'examples.lmf'), 'wb') as f:
        f.write(stream({'kind': 'examples', 'stage': 'dpo', 'vocab_size': V,
                        'pad_token_id': PAD, 'eos_token_id': 2,
                        'cutoff_len': 64, 'command': 'make_dpo_golden.py'},
                       items))
    with open(os.path.join(d, 'args'), 'w') as f:
        f.write(args_line(args, kind) + '\n')
    print('%s: loss %.6f, %d pairs, %d gradients' %
          (name, loss.item(), n, len(out) - len(m)))


def main():
    define()
    os.makedirs(OUT, exist_ok=True)
    for c in CASES:
        run(*c)


if __name__ == '__main__':
    main()
