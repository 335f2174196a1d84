#!/bin/sh
# Bad streams through lmf-dump: truncation at every byte, flipped bytes,
# crafted records past the limits. Each gives exit 1 and one line on
# stderr (or, for a flip the checksums cannot see, the same output) and
# never a crash or a hang.
. "$(dirname "$0")/lib.sh"
plan 28
PY=/usr/bin/python3

cat >s.jsonl <<'END'
{"lmf":1,"meta":{"command":"t","kind":"examples"}}
{"item":0,"tensors":[{"name":"ids","dtype":"i32","shape":[2,3],"data":[1,2,3,4,5,6]},{"name":"w","dtype":"f32","shape":[2],"data":[0.5,-1]}]}
{"record":"XTRA","base64":"aGVsbG8="}
{"item":1,"tensors":[{"name":"t","dtype":"u8","shape":[5],"text":"hello"}]}
{"end":2}
END
check "a small compressed stream" sh -c 'lmf-dump -r -o s.lmf s.jsonl'
check "a small raw stream" sh -c 'lmf-dump -r -l 0 -o s.raw s.jsonl'
check "their dumps" sh -c 'lmf-dump s.lmf >s.txt && lmf-dump -j s.raw >s.json'

# feed lmf-dump each variant of a file on stdin: every byte offset cut
# (cut), or every byte flipped by 0x01 and by 0xff (flip). Each must exit 1
# with one stderr line, or with SAME give exit 0 and SAME's output; with
# ANY, exit 0 with any output passes too. Never a crash, never a hang.
cat >vary.py <<'END'
import subprocess, sys
mode, src, same = sys.argv[1], sys.argv[2], sys.argv[3]
args = sys.argv[4:]
b = open(src, "rb").read()
want = open(same, "rb").read() if same not in ("-", "ANY") else None
if mode == "cut":
    cases = [("cut %d" % n, b[:n]) for n in range(len(b))]
else:
    cases = []
    for n in range(len(b)):
        for x in (0x01, 0xff):
            c = bytearray(b)
            c[n] ^= x
            cases.append(("flip %d^%02x" % (n, x), bytes(c)))
bad = []
for what, data in cases:
    try:
        p = subprocess.run(["lmf-dump"] + args, input=data, timeout=10,
                           capture_output=True)
    except subprocess.TimeoutExpired:
        bad.append(what + ": hangs")
        continue
    lines = p.stderr.count(b"\n")
    if p.returncode == 0 and (same == "ANY" or p.stdout == want) and not lines:
        continue
    if p.returncode != 1 or lines != 1:
        bad.append("%s: exit %d, %d stderr lines" % (what, p.returncode, lines))
for l in bad[:5]:
    print("# " + l)
sys.exit(1 if bad else 0)
END
vary() { $PY vary.py "$@"; }
check "compressed stream cut at every byte: exit 1, one line" \
    vary cut s.lmf -
check "raw stream cut at every byte: exit 1, one line" vary cut s.raw -
lmf-dump -r -l 0 s.jsonl >s.rt
check "JSON form cut at every byte: exit 1, one line" \
    vary cut s.jsonl s.rt -r -l 0
# the zstd checksums catch every change in a compressed stream; a raw
# stream or the JSON form may read as other data
check "compressed stream, each byte flipped: exit 1 or the same" \
    vary flip s.lmf s.txt
check "raw stream, each byte flipped: exit 1 or exit 0" \
    vary flip s.raw ANY -j
check "JSON form, each byte flipped: exit 1 or exit 0" \
    vary flip s.jsonl ANY -r -l 0

# crafted raw streams
$PY - <<'END'
import struct
def rec(tag, p, n=None):
    return tag + struct.pack("<Q", len(p) if n is None else n) + p
head = rec(b"LMFS", struct.pack("<I", 1) + b'{"kind":"x"}')
def tensor(name=b"w", dtype=1, dims=(2,), data=None, n=None):
    p = struct.pack("<H", len(name)) + name + bytes([dtype, len(dims)])
    p += b"".join(struct.pack("<Q", d) for d in dims)
    if data is None:
        k = 1
        for d in dims:
            k *= d
        data = b"\0" * (k * 4 if k < 1000 else 0)
    return rec(b"TNSR", p + data, n)
item = rec(b"ITEM", struct.pack("<I", 1))
end = lambda k: rec(b"ENDS", struct.pack("<Q", k))
files = {
    "big": head + item + tensor(dims=(1 << 20, 1 << 20)) + end(1),
    "bigdim": head + item + tensor(dims=(1 << 41,)) + end(1),
    "bigrec": head + item + tensor(n=1 << 50) + end(1),
    "dtype11": head + item + tensor(dtype=11) + end(1),
    "dtype0": head + item + tensor(dtype=0) + end(1),
    "dims9": head + item + tensor(dims=(1,) * 9) + end(1),
    "noname": head + item + tensor(name=b"") + end(1),
    "outside": head + tensor() + end(0),
    "short": head + item + tensor(data=b"\0" * 7) + end(1),
    "count": head + item + tensor() + end(2),
    "version": rec(b"LMFS", struct.pack("<I", 2) + b'{"kind":"x"}') + end(0),
    "metajson": rec(b"LMFS", struct.pack("<I", 1) + b'{"kind":') + end(0),
    "nokind": rec(b"LMFS", struct.pack("<I", 1) + b'{"k":"x"}') + end(0),
    "after": head + end(0) + b"junk",
    "text": b"hello, world\n",
    "empty": b"",
}
for k, v in files.items():
    open(k + ".raw", "wb").write(v)
END
check_exit "2^40 elements: exit 1" 1 lmf-dump big.raw
check_grep "the message names the limit" "2^40-byte limit" check.err
check_exit "a dim of 2^41: exit 1" 1 lmf-dump bigdim.raw
check_grep "the message names the limit" "more than 2^40 elements" check.err
check_exit "a record that claims 2^50 bytes: exit 1" 1 lmf-dump bigrec.raw
check_exit "unknown dtype code 11: exit 1" 1 lmf-dump dtype11.raw
check_grep "the message names the code" "unknown dtype code 11" check.err
check_exit "dtype code 0: exit 1" 1 lmf-dump -j dtype0.raw
check_exit "9 dims: exit 1" 1 lmf-dump dims9.raw
check_exit "an empty name: exit 1" 1 lmf-dump noname.raw
check_exit "a tensor outside an item: exit 1" 1 lmf-dump outside.raw
check_exit "data shorter than the shape: exit 1" 1 lmf-dump short.raw
check_exit "an end record counting more items: exit 1" 1 lmf-dump count.raw
check_exit "version 2: exit 1" 1 lmf-dump version.raw
check_exit "meta not JSON: exit 1" 1 lmf-dump metajson.raw
check_exit "meta without kind: exit 1" 1 lmf-dump nokind.raw
check_exit "bytes after the end record: exit 1" 1 lmf-dump after.raw
check_exit "not a stream: exit 1" 1 lmf-dump text.raw
check_exit "an empty file: exit 1" 1 lmf-dump empty.raw
done_testing
