#!/usr/bin/python3
# bf16round.py: round the seven projections and lm_head of the lmf-dump
# --json form of a model stream to bf16 (nearest even), everything else
# as it was, as lmf-generate --infer_dtype bfloat16 holds them. Usage:
# lmf-dump --json in.lmf | python3 bf16round.py | lmf-dump -r -o out.lmf
# (the count of rounded tensors goes to stderr).
import json
import re
import struct
import sys

pat = re.compile(r"(_proj\.weight|^lm_head\.weight)$")


def rnd(x):
    u = struct.unpack("<I", struct.pack("<f", float(x)))[0]
    u = (u + 0x7fff + ((u >> 16) & 1)) & 0xffff0000
    return struct.unpack("<f", struct.pack("<I", u))[0]


n = 0
for line in sys.stdin:
    o = json.loads(line)
    for t in o.get("tensors", []):
        if pat.search(t["name"]):
            t["data"] = [rnd(x) for x in t["data"]]
            n += 1
    print(json.dumps(o))
sys.stderr.write("%d\n" % n)
