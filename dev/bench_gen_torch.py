# bench_gen_torch.py: the PyTorch side of dev/bench-gen.sh. The LLaMA of
# dev/bench_torch.py (written from scratch, no transformers: embedding,
# RMSNorm, HF's rotate_half rotary embeddings, SwiGLU, lm_head), fp32, run
# as Hugging Face's generate runs greedy search with a key/value cache: one
# prefill of the batch's prompts, then one token per row at a time, each
# step's keys and values appended to a preallocated cache, argmax of the
# last logits. No EOS: every row makes exactly --new tokens. Random weights
# (normal, std 0.02) and random prompts; it prints one JSON line: the
# prefill and decode times and the new tokens per second of the decode
# loop (load and prefill excluded). Run with /usr/bin/python3 (Debian's
# python3-torch). Not a test; nothing in make check runs it.
import argparse
import json
import resource
import sys
import time


def build(a, torch):
    nn = torch.nn
    F = torch.nn.functional
    C, HS, NH, KV = a.dim, a.dim // a.heads, a.heads, a.kv_heads
    maxT = a.prompt + a.new + 1

    if hasattr(F, 'scaled_dot_product_attention'):
        def sdpa(q, k, v, causal):
            return F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    else:
        # torch 1.13 has the fused kernel under its private name
        def sdpa(q, k, v, causal):
            return F._scaled_dot_product_attention(q, k, v, None, 0.0,
                                                   False, causal)[0]

    class RMSNorm(nn.Module):
        def __init__(self, n):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(n))

        def forward(self, x):
            r = torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + a.eps)
            return x * r * self.weight

    def rotate_half(x):
        x1, x2 = x[..., :HS // 2], x[..., HS // 2:]
        return torch.cat((-x2, x1), dim=-1)

    class Layer(nn.Module):
        def __init__(self):
            super().__init__()
            self.input_layernorm = RMSNorm(C)
            self.q_proj = nn.Linear(C, C, bias=False)
            self.k_proj = nn.Linear(C, KV * HS, bias=False)
            self.v_proj = nn.Linear(C, KV * HS, bias=False)
            self.o_proj = nn.Linear(C, C, bias=False)
            self.post_attention_layernorm = RMSNorm(C)
            self.gate_proj = nn.Linear(C, a.hidden, bias=False)
            self.up_proj = nn.Linear(C, a.hidden, bias=False)
            self.down_proj = nn.Linear(a.hidden, C, bias=False)

        def forward(self, x, cos, sin, cache, pos):
            # x: B x T new positions starting at pos; cache: (k, v) of
            # B x KV x maxT x HS, filled up to pos
            B, T, _ = x.shape
            h = self.input_layernorm(x)
            q = self.q_proj(h).view(B, T, NH, HS).transpose(1, 2)
            k = self.k_proj(h).view(B, T, KV, HS).transpose(1, 2)
            v = self.v_proj(h).view(B, T, KV, HS).transpose(1, 2)
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
            ck, cv = cache
            ck[:, :, pos:pos + T] = k
            cv[:, :, pos:pos + T] = v
            k, v = ck[:, :, :pos + T], cv[:, :, :pos + T]
            if KV != NH:
                k = k.repeat_interleave(NH // KV, dim=1)
                v = v.repeat_interleave(NH // KV, dim=1)
            # causal within the new positions; a single new position
            # sees the whole cache
            o = sdpa(q, k, v, T > 1 and pos == 0)
            x = x + self.o_proj(o.transpose(1, 2).reshape(B, T, C))
            h = self.post_attention_layernorm(x)
            return x + self.down_proj(F.silu(self.gate_proj(h)) *
                                      self.up_proj(h))

    class Llama(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed_tokens = nn.Embedding(a.vocab, C)
            self.layers = nn.ModuleList(Layer() for _ in range(a.layers))
            self.norm = RMSNorm(C)
            self.lm_head = nn.Linear(C, a.vocab, bias=False)
            for p in self.parameters():
                if p.dim() == 2:
                    nn.init.normal_(p, std=0.02)
            inv = 1.0 / (a.rope_theta ** (torch.arange(0, HS, 2).float() /
                                          HS))
            fr = torch.outer(torch.arange(maxT).float(), inv)
            emb = torch.cat((fr, fr), dim=-1)
            self.cos, self.sin = emb.cos(), emb.sin()

        def new_cache(self, B):
            return [(torch.zeros(B, KV, maxT, HS),
                     torch.zeros(B, KV, maxT, HS))
                    for _ in range(a.layers)]

        def forward(self, ids, cache, pos):
            T = ids.shape[1]
            cos, sin = self.cos[pos:pos + T], self.sin[pos:pos + T]
            x = self.embed_tokens(ids)
            for layer, c in zip(self.layers, cache):
                x = layer(x, cos, sin, c, pos)
            # only the last position's logits, as generate computes them
            return self.lm_head(self.norm(x[:, -1]))

    return Llama()


def main():
    p = argparse.ArgumentParser(
        description='greedy generation with a KV cache in PyTorch; print '
        'new tokens/s of the decode loop as one JSON line')
    p.add_argument('--dim', type=int, default=288)
    p.add_argument('--layers', type=int, default=6)
    p.add_argument('--heads', type=int, default=6)
    p.add_argument('--kv_heads', type=int, default=0,
                   help='default: --heads')
    p.add_argument('--hidden', type=int, default=768)
    p.add_argument('--vocab', type=int, default=32000)
    p.add_argument('--batch', type=int, default=1)
    p.add_argument('--prompt', type=int, default=32, help='prompt length')
    p.add_argument('--new', type=int, default=128, help='new tokens')
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--reps', type=int, default=1,
                   help='generations; the fastest decode is reported')
    p.add_argument('--seed', type=int, default=42)
    p.add_argument('--eps', type=float, default=1e-5)
    p.add_argument('--rope_theta', type=float, default=10000.0)
    a = p.parse_args()
    if a.kv_heads == 0:
        a.kv_heads = a.heads
    if (a.dim % a.heads or a.heads % a.kv_heads or a.new < 1 or
            a.prompt < 1 or a.batch < 1 or a.threads < 1 or a.reps < 1):
        p.error('inconsistent shape or counts')

    import torch
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    t0 = time.perf_counter()
    model = build(a, torch).eval()
    setup = time.perf_counter() - t0
    g = torch.Generator().manual_seed(a.seed + 1)
    prompts = torch.randint(0, a.vocab, (a.batch, a.prompt), generator=g)
    best = None
    with torch.inference_mode():
        for _ in range(a.reps):
            cache = model.new_cache(a.batch)
            t = time.perf_counter()
            logits = model(prompts, cache, 0)
            tp = time.perf_counter() - t
            out = []
            t = time.perf_counter()
            pos = a.prompt
            for i in range(a.new):
                nxt = logits.argmax(-1)
                out.append(nxt)
                if i + 1 == a.new:
                    break
                logits = model(nxt[:, None], cache, pos)
                pos += 1
            td = time.perf_counter() - t
            if best is None or td < best[1]:
                best = (tp, td)
    n = len(out)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({
        'side': 'torch', 'torch': torch.__version__, 'threads': a.threads,
        'batch': a.batch, 'prompt': a.prompt, 'new': n,
        'tokens_per_s': round(a.batch * n / best[1], 1),
        'prefill_s': round(best[0], 4), 'decode_s': round(best[1], 4),
        'setup_s': round(setup, 2), 'peak_rss_mb': round(rss),
        'first_ids': [int(x) for x in torch.stack(out, 1)[0, :8]]}))
    return 0


if __name__ == '__main__':
    sys.exit(main())
