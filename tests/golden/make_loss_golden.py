#!/usr/bin/python3
"""make_loss_golden.py: float64 PyTorch references of lmf's losses (loss.h).

Writes tests/golden/loss.lmf, an uncompressed lmf stream (lmf-stream(5))
with one item: for each objective and case, seeded random inputs, torch's
outputs and the gradients autograd finds in float64, named
"<objective>.<tensor>". tests/unit/loss_test.c reads it. The maths is
written the way LLaMA-Factory and TRL write it (spec/llamafactory.md
section 5: get_batch_logps, the DPO family, kto_loss, the pairwise RM loss,
PPO's compute_rewards, compute_advantages, masked_whiten and loss), with
the real hinge, ipo and kto_pair formulas. Every float input is rounded to
a float32 value first, so the C test feeds exactly the same numbers.

Run with Debian's python3-torch:  /usr/bin/python3 tests/golden/make_loss_golden.py
"""
import json
import os
import struct
import sys

import torch
import torch.nn.functional as F

torch.manual_seed(20240909)
F64 = torch.float64
DTYPE = {torch.float64: 4, torch.int32: 7}
tensors = []  # (name, tensor)


def put(name, t):
    t = torch.as_tensor(t).detach()
    if t.dtype not in DTYPE:
        t = t.to(F64) if t.is_floating_point() else t.to(torch.int32)
    tensors.append((name, t.contiguous().reshape(-1) if t.dim() == 0 else t.contiguous()))


def scalar(name, x):
    put(name, torch.tensor([float(x)], dtype=F64))


def f32(t):
    """t rounded to float32 values, kept in float64"""
    return t.to(torch.float32).to(F64)


def rnd(*shape, scale=1.0, shift=0.0):
    return f32(torch.randn(*shape, dtype=F64) * scale + shift).requires_grad_(True)


def grad_or_zero(x):
    return x.grad if x.grad is not None else torch.zeros_like(x)


# ---- 1. log-probs of label tokens (get_batch_logps) ----
# rows: a prompt then a response, right padding; row 2 has no response at
# all (its sum is 0, its length 0)
B, T, V = 3, 7, 11
labels = torch.tensor([[-100, -100, 4, 10, 0, 3, -100],
                       [-100, 7, 7, 2, 9, 1, 5],
                       [-100, -100, -100, -100, -100, -100, -100]])
logits = rnd(B, T, V, scale=2.0)
# the shift of get_batch_logps: logits[:, :-1] predict labels[:, 1:]; we
# store the shifted targets (B, T) with -100 last, as lmf_labels_shift does
targets = torch.cat([labels[:, 1:], torch.full((B, 1), -100)], 1)
mask = targets != -100
safe = torch.where(mask, targets, torch.zeros_like(targets))
lp = torch.gather(logits.log_softmax(-1), 2, safe[..., None])[..., 0] * mask
logps = lp.sum(-1)
length = mask.sum(-1)
avg = logps / length.clamp(min=1)
dlogps = f32(torch.randn(B, dtype=F64))
davg = f32(torch.randn(B, dtype=F64))
put("logps.logits", logits)
put("logps.targets", targets)
put("logps.lp", lp)
put("logps.logps", logps)
put("logps.avg", avg)
put("logps.len", length.to(F64))
put("logps.dlogps", dlogps)
put("logps.davg", davg)
(logps * dlogps + avg * davg).sum().backward()
put("logps.dlogits", logits.grad)

# fused: logits = hidden @ weight^T, never stored by lmf
N, C, V = 23, 8, 13
hidden = rnd(N, C)
weight = rnd(V, C, scale=0.5)
tg = torch.randint(0, V, (N,))
for i in (0, 1, 2, 3, 4, 5, 9, 10, 16, 22):   # whole and partial blocks ignored
    tg[i] = -100
logit = hidden @ weight.T
m = tg != -100
lpf = torch.gather(logit.log_softmax(-1), 1, torch.where(m, tg, 0)[:, None])[:, 0] * m
dlp = f32(torch.randn(N, dtype=F64))
put("fused.hidden", hidden)
put("fused.weight", weight)
put("fused.targets", tg)
put("fused.lp", lpf)
put("fused.dlp", dlp)
(lpf * dlp).sum().backward()
put("fused.dhidden", hidden.grad)
put("fused.dweight", weight.grad)


# ---- 2. DPO family ----
def logsig(x):
    return F.logsigmoid(x)


def dpo_case(name, loss_type, beta=0.1, eps=0.0, gamma=0.5, ftx=0.0, n=6):
    lenc = torch.randint(2, 40, (n,)).to(F64)
    lenr = torch.randint(2, 40, (n,)).to(F64)
    # summed log-probs about -1.5 per token, reference near the policy
    pc = f32(-lenc * (1.5 + 0.5 * torch.rand(n, dtype=F64))).requires_grad_(True)
    pr = f32(-lenr * (1.5 + 0.5 * torch.rand(n, dtype=F64))).requires_grad_(True)
    refc = f32(pc.detach() + 12 * torch.randn(n, dtype=F64))
    refr = f32(pr.detach() + 12 * torch.randn(n, dtype=F64))
    if loss_type == "kto_pair":   # one KL clamped, the other not
        refc = f32(pc.detach() - 8 + 6 * torch.randn(n, dtype=F64))
        refr = f32(pr.detach() + 8 + 6 * torch.randn(n, dtype=F64))
    averaged = loss_type in ("ipo", "orpo", "simpo")
    a_c, a_r = (pc / lenc, pr / lenr) if averaged else (pc, pr)
    r_c, r_r = (refc / lenc, refr / lenr) if averaged else (refc, refr)
    z = (a_c - a_r) - (r_c - r_r)
    if loss_type == "sigmoid":
        losses = -logsig(beta * z) * (1 - eps) - logsig(-beta * z) * eps
    elif loss_type == "hinge":
        losses = torch.relu(1 - beta * z)
    elif loss_type == "ipo":
        losses = (z - 1 / (2 * beta)) ** 2
    elif loss_type == "kto_pair":
        kl_c = (a_c - r_c).mean().clamp(min=0)
        kl_r = (a_r - r_r).mean().clamp(min=0)
        both = torch.cat((1 - torch.sigmoid(beta * ((a_c - r_c) - kl_r)),
                          1 - torch.sigmoid(beta * (kl_c - (a_r - r_r)))))
        losses = (both[:n] + both[n:]) / 2   # the mean over 2n, per pair
    elif loss_type == "orpo":
        odds = (a_c - a_r) - (torch.log1p(-torch.exp(a_c)) - torch.log1p(-torch.exp(a_r)))
        losses = -a_c + beta * -logsig(odds)
    elif loss_type == "simpo":
        losses = -logsig(beta * ((a_c - a_r) - gamma / beta))
    if loss_type in ("orpo", "simpo"):
        rc, rr = beta * a_c, beta * a_r
    else:
        rc, rr = beta * (a_c - r_c), beta * (a_r - r_r)
    if ftx > 0:
        losses = losses + ftx * -(pc / lenc)
    loss = losses.mean()
    loss.backward()
    p = "dpo.%s." % name
    scalar(p + "loss_type", ["sigmoid", "hinge", "ipo", "kto_pair", "orpo",
                             "simpo"].index(loss_type))
    scalar(p + "beta", beta)
    scalar(p + "label_smoothing", eps)
    scalar(p + "simpo_gamma", gamma)
    scalar(p + "ftx", ftx)
    for k, t in (("pc", pc), ("pr", pr), ("refc", refc), ("refr", refr),
                 ("lenc", lenc), ("lenr", lenr), ("losses", losses),
                 ("rc", rc), ("rr", rr)):
        put(p + k, t)
    scalar(p + "loss", loss)
    put(p + "dpc", grad_or_zero(pc))
    put(p + "dpr", grad_or_zero(pr))
    return name


DPO_CASES = [
    dpo_case("sigmoid", "sigmoid"),
    dpo_case("sigmoid_ls_ftx", "sigmoid", beta=0.25, eps=0.1, ftx=0.5),
    dpo_case("hinge", "hinge", beta=0.1, n=8),
    dpo_case("ipo", "ipo", beta=0.5),
    dpo_case("kto_pair", "kto_pair", beta=0.1),
    dpo_case("orpo", "orpo", beta=0.1),
    dpo_case("orpo_ftx", "orpo", beta=0.3, ftx=1.0),
    dpo_case("simpo", "simpo", beta=2.0, gamma=0.5),
    dpo_case("simpo_ftx", "simpo", beta=2.5, gamma=1.0, ftx=0.25),
]


# ---- 3. KTO ----
def kto_case(name, tags, kl_shift, beta=0.1, wd=1.0, wu=1.0, ftx=0.0):
    tags = torch.tensor(tags)
    n = len(tags)
    length = torch.randint(2, 30, (n,)).to(F64)
    p = f32(-length * (1.5 + 0.5 * torch.rand(n, dtype=F64))).requires_grad_(True)
    ref = f32(p.detach() + 10 * torch.randn(n, dtype=F64))
    pkl = f32(-40 * torch.rand(n, dtype=F64) - 10)
    refkl = f32(pkl - kl_shift + 3 * torch.randn(n, dtype=F64))
    kl = (pkl - refkl).mean().detach().clamp(min=0)
    d = tags == 1
    u = p - ref
    lossd = wd * (1 - torch.sigmoid(beta * (u[d] - kl)))
    lossu = wu * (1 - torch.sigmoid(beta * (kl - u[~d])))
    losses = torch.zeros(n, dtype=F64)
    losses = losses.index_put((d.nonzero()[:, 0],), lossd)
    losses = losses.index_put(((~d).nonzero()[:, 0],), lossu)
    loss = torch.cat((lossd, lossu)).nanmean()
    if ftx > 0 and d.sum() > 0:
        loss = loss + ftx * (-(p[d] / length[d])).nanmean() / int(d.sum()) * n
    loss.backward()
    pre = "kto.%s." % name
    scalar(pre + "beta", beta)
    scalar(pre + "desirable_weight", wd)
    scalar(pre + "undesirable_weight", wu)
    scalar(pre + "ftx", ftx)
    for k, t in (("p", p), ("ref", ref), ("len", length), ("tags", tags),
                 ("pkl", pkl), ("refkl", refkl), ("losses", losses),
                 ("rewards", beta * u)):
        put(pre + k, t)
    scalar(pre + "kl", kl)
    scalar(pre + "loss", loss)
    put(pre + "dp", p.grad)
    return name


KTO_CASES = [
    kto_case("mixed", [1, 0, 0, 1, 1, 0, 1], 4.0, beta=0.1, wd=1.0, wu=1.5),
    kto_case("klzero_ftx", [0, 1, 1, 0, 1], -5.0, beta=0.2, wd=0.8, ftx=0.3),
    kto_case("desirable", [1, 1, 1, 1], 2.0, beta=0.1, ftx=0.1),
]

# ---- 4. reward model pairs ----
n = 9
sc = rnd(n, scale=2.0)
sr = rnd(n, scale=2.0)
loss = -logsig(sc - sr).mean()
loss.backward()
put("rm.sc", sc)
put("rm.sr", sr)
scalar("rm.loss", loss)
scalar("rm.acc", (sc > sr).to(F64).mean())
put("rm.dsc", sc.grad)
put("rm.dsr", sr.grad)


# ---- 5. PPO (TRL 0.9.6) ----
def masked_mean(x, m):
    return (x * m).sum() / m.sum()


def masked_var(x, m):
    mean = masked_mean(x, m)
    var = masked_mean((x - mean) ** 2, m)
    return var * (m.sum() / (m.sum() - 1))


def masked_whiten(x, m, shift_mean=True):
    mean, var = masked_mean(x, m), masked_var(x, m)
    w = (x - mean) * torch.rsqrt(var + 1e-8)
    return w if shift_mean else w + mean


B, T, V = 3, 8, 7
pmask = torch.zeros(B, T, dtype=F64)
pmask[0, 2:7] = 1
pmask[1, 1:8] = 1
pmask[2, 3:5] = 1
lpold = f32(-2 * torch.rand(B, T, dtype=F64))
reflp = f32(lpold - 0.3 * torch.randn(B, T, dtype=F64))
scores = f32(torch.randn(B, dtype=F64))
values = f32(torch.randn(B, T, dtype=F64))
put("ppo.mask", pmask)
put("ppo.lp", lpold)
put("ppo.reflp", reflp)
put("ppo.scores", scores)
put("ppo.values", values)
kl_coef = 0.2
scalar("ppo.kl_coef", kl_coef)
d = lpold - reflp
for kind, kl in (("kl", d), ("abs", d.abs()), ("mse", 0.5 * d ** 2)):
    put("ppo.kl_" + kind, kl)
    rewards = -kl_coef * kl
    for b in range(B):
        last = pmask[b].nonzero()[-1]
        rewards[b, last] += scores[b]
    put("ppo.rewards_" + kind, rewards)
scalar("ppo.kl_mean", ((lpold - reflp) * pmask).sum(-1).mean())
# "full": the KL between the whole next-token distributions
logp = rnd(B * T, V, scale=1.5).detach().log_softmax(-1)
reflogp = f32(logp + 0.4 * torch.randn(B * T, V, dtype=F64)).log_softmax(-1)
logp, reflogp = f32(logp), f32(reflogp)
put("ppo.full_logp", logp)
put("ppo.full_reflogp", reflogp)
put("ppo.kl_full", F.kl_div(reflogp, logp, log_target=True, reduction="none").sum(-1))

# the adaptive KL controller
scalar("ppo.ctl_coef", 0.2)
ctl = 0.2
for kl, n in ((8.0, 256), (6.5, 64), (1.0, 1000)):
    err = min(max(kl / 6.0 - 1, -0.2), 0.2)
    ctl *= 1 + err * n / 10000
scalar("ppo.ctl_after", ctl)

xw = f32(3 * torch.randn(B, T, dtype=F64) + 1)
put("ppo.whiten_x", xw)
put("ppo.whiten", masked_whiten(xw, pmask))
put("ppo.whiten_noshift", masked_whiten(xw, pmask, shift_mean=False))


def gae(values, rewards, mask, gamma, lam, whiten_rewards):
    values = values * mask
    rewards = rewards * mask
    if whiten_rewards:
        rewards = masked_whiten(rewards, mask, shift_mean=False)
    last = 0
    rev = []
    for t in reversed(range(rewards.shape[-1])):
        nextv = values[:, t + 1] if t < rewards.shape[-1] - 1 else 0.0
        delta = rewards[:, t] + gamma * nextv - values[:, t]
        last = delta + gamma * lam * last
        rev.append(last)
    adv = torch.stack(rev[::-1]).transpose(0, 1)
    ret = adv + values
    return masked_whiten(adv, mask), ret


rewards = f32(torch.randn(B, T, dtype=F64))
put("ppo.gae_rewards", rewards)
for name, gamma, lam, wr in (("gae", 1.0, 0.95, 0), ("gae_w", 0.9, 0.8, 1)):
    adv, ret = gae(values, rewards, pmask, gamma, lam, wr)
    scalar("ppo.%s_gamma" % name, gamma)
    scalar("ppo.%s_lam" % name, lam)
    put("ppo.%s_adv" % name, adv)
    put("ppo.%s_ret" % name, ret)

# the clipped losses, on a minibatch whose policy and values moved
adv = f32(torch.randn(B, T, dtype=F64))
ret = f32(torch.randn(B, T, dtype=F64))
oldv = f32(values * pmask)
lpnew = f32(lpold + 0.25 * torch.randn(B, T, dtype=F64)).requires_grad_(True)
vnew = f32(oldv + 0.4 * torch.randn(B, T, dtype=F64)).requires_grad_(True)
cr, crv, vf_coef = 0.2, 0.2, 0.1
vclip = torch.max(torch.min(vnew, oldv + crv), oldv - crv)
vl1, vl2 = (vnew - ret) ** 2, (vclip - ret) ** 2
vf_loss = 0.5 * masked_mean(torch.max(vl1, vl2), pmask)
ratio = torch.exp(lpnew - lpold)
pl1 = -adv * ratio
pl2 = -adv * torch.clamp(ratio, 1 - cr, 1 + cr)
pg_loss = masked_mean(torch.max(pl1, pl2), pmask)
loss = pg_loss + vf_coef * vf_loss
loss.backward()
for k, t in (("adv", adv), ("ret", ret), ("oldv", oldv), ("newlp", lpnew),
             ("newv", vnew)):
    put("ppo.loss_" + k, t)
scalar("ppo.loss", loss)
scalar("ppo.pg_loss", pg_loss)
scalar("ppo.vf_loss", vf_loss)
scalar("ppo.pg_clipfrac", masked_mean((pl2 > pl1).to(F64), pmask))
scalar("ppo.vf_clipfrac", masked_mean((vl2 > vl1).to(F64), pmask))
scalar("ppo.approxkl", 0.5 * masked_mean((lpnew - lpold) ** 2, pmask))
scalar("ppo.policykl", masked_mean(lpold - lpnew, pmask))
scalar("ppo.ratio", masked_mean(ratio, pmask))
put("ppo.dlp", lpnew.grad)
put("ppo.dv", vnew.grad)

names = ",".join(DPO_CASES) + ";" + ",".join(KTO_CASES)


# ---- write the stream ----
def record(tag, payload):
    return tag + struct.pack("<Q", len(payload)) + payload


meta = {"kind": "golden", "command": "make_loss_golden.py",
        "torch": torch.__version__.split("+")[0], "cases": names}
body = [record(b"LMFS", struct.pack("<I", 1) + json.dumps(meta).encode())]
body.append(record(b"ITEM", struct.pack("<I", len(tensors))))
for name, t in tensors:
    nb = name.encode()
    hdr = struct.pack("<H", len(nb)) + nb + struct.pack("<BB", DTYPE[t.dtype], t.dim())
    hdr += b"".join(struct.pack("<Q", d) for d in t.shape)
    body.append(record(b"TNSR", hdr + t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()))
body.append(record(b"ENDS", struct.pack("<Q", 1)))
path = os.path.join(os.path.dirname(os.path.abspath(sys.argv[0])), "loss.lmf")
with open(path + ".tmp", "wb") as f:
    f.write(b"".join(body))
os.replace(path + ".tmp", path)
print("%s: %d tensors" % (path, len(tensors)))
