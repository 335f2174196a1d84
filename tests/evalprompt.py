#!/usr/bin/python3
# evalprompt.py: LLaMA-Factory's MMLU / C-Eval / CMMLU prompt messages
# (spec 8.1: EvalTemplate's system line in en or zh, each example's
# question, "\nX. choice" lines and answer cue, n_shot dev examples as
# user/assistant turns before the question) built from a task folder's
# CSVs with Python's csv module alone, and compared with the messages
# lmf-eval --dump_prompts wrote. The order of the shots is taken from the
# dump (lmf-eval's NumPy emulation is checked against a golden elsewhere).
# Usage: evalprompt.py TASK_DIR NAME_SPLIT LANG N_SHOT DUMP; exit 1 on a
# difference, printing the first.
import csv
import json
import os
import sys

SYSTEM = {
    "en": "The following are multiple choice questions (with answers) "
          "about {subject}.\n\n",
    "zh": "以下是中国关于{subject}考试的单项选择题，请选出其中的正确答案。\n\n",
}
ANSWER = {"en": "\nAnswer:", "zh": "\n答案："}
CHOICE = "\n{choice}. {content}"


def rows(folder, subject, split):
    """the split's examples as dicts: MMLU (data/D/S_D.csv, no header),
    C-Eval (D/S_D.csv, header with id) or CMMLU (D/S.csv, header with an
    index column, capitalised names)"""
    d = {"test": "test", "validation": "val", "train": "dev"}[split]
    mmlu = os.path.join(folder, "data", d, "%s_%s.csv" % (subject, d))
    if os.path.exists(mmlu):
        with open(mmlu, newline="", encoding="utf-8") as f:
            return [dict(zip(["question", "A", "B", "C", "D", "answer"], r))
                    for r in csv.reader(f) if r]
    for p in (os.path.join(folder, d, "%s_%s.csv" % (subject, d)),
              os.path.join(folder, d, "%s.csv" % subject)):
        if os.path.exists(p):
            with open(p, newline="", encoding="utf-8") as f:
                return [{k.lower() if k in ("Question", "Answer") else k: v
                         for k, v in r.items()} for r in csv.DictReader(f)]
    raise SystemExit("no %s CSV for %s" % (split, subject))


def example(ex, lang):
    """EvalTemplate._parse_example: (question with choices and cue,
    answer)"""
    text = ex["question"] + "".join(CHOICE.format(choice=c, content=ex[c])
                                    for c in "ABCD" if c in ex)
    return text + ANSWER[lang], ex.get("answer", "")


def messages(ex, dev, shots, name, lang):
    """EvalTemplate.format_example"""
    msgs = []
    for e in [dev[i] for i in shots] + [ex]:
        q, a = example(e, lang)
        msgs += [{"role": "user", "content": q},
                 {"role": "assistant", "content": a}]
    msgs[0]["content"] = SYSTEM[lang].format(subject=name) + \
        msgs[0]["content"]
    return msgs


def main():
    task_dir, task, lang, n_shot, dump = sys.argv[1:6]
    name, split = task.split("_")
    folder = os.path.join(task_dir, name)
    with open(os.path.join(folder, "mapping.json"), encoding="utf-8") as f:
        mapping = json.load(f)
    got = [json.loads(l) for l in open(dump, encoding="utf-8")]
    want_n = 0
    k = 0
    for subject, info in mapping.items():
        qs = rows(folder, subject, split)
        dev = rows(folder, subject, "train")
        for i, ex in enumerate(qs):
            g = got[k]
            k += 1
            shots = g["shots"]
            if (g["subject"], g["index"]) != (subject, i):
                raise SystemExit("line %d: %s %s, want %s %d" %
                                 (k, g["subject"], g["index"], subject, i))
            if len(shots) != min(int(n_shot), len(dev)) or \
                    sorted(set(shots)) != sorted(shots) or \
                    any(not 0 <= s < len(dev) for s in shots):
                raise SystemExit("line %d: shots %s of %d" %
                                 (k, shots, len(dev)))
            want = messages(ex, dev, shots, info["name"], lang)
            if g["messages"] != want:
                raise SystemExit("line %d: %r\nwant %r" %
                                 (k, g["messages"], want))
            want_n += 1
    if len(got) != want_n:
        raise SystemExit("%d lines, want %d" % (len(got), want_n))
    print("%d prompts agree" % want_n)


main()
