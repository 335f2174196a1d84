# bench_torch.py: the PyTorch side of dev/bench-train.sh. A LLaMA model
# written from scratch in torch (no transformers): embedding, RMSNorm,
# rotary embeddings (HF's rotate_half), causal attention through torch's
# fused scaled_dot_product_attention, SwiGLU, lm_head, token cross-entropy;
# fp32 (or --bf16 1: autocast), AdamW with global-norm clipping at 1.0,
# full fine-tuning or LoRA on all seven projections (PEFT's init: A
# kaiming-uniform, B zero). Trains on random tokens and prints one JSON
# line: tokens/s, achieved GFLOP/s and peak RSS. --flops prints the FLOPs-per-token formula's value without
# importing torch; bench-train.sh uses it for the lmf rows as well, so both
# sides count the same work. Run with /usr/bin/python3 (Debian's
# python3-torch). Not a test; nothing in make check runs it.
import argparse
import json
import math
import resource
import sys
import time


def flops_per_token(a):
    """Training FLOPs per token of one optimizer step.

    N is the number of weights that take part in matrix products: the
    seven projections of every layer plus lm_head (the embedding lookup
    does no arithmetic; norms are negligible). A product with N weights
    costs 2N per token forward, 2N for the gradient of its input and 2N
    for the gradient of its weight. Attention (QK^T and AV over the whole
    T x T square, as the causal kernels compute it) costs 4*T*C per token
    and layer forward and twice that backward: 12*L*T*C for both.

      full: 6*N + 12*L*T*C
      lora: 4*N + 12*L*T*C + 6*r*S
            (frozen weights need no weight gradient, but the input
            gradient still flows through every layer; S is the sum of
            d_in + d_out over the LoRA-wrapped projections, whose A and B
            cost 2*r*(d_in + d_out) forward, twice that backward)
      with gradient checkpointing, the layers' forward runs again in
      backward: add 2*N_layers + 4*L*T*C (+ 2*r*S for LoRA), where
      N_layers is N without lm_head."""
    C, F, L, V, T = a.dim, a.hidden, a.layers, a.vocab, a.seq
    kv = C // a.heads * a.kv_heads
    n_layers = L * (2 * C * C + 2 * C * kv + 3 * C * F)
    n = n_layers + V * C
    attn = 12 * L * T * C
    s = L * (4 * C + 2 * (C + kv) + 3 * (C + F))
    if a.finetuning_type == 'full':
        f = 6 * n + attn
        recompute = 2 * n_layers + attn // 3
    else:
        f = 4 * n + attn + 6 * a.lora_rank * s
        recompute = 2 * n_layers + attn // 3 + 2 * a.lora_rank * s
    if a.gradient_checkpointing:
        f += recompute
    return f


def build(a, torch):
    nn = torch.nn
    F = torch.nn.functional
    C, HS, NH, KV = a.dim, a.dim // a.heads, a.heads, a.kv_heads

    if hasattr(F, 'scaled_dot_product_attention'):
        def sdpa(q, k, v):
            return F.scaled_dot_product_attention(q, k, v, is_causal=True)
    else:
        # torch 1.13 has the fused kernel under its private name
        def sdpa(q, k, v):
            return F._scaled_dot_product_attention(q, k, v, None, 0.0,
                                                   False, True)[0]

    class RMSNorm(nn.Module):
        def __init__(self, n):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(n))

        def forward(self, x):
            r = torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + a.eps)
            return x * r * self.weight

    class LoRALinear(nn.Module):
        def __init__(self, din, dout):
            super().__init__()
            self.base = nn.Linear(din, dout, bias=False)
            self.lora = a.finetuning_type == 'lora'
            if self.lora:
                r = a.lora_rank
                self.lora_A = nn.Parameter(torch.empty(r, din))
                self.lora_B = nn.Parameter(torch.zeros(dout, r))
                nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
                self.scaling = 2.0  # lora_alpha 2 * rank over rank

        def forward(self, x):
            y = self.base(x)
            if self.lora:
                y = y + F.linear(F.linear(x, self.lora_A),
                                 self.lora_B) * self.scaling
            return y

    class Layer(nn.Module):
        def __init__(self):
            super().__init__()
            self.input_layernorm = RMSNorm(C)
            self.q_proj = LoRALinear(C, C)
            self.k_proj = LoRALinear(C, KV * HS)
            self.v_proj = LoRALinear(C, KV * HS)
            self.o_proj = LoRALinear(C, C)
            self.post_attention_layernorm = RMSNorm(C)
            self.gate_proj = LoRALinear(C, a.hidden)
            self.up_proj = LoRALinear(C, a.hidden)
            self.down_proj = LoRALinear(a.hidden, C)

        def forward(self, x, cos, sin):
            B, T, _ = x.shape
            h = self.input_layernorm(x)
            q = self.q_proj(h).view(B, T, NH, HS).transpose(1, 2)
            k = self.k_proj(h).view(B, T, KV, HS).transpose(1, 2)
            v = self.v_proj(h).view(B, T, KV, HS).transpose(1, 2)
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
            if KV != NH:
                k = k.repeat_interleave(NH // KV, dim=1)
                v = v.repeat_interleave(NH // KV, dim=1)
            o = sdpa(q, k, v).transpose(1, 2).reshape(B, T, C)
            x = x + self.o_proj(o)
            h = self.post_attention_layernorm(x)
            return x + self.down_proj(F.silu(self.gate_proj(h)) *
                                      self.up_proj(h))

    def rotate_half(x):
        x1, x2 = x[..., :HS // 2], x[..., HS // 2:]
        return torch.cat((-x2, x1), dim=-1)

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
            for m in self.modules():
                if isinstance(m, LoRALinear) and m.lora:
                    nn.init.kaiming_uniform_(m.lora_A, a=math.sqrt(5))
                    nn.init.zeros_(m.lora_B)
            inv = 1.0 / (a.rope_theta ** (torch.arange(0, HS, 2).float() /
                                          HS))
            fr = torch.outer(torch.arange(a.seq).float(), inv)
            emb = torch.cat((fr, fr), dim=-1)
            self.cos, self.sin = emb.cos(), emb.sin()

        def forward(self, ids, labels):
            x = self.embed_tokens(ids)
            for layer in self.layers:
                if a.gradient_checkpointing:
                    x = torch.utils.checkpoint.checkpoint(
                        layer, x, self.cos, self.sin, use_reentrant=False)
                else:
                    x = layer(x, self.cos, self.sin)
            logits = self.lm_head(self.norm(x))
            # shift the labels, not the logits (as transformers 4.46+
            # does): no copy of the logits and no slice in backward
            shifted = F.pad(labels[:, 1:], (0, 1), value=-100)
            return F.cross_entropy(logits.view(-1, a.vocab),
                                   shifted.reshape(-1), ignore_index=-100)

    model = Llama()
    if a.finetuning_type == 'lora':
        for n, p in model.named_parameters():
            p.requires_grad_('lora_' in n)
    return model


def main():
    p = argparse.ArgumentParser(
        description='train a LLaMA in PyTorch on random tokens; print '
        'tokens/s, GFLOP/s and peak RSS as one JSON line')
    p.add_argument('--dim', type=int, default=288)
    p.add_argument('--layers', type=int, default=6)
    p.add_argument('--heads', type=int, default=6)
    p.add_argument('--kv_heads', type=int, default=0,
                   help='default: --heads')
    p.add_argument('--hidden', type=int, default=768)
    p.add_argument('--vocab', type=int, default=32000)
    p.add_argument('--seq', type=int, default=256)
    p.add_argument('--batch', type=int, default=8)
    p.add_argument('--finetuning_type', choices=('full', 'lora'),
                   default='full')
    p.add_argument('--lora_rank', type=int, default=8)
    p.add_argument('--gradient_checkpointing', type=int, default=0)
    p.add_argument('--steps', type=int, default=3, help='timed steps')
    p.add_argument('--warmup', type=int, default=1)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--learning_rate', type=float, default=1e-4)
    p.add_argument('--seed', type=int, default=42)
    p.add_argument('--bf16', type=int, default=0,
                   help='1: the forward under torch.cpu.amp.autocast '
                   '(bfloat16), as LLaMA-Factory\'s bf16: true')
    p.add_argument('--eps', type=float, default=1e-5)
    p.add_argument('--rope_theta', type=float, default=10000.0)
    p.add_argument('--flops', action='store_true',
                   help='print the FLOPs per token and exit')
    a = p.parse_args()
    if a.kv_heads == 0:
        a.kv_heads = a.heads
    if (a.dim % a.heads or a.heads % a.kv_heads or a.steps < 1 or
            a.warmup < 0 or a.threads < 1 or a.lora_rank < 1):
        p.error('inconsistent shape or counts')
    fpt = flops_per_token(a)
    if a.flops:
        print(fpt)
        return 0

    import torch
    import torch.utils.checkpoint
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    t0 = time.perf_counter()
    model = build(a, torch)
    params = [q for q in model.parameters() if q.requires_grad]
    opt = torch.optim.AdamW(params, lr=a.learning_rate, betas=(0.9, 0.999),
                            eps=1e-8, weight_decay=0.0)
    g = torch.Generator().manual_seed(a.seed + 1)
    batches = [torch.randint(0, a.vocab, (a.batch, a.seq), generator=g)
               for _ in range(a.warmup + a.steps)]
    setup = time.perf_counter() - t0
    times, losses = [], []
    for ids in batches:
        t = time.perf_counter()
        if a.bf16:
            with torch.cpu.amp.autocast(dtype=torch.bfloat16):
                loss = model(ids, ids)
        else:
            loss = model(ids, ids)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - t)
        losses.append(loss.item())
    timed = sum(times[a.warmup:])
    tok = a.batch * a.seq * a.steps
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({
        'side': 'torch', 'torch': torch.__version__, 'bf16': a.bf16,
        'finetuning_type': a.finetuning_type, 'threads': a.threads,
        'tokens_per_s': round(tok / timed, 1),
        'gflops': round(fpt * tok / timed / 1e9, 1),
        'flops_per_token': fpt, 'peak_rss_mb': round(rss),
        'step_s': [round(x, 3) for x in times],
        'setup_s': round(setup, 2),
        'loss': [round(x, 4) for x in losses],
        'params': sum(q.numel() for q in model.parameters()),
        'trainable': sum(q.numel() for q in params)}))
    return 0


if __name__ == '__main__':
    sys.exit(main())
