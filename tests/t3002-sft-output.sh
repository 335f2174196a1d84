#!/bin/sh
# lmf-sft's output directory: LLaMA-Factory's layout, adapter files PEFT
# reads (checked by an independent reader against the adapter stream),
# the loss plots as valid PNG, checkpoint-N with save_total_limit,
# resume after kill -9 ending bit-identical to an uninterrupted run with
# the same trainer_log.jsonl (also after SIGTERM, and when resumed from
# the final checkpoint), SIGTERM writing a checkpoint, the refusal of an output_dir with weights
# and no checkpoint, usage errors and a corrupt checkpoint.
. "$(dirname "$0")/lib.sh"
plan 26
PY=python3
tiny_model
$PY "$TOP/tests/mkbatches.py" -B 2 -T 16 -n 6 >b.lmf
$PY "$TOP/tests/mkbatches.py" -B 2 -T 16 -n 2 --seed 5 >e.lmf
# the byte offset of item $1 of raw stream $2
item_at() {
	$PY - "$1" "$2" <<'PYEOF'
import struct, sys
k, d = int(sys.argv[1]), open(sys.argv[2], 'rb').read()
off = n = 0
while off < len(d):
    tag, ln = d[off:off + 4], struct.unpack('<Q', d[off + 4:off + 12])[0]
    if tag == b'ITEM':
        if n == k:
            break
        n += 1
    off += 12 + ln
print(off)
PYEOF
}
# the same trainer_log.jsonl but for the fields of wall time
same_log() {
	$PY - "$1" "$2" <<'PYEOF'
import json, sys
def rd(p):
    out = []
    for l in open(p):
        j = json.loads(l)
        for k in ('elapsed_time', 'remaining_time', 'throughput'):
            j.pop(k)
        out.append(j)
    return out
a, b = rd(sys.argv[1]), rd(sys.argv[2])
if a != b:
    print('%d lines against %d; steps %s against %s' % (len(a), len(b),
        [x['current_steps'] for x in a], [x['current_steps'] for x in b]),
        file=sys.stderr)
sys.exit(a != b)
PYEOF
}
sft() { lmf-sft --model ../m.lmf --threads 1 -l 0 --learning_rate 1e-3 "$@"; }

check_exit "bad --save_strategy" 2 lmf-sft --data b.lmf -o x \
	--save_strategy often
check_exit "--eval_strategy without --eval_data" 2 lmf-sft --data b.lmf \
	-o x --eval_strategy steps

mkdir a && cd a
check "LoRA run with eval, plots, checkpoints" sft --data ../b.lmf \
	--max_steps 12 --save_steps 4 --save_total_limit 2 --logging_steps 2 \
	--eval_data ../e.lmf --eval_strategy steps --eval_steps 4 --plot_loss \
	--output_dir out -q
check "the layout is complete" sh -c 'cd out && for f in adapter.lmf \
	adapter_config.json adapter_model.safetensors all_results.json \
	eval_results.json train_results.json trainer_log.jsonl \
	trainer_state.json training_loss.png training_eval_loss.png \
	checkpoint-12/optimizer.lmf checkpoint-12/adapter_model.safetensors \
	checkpoint-12/trainer_state.json checkpoint-12/lmf_state.json; do
	test -s $f || exit 1; done'
check "save_total_limit 2 keeps the newest two" sh -c \
	'test "$(ls -d out/checkpoint-* | sort)" = \
	"$(printf "out/checkpoint-12\nout/checkpoint-8")"'
check "trainer_state.json and results have Hugging Face's keys" $PY -c '
import json, sys
s = json.load(open("out/trainer_state.json"))
h = s["log_history"]
tr = [e for e in h if "loss" in e]; ev = [e for e in h if "eval_loss" in e]
fin = h[-1]
ok = (s["global_step"] == 12 and s["max_steps"] == 12 and len(tr) == 6
    and set(tr[0]) == {"epoch", "grad_norm", "learning_rate", "loss", "step"}
    and [e["step"] for e in ev] == [4, 8, 12]
    and {"eval_runtime", "eval_samples_per_second"} <= set(ev[0])
    and {"train_loss", "train_runtime", "total_flos", "step"} <= set(fin))
a = json.load(open("out/all_results.json"))
ok = ok and {"train_loss", "eval_loss", "epoch"} <= set(a)
ok = ok and "eval_loss" in json.load(open("out/eval_results.json"))
t = [json.loads(l) for l in open("out/trainer_log.jsonl")]
ok = ok and sum("eval_loss" in x for x in t) == 4
sys.exit(not ok)'
check "adapter_config.json is PEFT's, indent 2, sorted" $PY -c '
import json, sys
t = open("out/adapter_config.json").read()
c = json.loads(t)
sys.exit(not (c["peft_type"] == "LORA" and c["r"] == 8 and
    t == json.dumps(c, indent=2, sort_keys=True)))'
check "adapter_model.safetensors equals the adapter stream bit for bit" \
	$PY - out/adapter_model.safetensors out/adapter.lmf <<'PYEOF'
import json, struct, sys
st = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', st[:8])[0]
assert n % 8 == 0
hdr = json.loads(st[8:8 + n])
assert hdr.pop('__metadata__') == {'format': 'pt'}
data = st[8 + n:]
d, off, got = open(sys.argv[2], 'rb').read(), 0, {}
while off < len(d):
    tag, ln = d[off:off + 4], struct.unpack('<Q', d[off + 4:off + 12])[0]
    p = d[off + 12:off + 12 + ln]
    if tag == b'TNSR':
        nl = struct.unpack('<H', p[:2])[0]
        name = p[2:2 + nl].decode()
        dt, nd = p[2 + nl], p[3 + nl]
        shape = list(struct.unpack('<%dQ' % nd, p[4 + nl:4 + nl + 8 * nd]))
        got[name] = (dt, shape, p[4 + nl + 8 * nd:])
    off += 12 + ln
assert set(got) == set(hdr) and len(got) == 2 * 7 * 2
prev = 0
for name in sorted(hdr, key=lambda k: hdr[k]['data_offsets']):
    h = hdr[name]
    b, e = h['data_offsets']
    assert b == prev and h['dtype'] == 'F32' and got[name][0] == 1
    assert h['shape'] == got[name][1] and data[b:e] == got[name][2]
    assert name.startswith('base_model.model.model.layers.')
    prev = e
assert prev == len(data)
PYEOF
check "the loss plots are valid 640x480 PNG" $PY - out/training_loss.png \
	out/training_eval_loss.png <<'PYEOF'
import struct, sys, zlib
for f in sys.argv[1:]:
    d = open(f, 'rb').read()
    assert d[:8] == b'\x89PNG\r\n\x1a\n'
    off, idat, types = 8, b'', []
    while off < len(d):
        n, t = struct.unpack('>I4s', d[off:off + 8])
        body = d[off + 8:off + 8 + n]
        crc = struct.unpack('>I', d[off + 8 + n:off + 12 + n])[0]
        assert zlib.crc32(t + body) == crc
        types.append(t)
        if t == b'IHDR':
            w, h = struct.unpack('>II', body[:8])
        if t == b'IDAT':
            idat += body
        off += 12 + n
    assert types[0] == b'IHDR' and types[-1] == b'IEND'
    assert (w, h) == (640, 480)
    assert len(zlib.decompress(idat)) == h * (1 + 3 * w)
PYEOF

# an uninterrupted run, and one killed with -9 after checkpoint-4 then run
# again with the same command: the same final stream, byte for byte, and
# the same log (steps 5 and 6, logged before the kill, not twice)
RUN="lmf-sft --model ../m.lmf --threads 1 -l 0 --learning_rate 1e-3 \
--data data.lmf --max_steps 12 --save_steps 4 --output_dir out \
--finetuning_type full --logging_steps 1 --eval_data ../e.lmf \
--eval_strategy steps --eval_steps 4 -q"
run() { $RUN; }
mkdir ../u && cd ../u && cp ../b.lmf data.lmf
check "uninterrupted full run" run
mkdir ../k && cd ../k && mkfifo data.lmf
off=$(item_at 6 ../b.lmf)
{ head -c "$off" ../b.lmf; while [ ! -f go ]; do sleep 0.1; done; } \
	>data.lmf &
$RUN 2>err & pid=$!
i=0; while [ ! -d out/checkpoint-4 ] && [ $i -lt 200 ]; do
	sleep 0.1; i=$((i + 1)); done
kill -9 $pid; touch go; wait $pid 2>/dev/null; wait
check "killed after checkpoint-4, not finished" sh -c \
	'test -d out/checkpoint-4 && test ! -f out/model.lmf'
rm data.lmf && cp ../b.lmf data.lmf
check "the same command resumes" run
check "  and ends with the same model stream" cmp out/model.lmf \
	../u/out/model.lmf
check "  and the same model.safetensors" cmp out/model.safetensors \
	../u/out/model.safetensors
check "  and the same trainer_log.jsonl" same_log out/trainer_log.jsonl \
	../u/out/trainer_log.jsonl
# killed after the final checkpoint, before the end: run again, it
# resumes from checkpoint-12 and logs the final evaluation once
mkdir ../f && cd ../f && cp -r ../u/out out && cp ../b.lmf data.lmf
rm out/model.lmf out/model.safetensors
check "resumed from the final checkpoint" run
check "  the same trainer_log.jsonl" same_log out/trainer_log.jsonl \
	../u/out/trainer_log.jsonl

# LoRA with dropout: a run resumed from the uninterrupted run's
# checkpoint-4 draws the same masks and ends with the same adapter
DRUN="lmf-sft --model ../m.lmf --threads 1 -l 0 --learning_rate 1e-3 \
--data ../b.lmf --max_steps 12 --save_steps 4 --output_dir out \
--lora_dropout 0.2 -q"
mkdir ../d && cd ../d
check "uninterrupted LoRA run with dropout" $DRUN
mkdir ../d2 && cd ../d2 && mkdir out && cp -r ../d/out/checkpoint-4 out/
check "  resumed from its checkpoint-4 ends with the same adapter" \
	sh -c "$DRUN && cmp out/adapter.lmf ../d/out/adapter.lmf"

# SIGTERM while training: the step finishes, a checkpoint, exit 143
mkdir ../t && cd ../t && mkfifo data.lmf
off=$(item_at 3 ../b.lmf)
{ head -c "$off" ../b.lmf; while [ ! -f go ]; do sleep 0.1; done
  tail -c +$((off + 1)) ../b.lmf; } >data.lmf &
lmf-sft --model ../m.lmf --threads 1 -l 0 --data data.lmf --max_steps 12 \
	--logging_steps 1 --output_dir out 2>err & pid=$!
i=0; while [ "$(cat out/trainer_log.jsonl 2>/dev/null | wc -l)" -lt 3 ] &&
	[ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
kill -TERM $pid; sleep 0.3; touch go; wait $pid; rc=$?; wait
check "SIGTERM: exit 143" test $rc = 143
check "  checkpoint-4 written" test -f out/checkpoint-4/lmf_state.json
check_grep "  and said so" "stopped by signal 15 after step 4" err
check "  resumed" lmf-sft --model ../m.lmf --threads 1 -l 0 --data ../b.lmf \
	--max_steps 12 --logging_steps 1 --output_dir out -q
mkdir ../t2 && cd ../t2
lmf-sft --model ../m.lmf --threads 1 -l 0 --data ../b.lmf --max_steps 12 \
	--logging_steps 1 --output_dir out -q
check "  the log of an uninterrupted run" same_log ../t/out/trainer_log.jsonl \
	out/trainer_log.jsonl

# an output_dir with weights and no checkpoint is refused
cd ../a && rm -r out/checkpoint-*
check_exit "weights and no checkpoint: refused" 1 sft --data ../b.lmf \
	--max_steps 2 --output_dir out
check_exit "a corrupt checkpoint" 1 sh -c 'mkdir -p bad &&
	echo "{" >bad/lmf_state.json && lmf-sft --model ../m.lmf \
	--data ../b.lmf --max_steps 2 -o x --resume_from_checkpoint bad'
done_testing
