#!/usr/bin/python3
# make_rm_golden.py: write the reward-model goldens of tests/golden/rm/<case>/
# with make_golden.py's float64 reference model (no transformers, no trl):
# TRL's value head v_head.summary (Linear(C, 1)) on the final hidden
# states, each row's score at its last non-padding token
# (attention_mask.sum() - 1), the pairwise batch as LLaMA-Factory's
# collator lays it out (n chosen rows, then their n rejected rows, right
# padded to a multiple of 8), loss = -mean logsigmoid(s_c - s_r),
# accuracy = mean(s_c > s_r) (strict). summary_dropout_prob is 0 in the
# config so that the step is deterministic.
# Usage: /usr/bin/python3 tests/golden/make_rm_golden.py [OUTDIR]
# (default tests/golden/rm). Deterministic: the same files every run.
import json, os, shutil, struct, sys
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_golden as mg

torch.set_default_dtype(torch.float64)
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), 'rm')
V = 48


def bf16(t):
    """t rounded to bfloat16 (round to nearest even), held in float64"""
    return t.float().to(torch.bfloat16).double()


def write_st_bf16(path, tensors):
    hdr, off, blobs = {'__metadata__': {'format': 'pt'}}, 0, []
    for name, t in tensors:
        u = t.float().to(torch.bfloat16).view(torch.int16).flatten().tolist()
        b = struct.pack('<%dh' % len(u), *u)
        hdr[name] = {'dtype': 'BF16', 'shape': list(t.shape),
                     'data_offsets': [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(hdr, separators=(',', ':')).encode()
    h += b' ' * (-len(h) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)) + h + b''.join(blobs))


def pair_batch(g, pairs, prompt=3, mult=8):
    """pairs: (chosen length, rejected length, same) per pair; a pair
    with same has the rejected row equal to the chosen one (a tie)"""
    n = len(pairs)
    T = max(max(c, r) for c, r, _ in pairs)
    T = (T + mult - 1) // mult * mult
    ids = torch.zeros(2 * n, T, dtype=torch.int64)
    mask = torch.zeros(2 * n, T, dtype=torch.int64)
    labels = torch.full((2 * n, T), -100, dtype=torch.int64)
    for i, (lc, lr, same) in enumerate(pairs):
        p = torch.randint(3, V, (prompt,), generator=g)
        for row, ln in ((i, lc), (n + i, lr)):
            resp = torch.randint(3, V, (ln - prompt,), generator=g)
            if same and row == n + i:
                resp = ids[i, prompt:lc].clone()
            ids[row, :prompt] = p
            ids[row, prompt:ln] = resp
            mask[row, :ln] = 1
            labels[row, prompt:ln] = resp
    return {'input_ids': ids, 'attention_mask': mask, 'labels': labels}


CASES = []


def case(name, cfg, batch, args, lora=None, dtype='f32'):
    CASES.append((name, cfg, batch, args, lora, dtype))

# tie_full: a zero value-head weight makes every score the bias, so every
# pair ties exactly (in fp32 too): loss log 2, accuracy 0 (strict >), the
# weight's gradient -(h_c - h_r) / 2n at the scored tokens, and nothing
# flows into the model. (Equal rows would not tie exactly in fp32.)


def define():
    g = torch.Generator().manual_seed(4321)
    cfg = mg.base_cfg(summary_dropout_prob=0.0)
    case('full', cfg, pair_batch(g, [(8, 8, False), (8, 8, False)]),
         {'finetuning_type': 'full'})
    case('padded_full', cfg,
         pair_batch(g, [(11, 6, False), (5, 9, False), (7, 13, False)]),
         {'finetuning_type': 'full'})
    case('tie_full', cfg, pair_batch(g, [(9, 6, False), (7, 10, False)]),
         {'finetuning_type': 'full'})
    case('lora', cfg, pair_batch(g, [(10, 7, False), (6, 12, False)]),
         {'finetuning_type': 'lora', 'lora_target': 'all', 'lora_rank': 4},
         lora=mg.lora_weights(cfg, g, 4, 8, mg.PROJ, False))
    case('freeze_last1', cfg, pair_batch(g, [(9, 6, False), (8, 11, False)]),
         {'finetuning_type': 'freeze', 'freeze_trainable_layers': 1})
    cq = mg.base_cfg(model_type='qwen2', architectures=['Qwen2ForCausalLM'],
                     summary_dropout_prob=0.0, torch_dtype='bfloat16')
    case('bf16_qwen2_full', cq, pair_batch(g, [(10, 7, False), (12, 5, False)]),
         {'finetuning_type': 'full'}, dtype='bf16')


def write_json(path, obj):
    with open(path, 'w') as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write('\n')


def write_adapter(d, lora):
    ac = {'peft_type': 'LORA', 'task_type': 'CAUSAL_LM', 'r': lora['r'],
          'lora_alpha': lora['alpha'], 'lora_dropout': 0.0,
          'target_modules': sorted(lora['targets']), 'bias': 'none',
          'use_rslora': lora['rslora'], 'use_dora': False,
          'fan_in_fan_out': False, 'inference_mode': True,
          'init_lora_weights': True, 'base_model_name_or_path': None,
          'modules_to_save': None}
    write_json(os.path.join(d, 'adapter_config.json'), ac)
    ts = []
    for key in lora['A']:
        ts.append(('base_model.model.%s.lora_A.weight' % key, lora['A'][key]))
        ts.append(('base_model.model.%s.lora_B.weight' % key, lora['B'][key]))
    mg.write_st(os.path.join(d, 'adapter_model.safetensors'), ts)


def lora_params(cfg, lora):
    out = []
    for l in range(cfg['num_hidden_layers']):
        for p in mg.PROJ:
            key = 'model.layers.%d.%s.%s' % (l, mg.MOD[p], p)
            if key in lora['A']:
                for ab in 'AB':
                    out.append(('base_model.model.%s.lora_%s.weight'
                                % (key, ab), lora[ab][key]))
    return out


def run(name, cfg, b, args, lora, dtype):
    d = os.path.join(OUT, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, 'model'))
    g = torch.Generator().manual_seed(sum(map(ord, name)))
    w = mg.random_weights(cfg, g)
    C = cfg['hidden_size']
    vw = (torch.randn(1, C, generator=g) / C ** 0.5).float().double()
    vb = (0.1 * torch.randn(1, generator=g)).float().double()
    if name == 'tie_full':
        vw = torch.zeros(1, C)
    write_json(os.path.join(d, 'model', 'config.json'), cfg)
    names = [n for n, _, _ in mg.param_table(cfg)]
    if dtype == 'bf16':
        for n in names:
            w[n] = bf16(w[n])
        write_st_bf16(os.path.join(d, 'model', 'model.safetensors'),
                      [(n, w[n]) for n in names])
    else:
        mg.write_st(os.path.join(d, 'model', 'model.safetensors'),
                    [(n, w[n]) for n in names])
    vdir = os.path.join(d, 'model')
    if lora:
        vdir = os.path.join(d, 'adapter')
        os.makedirs(vdir)
        write_adapter(vdir, lora)
    mg.write_st(os.path.join(vdir, 'value_head.safetensors'),
                [('v_head.summary.weight', vw), ('v_head.summary.bias', vb)])
    params = [(n, w[n]) for n in mg.trainable_names(cfg, args)]
    if lora:
        params += lora_params(cfg, lora)
    params += [('v_head.summary.weight', vw), ('v_head.summary.bias', vb)]
    for _, t in params:
        t.requires_grad_(True)
    ids, mask = b['input_ids'], b['attention_mask']
    B, T = ids.shape
    n = B // 2
    pos = torch.arange(T).expand(B, T)
    h = mg.forward(cfg, w, lora, ids, mask, pos, hidden=True)
    values = (h @ vw.t() + vb)[..., 0]                  # (B, T)
    idx = mask.sum(-1) - 1
    s = values.gather(1, idx[:, None])[:, 0]
    sc, sr = s[:n], s[n:]
    loss = -torch.nn.functional.logsigmoid(sc - sr).mean()
    loss.backward()
    acc = (sc > sr).double().mean()
    out = [('loss', 'f64', (), mg.f64bytes(loss.detach().reshape(1))),
           ('accuracy', 'f64', (), mg.f64bytes(acc.reshape(1))),
           ('chosen_score', 'f64', (), mg.f64bytes(sc.detach().mean()
                                                   .reshape(1))),
           ('rejected_score', 'f64', (), mg.f64bytes(sr.detach().mean()
                                                     .reshape(1)))]
    for nm, t in params:   # lm_head takes no part: a zero gradient
        gr = t.grad if t.grad is not None else torch.zeros_like(t)
        if nm == 'v_head.summary.bias':   # it cancels in s_c - s_r
            gr = torch.zeros_like(t)
        out.append((nm, 'f64', tuple(t.shape), mg.f64bytes(gr)))
    with open(os.path.join(d, 'grads.lmf'), 'wb') as f:
        f.write(mg.stream({'kind': 'grads', 'case': name,
                           'command': 'make_rm_golden.py'}, [out]))
    it = [(k, 'i32', tuple(b[k].shape), mg.i32bytes(b[k]))
          for k in ('input_ids', 'attention_mask', 'labels')]
    with open(os.path.join(d, 'batches.lmf'), 'wb') as f:
        f.write(mg.stream({'kind': 'batches', 'stage': 'rm', 'num_batches': 1,
                           'batches_per_epoch': 1, 'num_epochs': 1,
                           'command': 'make_rm_golden.py'}, [it]))
    with open(os.path.join(d, 'args'), 'w') as f:
        f.write(mg.args_line(args) + '\n')
    print('%s: loss %.6f, accuracy %.2f, %d gradients' %
          (name, loss.item(), acc.item(), len(params)))


def main():
    define()
    os.makedirs(OUT, exist_ok=True)
    for c in CASES:
        run(*c)


if __name__ == '__main__':
    main()
