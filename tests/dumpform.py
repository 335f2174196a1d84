# dumpform.py: build the raw lmf stream that a JSON form (lmf-dump(1)) stands
# for, independently of lmf-dump, so the tests can compare bytes. Usage:
# python3 dumpform.py FORM.jsonl > STREAM
import json, math, struct, sys
CODES = {'f32': 1, 'f16': 2, 'bf16': 3, 'f64': 4, 'i8': 5, 'i16': 6,
         'i32': 7, 'i64': 8, 'u8': 9, 'bool': 10}
SIZES = {'f32': 4, 'f16': 2, 'bf16': 2, 'f64': 8, 'i8': 1, 'i16': 2,
         'i32': 4, 'i64': 8, 'u8': 1, 'bool': 1}
FMT = {'f32': '<f', 'f16': '<e', 'f64': '<d', 'i8': '<b', 'i16': '<h',
       'i32': '<i', 'i64': '<q', 'u8': '<B', 'bool': '<B'}
SPECIAL = {'nan': float('nan'), '-nan': -float('nan'), 'inf': math.inf,
           '-inf': -math.inf}

def rec(tag, payload):
    return tag + struct.pack('<Q', len(payload)) + payload

def bf16(x):
    u = struct.unpack('<I', struct.pack('<f', x))[0]
    if (u & 0x7fffffff) > 0x7f800000:
        return (u >> 16) | 0x40
    u += 0x7fff + ((u >> 16) & 1)
    return (u >> 16) & 0xffff

def flat(v):
    if isinstance(v, list):
        return [y for x in v for y in flat(x)]
    return [v]

def pack(dt, v):
    if isinstance(v, str) and v.startswith('nan:0x'):
        return int(v[6:], 16).to_bytes(SIZES[dt], 'little')
    if isinstance(v, str):
        v = SPECIAL[v]
    if dt == 'bf16':
        return struct.pack('<H', bf16(v))
    if dt == 'bool':
        v = int(v)
    return struct.pack(FMT[dt], v)

def tensor(t):
    name = bytes.fromhex(t['namehex']) if 'namehex' in t else t['name'].encode()
    dt = t['dtype']
    if 'text' in t:
        data = t['text'].encode()
    elif 'hex' in t:
        data = bytes.fromhex(t['hex'])
    else:
        data = b''.join(pack(dt, v) for v in flat(t['data']))
    p = struct.pack('<H', len(name)) + name + bytes([CODES[dt], len(t['shape'])])
    p += b''.join(struct.pack('<Q', d) for d in t['shape'])
    return rec(b'TNSR', p + data)

def other(r):
    import base64
    tag = r['record'].encode('latin-1')
    return rec(tag, base64.b64decode(r['base64']))

def build(lines):
    """lines: python objects of the JSON form; returns the raw stream"""
    out = b''
    for l in lines:
        if 'lmf' in l:
            m = json.dumps(l['meta'], sort_keys=True, separators=(',', ':'),
                           ensure_ascii=False)
            out += rec(b'LMFS', struct.pack('<I', 1) + m.encode())
        elif 'item' in l:
            ts = l['tensors']
            out += rec(b'ITEM', struct.pack('<I', sum('record' not in t for t in ts)))
            for t in ts:
                out += other(t) if 'record' in t else tensor(t)
        elif 'record' in l:
            out += other(l)
        else:
            out += rec(b'ENDS', struct.pack('<Q', l['end']))
    return out

if __name__ == '__main__':
    lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
    sys.stdout.buffer.write(build(lines))
