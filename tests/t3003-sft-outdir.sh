#!/bin/sh
# lmf-sft owns its output_dir for the whole run: a second run into it is
# refused with one line before it reads or writes anything there, and the
# first ends as if alone; what a dead run left half-written (temp files and
# checkpoint-N.tmp-PID of a process no longer running) goes at the next
# start, and nothing else does; a commit cut between its renames gets its
# checkpoint back; the lock file left behind does not make the directory
# "not empty"; the driver passes the tokenizer to lmf-sft, which writes it.
. "$(dirname "$0")/lib.sh"
plan 16
PY=python3
tiny_model
$PY "$TOP/tests/mkbatches.py" -B 2 -T 16 -n 6 >b.lmf
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
SFT="lmf-sft --model ../m.lmf --threads 1 -l 0 --learning_rate 1e-3 \
--max_steps 6 --save_steps 2 --logging_steps 1"
sft() { $SFT "$@"; }
# every file under $1 with its checksum
snap() { (cd "$1" && find . -type f | LC_ALL=C sort | xargs cksum); }
# a pid no process has
sh -c 'exit 0' & dead=$!; wait $dead

mkdir u && cd u
sft --data ../b.lmf --output_dir out -q

# a run blocked on its batches after checkpoint-2 and step 3
mkdir ../l && cd ../l && mkfifo data.lmf
off=$(item_at 3 ../b.lmf)
{ head -c "$off" ../b.lmf; while [ ! -f go ]; do sleep 0.1; done
  tail -c +$((off + 1)) ../b.lmf; } >data.lmf &
$SFT --data data.lmf --output_dir out -q 2>err1 & pid=$!
i=0; while [ "$(cat out/trainer_log.jsonl 2>/dev/null | wc -l)" -lt 3 ] &&
	[ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
snap out >before
check_exit "a second run into the same output_dir: exit 1, one line" 1 \
	sft --data ../b.lmf --output_dir out
check_grep "  naming the directory and the run holding it" \
	"^lmf-sft: output_dir 'out' is in use by another run (pid $pid)\$" \
	check.err
snap out >after
check_same "  it read and wrote nothing there" before after
touch go; wait $pid; rc=$?; wait
check "the first run ends well" test $rc = 0
check "  with the weights of a run alone" cmp \
	out/adapter_model.safetensors ../u/out/adapter_model.safetensors
check "  and its log" sh -c 'cut -d\" -f1-11 out/trainer_log.jsonl >a &&
	cut -d\" -f1-11 ../u/out/trainer_log.jsonl >b && cmp a b'
check "the lock is free once it ended: the same command again" \
	sft --data ../b.lmf --output_dir out -q
check_grep "  the lock file says whose it was" "^[0-9][0-9]*\$" out/.lmf-lock

# a lock file alone is not a non-empty output_dir
mkdir ../e && cd ../e && mkdir out && echo 123 >out/.lmf-lock
check "an output_dir holding only the lock file is trained into" \
	sft --data ../b.lmf --output_dir out -q

# leftovers of a run killed with -9 while writing, beside files that are
# not lmf's or belong to a live process
mkdir ../c && cd ../c && mkdir out
for f in model.safetensors.tmp-$dead-Ab12Cd adapter.lmf.tmp-$dead-x0Yz9Q \
    trainer_log.jsonl.tmp-$dead-QQQQQQ \
    model-00001-of-00002.safetensors.tmp-$dead-abcdef; do
	echo half >"out/$f"
done
mkdir out/checkpoint-4.tmp-$dead && echo half >out/checkpoint-4.tmp-$dead/x
echo mine >out/notes.txt
echo live >out/model.safetensors.tmp-$$-Ab12Cd
echo mine >out/data.tmp-$dead
echo mine >out/data.tmp-$dead-toolong
mkdir out/backup.tmp-$dead-abcdef out/checkpoint-best.tmp-$dead
ln -s notes.txt out/config.json.tmp-$dead-Ab12Cd
check "a run into an output_dir with a dead run's leftovers" \
	sft --data ../b.lmf --output_dir out -q
check "  removes the dead run's temp files and checkpoint dir" sh -c "
	! ls -d out/*.tmp-$dead-?????? out/checkpoint-4.tmp-$dead 2>/dev/null |
	grep -v -e backup -e config.json"
check "  and leaves everything else" sh -c "test -f out/notes.txt &&
	test -f out/model.safetensors.tmp-$$-Ab12Cd &&
	test -f out/data.tmp-$dead && test -f out/data.tmp-$dead-toolong &&
	test -d out/backup.tmp-$dead-abcdef &&
	test -d out/checkpoint-best.tmp-$dead &&
	test -L out/config.json.tmp-$dead-Ab12Cd"

# a commit killed between its two renames: checkpoint-2 is only there as
# checkpoint-2.old-PID; the next start puts it back and resumes from it
mkdir ../o && cd ../o && mkdir out
cp -r ../u/out/checkpoint-2 out/checkpoint-2.old-$dead
check "checkpoint-N.old-PID of a dead run, no checkpoint-N" \
	sft --data ../b.lmf --output_dir out
check_grep "  resumes from it, put back" \
	"resuming training from 'out/checkpoint-2' at step 2" check.err

# lmf train: the tokenizer reaches output_dir through lmf-sft
mkdir ../d && cd ../d && tiny_dir tiny
lmf train --stage sft --model_name_or_path tiny --train_from_scratch \
	--do_train --dataset identity --dataset_dir "$TOP/data" \
	--template llama3 --cutoff_len 64 --max_samples 8 --max_steps 1 \
	--output_dir out --dry_run >dry.sh 2>/dev/null
check "lmf train gives lmf-sft the tokenizer, copies nothing itself" sh -c \
	'grep -q "^lmf-sft .*--tokenizer_dir tiny" dry.sh && ! grep -q "^cp " dry.sh'
check_exit "--tokenizer_dir without --output_dir" 2 lmf-sft --model ../m.lmf \
	--data ../b.lmf -o x --tokenizer_dir tiny
done_testing
