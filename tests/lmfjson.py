#!/usr/bin/env python3
"""lmfjson.py RAWSTREAM: print an uncompressed lmf stream as lmf-dump --json
does (JSON Lines: header, items, end). A stand-in used by the lmf-load tests
only where lmf-dump is not built; it reads raw (-l 0) streams only."""
import json, struct, sys
b = open(sys.argv[1], 'rb').read()
p = 0
fmt = {1: ('f', 4), 2: ('e', 2), 3: ('H', 2), 4: ('d', 8), 5: ('b', 1), 6: ('h', 2), 7: ('i', 4), 8: ('q', 8), 9: ('B', 1), 10: ('B', 1)}
names = {1: 'f32', 2: 'f16', 3: 'bf16', 4: 'f64', 5: 'i8', 6: 'i16', 7: 'i32', 8: 'i64', 9: 'u8', 10: 'bool'}
item = None; n = 0
def fl(x):
    if x != x: return "nan"
    if x in (float('inf'), float('-inf')): return "inf" if x > 0 else "-inf"
    return x
while p < len(b):
    tag = b[p:p+4]; ln = struct.unpack('<Q', b[p+4:p+12])[0]; pl = b[p+12:p+12+ln]; p += 12 + ln
    if tag == b'LMFS':
        print(json.dumps({"lmf": 1, "meta": json.loads(pl[4:])}))
    elif tag == b'ITEM':
        if item: print(json.dumps(item))
        item = {"item": n, "tensors": []}; n += 1
    elif tag == b'TNSR':
        nl = struct.unpack('<H', pl[:2])[0]; name = pl[2:2+nl].decode(); q = 2 + nl
        dt, nd = pl[q], pl[q+1]; q += 2
        shape = list(struct.unpack('<%dQ' % nd, pl[q:q+8*nd])); q += 8 * nd
        c, s = fmt[dt]; cnt = (len(pl) - q) // s
        vals = struct.unpack('<%d%s' % (cnt, c), pl[q:])
        if dt == 3: vals = [struct.unpack('<f', struct.pack('<I', v << 16))[0] for v in vals]
        item["tensors"].append({"name": name, "dtype": names[dt], "shape": shape, "data": [fl(v) for v in vals]})
    elif tag == b'ENDS':
        if item: print(json.dumps(item)); item = None
        print(json.dumps({"end": struct.unpack('<Q', pl)[0]}))
