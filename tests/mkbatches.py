#!/usr/bin/python3
# mkbatches.py: write a raw "batches" stream (lmf-stream(5), llama.h's batch
# layout) of random token ids for the lmf-sft tests. Usage:
#   python3 mkbatches.py [-B 2] [-T 8] [-V 64] [-n 1] [--epochs 1]
#       [--seed 1] [--ignore-all] [--bad-id] [--no-header-counts] > FILE
# Row b of every batch is right-padded by b tokens (attention 0, label
# -100); the first two labels of each row are -100 (a prompt).
import argparse
import json
import random
import struct
import sys


def rec(tag, payload):
    return tag + struct.pack('<Q', len(payload)) + payload


def i32(name, shape, xs):
    n = name.encode()
    p = struct.pack('<H', len(n)) + n + bytes([7, len(shape)])
    p += b''.join(struct.pack('<Q', d) for d in shape)
    return rec(b'TNSR', p + struct.pack('<%di' % len(xs), *xs))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('-B', type=int, default=2)
    ap.add_argument('-T', type=int, default=8)
    ap.add_argument('-V', type=int, default=64)
    ap.add_argument('-n', type=int, default=1, help='batches per epoch')
    ap.add_argument('--epochs', type=int, default=1)
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--ignore-all', action='store_true')
    ap.add_argument('--bad-id', action='store_true')
    ap.add_argument('--no-header-counts', action='store_true')
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    B, T = a.B, a.T
    batches = []
    for _ in range(a.n):
        ids, mask, labels = [], [], []
        for b in range(B):
            pad = min(b, T - 3)
            row = [rnd.randrange(a.V) for _ in range(T)]
            m = [1] * (T - pad) + [0] * pad
            lab = [x if k >= 2 and m[k] else -100 for k, x in enumerate(row)]
            if a.ignore_all:
                lab = [-100] * T
            ids += row
            mask += m
            labels += lab
        if a.bad_id:
            ids[1] = a.V
        batches.append(ids and [i32('input_ids', [B, T], ids),
                                i32('attention_mask', [B, T], mask),
                                i32('labels', [B, T], labels)])
    meta = {'kind': 'batches', 'command': 'mkbatches.py'}
    if not a.no_header_counts:
        meta.update(num_batches=a.n * a.epochs, batches_per_epoch=a.n,
                    num_epochs=a.epochs)
    m = json.dumps(meta, sort_keys=True, separators=(',', ':'))
    out = rec(b'LMFS', struct.pack('<I', 1) + m.encode())
    for _ in range(a.epochs):
        for t in batches:
            out += rec(b'ITEM', struct.pack('<I', len(t))) + b''.join(t)
    out += rec(b'ENDS', struct.pack('<Q', a.n * a.epochs))
    sys.stdout.buffer.write(out)


main()
