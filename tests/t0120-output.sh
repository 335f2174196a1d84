#!/bin/sh
# -o FILE (lmf_afile): a regular file is replaced atomically, with no temp
# file left; a device or a FIFO is written through and stays what it was;
# a symbolic link stays a link and the file it names gets the data; a
# directory or a link loop is refused. Checked with lmf-dump -r, and with
# lmf-load and lmf-pack, which write -o through the same helper.
. "$(dirname "$0")/lib.sh"
plan 33
PY=/usr/bin/python3
[ -x $PY ] || PY=python3

cat >fix.jsonl <<'END'
{"lmf":1,"meta":{"command":"t0120","kind":"examples"}}
{"item":0,"tensors":[{"name":"x","dtype":"f32","shape":[3],"data":[1,2,3]}]}
{"end":1}
END
lmf-dump -r fix.jsonl >want.lmf || exit 1
node() { stat -L -c '%d %i %t %T %F' "$1"; }
notmp() { ! ls -a "$@" | grep -q 'tmp-'; }

# regular files
check "-o a new file" lmf-dump -r -o new.lmf fix.jsonl
check_same "  holds the stream" want.lmf new.lmf
echo old >old.lmf
check "-o over a regular file" lmf-dump -r -o old.lmf fix.jsonl
check_same "  replaced by the stream" want.lmf old.lmf
check "  no temporary file left" notmp .

# a character device: a node of its own (1,3 is /dev/null), so that a
# failure damages nothing; the real /dev/null only when that one passed
if mknod nul c 1 3 2>/dev/null; then
	before=$(node nul)
	check "-o onto a character device" lmf-dump -r -o nul fix.jsonl
	check "  it is still a character device, the same node" \
	    test -c nul -a "$(node nul)" = "$before"
	ok_nul=$(test -c nul && echo y)
else
	skip "-o onto a character device (cannot mknod)"
	skip "  it is still a character device, the same node"
	ok_nul=
fi
if [ -n "$ok_nul" ]; then
	before=$(node /dev/null)
	check "-o /dev/null" lmf-dump -r -o /dev/null fix.jsonl
	check "  /dev/null is the same character device" \
	    test -c /dev/null -a "$(node /dev/null)" = "$before"
	check "  nothing left in /dev" notmp /dev
else
	skip "-o /dev/null (the device node test failed)"
	skip "  /dev/null is the same character device"
	skip "  nothing left in /dev"
fi

# a FIFO with a reader: the reader gets the stream, the FIFO stays
mkfifo fifo || exit 1
timeout 20 cat fifo >got.lmf &
rd=$!
check "-o onto a FIFO with a reader" timeout 20 lmf-dump -r -o fifo fix.jsonl
wait $rd
check_same "  the reader gets the stream" want.lmf got.lmf
check "  it is still a FIFO" test -p fifo

# symbolic links: the link stays, the file it names is replaced
echo old >target.lmf
ln -s target.lmf link.lmf
check "-o through a symbolic link" lmf-dump -r -o link.lmf fix.jsonl
check "  the link stays a link to the same name" \
    test -L link.lmf -a "$(readlink link.lmf)" = target.lmf
check_same "  the file it names holds the stream" want.lmf target.lmf
mkdir -p d/e
echo old >d/t.lmf
ln -s ../t.lmf d/e/rel
ln -s e/rel d/chain
check "-o through a chain of relative links" lmf-dump -r -o d/chain fix.jsonl
check "  both links stay" test -L d/chain -a -L d/e/rel
check_same "  the last name holds the stream" want.lmf d/t.lmf
check "  no temporary file left beside links or target" notmp . d d/e
ln -s made.lmf dangling
check "-o through a dangling link" lmf-dump -r -o dangling fix.jsonl
check "  the link stays, its target is made" \
    test -L dangling -a -f made.lmf
check_same "  and holds the stream" want.lmf made.lmf
if [ -n "$ok_nul" ]; then
	ln -s nul lnul
	before=$(node nul)
	check "-o through a link to a device" lmf-dump -r -o lnul fix.jsonl
	check "  the link and the device stay" \
	    test -L lnul -a "$(node nul)" = "$before"
else
	skip "-o through a link to a device"
	skip "  the link and the device stay"
fi

# refused
mkdir dir
check_exit "-o a directory: exit 1, one line" 1 lmf-dump -r -o dir fix.jsonl
check "  the directory stays" test -d dir
ln -s loop2 loop1
ln -s loop1 loop2
check_exit "-o a link loop: exit 1, one line" 1 lmf-dump -r -o loop1 fix.jsonl

# other tools: the same helper
lmf-load -q --init --model_name_or_path "$TOP/data/models/tiny-llama" \
    -o model.lmf || exit 1
mkfifo mfifo
timeout 30 cat mfifo >mgot.lmf &
rd=$!
check "lmf-load -o onto a FIFO" timeout 30 lmf-load -q --init \
    --model_name_or_path "$TOP/data/models/tiny-llama" -o mfifo
wait $rd
lmf-dump -j model.lmf | sed 1d >m1.json
lmf-dump -j mgot.lmf | sed 1d >m2.json
check "  a whole stream" test -s m2.json
check "  the same tensors as -o a file" cmp -s m1.json m2.json
$PY "$TOP/tests/packref.py" make sft 20 1 >sft.jsonl &&
    lmf-dump -r -l 0 sft.jsonl >sft.lmf || exit 1
echo old >ptarget
ln -s ptarget plink
echo old >etarget
ln -s etarget elink
check "lmf-pack -o and --eval_output through links" lmf-pack \
    --val_size 2 --eval_output elink -o plink sft.lmf
check "  both links stay, their files are streams" sh -c \
    'test -L plink -a -L elink && lmf-dump -q ptarget && lmf-dump -q etarget'
done_testing
