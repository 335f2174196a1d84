#!/usr/bin/python3
"""make_kernel_golden.py: float64 PyTorch references of lmf's kernels.

Writes tests/golden/kernels.lmf, an uncompressed lmf stream (lmf-stream(5))
with one item: for each kernel, its small random inputs, an upstream
gradient, and torch's forward output and input gradients (autograd, in
float64), named "<kernel>.<tensor>". tests/unit/kernels_test.c reads it.
The maths here is written the way Hugging Face writes it (LlamaRMSNorm,
rotate_half, repeat_kv, nn.functional.cross_entropy), not the way the C
kernels compute it.

Run with Debian's python3-torch:  /usr/bin/python3 tests/golden/make_kernel_golden.py
"""
import json
import os
import struct
import sys

import torch

torch.manual_seed(20240326)
F64 = torch.float64
DTYPE = {torch.float64: 4, torch.int32: 7}
tensors = []  # (name, tensor)


def put(name, t):
    t = t.detach()
    if t.dtype not in DTYPE:
        t = t.to(F64) if t.is_floating_point() else t.to(torch.int32)
    tensors.append((name, t.contiguous()))


def scalar(name, x):
    put(name, torch.tensor([x], dtype=F64))


def rnd(*shape, scale=1.0):
    return (torch.randn(*shape, dtype=F64) * scale).requires_grad_(True)


def backward(out, name):
    """a random upstream gradient, kept in the file as NAME.dout"""
    dout = torch.randn_like(out)
    put(name + ".dout", dout)
    out.backward(dout)


# ---- embedding ----
V, C, N = 11, 8, 9
wte = rnd(V, C)
tok = torch.tensor([3, 0, 10, 3, 7, 7, 7, 1, 3], dtype=torch.int64)
out = torch.nn.functional.embedding(tok, wte)
put("embedding.wte", wte)
put("embedding.tokens", tok)
put("embedding.out", out)
backward(out, "embedding")
put("embedding.dwte", wte.grad)

# ---- rmsnorm (LlamaRMSNorm) ----
N, C, eps = 6, 16, 1e-5
x = rnd(N, C, scale=2.0)
w = rnd(C)
var = x.pow(2).mean(-1, keepdim=True)
out = w * (x * torch.rsqrt(var + eps))
put("rmsnorm.inp", x)
put("rmsnorm.weight", w)
scalar("rmsnorm.eps", eps)
put("rmsnorm.out", out)
backward(out, "rmsnorm")
put("rmsnorm.dinp", x.grad)
put("rmsnorm.dweight", w.grad)

# ---- linear ----
N, C, OC = 5, 12, 7
x = rnd(N, C)
w = rnd(OC, C, scale=0.3)
b = rnd(OC)
out = torch.nn.functional.linear(x, w, b)
put("matmul.inp", x)
put("matmul.weight", w)
put("matmul.bias", b)
put("matmul.out", out)
backward(out, "matmul")
put("matmul.dinp", x.grad)
put("matmul.dweight", w.grad)
put("matmul.dbias", b.grad)


# ---- rope (HF rotate_half) ----
def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


N, NHR, HS, theta = 10, 3, 8, 10000.0
pos = torch.tensor([0, 1, 2, 3, 0, 1, 2, 4095, 4096, 70000])
x = rnd(N, NHR, HS)
inv_freq = 1.0 / (theta ** (torch.arange(0, HS, 2, dtype=F64) / HS))
freqs = pos.to(F64)[:, None] * inv_freq[None, :]
emb = torch.cat((freqs, freqs), dim=-1)
cos, sin = emb.cos()[:, None, :], emb.sin()[:, None, :]
out = x * cos + rotate_half(x) * sin
put("rope.inp", x)
put("rope.pos", pos)
scalar("rope.theta", theta)
put("rope.out", out)
backward(out, "rope")
put("rope.dinp", x.grad)


# ---- attention: causal, GQA, padding, segments ----
def repeat_kv(h, n_rep):
    # (B, NKV, T, HS) -> (B, NKV * n_rep, T, HS), as HF's repeat_kv
    b, nkv, t, hs = h.shape
    return h[:, :, None].expand(b, nkv, n_rep, t, hs).reshape(b, nkv * n_rep, t, hs)


B, T, NH, NKV, HS = 3, 7, 4, 2, 8
q = rnd(B, T, NH, HS)
k = rnd(B, T, NKV, HS)
v = rnd(B, T, NKV, HS)
# row 0 right-padded, row 1 three packed segments, row 2 left-padded (its
# first queries see no key at all: output 0, gradient 0)
mask = torch.tensor([[1, 1, 1, 1, 1, 0, 0],
                     [1, 1, 1, 1, 1, 1, 0],
                     [0, 0, 1, 1, 1, 1, 1]])
seg = torch.tensor([[1, 1, 1, 1, 1, 0, 0],
                    [1, 1, 1, 2, 2, 3, 0],
                    [0, 0, 1, 1, 1, 1, 1]])
causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
allowed = (causal[None] & (mask[:, None, :] != 0)
           & (seg[:, :, None] == seg[:, None, :]))           # (B, T, S)
qh = q.transpose(1, 2)                                       # (B, NH, T, HS)
kh = repeat_kv(k.transpose(1, 2), NH // NKV)
vh = repeat_kv(v.transpose(1, 2), NH // NKV)
scores = qh @ kh.transpose(-1, -2) / HS ** 0.5
scores = scores.masked_fill(~allowed[:, None], float("-inf"))
any_ = allowed.any(-1)[:, None, :, None]
p = torch.softmax(torch.where(any_, scores, torch.zeros_like(scores)), -1)
p = torch.where(any_, p, torch.zeros_like(p))
out = (p @ vh).transpose(1, 2)                               # (B, T, NH, HS)
for name, t in (("q", q), ("k", k), ("v", v), ("mask", mask), ("seg", seg)):
    put("attention." + name, t)
put("attention.out", out)
put("attention.att", p)
backward(out, "attention")
put("attention.dq", q.grad)
put("attention.dk", k.grad)
put("attention.dv", v.grad)

# ---- swiglu ----
n = 40
g = rnd(n, scale=3.0)
with torch.no_grad():
    g[0], g[1] = 20.0, -30.0
u = rnd(n)
out = torch.nn.functional.silu(g) * u
put("swiglu.gate", g)
put("swiglu.up", u)
put("swiglu.out", out)
backward(out, "swiglu")
put("swiglu.dgate", g.grad)
put("swiglu.dup", u.grad)

# ---- softmax, log-softmax ----
N, V = 4, 9
for kind, fn in (("softmax", torch.softmax), ("logsoftmax", torch.log_softmax)):
    x = rnd(N, V, scale=3.0)
    out = fn(x, -1)
    put(kind + ".inp", x)
    put(kind + ".out", out)
    backward(out, kind)
    put(kind + ".dinp", x.grad)

# ---- cross-entropy over shifted labels, -100 ignored, sum / count ----
B, T, V = 2, 5, 13
logits = rnd(B, T, V, scale=2.0)
labels = torch.tensor([[-100, -100, 4, 12, 0],
                       [7, 7, -100, 3, -100]])
shift = torch.nn.functional.pad(labels, (0, 1), value=-100)[:, 1:]
count = int((labels != -100).sum())  # the unshifted count, as HF does
losses = torch.nn.functional.cross_entropy(
    logits.view(-1, V), shift.reshape(-1), ignore_index=-100, reduction="none")
loss = losses.sum() / count
loss.backward()
put("crossentropy.logits", logits)
put("crossentropy.labels", labels)
put("crossentropy.targets", shift)
scalar("crossentropy.scale", 1.0 / count)
put("crossentropy.losses", losses)
scalar("crossentropy.losssum", float(losses.sum()))
put("crossentropy.dlogits", logits.grad)


# ---- write the stream ----
def record(tag, payload):
    return tag + struct.pack("<Q", len(payload)) + payload


meta = {"kind": "golden", "command": "make_kernel_golden.py",
        "torch": torch.__version__}
body = [record(b"LMFS", struct.pack("<I", 1) + json.dumps(meta).encode())]
body.append(record(b"ITEM", struct.pack("<I", len(tensors))))
for name, t in tensors:
    nb = name.encode()
    hdr = struct.pack("<H", len(nb)) + nb + struct.pack("<BB", DTYPE[t.dtype], t.dim())
    hdr += b"".join(struct.pack("<Q", d) for d in t.shape)
    body.append(record(b"TNSR", hdr + t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()))
body.append(record(b"ENDS", struct.pack("<Q", 1)))
path = os.path.join(os.path.dirname(os.path.abspath(sys.argv[0])), "kernels.lmf")
with open(path + ".tmp", "wb") as f:
    f.write(b"".join(body))
os.replace(path + ".tmp", path)
print("%s: %d tensors" % (path, len(tensors)))
