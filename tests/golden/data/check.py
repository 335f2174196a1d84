#!/usr/bin/env python3
"""check.py: run lmf-tokenize on every case of this directory's goldens and
compare its examples with the reference ones. Prints one line per case,
"ok CASE" or "FAIL CASE: what differs"; exit 1 if any failed.

  python3 check.py SHARED [CASE-PREFIX...]
"""
import glob
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))

def items(args):
    tok = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if tok.returncode:
        raise RuntimeError(tok.stderr.decode().strip())
    dump = subprocess.run([os.path.join(TOP, "lmf-dump"), "--json"], input=tok.stdout,
                          stdout=subprocess.PIPE, check=True)
    out = []
    for line in dump.stdout.decode().splitlines():
        r = json.loads(line)
        if "item" in r:
            out.append({t["name"]: t["data"] if isinstance(t["data"], list) else [t["data"]]
                        for t in r["tensors"]})
    return out

def main():
    shared = sys.argv[1]
    prefixes = sys.argv[2:]
    failed = 0
    for path in sorted(glob.glob(os.path.join(HERE, "*.jsonl"))):
        lines = open(path).read().splitlines()
        head = json.loads(lines[0])
        if prefixes and not any(head["case"].startswith(p) for p in prefixes):
            continue
        want = [json.loads(l) for l in lines[1:]]
        args = [os.path.join(TOP, "lmf-tokenize"), "-q", "-l", "0",
                "--tokenizer", os.path.join(shared, "tokenizers", head["tokenizer"]),
                "--dataset_dir", os.path.join(shared, "data", "llamafactory")] + head["args"]
        try:
            got = items(args)
        except RuntimeError as e:
            print("FAIL %s: %s" % (head["case"], e))
            failed += 1
            continue
        why = None
        if len(got) != len(want):
            why = "%d examples, want %d" % (len(got), len(want))
        for i, (g, w) in enumerate(zip(got, want)):
            if why:
                break
            for k in w:
                if g.get(k) != w[k]:
                    gv, wv = g.get(k) or [], w[k]
                    j = next((j for j in range(min(len(gv), len(wv))) if gv[j] != wv[j]),
                             min(len(gv), len(wv)))
                    why = "example %d %s: at %d got %s want %s (lengths %d, %d)" % (
                        i, k, j, gv[j:j + 4], wv[j:j + 4], len(gv), len(wv))
                    break
        print(("FAIL %s: %s" % (head["case"], why)) if why else "ok " + head["case"])
        failed += why is not None
    sys.exit(1 if failed else 0)

if __name__ == "__main__":
    main()
