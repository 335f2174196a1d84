# mkbatches.py: a raw lmf "batches" stream of random tokens for
# dev/bench-train.sh: N items, each input_ids, attention_mask (all 1) and
# labels (= input_ids) as i32 (B, T), the layout of include/lmf/llama.h.
# Standard library only. Usage: python3 mkbatches.py B T V N [SEED] > FILE
import json
import random
import struct
import sys
from array import array


def rec(tag, payload):
    return tag + struct.pack('<Q', len(payload)) + payload


def tensor(name, B, T, values):
    a = array('i', values)
    if sys.byteorder != 'little':
        a.byteswap()
    n = name.encode()
    head = struct.pack('<H', len(n)) + n + bytes([7, 2])
    return rec(b'TNSR', head + struct.pack('<QQ', B, T) + a.tobytes())


def main():
    if len(sys.argv) not in (5, 6):
        sys.stderr.write('usage: mkbatches.py B T V N [SEED] > FILE\n')
        return 2
    B, T, V, N = (int(x) for x in sys.argv[1:5])
    rng = random.Random(int(sys.argv[5]) if len(sys.argv) == 6 else 42)
    meta = {'kind': 'batches', 'num_batches': N, 'batches_per_epoch': N,
            'num_epochs': 1, 'command': 'mkbatches.py ' +
            ' '.join(sys.argv[1:])}
    out = sys.stdout.buffer
    out.write(rec(b'LMFS', struct.pack('<I', 1) + json.dumps(
        meta, sort_keys=True, separators=(',', ':')).encode()))
    for _ in range(N):
        ids = [rng.randrange(V) for _ in range(B * T)]
        out.write(rec(b'ITEM', struct.pack('<I', 3)))
        out.write(tensor('input_ids', B, T, ids))
        out.write(tensor('attention_mask', B, T, [1] * (B * T)))
        out.write(tensor('labels', B, T, ids))
    out.write(rec(b'ENDS', struct.pack('<Q', N)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
