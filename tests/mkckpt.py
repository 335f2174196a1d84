#!/usr/bin/env python3
"""mkckpt.py: write tiny Hugging Face checkpoints for lmf-load's tests,
with the standard library only (struct, json, random with fixed seeds).

  mkckpt.py llama DIR     sharded (3 files + index) BF16 llama, GQA 4/2,
                          with tokenizer.json and tokenizer_config.json
  mkckpt.py qwen2 DIR     one-file F16 qwen2, q/k/v biases, tied embeddings
  mkckpt.py qwen2f32 DIR  the same in F32, also storing a tied lm_head
  mkckpt.py adapter DIR   a PEFT LoRA adapter (r 2, q_proj v_proj) for llama
  mkckpt.py bad KIND FILE a broken safetensors file (overlap, past-end,
                          dtype, hdrlen, shape, json)
  mkckpt.py corpus DIR    small valid and broken files for the fuzzer
"""
import json
import os
import random
import struct
import sys

SIZES = {"F32": 4, "F16": 2, "BF16": 2}


def bf16_bits(x):
    """round-to-nearest-even f32 -> bf16, as bits"""
    u = struct.unpack("<I", struct.pack("<f", x))[0]
    u += 0x7FFF + ((u >> 16) & 1)
    return (u >> 16) & 0xFFFF


def encode(dtype, vals):
    if dtype == "F32":
        return struct.pack("<%df" % len(vals), *vals)
    if dtype == "F16":
        return struct.pack("<%de" % len(vals), *vals)
    return struct.pack("<%dH" % len(vals), *[bf16_bits(v) for v in vals])


def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def write_st(path, tensors, meta=None):
    """tensors: list of (name, dtype, shape, values)"""
    hdr, blobs, off = {}, [], 0
    if meta is not None:
        hdr["__metadata__"] = meta
    for name, dtype, shape, vals in tensors:
        b = encode(dtype, vals)
        hdr[name] = {"dtype": dtype, "shape": shape,
                     "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(hdr).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def params(cfg):
    """the expected tensors in model order: (name, shape, kind)"""
    C, V = cfg["hidden_size"], cfg["vocab_size"]
    NH = cfg["num_attention_heads"]
    KV = cfg.get("num_key_value_heads", NH)
    HS = cfg.get("head_dim", C // NH)
    FF = cfg["intermediate_size"]
    bias = cfg["model_type"] == "qwen2"
    out = [("model.embed_tokens.weight", [V, C], "w")]
    for l in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % l
        out.append((p + "input_layernorm.weight", [C], "norm"))
        for x, n in (("q", NH * HS), ("k", KV * HS), ("v", KV * HS)):
            out.append((p + "self_attn.%s_proj.weight" % x, [n, C], "w"))
            if bias:
                out.append((p + "self_attn.%s_proj.bias" % x, [n], "b"))
        out.append((p + "self_attn.o_proj.weight", [C, NH * HS], "w"))
        out.append((p + "post_attention_layernorm.weight", [C], "norm"))
        out.append((p + "mlp.gate_proj.weight", [FF, C], "w"))
        out.append((p + "mlp.up_proj.weight", [FF, C], "w"))
        out.append((p + "mlp.down_proj.weight", [C, FF], "w"))
    out.append(("model.norm.weight", [C], "norm"))
    if not cfg.get("tie_word_embeddings", False):
        out.append(("lm_head.weight", [V, C], "w"))
    return out


def values(rng, n, special=False):
    v = [rng.gauss(0.0, 0.5) for _ in range(n)]
    if special and n >= 6:
        # exactness at the edges: signed zero, subnormals, huge, infinity
        v[:6] = [-0.0, 1e-40, -3e-39, 3.0e38, float("inf"), 65504.0]
    return v


LLAMA = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama",
    "hidden_size": 16, "intermediate_size": 24, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 32,
    "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
    "max_position_embeddings": 64, "tie_word_embeddings": False,
    "hidden_act": "silu", "bos_token_id": 1, "eos_token_id": 2,
    "torch_dtype": "bfloat16", "rope_scaling": None,
}

QWEN2 = {
    "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2",
    "hidden_size": 8, "intermediate_size": 12, "num_hidden_layers": 2,
    "num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": 20,
    "rms_norm_eps": 1e-6, "rope_theta": 1000000.0,
    "max_position_embeddings": 128, "tie_word_embeddings": True,
    "hidden_act": "silu", "use_sliding_window": False,
    "sliding_window": 4096, "eos_token_id": [5, 6], "torch_dtype": "float16",
}


def llama(d):
    os.makedirs(d, exist_ok=True)
    rng = random.Random(20240601)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(LLAMA, f, indent=2)
    with open(os.path.join(d, "tokenizer.json"), "w") as f:
        json.dump({"version": "1.0", "model": {"type": "BPE", "vocab":
                   {"<s>": 1, "</s>": 2, "h\u00e9": 3}}}, f)
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump({"bos_token": "<s>", "eos_token": "</s>"}, f)
    ps = params(LLAMA)
    # shard in a scrambled order, so the loader must put them back in order
    order = list(range(len(ps)))
    rng.shuffle(order)
    shards = [order[i::3] for i in range(3)]
    wmap = {}
    for i, idx in enumerate(shards):
        fn = "model-%05d-of-00003.safetensors" % (i + 1)
        ts = []
        for k in sorted(idx):
            name, shape, kind = ps[k]
            ts.append((name, "BF16", shape,
                       values(rng, numel(shape), special=(k == 0))))
            wmap[name] = fn
        write_st(os.path.join(d, fn), ts, {"format": "pt"})
    with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": 0}, "weight_map": wmap}, f)


def qwen2(d, dtype="F16", store_lm_head=False):
    os.makedirs(d, exist_ok=True)
    rng = random.Random(7)
    cfg = dict(QWEN2, torch_dtype="float16" if dtype == "F16" else "float32")
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f)
    ts = []
    for name, shape, kind in params(cfg):
        v = values(rng, numel(shape), special=(kind == "b" and dtype == "F16"))
        if dtype == "F16":
            v = [max(-65504.0, min(65504.0, x)) for x in v]
            v = [x if abs(x) > 1e-7 or x == 0 else 6e-8 for x in v]
        ts.append((name, dtype, shape, v))
    if store_lm_head:
        ts.append(("lm_head.weight", dtype, ts[0][2], ts[0][3]))
    rng.shuffle(ts)
    write_st(os.path.join(d, "model.safetensors"), ts)


def adapter(d):
    os.makedirs(d, exist_ok=True)
    rng = random.Random(99)
    cfg = {"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": 2,
           "lora_alpha": 16, "lora_dropout": 0.0, "bias": "none",
           "target_modules": ["v_proj", "q_proj"], "use_rslora": False,
           "base_model_name_or_path": "llama"}
    with open(os.path.join(d, "adapter_config.json"), "w") as f:
        json.dump(cfg, f)
    ts = []
    for name, shape, kind in params(LLAMA):
        if not (name.endswith("q_proj.weight") or
                name.endswith("v_proj.weight")):
            continue
        mod = "base_model.model." + name[:-len(".weight")]
        ts.append((mod + ".lora_A.weight", "F32", [2, shape[1]],
                   values(rng, 2 * shape[1])))
        ts.append((mod + ".lora_B.weight", "F32", [shape[0], 2],
                   values(rng, 2 * shape[0])))
    rng.shuffle(ts)
    write_st(os.path.join(d, "adapter_model.safetensors"), ts)


def raw(path, hdr, data):
    h = json.dumps(hdr).encode() if not isinstance(hdr, bytes) else hdr
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)


def bad(kind, path):
    t = lambda dt, sh, a, b: {"dtype": dt, "shape": sh, "data_offsets": [a, b]}
    if kind == "overlap":
        raw(path, {"a": t("F32", [4], 0, 16), "b": t("F32", [4], 8, 24)},
            bytes(24))
    elif kind == "past-end":
        raw(path, {"a": t("F32", [4], 0, 16), "b": t("F32", [4], 16, 32)},
            bytes(20))
    elif kind == "dtype":
        raw(path, {"a": t("F8_E4M3", [4], 0, 4)}, bytes(4))
    elif kind == "shape":
        raw(path, {"a": t("F32", [3], 0, 16)}, bytes(16))
    elif kind == "json":
        raw(path, b'{"a": {"dtype": "F32", "shape": [4], ', bytes(16))
    elif kind == "hdrlen":
        with open(path, "wb") as f:
            f.write(struct.pack("<Q", 1 << 40) + b"{}")
    else:
        sys.exit("mkckpt.py: unknown bad kind '%s'" % kind)


def corpus(d):
    os.makedirs(d, exist_ok=True)
    rng = random.Random(3)
    write_st(os.path.join(d, "ok-f32"), [
        ("w", "F32", [2, 3], values(rng, 6)), ("b", "F32", [3], values(rng, 3))],
        {"format": "pt"})
    write_st(os.path.join(d, "ok-mixed"), [
        ("x", "BF16", [4], values(rng, 4)), ("y", "F16", [2, 2], values(rng, 4)),
        ("z", "F32", [0], [])])
    with open(os.path.join(d, "ok-ints"), "wb") as f:
        hdr = {"i": {"dtype": "I64", "shape": [2], "data_offsets": [0, 16]},
               "m": {"dtype": "BOOL", "shape": [3], "data_offsets": [16, 19]},
               "u": {"dtype": "U8", "shape": [1, 1], "data_offsets": [19, 20]}}
        h = json.dumps(hdr).encode()
        f.write(struct.pack("<Q", len(h)) + h + bytes(20))
    for k in ("overlap", "past-end", "dtype", "shape", "json", "hdrlen"):
        bad(k, os.path.join(d, "bad-" + k))


def main():
    a = sys.argv[1:]
    if len(a) == 2 and a[0] == "llama":
        llama(a[1])
    elif len(a) == 2 and a[0] == "qwen2":
        qwen2(a[1])
    elif len(a) == 2 and a[0] == "qwen2f32":
        qwen2(a[1], "F32", store_lm_head=True)
    elif len(a) == 2 and a[0] == "adapter":
        adapter(a[1])
    elif len(a) == 3 and a[0] == "bad":
        bad(a[1], a[2])
    elif len(a) == 2 and a[0] == "corpus":
        corpus(a[1])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
