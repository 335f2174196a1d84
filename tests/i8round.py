#!/usr/bin/python3
# i8round.py: the seven projections and lm_head of the lmf-dump --json
# form of a model stream replaced by their int8 values times their row's
# scale, everything else as it was, as lmf-generate --infer_dtype int8
# holds them (lmf_i8_quantize: scale = max |w| / 127, q = w / scale
# rounded to nearest even; f32 arithmetic throughout, which double
# arithmetic rounded to f32 gives exactly for one division or product).
# Usage: lmf-dump --json in.lmf | python3 i8round.py | lmf-dump -r -o out.lmf
# (the count of rounded tensors goes to stderr).
import json
import re
import struct
import sys

pat = re.compile(r"(_proj\.weight|^lm_head\.weight)$")


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def row(w):
    w = [f32(x) for x in w]
    s = f32(max(abs(x) for x in w) / 127.0)
    if s == 0:
        return [0.0] * len(w)
    q = [max(-127, min(127, round(f32(x / s)))) for x in w]
    return [f32(float(v) * s) for v in q]


n = 0
for line in sys.stdin:
    o = json.loads(line)
    for t in o.get("tensors", []):
        if pat.search(t["name"]):
            C = t["shape"][1]
            d = t["data"]
            t["data"] = [x for r in range(0, len(d), C)
                         for x in row(d[r:r + C])]
            n += 1
    print(json.dumps(o))
sys.stderr.write("%d\n" % n)
