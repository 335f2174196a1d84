#!/usr/bin/python3
# mixdtype.py MODE: rewrite the lmf-dump --json form of a model stream
# (stdin to stdout) for t6010's checks of how lmf-generate reads a model.
#   round: the seven projections and lm_head rounded to bf16 (nearest even)
#   mix:   the same values, but layer 0's projections and lm_head stored as
#          bf16, layer 1's q_proj and gate_proj as f64 (same values), and
#          a second layer-1 k_proj of zeros after the first (a reader takes
#          the first of a name)
#   tie:   tie_word_embeddings on, lm_head dropped
#   tieref: the projections rounded, lm_head = the embedding rounded, untied
import json
import re
import struct
import sys

mode = sys.argv[1]
proj = re.compile(r"(_proj\.weight|^lm_head\.weight)$")


def rnd(x):
    u = struct.unpack("<I", struct.pack("<f", float(x)))[0]
    u = (u + 0x7fff + ((u >> 16) & 1)) & 0xffff0000
    return struct.unpack("<f", struct.pack("<I", u))[0]


for line in sys.stdin:
    o = json.loads(line)
    if "meta" in o and mode == "tie":
        o["meta"]["config"]["tie_word_embeddings"] = True
    ts = o.get("tensors", [])
    emb = [t for t in ts if t["name"] == "model.embed_tokens.weight"]
    out = []
    for t in ts:
        n = t["name"]
        if mode == "tie" and n == "lm_head.weight":
            continue
        if mode == "tieref" and n == "lm_head.weight":
            t["data"] = list(emb[0]["data"])
        if mode != "tie" and proj.search(n):
            t["data"] = [rnd(x) for x in t["data"]]
        if mode == "mix":
            if n.startswith("model.layers.0.") and proj.search(n) or \
                    n == "lm_head.weight":
                t["dtype"] = "bf16"
            if re.search(r"layers\.1\.(self_attn\.q|mlp\.gate)_proj", n):
                t["dtype"] = "f64"
        out.append(t)
        if mode == "mix" and n == "model.layers.1.self_attn.k_proj.weight":
            z = dict(t)
            z["data"] = [0.0] * len(t["data"])
            out.append(z)
    if "tensors" in o:
        o["tensors"] = out
    if "meta" in o and mode == "tieref":
        o["meta"]["config"]["tie_word_embeddings"] = False
    print(json.dumps(o))
