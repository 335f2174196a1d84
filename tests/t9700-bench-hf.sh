#!/bin/sh
# dev/bench-hf.sh, make bench's transformers comparison, against a fake
# hf_bench.py and stub transformers, peft and torch modules put first on
# PYTHONPATH: the table puts lmf-sft's fp32 and --bf16 tokens/s beside the
# fake's fp32 and bf16 numbers with their ratios, and both fp32 peak RSS
# figures with theirs; the fake gets the threads and runs asked, a failed
# run is n/a with a line on stderr, and a missing hf_bench.py or
# transformers skips with one line and exit 0; with LMF_PROFILE=1 each
# lmf-sft run's profile lands in dev/out/hf/profile.txt. (The generation
# table,
# BENCH_HF_GEN_BATCH, needs a real transformers: not here.)
. "$(dirname "$0")/lib.sh"
plan 10
mkdir -p stub/transformers stub/peft stub/torch bad/transformers
echo '__version__ = "0.0-fake"' >stub/transformers/__init__.py
: >stub/peft/__init__.py
echo '__version__ = "0.0-fake"' >stub/torch/__init__.py
echo 'raise ImportError("fake: no transformers")' \
	>bad/transformers/__init__.py
cat >fake_hf.py <<'PY'
import json, os, sys
open(os.environ["FAKE_ARGS"], "w").write(" ".join(sys.argv[1:]) + "\n")
runs = sys.argv[sys.argv.index("--runs") + 1].split(",")
for r in runs:
    size, mode, dev, dt = r.split(":")
    if os.environ.get("FAKE_FAIL"):
        print(json.dumps(dict(run=r, error="RuntimeError('fake')")))
        continue
    print(json.dumps(dict(engine="transformers", size=size, mode=mode,
        dtype=dt, tokens_per_s=100.0 if dt == "fp32" else 400.0,
        peak_rss_mb=1000)))
PY
hf() {
	FAKE_ARGS=$PWD/fake.args PYTHONPATH=$PWD/stub \
	    BENCH_HF=$PWD/fake_hf.py BENCH_SHAPES=micro BENCH_FT=full \
	    BENCH_STEPS=1 BENCH_WARMUP=1 BENCH_HF_GEN_BATCH= env "$@" \
	    sh "$TOP/dev/bench-hf.sh"
}

rm -f "$TOP/dev/out/hf/profile.txt"
hf BENCH_HF_BF16=1 LMF_PROFILE=1 >t.md 2>t.err
check "LMF_PROFILE=1: both lmf-sft runs' profiles" awk '
	/^# micro full, 2 threads/ { h++ }
	/^profile: products \(sgemm\)/ { p++ }
	END { exit !(h == 2 && p >= 1) }' "$TOP/dev/out/hf/profile.txt"
r=micro:full:cpu
check "bf16 on: the fake gets the threads, steps and both runs" grep -qx \
	-- "--threads 2 --steps 1 --warmup 1 --runs $r:fp32,$r:bf16" fake.args
check "  a row with lmf's fp32 and bf16 tokens/s and RSS beside the fake's" \
	awk -F' *[|] *' '$2 == "micro" {
		n++
		ok = $3 == "full" && $4 == 2 && $5 > 0 && $6 == "100.0" &&
		    $7 == sprintf("%.2fx", $5 / 100) && $8 > 0 &&
		    $9 == "400.0" && $10 == sprintf("%.2fx", $8 / 400) &&
		    $11 > 0 && $12 == 1000 &&
		    $13 == sprintf("%.2fx", $11 / 1000)
	} END { exit !(n == 1 && ok) }' t.md
check "  the header names transformers' version" grep -q \
	'transformers 0.0-fake, PyTorch 0.0-fake' t.md
hf BENCH_HF_BF16=0 BENCH_HF_THREADS=1 FAKE_FAIL=1 >f.md 2>f.err
check "bf16 off: one fp32 run at the threads asked" grep -qx \
	-- "--threads 1 --steps 1 --warmup 1 --runs micro:full:cpu:fp32" \
	fake.args
check "  a failed run is n/a, no ratio, no bf16" awk -F' *[|] *' '
	$2 == "micro" {
		n++
		ok = $4 == 1 && $5 > 0 && $6 == "n/a" && $7 == "" &&
		    $8 == "" && $9 == "" && $10 == "" && $11 > 0 &&
		    $12 == "n/a" && $13 == ""
	} END { exit !(n == 1 && ok) }' f.md
check_grep "  and says so on stderr" \
	"transformers micro:full:cpu:fp32 failed: RuntimeError('fake')" f.err
rm -f fake.args
hf BENCH_HF=$PWD/none.py >n.md 2>n.err
check "no hf_bench.py: one line saying so, nothing run" sh -c \
	'grep -q "^Skipped: no hf_bench.py at .*none.py" n.md &&
	! test -s n.err && ! test -e fake.args'
FAKE_ARGS=$PWD/fake.args PYTHONPATH=$PWD/bad BENCH_HF=$PWD/fake_hf.py \
	sh "$TOP/dev/bench-hf.sh" >i.md 2>i.err
echo "exit $?" >>i.md
check "no transformers: one line saying so, exit 0" sh -c \
	'grep -q "^Skipped: .* cannot import transformers and peft" i.md &&
	grep -qx "exit 0" i.md && ! test -e fake.args'
check "make bench runs it" grep -q 'sh dev/bench-hf.sh' "$TOP/dev/bench.sh"
done_testing
