#!/usr/bin/python3
# stop_early.py: make a tiny random Llama checkpoint (a Hugging Face
# directory with one F32 model.safetensors) end every generation at once:
# each token's embedding gets a large constant in dimension 0, which then
# dominates the final RMSNorm's output at every position, and lm_head's row
# of the stop id gets a large weight there, so that the stop id's logit
# wins greedy and sampled decoding whatever the prompt. Edits the file in
# place. Usage: stop_early.py DIR STOP_ID
import array
import json
import struct
import sys

path = sys.argv[1] + '/model.safetensors'
stop = int(sys.argv[2])
b = bytearray(open(path, 'rb').read())
n = struct.unpack('<Q', b[:8])[0]
h = json.loads(b[8:8 + n])


def tensor(name):
    t = h[name]
    if t['dtype'] != 'F32' or len(t['shape']) != 2:
        sys.exit('stop_early.py: %s is not a 2-d F32 tensor' % name)
    o = 8 + n + t['data_offsets'][0]
    return memoryview(b)[o:8 + n + t['data_offsets'][1]].cast('f'), t['shape']


emb, (V, C) = tensor('model.embed_tokens.weight')
emb[0::C] = array.array('f', [10.0] * V)
head, (V2, C2) = tensor('lm_head.weight')
if not 0 <= stop < V2:
    sys.exit('stop_early.py: stop id %d is out of range' % stop)
head[stop * C2] = 8.0
del emb, head
open(path, 'wb').write(b)
