#!/bin/sh
# An export into a directory that holds an earlier one: every shard and
# the index are on disk (synced) before any is renamed, so a run killed
# while it writes leaves the old export as it was and no temporary file
# (SIGTERM removes them); a new export with another shard count, or one
# file, leaves none of the earlier one's shards or its index (t7000 has
# the finer rules). A tool killed while it writes a stream (lmf-load
# --init) leaves no temporary file either. The kills are timed by strace's
# fault injection (fsync held 1 s), skipped without strace.
. "$(dirname "$0")/lib.sh"
plan 9
python3 "$TOP/tests/mkckpt.py" llama ll >/dev/null
python3 "$TOP/tests/mkckpt.py" adapter ad >/dev/null
lmf-load -q -o base.lmf ll
lmf-load -q --adapter_name_or_path ad -o ad.lmf
set -- --model_name_or_path base.lmf --export_size 0.0000015
lmf-export "$@" --export_dir ex
cp -r ex ex.orig
check "an export of 10 shards" test -f ex/model-00010-of-00010.safetensors
# killrun US CMD...: CMD under strace with each fsync held US
# microseconds, sent SIGTERM 2.5 s after its start
killrun() {
	_us=$1
	shift
	strace -f -o /dev/null -e inject=fsync:delay_enter="$_us" "$@" \
		>/dev/null 2>&1 &
	sp=$!
	sleep 2.5
	pkill -TERM -P "$sp" 2>/dev/null
	wait "$sp" 2>/dev/null
}
if command -v strace >/dev/null &&
	strace -o /dev/null -e inject=fsync:delay_enter=1 true 2>/dev/null; then
	killrun 1000000 lmf-export "$@" --adapter_name_or_path ad.lmf \
		--export_dir ex
	check "killed while syncing its shards: the old export as it was" \
		diff -r ex ex.orig
	check "  no temporary file left" sh -c '! ls -a ex | grep -q tmp'
	python3 -c 'import json
c = json.load(open("ll/config.json"))
c["intermediate_size"] = 4096 * 8
json.dump(c, open("big.json", "w"))'
	mkdir big
	(cd big && killrun 6000000 lmf-load --init --config ../big.json \
		-o m.lmf)
	check "lmf-load killed while it syncs: no m.lmf, no temporary file" \
		sh -c '! ls -a big | grep -q "m\\.lmf"'
else
	skip "no strace with fault injection"
	skip "no strace with fault injection"
	skip "no strace with fault injection"
fi
lmf-export --model_name_or_path base.lmf --export_size 0.000003 \
	--export_dir ex
check "a re-export in 4 shards: the 10 shards' files gone" sh -c \
	'test "$(ls ex | grep -c "^model-.*safetensors$")" = 4 &&
	! ls ex | grep -q "of-00010"'
lmf-export --model_name_or_path base.lmf --export_dir ex
check "then in one file: no shard, no index left" sh -c \
	'test -f ex/model.safetensors && ! ls ex | grep -q "model-\|index"'
check "  and it loads" lmf-load -q -o back.lmf ex
# a shard that is a link to a device: written through (the export's
# temporary-file bookkeeping once freed such names twice)
mkdir full null
ln -s /dev/full full/model.safetensors
ln -s /dev/null null/model.safetensors
check_exit "model.safetensors a link to /dev/full: exit 1, one line" 1 \
	lmf-export --model_name_or_path base.lmf --export_dir full
check "  to /dev/null: exit 0" lmf-export --model_name_or_path base.lmf \
	--export_dir null
done_testing
