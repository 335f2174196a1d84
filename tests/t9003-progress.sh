#!/bin/sh
# lmf-sft's progress: on a terminal (a pty from python3) a progress line
# rewritten in place with the log lines above it; through a pipe only the
# log lines; the time to the first step printed once in both.
. "$(dirname "$0")/lib.sh"
plan 9
PY=python3
tiny_model
$PY "$TOP/tests/mkbatches.py" -B 2 -T 16 >one.lmf
# run ARGS...: lmf-sft with stderr (and stdout) on a pty, bytes to tty.out
cat >ptyrun.py <<'PTY'
import os, pty, sys
out = open("tty.out", "wb")
def rd(fd):
    d = os.read(fd, 65536)
    out.write(d)
    return d
st = pty.spawn(sys.argv[1:], rd)
sys.exit(os.waitstatus_to_exitcode(st))
PTY
ARGS="--model m.lmf --threads 1 --data one.lmf --finetuning_type full"
ARGS="$ARGS --max_steps 40 --logging_steps 20 --save_steps 40"

check "on a terminal: exit 0" $PY ptyrun.py lmf-sft $ARGS --output_dir tty
check "  progress lines with step/total, loss, lr, tok/s, ETA" $PY -c '
import re, sys
t = open("tty.out", "rb").read().decode()
p = re.findall(r"\r\[(..)/40\] loss \d+\.\d{4} lr \d\.\de[-+]\d\d \d+ tok/s "
    r"ETA \d+:\d\d:\d\d\x1b\[K", t)
sys.exit(not (p and p[-1] == "40" and p[0] == " 1"))'
check "  log lines kept, each on a wiped line" $PY -c '
import re, sys
t = open("tty.out", "rb").read().decode()
l = re.findall(r"\r\x1b\[Kstep (\d+)/40: loss [0-9.]+ grad_norm", t)
sys.exit(l != ["20", "40"])'
check "  the first step time once" sh -c \
	'test "$(grep -c "first step after [0-9]*\.[0-9][0-9] s" tty.out)" = 1'
check "  the result as without a terminal" test -s tty/model.safetensors

check "through a pipe: exit 0" sh -c "lmf-sft $ARGS --output_dir pipe \
	2>pipe.err | cat"
check "  no progress line, no escape" sh -c \
	'! grep -q "ETA\|$(printf "\r")\|$(printf "\033")" pipe.err'
check "  exactly the log lines and the first step time" sh -c \
	'grep -v "^step [0-9]*: saved" pipe.err >lines &&
	test "$(sed -n 1p lines | sed "s/[0-9.]* s$//")" = "first step after " &&
	test "$(grep -c "^step [24]0/40: loss" lines)" = 2 &&
	test "$(wc -l <lines)" = 3'
check "-q on a terminal: nothing" sh -c \
	"$PY ptyrun.py lmf-sft $ARGS -q --output_dir q && test ! -s tty.out"
done_testing
