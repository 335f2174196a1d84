#!/usr/bin/python3
# make_golden.py: write the gradient goldens of tests/golden/sft/<case>/ with
# a float64 PyTorch reference written from scratch here (embedding,
# RMSNorm, rotate_half RoPE, GQA repeat_kv, causal + padding + segment mask,
# SwiGLU, tied lm_head, LoRA as PEFT computes it; qwen3's per-head q_norm /
# k_norm; rope_scaling linear, dynamic, llama3 and yarn as transformers'
# rope init functions compute the frequencies; Mistral's sliding window as
# transformers' sliding_window_overlay). No transformers, no peft.
# Cases with qwen3 or rope_scaling also get logits.lmf (the logits of the
# first batch, f64) and greedy (a prompt and its argmax continuation).
# Cases in BF16_CASES also get grads_bf16.lmf: the same step with the
# inputs of the projections' and lm_head's products rounded to bf16 exactly
# where lmf --bf16 rounds them (forward x and W; backward dy, W and x), and
# attention's products' inputs as well (q, k, v, the probabilities, dO and
# dS), everything else float64 (see LinBF, AttnBF and man/lmf-sft.1, BF16).
# Usage: /usr/bin/python3 tests/golden/make_golden.py [OUTDIR]
# (default tests/golden/sft). Deterministic: the same files every run.
import json, math, os, shutil, struct, sys
import torch

torch.set_default_dtype(torch.float64)
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), 'sft')
PROJ = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj',
        'down_proj']
MOD = {'q_proj': 'self_attn', 'k_proj': 'self_attn', 'v_proj': 'self_attn',
       'o_proj': 'self_attn', 'gate_proj': 'mlp', 'up_proj': 'mlp',
       'down_proj': 'mlp'}

# ---- files ----

def rec(tag, payload):
    return tag + struct.pack('<Q', len(payload)) + payload

def stream(meta, items):
    """a raw lmf stream: items are lists of (name, dtype, shape, bytes)"""
    codes = {'f32': 1, 'f64': 4, 'i32': 7, 'i64': 8, 'u8': 9}
    m = json.dumps(meta, sort_keys=True, separators=(',', ':'))
    out = rec(b'LMFS', struct.pack('<I', 1) + m.encode())
    for it in items:
        out += rec(b'ITEM', struct.pack('<I', len(it)))
        for name, dt, shape, data in it:
            n = name.encode()
            p = struct.pack('<H', len(n)) + n + bytes([codes[dt], len(shape)])
            p += b''.join(struct.pack('<Q', d) for d in shape)
            out += rec(b'TNSR', p + data)
    return out + rec(b'ENDS', struct.pack('<Q', len(items)))

def f32bytes(t):
    return struct.pack('<%df' % t.numel(), *t.flatten().tolist())

def f64bytes(t):
    return struct.pack('<%dd' % t.numel(), *t.flatten().tolist())

def i32bytes(t):
    return struct.pack('<%di' % t.numel(), *t.flatten().tolist())

def write_st(path, tensors):
    """safetensors with F32 tensors, in the given order"""
    hdr, off, blobs = {'__metadata__': {'format': 'pt'}}, 0, []
    for name, t in tensors:
        b = f32bytes(t)
        hdr[name] = {'dtype': 'F32', 'shape': list(t.shape),
                     'data_offsets': [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(hdr, separators=(',', ':')).encode()
    h += b' ' * (-len(h) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)) + h + b''.join(blobs))

# ---- the model ----

def head_dim(cfg):
    return cfg.get('head_dim') or \
        cfg['hidden_size'] // cfg['num_attention_heads']

def param_table(cfg):
    """(name, shape, kind) in model order, as model.h's table"""
    C, FF, V = cfg['hidden_size'], cfg['intermediate_size'], cfg['vocab_size']
    NH, NKV = cfg['num_attention_heads'], cfg['num_key_value_heads']
    HS = head_dim(cfg)
    qkvb = cfg['model_type'] == 'qwen2' or cfg.get('attention_bias', False)
    ob = cfg['model_type'] in ('llama', 'qwen3') and \
        cfg.get('attention_bias', False)
    p = [('model.embed_tokens.weight', (V, C), 'embed')]
    for l in range(cfg['num_hidden_layers']):
        pre = 'model.layers.%d.' % l
        p.append((pre + 'input_layernorm.weight', (C,), 'norm'))
        for nm, o in (('q', NH * HS), ('k', NKV * HS), ('v', NKV * HS)):
            p.append((pre + 'self_attn.%s_proj.weight' % nm, (o, C), 'linear'))
            if qkvb:
                p.append((pre + 'self_attn.%s_proj.bias' % nm, (o,), 'bias'))
        p.append((pre + 'self_attn.o_proj.weight', (C, NH * HS), 'linear'))
        if ob:
            p.append((pre + 'self_attn.o_proj.bias', (C,), 'bias'))
        if cfg['model_type'] == 'qwen3':
            p.append((pre + 'self_attn.q_norm.weight', (HS,), 'norm'))
            p.append((pre + 'self_attn.k_norm.weight', (HS,), 'norm'))
        p.append((pre + 'post_attention_layernorm.weight', (C,), 'norm'))
        p.append((pre + 'mlp.gate_proj.weight', (FF, C), 'linear'))
        p.append((pre + 'mlp.up_proj.weight', (FF, C), 'linear'))
        p.append((pre + 'mlp.down_proj.weight', (C, FF), 'linear'))
    p.append(('model.norm.weight', (C,), 'norm'))
    if not cfg.get('tie_word_embeddings', False):
        p.append(('lm_head.weight', (V, C), 'linear'))
    return p

def random_weights(cfg, g):
    """float32-representable values, held in float64"""
    w = {}
    for name, shape, kind in param_table(cfg):
        if kind == 'embed':
            t = 0.5 * torch.randn(shape, generator=g)
        elif kind == 'linear':
            t = torch.randn(shape, generator=g) / math.sqrt(shape[1]) * 1.5
        elif kind == 'norm':
            t = 1 + 0.2 * torch.randn(shape, generator=g)
        else:
            t = 0.2 * torch.randn(shape, generator=g)
        w[name] = t.float().double()
    return w

def rmsnorm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w

def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)

def rope_freqs(cfg, HS, seq_len):
    """inverse frequencies (HS/2) and the cos/sin scaling, as transformers'
    rope init functions; seq_len (largest position + 1) for dynamic"""
    theta = cfg.get('rope_theta', 10000.0)
    rs = cfg.get('rope_scaling') or {}
    typ = rs.get('rope_type', rs.get('type', 'default'))
    f = rs.get('factor', 1.0)
    exps = torch.arange(0, HS, 2, dtype=torch.int64).double() / HS
    if typ == 'dynamic':
        mx = cfg['max_position_embeddings']
        sl = max(seq_len, mx)
        theta = theta * (f * sl / mx - (f - 1)) ** (HS / (HS - 2))
    inv = 1.0 / (theta ** exps)
    scale = 1.0
    if typ == 'linear':
        inv = inv / f
    elif typ == 'llama3':
        old = rs['original_max_position_embeddings']
        lo, hi = rs['low_freq_factor'], rs['high_freq_factor']
        wl = 2 * math.pi / inv
        low = torch.where(wl > old / lo, inv / f, inv)
        sm = (old / wl - lo) / (hi - lo)
        smoothed = (1 - sm) * low / f + sm * low
        medium = ~(wl < old / hi) & ~(wl > old / lo)
        inv = torch.where(medium, smoothed, low)
    elif typ == 'yarn':
        if 'original_max_position_embeddings' in rs:
            mx = rs['original_max_position_embeddings']
            f = cfg['max_position_embeddings'] / mx
        else:
            mx = cfg['max_position_embeddings']
        def mscale(sc, m=1):
            return 1.0 if sc <= 1 else 0.1 * m * math.log(sc) + 1.0
        scale = rs.get('attention_factor')
        if scale is None:
            if rs.get('mscale') and rs.get('mscale_all_dim'):
                scale = mscale(f, rs['mscale']) / mscale(f, rs['mscale_all_dim'])
            else:
                scale = mscale(f)
        def corr(rot):
            return HS * math.log(mx / (rot * 2 * math.pi)) / \
                (2 * math.log(theta))
        lo, hi = corr(rs.get('beta_fast') or 32), corr(rs.get('beta_slow') or 1)
        if rs.get('truncate', True):
            lo, hi = math.floor(lo), math.ceil(hi)
        lo, hi = max(lo, 0), min(hi, HS - 1)
        if lo == hi:
            hi += 0.001
        ramp = ((torch.arange(HS // 2).double() - lo) / (hi - lo)).clamp(0, 1)
        extra = 1 - ramp
        inv = (inv / f) * (1 - extra) + inv * extra
    return inv, scale

def rope(x, pos, cfg, lens=None):
    """x (B, nh, T, HS), pos (B, T); lens (B, T): the sequence length
    whose frequencies rotate each position (dynamic rope under a cache,
    where each token keeps the rotation of the step that made it);
    default the batch's largest position + 1 for all"""
    HS = x.shape[-1]
    if lens is None:
        inv, scale = rope_freqs(cfg, HS, int(pos.max()) + 1)
        fr = pos.double()[..., None] * inv        # (B, T, HS/2)
    else:
        fr = torch.zeros(pos.shape + (HS // 2,))
        for n in sorted(set(lens.flatten().tolist())):
            inv, scale = rope_freqs(cfg, HS, n)
            fr = torch.where((lens == n)[..., None],
                             pos.double()[..., None] * inv, fr)
    emb = torch.cat((fr, fr), dim=-1)[:, None]    # (B, 1, T, HS)
    return x * (emb.cos() * scale) + rotate_half(x) * (emb.sin() * scale)

def bf16(t):
    """t rounded as lmf rounds its fp32 values: to float32, then to bf16
    (nearest even), held in float64"""
    return t.float().to(torch.bfloat16).double()

class LinBF(torch.autograd.Function):
    """x @ W.t() with bf16-rounded inputs, float64 sums; its backward
    rounds dy too: dx = r(dy) r(W), dW = r(dy)^T r(x) (lmf --bf16)"""
    @staticmethod
    def forward(ctx, x, W):
        xr, Wr = bf16(x), bf16(W)
        ctx.save_for_backward(xr, Wr)
        return xr @ Wr.t()

    @staticmethod
    def backward(ctx, dy):
        xr, Wr = ctx.saved_tensors
        dyr = bf16(dy)
        dW = dyr.reshape(-1, dy.shape[-1]).t() @ xr.reshape(-1, xr.shape[-1])
        return dyr @ Wr, dW

class AttnBF(torch.autograd.Function):
    """causal attention with lmf --bf16's rounding points (kernels.h,
    lmf_attention_flash_forward16), one key block (T <= 128): S = r(q)
    r(k)^T / sqrt(HS), P~ = exp(S - rowmax), O = r(P~) r(v) / sum P~; the
    backward P = exp(S - lse), dP = r(dO) r(v)^T, dS = P (dP - dO.O) /
    sqrt(HS), dq = r(dS) r(k), dk = r(dS)^T r(q), dv = r(P)^T r(dO)"""
    @staticmethod
    def forward(ctx, q, k, v, allowed):
        assert q.shape[-2] <= 128
        scale = 1.0 / math.sqrt(q.shape[-1])
        qr, kr, vr = bf16(q), bf16(k), bf16(v)
        s = (qr @ kr.transpose(-1, -2)) * scale
        s = s.masked_fill(~allowed, float('-inf'))
        seen = allowed.any(-1, keepdim=True)
        m = torch.where(seen, s.amax(-1, keepdim=True), torch.zeros_like(
            s[..., :1]))
        p = torch.exp(s - m)
        l = p.sum(-1, keepdim=True)
        o = torch.where(seen, (bf16(p) @ vr) / torch.where(seen, l, 1.0),
                        torch.zeros_like(q))
        lse = torch.where(seen, m + torch.log(torch.where(seen, l, 1.0)),
                          torch.full_like(l, float('-inf')))
        ctx.save_for_backward(qr, kr, vr, s, lse, o)
        ctx.scale = scale
        return o

    @staticmethod
    def backward(ctx, do):
        qr, kr, vr, s, lse, o = ctx.saved_tensors
        p = torch.exp(s - torch.where(lse == float('-inf'), 0.0, lse))
        p = torch.where(lse == float('-inf'), torch.zeros_like(p), p)
        D = (do * o).sum(-1, keepdim=True)
        dor = bf16(do)
        dv = bf16(p).transpose(-1, -2) @ dor
        dp = dor @ vr.transpose(-1, -2)
        ds = p * (dp - D) * ctx.scale
        dq = bf16(ds) @ kr
        dk = bf16(ds).transpose(-1, -2) @ qr
        return dq, dk, dv, None

BF16 = [False]

def matmul_t(x, W):
    """x @ W.t(), through LinBF while BF16[0]"""
    return LinBF.apply(x, W) if BF16[0] else x @ W.t()

def linear(x, W, b, lora, name):
    y = matmul_t(x, W)
    if b is not None:
        y = y + b
    if lora is not None and name in lora['A']:
        A, B = lora['A'][name], lora['B'][name]
        y = y + lora['scaling'] * ((x @ A.t()) @ B.t())
    return y

def forward(cfg, w, lora, ids, mask, pos, hidden=False, lens=None):
    """logits (B, T, V), or with hidden the final hidden states (B, T, C)"""
    C, NH = cfg['hidden_size'], cfg['num_attention_heads']
    NKV, HS = cfg['num_key_value_heads'], head_dim(cfg)
    eps = cfg['rms_norm_eps']
    B, T = ids.shape
    x = w['model.embed_tokens.weight'][ids]
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    keym = (mask != 0)[:, None, :]                       # (B, 1, S)
    same = mask[:, :, None] == mask[:, None, :]          # (B, T, S)
    if cfg['model_type'] == 'mistral' and cfg.get('sliding_window'):
        # transformers' sliding_window_overlay: key j > query i - window
        i = torch.arange(T)
        causal = causal & (i[None, :] > i[:, None] - cfg['sliding_window'])
    allowed = (causal[None] & keym & same)[:, None]      # (B, 1, T, S)
    for l in range(cfg['num_hidden_layers']):
        pre = 'model.layers.%d.' % l
        def lin(nm, inp):
            return linear(inp, w[pre + nm + '.weight'], w.get(pre + nm + '.bias'),
                          lora, pre + nm)
        h = rmsnorm(x, w[pre + 'input_layernorm.weight'], eps)
        q = lin('self_attn.q_proj', h).view(B, T, NH, HS).transpose(1, 2)
        k = lin('self_attn.k_proj', h).view(B, T, NKV, HS).transpose(1, 2)
        v = lin('self_attn.v_proj', h).view(B, T, NKV, HS).transpose(1, 2)
        if cfg['model_type'] == 'qwen3':
            q = rmsnorm(q, w[pre + 'self_attn.q_norm.weight'], eps)
            k = rmsnorm(k, w[pre + 'self_attn.k_norm.weight'], eps)
        q, k = rope(q, pos, cfg, lens), rope(k, pos, cfg, lens)
        k = k.repeat_interleave(NH // NKV, dim=1)        # repeat_kv
        v = v.repeat_interleave(NH // NKV, dim=1)
        if BF16[0]:
            o = AttnBF.apply(q, k, v, allowed.expand(B, NH, T, T))
        else:
            s = (q @ k.transpose(-1, -2)) / math.sqrt(HS)
            s = s.masked_fill(~allowed, float('-inf'))
            a = torch.softmax(s, dim=-1)
            a = torch.where(allowed.any(-1, keepdim=True), a,
                            torch.zeros_like(a))
            o = a @ v
        o = o.transpose(1, 2).reshape(B, T, NH * HS)
        x = x + lin('self_attn.o_proj', o)
        h = rmsnorm(x, w[pre + 'post_attention_layernorm.weight'], eps)
        g = lin('mlp.gate_proj', h)
        u = lin('mlp.up_proj', h)
        x = x + lin('mlp.down_proj', torch.nn.functional.silu(g) * u)
    x = rmsnorm(x, w['model.norm.weight'], eps)
    if hidden:
        return x
    lm = w['model.embed_tokens.weight'] if cfg.get('tie_word_embeddings') \
        else w['lm_head.weight']
    return matmul_t(x, lm)

def ce_sum(logits, labels):
    tgt = torch.cat((labels[:, 1:], torch.full_like(labels[:, :1], -100)), 1)
    return torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1),
        ignore_index=-100, reduction='sum')

def trainable_names(cfg, args):
    """the HF names trainable under full / freeze (LLaMA-Factory's rule)"""
    names = [n for n, _, _ in param_table(cfg)]
    ft = args.get('finetuning_type', 'lora')
    if ft == 'full':
        return names
    if ft != 'freeze':
        return []
    L, n = cfg['num_hidden_layers'], int(args.get('freeze_trainable_layers', 2))
    ids = range(max(0, L - n), L) if n > 0 else range(min(-n, L))
    mods = args.get('freeze_trainable_modules', 'all').split(',')
    pats = ['.%d.%s' % (i, m if m != 'all' else '') for m in mods for i in ids]
    extra = args.get('freeze_extra_modules')
    pats += extra.split(',') if extra else []
    return [nm for nm in names if any(p in nm for p in pats)]

# ---- cases ----

def base_cfg(**kw):
    cfg = {'architectures': ['LlamaForCausalLM'], 'model_type': 'llama',
           'hidden_size': 24, 'intermediate_size': 40, 'num_hidden_layers': 2,
           'num_attention_heads': 4, 'num_key_value_heads': 2,
           'vocab_size': 48, 'rms_norm_eps': 1e-5, 'rope_theta': 10000.0,
           'max_position_embeddings': 128, 'tie_word_embeddings': False,
           'hidden_act': 'silu', 'bos_token_id': 1, 'eos_token_id': 2,
           'torch_dtype': 'float32'}
    cfg.update(kw)
    return cfg

def plain_batch(g, V, B, T, prompt=3):
    ids = torch.randint(0, V, (B, T), generator=g)
    labels = ids.clone()
    labels[:, :prompt] = -100
    return {'input_ids': ids, 'attention_mask': torch.ones(B, T, dtype=torch.int64),
            'labels': labels}

def padded_batch(g, V, lens, T):
    B = len(lens)
    ids = torch.randint(0, V, (B, T), generator=g)
    mask = torch.zeros(B, T, dtype=torch.int64)
    labels = torch.full((B, T), -100, dtype=torch.int64)
    for b, n in enumerate(lens):
        mask[b, :n] = 1
        ids[b, n:] = 0
        labels[b, 2:n] = ids[b, 2:n]
    return {'input_ids': ids, 'attention_mask': mask, 'labels': labels}

def packed_batch(g, V, segs, neat):
    """one row of examples of lengths segs; positions restart; neat packing
    gives each example its own segment id"""
    T = sum(segs)
    ids = torch.randint(0, V, (1, T), generator=g)
    mask = torch.ones(1, T, dtype=torch.int64)
    pos = torch.zeros(1, T, dtype=torch.int64)
    labels = ids.clone()
    t = 0
    for i, n in enumerate(segs):
        pos[0, t:t + n] = torch.arange(n)
        if neat:
            mask[0, t:t + n] = i + 1
        labels[0, t] = -100          # each example's first (prompt) token
        t += n
    return {'input_ids': ids, 'attention_mask': mask, 'labels': labels,
            'position_ids': pos}

def lora_weights(cfg, g, r, alpha, targets, rslora):
    C, FF = cfg['hidden_size'], cfg['intermediate_size']
    QD = cfg['num_attention_heads'] * head_dim(cfg)
    KD = cfg['num_key_value_heads'] * head_dim(cfg)
    dims = {'q_proj': (C, QD), 'k_proj': (C, KD), 'v_proj': (C, KD),
            'o_proj': (QD, C), 'gate_proj': (C, FF), 'up_proj': (C, FF),
            'down_proj': (FF, C)}
    lo = {'A': {}, 'B': {}, 'r': r, 'alpha': alpha, 'rslora': rslora,
          'targets': targets,
          'scaling': alpha / math.sqrt(r) if rslora else alpha / r}
    for l in range(cfg['num_hidden_layers']):
        for p in PROJ:
            if p not in targets:
                continue
            i, o = dims[p]
            key = 'model.layers.%d.%s.%s' % (l, MOD[p], p)
            b = 1 / math.sqrt(i)
            lo['A'][key] = ((torch.rand(r, i, generator=g) * 2 - 1) * b).float().double()
            lo['B'][key] = (0.3 * torch.randn(o, r, generator=g)).float().double()
    return lo

CASES = []

def case(name, cfg, batches, args, lora=None, seed=0, extra=False):
    CASES.append((name, cfg, batches, args, lora, seed, extra))

def qwen3_cfg(**kw):
    c = base_cfg(model_type='qwen3', architectures=['Qwen3ForCausalLM'],
                 head_dim=8, rope_theta=1000000.0, rms_norm_eps=1e-6,
                 attention_bias=False, eos_token_id=47)
    c.update(kw)
    return c

def llama3_cfg(**kw):
    c = base_cfg(eos_token_id=47,
                 rope_scaling={'rope_type': 'llama3', 'factor': 8.0,
                               'low_freq_factor': 1.0,
                               'high_freq_factor': 4.0,
                               'original_max_position_embeddings': 256})
    c.update(kw)
    return c

def define():
    g = torch.Generator().manual_seed(1234)
    V = 48
    case('llama_gqa_full', base_cfg(), [plain_batch(g, V, 2, 12)],
         {'finetuning_type': 'full'})
    case('qwen2_bias_full', base_cfg(model_type='qwen2',
         architectures=['Qwen2ForCausalLM'], rope_theta=1000000.0,
         rms_norm_eps=1e-6), [plain_batch(g, V, 2, 10)],
         {'finetuning_type': 'full'})
    case('llama_attention_bias_full', base_cfg(attention_bias=True,
         num_key_value_heads=4), [plain_batch(g, V, 1, 9)],
         {'finetuning_type': 'full'})
    case('mistral_full', base_cfg(model_type='mistral',
         architectures=['MistralForCausalLM'], sliding_window=16,
         num_key_value_heads=1), [plain_batch(g, V, 2, 8)],
         {'finetuning_type': 'full'})
    case('tied_full', base_cfg(tie_word_embeddings=True),
         [plain_batch(g, V, 2, 11)], {'finetuning_type': 'full'})
    case('padded_full', base_cfg(), [padded_batch(g, V, [12, 7, 4], 12)],
         {'finetuning_type': 'full'})
    case('packed_full', base_cfg(), [packed_batch(g, V, [5, 4, 6], False)],
         {'finetuning_type': 'full'})
    case('neat_packed_full', base_cfg(), [packed_batch(g, V, [5, 4, 6], True)],
         {'finetuning_type': 'full'})
    cfg = base_cfg()
    case('lora_all', cfg, [plain_batch(g, V, 2, 12)],
         {'finetuning_type': 'lora', 'lora_target': 'all', 'lora_rank': 4},
         lora=lora_weights(cfg, g, 4, 8, PROJ, False))
    cfg = base_cfg(model_type='qwen2', architectures=['Qwen2ForCausalLM'])
    case('rslora_qwen2', cfg, [padded_batch(g, V, [10, 6], 10)],
         {'finetuning_type': 'lora', 'lora_target': 'q_proj,v_proj,down_proj',
          'lora_rank': 4, 'lora_alpha': 16, 'use_rslora': 'true'},
         lora=lora_weights(cfg, g, 4, 16, ['q_proj', 'v_proj', 'down_proj'],
                           True))
    case('freeze_last1', base_cfg(), [plain_batch(g, V, 2, 10)],
         {'finetuning_type': 'freeze', 'freeze_trainable_layers': 1})
    case('freeze_first1_extra', base_cfg(), [plain_batch(g, V, 2, 10)],
         {'finetuning_type': 'freeze', 'freeze_trainable_layers': -1,
          'freeze_trainable_modules': 'mlp,self_attn',
          'freeze_extra_modules': 'embed_tokens,norm'})
    case('gradacc_full', base_cfg(), [plain_batch(g, V, 2, 12, prompt=2),
                                      padded_batch(g, V, [9, 3], 9)],
         {'finetuning_type': 'full', 'gradient_accumulation_steps': 2})
    # issue 15: qwen3 (head_dim 8, not 24 / 4) and rope_scaling
    case('qwen3_full', qwen3_cfg(), [plain_batch(g, V, 2, 12)],
         {'finetuning_type': 'full'}, extra=True)
    case('qwen3_tied_bias_padded_full', qwen3_cfg(tie_word_embeddings=True,
         attention_bias=True, num_key_value_heads=4),
         [padded_batch(g, V, [11, 6], 11)], {'finetuning_type': 'full'},
         extra=True)
    cfg = qwen3_cfg()
    case('qwen3_lora_all', cfg, [plain_batch(g, V, 2, 10)],
         {'finetuning_type': 'lora', 'lora_target': 'all', 'lora_rank': 4},
         lora=lora_weights(cfg, g, 4, 8, PROJ, False), extra=True)
    case('qwen3_freeze_last1', qwen3_cfg(), [plain_batch(g, V, 2, 10)],
         {'finetuning_type': 'freeze', 'freeze_trainable_layers': 1},
         extra=True)
    case('llama3_rope_full', llama3_cfg(), [plain_batch(g, V, 2, 12)],
         {'finetuning_type': 'full'}, extra=True)
    case('llama3_rope_packed_full', llama3_cfg(),
         [packed_batch(g, V, [7, 9], False)], {'finetuning_type': 'full'},
         extra=True)
    case('rope_linear_full', base_cfg(eos_token_id=47, rope_scaling={
         'type': 'linear', 'factor': 4.0}), [plain_batch(g, V, 2, 12)],
         {'finetuning_type': 'full'}, extra=True)
    case('rope_dynamic_full', base_cfg(eos_token_id=47,
         max_position_embeddings=8, rope_scaling={'rope_type': 'dynamic',
         'factor': 2.0}), [plain_batch(g, V, 2, 12)],
         {'finetuning_type': 'full'}, extra=True)
    case('rope_yarn_full', base_cfg(eos_token_id=47, head_dim=8,
         max_position_embeddings=64, rope_scaling={'rope_type': 'yarn',
         'factor': 4.0, 'beta_fast': 4.0, 'beta_slow': 1.0}),
         [plain_batch(g, V, 2, 12)], {'finetuning_type': 'full'}, extra=True)
    case('qwen3_yarn_orig_full', qwen3_cfg(max_position_embeddings=256,
         rope_scaling={'rope_type': 'yarn', 'factor': 4.0,
         'original_max_position_embeddings': 64}),
         [plain_batch(g, V, 2, 10)], {'finetuning_type': 'full'}, extra=True)
    # mistral past its sliding window (training, logits, generation)
    mcfg = base_cfg(model_type='mistral', architectures=['MistralForCausalLM'],
                    sliding_window=4, num_key_value_heads=1, eos_token_id=47)
    case('mistral_window_full', mcfg, [plain_batch(g, V, 2, 12)],
         {'finetuning_type': 'full'}, extra=True)
    case('mistral_window_padded_lora', mcfg,
         [padded_batch(g, V, [11, 6], 11)],
         {'finetuning_type': 'lora', 'lora_target': 'all', 'lora_rank': 4},
         lora=lora_weights(mcfg, g, 4, 8, PROJ, False), extra=True)

def args_line(args):
    return ' '.join('--%s %s' % (k, v) for k, v in args.items())

GREEDY_NEW = 12

def write_extra(d, name, cfg, w, lora, batches):
    """logits.lmf: the first batch's logits; greedy: a prompt (the first
    row's first 4 tokens) and its greedy continuation by argmax of full
    forwards up to GREEDY_NEW tokens or eos_token_id (left out), one line
    of ids each; each token keeps the rope frequencies of the step that
    made it, as under transformers' key/value cache"""
    b = batches[0]
    B, T = b['input_ids'].shape
    pos = b.get('position_ids', torch.arange(T).expand(B, T))
    with torch.no_grad():
        lg = forward(cfg, w, lora, b['input_ids'], b['attention_mask'], pos)
        seq = b['input_ids'][0, :4].tolist()
        new = []
        for _ in range(GREEDY_NEW):
            ids = torch.tensor([seq])
            n = len(seq)
            # as generation with a cache: each token rotated with the
            # frequencies of its step (only dynamic rope tells)
            lens = torch.tensor([[max(4, p + 1) for p in range(n)]])
            out = forward(cfg, w, lora, ids, torch.ones(1, n,
                          dtype=torch.int64), torch.arange(n)[None],
                          lens=lens)
            t = int(out[0, -1].argmax())
            seq.append(t)
            new.append(t)
            if t == cfg['eos_token_id']:
                break
    with open(os.path.join(d, 'logits.lmf'), 'wb') as f:
        f.write(stream({'kind': 'logits', 'case': name,
                        'command': 'make_golden.py'},
                       [[('logits', 'f64', tuple(lg.shape), f64bytes(lg))]]))
    with open(os.path.join(d, 'greedy'), 'w') as f:
        if new and new[-1] == cfg['eos_token_id']:
            new = new[:-1]       # lmf-generate does not print the eos
        f.write(','.join(map(str, seq[:4])) + '\n' +
                ','.join(map(str, new)) + '\n')

BF16_CASES = ('llama_gqa_full', 'qwen2_bias_full', 'tied_full',
              'padded_full', 'lora_all', 'freeze_last1', 'gradacc_full',
              'qwen3_lora_all')

def step_grads(cfg, w, lora, batches, train):
    """the loss and gradients of one step, on fresh leaves; the loss is the
    step's summed token cross-entropy over its label tokens (unshifted
    count, as num_items_in_batch)"""
    w = {n: t.detach().clone().requires_grad_(n in train)
         for n, t in w.items()}
    if lora:
        lora = dict(lora)
        for ab in 'AB':
            lora[ab] = {k: t.detach().clone().requires_grad_(True)
                        for k, t in lora[ab].items()}
    nlab = sum(int((b['labels'] != -100).sum()) for b in batches)
    total = 0
    for b in batches:
        B, T = b['input_ids'].shape
        pos = b.get('position_ids', torch.arange(T).expand(B, T))
        logits = forward(cfg, w, lora, b['input_ids'], b['attention_mask'], pos)
        total = total + ce_sum(logits, b['labels'])
    loss = total / nlab
    loss.backward()
    return loss, w, lora

def grad_items(cfg, train, w, lora, loss):
    """a grads stream's item: the loss, then the trainable weights' and the
    LoRA pairs' gradients under their HF/PEFT names"""
    out = [('loss', 'f64', (), f64bytes(loss.detach().reshape(1)))]
    for n in train:
        out.append((n, 'f64', tuple(w[n].shape), f64bytes(w[n].grad)))
    if lora:
        for l in range(cfg['num_hidden_layers']):
            for p in PROJ:
                key = 'model.layers.%d.%s.%s' % (l, MOD[p], p)
                if key not in lora['A']:
                    continue
                for ab in 'AB':
                    t = lora[ab][key]
                    out.append(('base_model.model.%s.lora_%s.weight' % (key, ab),
                                'f64', tuple(t.shape), f64bytes(t.grad)))
    return out

def write_bf16(d, name, cfg, w, lora, batches, train):
    """grads_bf16.lmf: grads.lmf's layout, the products in bf16"""
    BF16[0] = True
    loss, w, lora = step_grads(cfg, w, lora, batches, train)
    BF16[0] = False
    out = grad_items(cfg, train, w, lora, loss)
    with open(os.path.join(d, 'grads_bf16.lmf'), 'wb') as f:
        f.write(stream({'kind': 'grads', 'case': name, 'bf16': True,
                        'command': 'make_golden.py'}, [out]))
    print('%s: bf16 loss %.6f' % (name, loss.item()))

def run(name, cfg, batches, args, lora, seed, extra):
    d = os.path.join(OUT, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, 'model'))
    g = torch.Generator().manual_seed(seed + sum(map(ord, name)))
    w = random_weights(cfg, g)
    with open(os.path.join(d, 'model', 'config.json'), 'w') as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write('\n')
    write_st(os.path.join(d, 'model', 'model.safetensors'),
             [(n, w[n]) for n, _, _ in param_table(cfg)])
    if extra:
        write_extra(d, name, cfg, w, lora, batches)
    train = trainable_names(cfg, args)
    if lora:
        os.makedirs(os.path.join(d, 'adapter'))
        ac = {'peft_type': 'LORA', 'task_type': 'CAUSAL_LM', 'r': lora['r'],
              'lora_alpha': lora['alpha'], 'lora_dropout': 0.0,
              'target_modules': sorted(lora['targets']), 'bias': 'none',
              'use_rslora': lora['rslora'], 'use_dora': False,
              'fan_in_fan_out': False, 'inference_mode': True,
              'init_lora_weights': True, 'base_model_name_or_path': None,
              'modules_to_save': None}
        with open(os.path.join(d, 'adapter', 'adapter_config.json'), 'w') as f:
            json.dump(ac, f, indent=2, sort_keys=True)
            f.write('\n')
        ts = []
        for key in lora['A']:
            ts.append(('base_model.model.%s.lora_A.weight' % key, lora['A'][key]))
            ts.append(('base_model.model.%s.lora_B.weight' % key, lora['B'][key]))
        write_st(os.path.join(d, 'adapter', 'adapter_model.safetensors'), ts)
    nlab = sum(int((b['labels'] != -100).sum()) for b in batches)
    loss, gw, glora = step_grads(cfg, w, lora, batches, train)
    out = grad_items(cfg, train, gw, glora, loss)
    with open(os.path.join(d, 'grads.lmf'), 'wb') as f:
        f.write(stream({'kind': 'grads', 'case': name,
                        'command': 'make_golden.py'}, [out]))
    if name in BF16_CASES:
        write_bf16(d, name, cfg, w, lora, batches, train)
    items = []
    for b in batches:
        it = []
        for k in ('input_ids', 'attention_mask', 'labels', 'position_ids'):
            if k in b:
                it.append((k, 'i32', tuple(b[k].shape), i32bytes(b[k])))
        items.append(it)
    with open(os.path.join(d, 'batches.lmf'), 'wb') as f:
        f.write(stream({'kind': 'batches', 'num_batches': len(items),
                        'batches_per_epoch': len(items), 'num_epochs': 1,
                        'command': 'make_golden.py'}, items))
    with open(os.path.join(d, 'args'), 'w') as f:
        f.write(args_line(args) + '\n')
    print('%s: loss %.6f, %d label tokens, %d gradients' %
          (name, loss.item(), nlab, len(out) - 1))

def main():
    define()
    os.makedirs(OUT, exist_ok=True)
    for c in CASES:
        run(*c)

if __name__ == '__main__':
    main()
