#!/bin/sh
# lmf-board in headless Chromium (tests/boardbrowser.py over chromedriver's
# WebDriver protocol): each stage's dataset list, preview, a tiny sft run
# whose loss plot grows, stopped, its checkpoint in the runs list.
# Screenshots of each step go to tests/scratch/t9501-shots/. Skipped
# without chromium and chromedriver (scripts/install-deps chromium
# chromium-driver installs them).
. "$(dirname "$0")/lib.sh"
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
DRIVER=${CHROMEDRIVER:-/usr/bin/chromedriver}
export CHROMIUM
if ! [ -x "$CHROMIUM" ] || ! [ -x "$DRIVER" ]; then
	echo "1..0 # skip no $CHROMIUM or $DRIVER (install chromium chromium-driver)"
	exit 0
fi
plan 12
SHOTS="$TOP/tests/scratch/t9501-shots"
rm -rf "$SHOTS"
mkdir -p "$SHOTS"
tiny_dir tiny
lmf-load -q --init --config tiny/config.json -o tiny/model.lmf

lmf-board --port 0 --runs runs >url.txt 2>board.err &
pid=$!
port=$(python3 -c 'import socket; s = socket.socket()
s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$DRIVER" --port="$port" >driver.log 2>&1 &
dpid=$!
trap 'kill $pid $dpid 2>/dev/null' EXIT
i=0
while { [ ! -s url.txt ] || ! grep -q "started successfully" driver.log; } &&
	[ $i -lt 100 ]; do
	sleep 0.1; i=$((i + 1))
done
python3 "$TOP/tests/boardbrowser.py" "$(cat url.txt)" \
	"http://127.0.0.1:$port" "$SHOTS" "$SCRATCH/tiny" "$TOP/data" \
	>browser.out 2>&1
while IFS='	' read -r st desc why; do
	case $st in
	0 | 1) _result "$st" "$desc"
		[ -n "$why" ] && echo "# $why" ;;
	*) _result 1 "boardbrowser.py: $st $desc" ;;
	esac
done <browser.out
echo "# screenshots in $SHOTS"
check "screenshots of each step" test "$(ls "$SHOTS" | wc -l)" -ge 12
trap - EXIT
kill $pid $dpid
done_testing
