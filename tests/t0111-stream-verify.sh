#!/bin/sh
# Damage in a compressed stream is found before any of its bytes are used:
# a damaged zstd frame stops lmf-dump before it prints an item of that
# frame, and lmf-sft before it trains a step or writes a checkpoint on it.
# Frames are bounded; a frame of another writer reads while it fits the
# reader's bound and is refused past it, with the way to rewrite it.
. "$(dirname "$0")/lib.sh"
plan 20
PY=python3

# frames.py FILE: "offset size" of each zstd frame (RFC 8878 framing)
cat >frames.py <<'END'
import sys
b = open(sys.argv[1], "rb").read()
o = 0
while o < len(b):
    s = o
    assert b[o:o + 4] == b"\x28\xb5\x2f\xfd", "not a zstd frame at %d" % o
    d = b[o + 4]
    single, csum, did, fcs = d >> 5 & 1, d >> 2 & 1, d & 3, d >> 6
    o += 5 + (0 if single else 1) + (0, 1, 2, 4)[did]
    o += ((1 if single else 0), 2, 4, 8)[fcs]
    while True:
        h = int.from_bytes(b[o:o + 3], "little")
        o += 3 + (1 if (h >> 1 & 3) == 1 else h >> 3)
        if h & 1:
            break
    o += 4 * csum
    print(s, o - s)
END
# flip.py FILE OFFSET: xor the byte at OFFSET with 0x10, in place
cat >flip.py <<'END'
import sys
f = open(sys.argv[1], "r+b")
f.seek(int(sys.argv[2]))
c = f.read(1)[0]
f.seek(int(sys.argv[2]))
f.write(bytes([c ^ 0x10]))
END
frame() { sed -n "$2p" "$1.frames"; }
# copy SRC DST with the byte at OFFSET flipped
damage() { cp "$1" "$2" && $PY flip.py "$2" "$3"; }

# 2600 items of 2000 bytes of text: 5.3 MB, two 4 MiB frames by default
$PY - >big.jsonl <<'END'
import json, random
r = random.Random(1)
print(json.dumps({"lmf": 1, "meta": {"kind": "examples", "command": "t"}}))
for i in range(2600):
    t = "".join(r.choice("abcdefgh ") for _ in range(2000))
    print(json.dumps({"item": i, "tensors": [{"name": "text", "dtype": "u8",
                      "shape": [2000], "text": t}]}))
print(json.dumps({"end": 2600}))
END
check "a compressed stream of 2600 items" lmf-dump -r -o big.lmf big.jsonl
$PY frames.py big.lmf >big.lmf.frames
check "it has two zstd frames" test "$(wc -l <big.lmf.frames)" -eq 2
set -- $(frame big.lmf 1)
f1end=$(($1 + $2))
lmf-dump big.lmf >clean.txt
head -c $f1end big.lmf >cut.lmf
lmf-dump cut.lmf >cut.txt 2>/dev/null
check "the first frame holds items" grep -q '^item 1[0-9]*:' cut.txt

damage big.lmf sum1.lmf $((f1end - 1))
check_exit "frame 1's checksum damaged: exit 1, one line" 1 lmf-dump sum1.lmf
cp check.out sum1.out
check_grep "  the line names the frame and the checksum" \
    "zstd frame at byte 0: .*checksum" check.err
check "  no item of the damaged frame is printed" \
    sh -c '! grep -q "^item" sum1.out'
damage big.lmf late1.lmf $((f1end - 200))
check_exit "a byte late in frame 1 damaged: exit 1, one line" 1 \
    lmf-dump late1.lmf
cp check.out late1.out
check "  no item of the damaged frame is printed" \
    sh -c '! grep -q "^item" late1.out'
set -- $(frame big.lmf 2)
damage big.lmf sum2.lmf $(($1 + $2 - 1))
check_exit "frame 2's checksum damaged: exit 1, one line" 1 lmf-dump sum2.lmf
check_same "  exactly the bytes of frame 1 were used" cut.txt check.out
check "the undamaged stream reads" lmf-dump -q big.lmf
check "two such streams concatenated read as one" \
    sh -c 'cat big.lmf big.lmf | lmf-dump -q'

# lmf-sft: no step and no checkpoint on a damaged batches stream
tiny_model
# 100 batches of 3 x (4, 64) i32, 300 KiB: one frame, past the 128 KiB a
# streaming decoder hands out before it reaches the checksum
$PY "$TOP/tests/mkbatches.py" -B 4 -T 64 -n 100 | lmf-dump -j - |
    lmf-dump -r -o b.lmf
damage b.lmf bad.lmf $(($(wc -c <b.lmf) - 1))
check_exit "lmf-sft on damaged batches: exit 1, one line" 1 \
    lmf-sft --model m.lmf --data bad.lmf --threads 1 --max_steps 6 \
    --save_steps 2 --logging_steps 1 --output_dir run
check_grep "  the line says the batches are corrupt" "bad.lmf.*checksum" \
    check.err
check "  no step ran, no checkpoint or model was written" sh -c '
    ! ls run/checkpoint-* run/model.lmf >/dev/null 2>&1 &&
    ! test -s run/trainer_log.jsonl'
check "  the undamaged batches train" lmf-sft --model m.lmf --data b.lmf \
    --threads 1 --max_steps 6 --save_steps 2 -q --output_dir ok

# frames of other writers: one frame of 5.3 MB reads; past 64 MiB, one
# line says how to rewrite the stream, and the rewrite reads
zstd -q -d -c big.lmf | zstd -q -1 -c >one.zst
lmf-dump one.zst >one.txt 2>&1
check_same "zstd(1)'s single 5.3 MB frame reads" clean.txt one.txt
$PY - <<'END' | zstd -q -1 -c >huge.zst
import struct, sys
def rec(tag, p):
    return tag + struct.pack("<Q", len(p)) + p
n = 65 << 20
o = sys.stdout.buffer
o.write(rec(b"LMFS", struct.pack("<I", 1) + b'{"kind":"x"}'))
o.write(rec(b"ITEM", struct.pack("<I", 1)))
o.write(b"TNSR" + struct.pack("<QH", 2 + 1 + 2 + 8 + n, 1) + b"z" +
        bytes([9, 1]) + struct.pack("<Q", n))
o.write(bytes(n))
o.write(rec(b"ENDS", struct.pack("<Q", 1)))
END
check_exit "a frame of 65 MiB: exit 1, one line" 1 lmf-dump -q huge.zst
check_grep "  the line says how to rewrite it" "more than 64 MiB.*zstd -d" \
    check.err
check "  zstd -d rewrites it into a stream that reads" sh -c \
    'zstd -q -d huge.zst -o huge.lmf && lmf-dump -q huge.lmf'
done_testing
