#!/usr/bin/env python3
"""ckcheck.py: check `lmf-dump --json` output of an lmf-load stream against
the checkpoint's safetensors files, read here independently.

  ckcheck.py model DIR DTYPE DUMP.jsonl    every tensor in model order,
                                           tokenizer files, the header
  ckcheck.py adapter DIR DTYPE DUMP.jsonl  every LoRA tensor, natural order

DTYPE is the stream's dtype (f32 or bf16). Values compare bit for bit:
each number of the dump is rounded to the stream's dtype (the dump prints
the shortest decimal that reads back to the same bits) and compared with
the source value converted as lmf-load must (bf16/f16 widen exactly; f32 to
bf16 rounds to nearest even). Prints what differs; exits 1 on a difference.
"""
import json
import math
import os
import re
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mkckpt import params, bf16_bits  # noqa: E402

errors = []


def err(msg):
    errors.append(msg)
    if len(errors) <= 10:
        print("ckcheck: " + msg, file=sys.stderr)


def read_st(path):
    """{name: (dtype, shape, bytes)} of a safetensors file"""
    with open(path, "rb") as f:
        b = f.read()
    n = struct.unpack("<Q", b[:8])[0]
    hdr = json.loads(b[8:8 + n])
    hdr.pop("__metadata__", None)
    data = b[8 + n:]
    return {k: (v["dtype"], v["shape"],
                data[v["data_offsets"][0]:v["data_offsets"][1]])
            for k, v in hdr.items()}


def f32_bits(x):
    return struct.unpack("<I", struct.pack("<f", x))[0]


def want_bits(dtype, raw, out):
    """the output bits (f32 bits, or bf16 bits) lmf-load must write"""
    if dtype == "F32":
        b32 = list(struct.unpack("<%dI" % (len(raw) // 4), raw))
        if out == "f32":
            return b32
        return [bf16_bits(struct.unpack("<f", struct.pack("<I", u))[0])
                if (u & 0x7FFFFFFF) <= 0x7F800000 else (u >> 16) | 0x40
                for u in b32]
    b16 = list(struct.unpack("<%dH" % (len(raw) // 2), raw))
    if dtype == "BF16":
        return [u << 16 for u in b16] if out == "f32" else b16
    vals = struct.unpack("<%de" % len(b16), raw)
    return [f32_bits(v) for v in vals] if out == "f32" else \
        [bf16_bits(v) for v in vals]


def flat(d):
    for x in d:
        if isinstance(x, list):
            yield from flat(x)
        else:
            yield x


def bf16_nearest(x):
    """the bf16 nearest to the double x (ties to even): a dump prints the
    shortest decimal that reads back to the same bf16"""
    if x != x:
        return 0x7FC0
    s = 0x8000 if math.copysign(1.0, x) < 0 else 0
    a = abs(x)
    if a == math.inf:
        return s | 0x7F80
    k = f32_bits(min(a, 3.4e38)) >> 16
    best = None
    for m in (k - 1, k, k + 1):
        if 0 <= m <= 0x7F80:
            v = struct.unpack("<f", struct.pack("<I", m << 16))[0]
            key = (abs(v - a), m & 1)
            if best is None or key < best[0]:
                best = (key, m)
    return s | best[1]


def got_bits(t, out):
    vals = [float(x) for x in flat(t["data"])]
    if out == "bf16":
        return [bf16_nearest(x) for x in vals]
    return [f32_bits(x) for x in vals]


def compare(t, dtype, shape, raw, out):
    if t["dtype"] != out:
        err("tensor '%s': dtype %s, want %s" % (t["name"], t["dtype"], out))
    if t["shape"] != shape:
        err("tensor '%s': shape %s, want %s" % (t["name"], t["shape"], shape))
    g, w = got_bits(t, out), want_bits(dtype, raw, out)
    if g != w:
        bad = [i for i in range(min(len(g), len(w))) if g[i] != w[i]]
        err("tensor '%s': %d values differ (first at %s), %d vs %d values"
            % (t["name"], len(bad), bad[:1], len(g), len(w)))


def load_dump(path):
    with open(path) as f:
        lines = [json.loads(s, parse_int=float) for s in f if s.strip()]
    if len(lines) != 3 or "meta" not in lines[0] or lines[2] != {"end": 1}:
        err("dump is not header, one item, end: %d lines" % len(lines))
        sys.exit(1)
    return lines[0]["meta"], lines[1]["tensors"]


def tok_bytes(t):
    if "text" in t:
        return t["text"].encode()
    return bytes(int(x) for x in flat(t["data"]))


def check_model(d, out, dump):
    meta, ts = load_dump(dump)
    with open(os.path.join(d, "config.json")) as f:
        cfg = json.load(f)
    for k, v in (("kind", "model"), ("dtype", out), ("config", cfg),
                 ("model_type", cfg["model_type"])):
        if meta.get(k) != v and not (k == "config" and json.loads(json.dumps(meta.get(k)), parse_int=float) == json.loads(json.dumps(v), parse_int=float)):
            err("meta '%s' is %r" % (k, meta.get(k)))
    st = {}
    ix = os.path.join(d, "model.safetensors.index.json")
    files = ["model.safetensors"]
    if os.path.exists(ix):
        with open(ix) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    for fn in files:
        st.update(read_st(os.path.join(d, fn)))
    names = [n for n in ("tokenizer.json", "tokenizer_config.json")
             if os.path.exists(os.path.join(d, n))]
    want = names + [p[0] for p in params(cfg)]
    got = [t["name"] for t in ts]
    if got != want:
        err("tensor names/order differ: got %s, want %s" % (got, want))
    for t in ts:
        if t["name"] in names:
            with open(os.path.join(d, t["name"]), "rb") as f:
                if tok_bytes(t) != f.read() or t["dtype"] != "u8":
                    err("tokenizer file '%s' differs" % t["name"])
        elif t["name"] in st:
            compare(t, *st[t["name"]], out)
    print("ckcheck: %d tensors checked" % len(ts), file=sys.stderr)


def natkey(s):
    return [int(x) if x.isdigit() else x for x in re.split(r"(\d+)", s)]


def check_adapter(d, out, dump):
    meta, ts = load_dump(dump)
    with open(os.path.join(d, "adapter_config.json")) as f:
        cfg = json.load(f)
    if meta.get("kind") != "adapter" or meta.get("adapter_config") != cfg:
        err("meta kind/adapter_config wrong")
    st = read_st(os.path.join(d, "adapter_model.safetensors"))
    got = [t["name"] for t in ts]
    if got != sorted(st, key=natkey):
        err("adapter tensor names/order differ: %s" % got)
    for t in ts:
        if t["name"] in st:
            compare(t, *st[t["name"]], out)
    print("ckcheck: %d tensors checked" % len(ts), file=sys.stderr)


def main():
    a = sys.argv[1:]
    if len(a) != 4 or a[0] not in ("model", "adapter"):
        sys.exit(__doc__)
    (check_model if a[0] == "model" else check_adapter)(a[1], a[2], a[3])
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
