#!/usr/bin/python3
# make_ppo_golden.py: write the PPO goldens of tests/golden/ppo/<case>/ with
# make_golden.py's float64 reference model (no transformers, no trl): one
# PPO step of trl 0.9.6's PPOTrainer as LLaMA-Factory configures it (spec
# 5.6) on a FIXED rollout (queries, responses, raw scores), written out
# from trl's code: batched_forward_pass (log-probs and values of positions
# [:, :-1], the mask of the positions predicting response tokens), the
# reference log-probs (ref/, or the base without the adapter for LoRA),
# RunningMoments score normalisation, compute_rewards (kl = lp - ref,
# -kl_coef * kl, the score added at the last masked position),
# compute_advantages (values and rewards masked, optional
# masked_whiten(rewards, shift_mean=False), GAE, returns, whitened
# advantages) and the loss of the first mini-batch of the first epoch
# (clipped policy and value losses, vf_coef 0.1) with its gradients
# (divided by gradient_accumulation_steps as accelerate does). The first
# mini-batch is lmf's permutation of the samples (its xorshift RNG seeded
# by --seed, a Fisher-Yates shuffle; trl's is torch.randperm): the rows
# taken are the same whichever order, so the golden replays lmf's choice.
# summary_dropout_prob is 0 and lora_dropout 0: the step is deterministic.
# Usage: /usr/bin/python3 tests/golden/make_ppo_golden.py [OUTDIR]
# (default tests/golden/ppo). Deterministic: the same files every run.
import json, os, shutil, sys
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_golden as mg
import make_rm_golden as rg

torch.set_default_dtype(torch.float64)
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), 'ppo')
V = 48
PAD = 0
M64 = (1 << 64) - 1


class Rng:
    """lmf_rng (libcommon/util.c): xorshift64* seeded by splitmix's
    constants"""
    def __init__(self, seed):
        self.s = (seed * 0x9E3779B97F4A7C15 + 0x2545F4914F6CDD1D) & M64
        if not self.s:
            self.s = 1

    def u32(self):
        s = self.s
        s ^= s >> 12
        s ^= (s << 25) & M64
        s ^= s >> 27
        self.s = s
        return ((s * 0x2545F4914F6CDD1D) & M64) >> 32

    def below(self, n):
        lim = (-n & 0xFFFFFFFF) % n
        while True:
            x = self.u32()
            if x >= lim:
                return x % n


def perm(n, seed):
    r, p = Rng(seed), list(range(n))
    for i in range(n - 1, 0, -1):
        j = r.below(i + 1)
        p[i], p[j] = p[j], p[i]
    return p


def rollout(g, lens):
    """lens: (query length, response length) per sample; right padded"""
    n, T = len(lens), max(q + r for q, r in lens)
    ids = torch.full((n, T), PAD, dtype=torch.int64)
    for i, (q, r) in enumerate(lens):
        ids[i, :q + r] = torch.randint(3, V, (q + r,), generator=g)
    scores = (torch.randn(n, generator=g) * 1.5).float().double()
    return ids, torch.tensor([q for q, _ in lens]), \
        torch.tensor([r for _, r in lens]), scores


CASES = []


def case(name, lens, args, lora=False, ref=False):
    CASES.append((name, lens, args, lora, ref))


def define():
    full = {'finetuning_type': 'full'}
    case('full_ref', [(4, 5), (6, 3), (3, 7)],
         dict(full, per_device_train_batch_size=3), ref=True)
    case('lora', [(5, 4), (3, 6), (4, 4), (6, 2)],
         {'finetuning_type': 'lora', 'lora_target': 'all', 'lora_rank': 4,
          'per_device_train_batch_size': 4}, lora=True)
    case('lora_ga2', [(5, 4), (3, 6), (4, 4), (6, 2)],
         {'finetuning_type': 'lora', 'lora_target': 'all', 'lora_rank': 4,
          'per_device_train_batch_size': 2,
          'gradient_accumulation_steps': 2, 'seed': 7}, lora=True)
    case('norm_whiten_ref', [(4, 6), (5, 5), (3, 4), (7, 3)],
         dict(full, per_device_train_batch_size=4, ppo_score_norm='true',
              ppo_whiten_rewards='true', init_kl_coef=0.05), ref=True)
    case('freeze_self_ref', [(4, 4), (5, 6)],
         {'finetuning_type': 'freeze', 'freeze_trainable_layers': 1,
          'per_device_train_batch_size': 2})


def masked_mean(x, m):
    return (x * m).sum() / m.sum()


def masked_var(x, m):
    c = x - masked_mean(x, m)
    v = masked_mean(c * c, m)
    return v * m.sum() / (m.sum() - 1)


def masked_whiten(x, m, shift_mean=True):
    mean, var = masked_mean(x, m), masked_var(x, m)
    w = (x - mean) * torch.rsqrt(var + 1e-8)
    return w if shift_mean else w + mean


def logps_values(cfg, w, lora, vh, ids, att):
    n, T = ids.shape
    pos = torch.arange(T).expand(n, T)
    h = mg.forward(cfg, w, lora, ids, att, pos, hidden=True)
    lm = w['model.embed_tokens.weight'] if cfg.get('tie_word_embeddings') \
        else w['lm_head.weight']
    lsm = torch.log_softmax(h @ lm.t(), -1)[:, :-1]
    lp = lsm.gather(2, ids[:, 1:, None])[..., 0]          # (n, T-1)
    if vh is None:
        return lp, None
    return lp, (h @ vh[0].t() + vh[1])[..., 0][:, :-1]


def pad_col(x):
    """(n, T-1) -> (n, T), 0 at the last position (lmf's layout)"""
    return torch.cat((x, torch.zeros(x.shape[0], 1)), 1)


def run(name, lens, args, lora, has_ref):
    d = os.path.join(OUT, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, 'model'))
    g = torch.Generator().manual_seed(sum(map(ord, name)))
    cfg = mg.base_cfg(summary_dropout_prob=0.0)
    C = cfg['hidden_size']
    w = mg.random_weights(cfg, g)
    names = [n for n, _, _ in mg.param_table(cfg)]
    rg.write_json(os.path.join(d, 'model', 'config.json'), cfg)
    mg.write_st(os.path.join(d, 'model', 'model.safetensors'),
                [(n, w[n]) for n in names])
    vw = (torch.randn(1, C, generator=g) / C ** 0.5).float().double()
    vb = (0.1 * torch.randn(1, generator=g)).float().double()
    lo = None
    vdir = os.path.join(d, 'model')
    if lora:
        lo = mg.lora_weights(cfg, g, 4, 8, mg.PROJ, False)
        vdir = os.path.join(d, 'adapter')
        os.makedirs(vdir)
        rg.write_adapter(vdir, lo)
    mg.write_st(os.path.join(vdir, 'value_head.safetensors'),
                [('v_head.summary.weight', vw), ('v_head.summary.bias', vb)])
    wref = w
    if has_ref:
        wref = mg.random_weights(cfg, g)
        os.makedirs(os.path.join(d, 'ref'))
        rg.write_json(os.path.join(d, 'ref', 'config.json'), cfg)
        mg.write_st(os.path.join(d, 'ref', 'model.safetensors'),
                    [(n, wref[n]) for n in names])
    ids, ql, rl, scores = rollout(g, lens)
    n, T = ids.shape
    att = (torch.arange(T)[None] < (ql + rl)[:, None]).long()
    t = torch.arange(T - 1)[None]
    mask = ((t >= ql[:, None] - 1) & (t < (ql + rl)[:, None] - 1)).double()

    # the no-grad passes
    with torch.no_grad():
        lp, val = logps_values(cfg, w, lo, (vw, vb), ids, att)
        reflp, _ = logps_values(cfg, wref, None, None, ids, att)
    kl_coef = float(args.get('init_kl_coef', 0.2))
    sc = scores.clone()
    if args.get('ppo_score_norm') == 'true':
        # RunningMoments from mean 0, var 1, count 1e-24 (float32 stats)
        mean, var, cnt = 0.0, 1.0, 1e-24
        bm = sc.float().mean().double()
        bv = sc.float().var(unbiased=False).double()
        delta, tot = bm - mean, cnt + n
        var = (var * cnt + delta ** 2 * cnt * n / tot + bv * n) / tot
        mean = mean + delta * n / tot
        std = (var * tot / (tot - 1)).float().sqrt().double()
        sc = (sc - mean) / (std + torch.finfo(torch.float32).eps)
    kl = lp - reflp
    rewards = -kl_coef * kl
    for i in range(n):
        last = mask[i].nonzero()[-1]
        rewards[i, last] += sc[i]
    values = val * mask
    rw = rewards * mask
    if args.get('ppo_whiten_rewards') == 'true':
        rw = masked_whiten(rw, mask, shift_mean=False)
    gamma, lam = 1.0, 0.95
    adv = torch.zeros(n, T - 1)
    last = torch.zeros(n)
    for k in reversed(range(T - 1)):
        nv = values[:, k + 1] if k < T - 2 else 0.0
        delta = rw[:, k] + gamma * nv - values[:, k]
        last = delta + gamma * lam * last
        adv[:, k] = last
    ret = adv + values
    adv = masked_whiten(adv, mask)
    klmean = (kl * mask).sum(1).mean()

    # the first mini-batch, with gradients
    mbs = int(args['per_device_train_batch_size'])
    ga = int(args.get('gradient_accumulation_steps', 1))
    rows = perm(n, int(args.get('seed', 42)))[:mbs]
    params = [(nm, w[nm]) for nm in mg.trainable_names(cfg, args)]
    if lora:
        params += rg.lora_params(cfg, lo)
    params += [('v_head.summary.weight', vw), ('v_head.summary.bias', vb)]
    for _, p in params:
        p.requires_grad_(True)
    r = torch.tensor(rows)
    nlp, vpred = logps_values(cfg, w, lo, (vw, vb), ids[r], att[r])
    m = mask[r]
    olp, ov, A, R = lp[r], values[r], adv[r], ret[r]
    vclip = torch.max(torch.min(vpred, ov + 0.2), ov - 0.2)
    vf1, vf2 = (vpred - R) ** 2, (vclip - R) ** 2
    vf_loss = 0.5 * masked_mean(torch.max(vf1, vf2), m)
    vf_clipfrac = masked_mean((vf2 > vf1).double(), m)
    ratio = torch.exp(nlp - olp)
    pg1, pg2 = -A * ratio, -A * torch.clamp(ratio, 0.8, 1.2)
    pg_loss = masked_mean(torch.max(pg1, pg2), m)
    pg_clipfrac = masked_mean((pg2 > pg1).double(), m)
    loss = pg_loss + 0.1 * vf_loss
    if masked_mean(ratio, m).item() > 10:
        loss = loss * 0
    (loss / ga).backward()

    f32 = lambda x: mg.f32bytes(x.detach())
    sh = (n, T)
    it = [('input_ids', 'i32', sh, mg.i32bytes(ids)),
          ('query_len', 'i32', (n,), mg.i32bytes(ql)),
          ('response_len', 'i32', (n,), mg.i32bytes(rl)),
          ('scores', 'f32', (n,), mg.f32bytes(scores))]
    with open(os.path.join(d, 'rollout.lmf'), 'wb') as f:
        f.write(mg.stream({'kind': 'ppo_step', 'case': name,
                           'command': 'make_ppo_golden.py'}, [it]))
    for nm, x in (('mask', mask), ('logprobs', lp), ('ref_logprobs', reflp),
                  ('values', values), ('rewards', rewards),
                  ('advantages', adv), ('returns', ret)):
        it.append((nm, 'f64', sh, mg.f64bytes(pad_col(x.detach()))))
    for nm, x in (('loss', loss), ('pg_loss', pg_loss), ('vf_loss', vf_loss),
                  ('kl', klmean), ('kl_coef', torch.tensor(kl_coef)),
                  ('pg_clipfrac', pg_clipfrac),
                  ('vf_clipfrac', vf_clipfrac)):
        it.append((nm, 'f64', (), mg.f64bytes(x.detach().reshape(1))))
    for nm, p in params:
        gr = p.grad if p.grad is not None else torch.zeros_like(p)
        it.append((nm, 'f64', tuple(p.shape), mg.f64bytes(gr)))
    with open(os.path.join(d, 'step.lmf'), 'wb') as f:
        f.write(mg.stream({'kind': 'ppo_step', 'case': name,
                           'command': 'make_ppo_golden.py'}, [it]))
    with open(os.path.join(d, 'args'), 'w') as f:
        f.write(mg.args_line(args) + '\n')
    print('%s: loss %.6f, kl %.4f, rows %s, %d gradients' %
          (name, loss.item(), klmean.item(), rows, len(params)))


def main():
    define()
    os.makedirs(OUT, exist_ok=True)
    for c in CASES:
        run(*c)


if __name__ == '__main__':
    main()
