#!/usr/bin/python3
# make_metric_golden.py: the golden of lmf-similarity (tests/golden/metric/):
# (prediction, label) pairs in Chinese and English made from the demo data
# (shared/data/llamafactory alpaca_zh_demo, alpaca_en_demo, identity) and a
# few hand-made edge cases, each with the scores LLaMA-Factory's
# ComputeSimilarity (src/llamafactory/train/sft/metric.py; spec 8.2) gives:
#   - jieba.cut(text) words, by Debian's python3-jieba (0.42.1);
#   - BLEU-4 by Debian's python3-nltk: sentence_bleu([list(label)],
#     list(pred), smoothing_function=SmoothingFunction().method3);
#   - ROUGE-1/2/L F-scores as rouge_chinese 1.0.3 computes them (pypi
#     rouge-chinese, rouge_chinese/rouge.py and rouge_score.py: cut_sent,
#     set n-grams, plain LCS, f = 2 p r / (p + r + 1e-8)); the formula is
#     written below from spec 8.3, the package is not in Debian;
#   - the means: numpy.mean of round(100 * score, 4), as predict_results.json.
# Writes pairs.jsonl (one pair per line: predict, label, the unscaled scores
# and both word lists) and results.json; and tiny.jsonl: jieba's words of
# TINY's sentences with the hand-made dictionary and HMM tables of tiny/
# (jieba.Tokenizer on tiny/dict.txt, finalseg's tables replaced by those of
# tiny/finalseg), so that make check tests the algorithm without the
# package.
# Usage (from the repository root): /usr/bin/python3
#   tests/golden/make_metric_golden.py [SHARED_DATA_DIR]
import json
import logging
import os
import random
import re
import sys

import jieba
import numpy as np
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

jieba.setLogLevel(logging.ERROR)
OUT = "tests/golden/metric"
DATA = sys.argv[1] if len(sys.argv) > 1 else "../shared/data/llamafactory"


# ---- rouge_chinese 1.0.3's Rouge().get_scores(hyp, ref)[0] (spec 8.3) ----
def cut_sent(para):
    para = re.sub("([。！？\\?])([^”’])", r"\1\n\2", para)
    para = re.sub("(\\.{6})([^”’])", r"\1\n\2", para)
    para = re.sub("(\\…{2})([^”’])", r"\1\n\2", para)
    para = re.sub("([。！？\\?][”’])([^，。！？\\?])", r"\1\n\2", para)
    return para.rstrip().split("\n")


def rouge_words(text):
    sents = [" ".join(s.split()) for s in cut_sent(text) if len(s) > 0]
    return [w for s in sents for w in s.split(" ")]


def f_score(match, nh, nr):
    p = 0.0 if nh == 0 else match / nh
    r = 0.0 if nr == 0 else match / nr
    return 2.0 * ((p * r) / (p + r + 1e-8))


def ngram_set(words, n):
    return set(tuple(words[i:i + n]) for i in range(len(words) - n + 1))


def lcs(a, b):
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def rouge(hyp, ref):
    h, r = rouge_words(hyp), rouge_words(ref)
    out = {}
    for n in (1, 2):
        hs, rs = ngram_set(h, n), ngram_set(r, n)
        out["rouge-%d" % n] = f_score(len(hs & rs), len(hs), len(rs))
    out["rouge-l"] = f_score(lcs(h, r), len(h), len(r))
    return out


# ---- ComputeSimilarity of one pair ----
def similarity(pred, label):
    hyp, ref = list(jieba.cut(pred)), list(jieba.cut(label))
    if len(" ".join(hyp).split()) == 0 or len(" ".join(ref).split()) == 0:
        sc = {"rouge-1": 0.0, "rouge-2": 0.0, "rouge-l": 0.0}
    else:
        sc = rouge(" ".join(hyp), " ".join(ref))
    bleu = sentence_bleu([list(label)], list(pred),
                         smoothing_function=SmoothingFunction().method3)
    sc["bleu-4"] = float(bleu)
    return sc, hyp, ref


def clip(s, n=300):
    return s[:n]


def variants(rng, rows, lang):
    """(pred, label) pairs: unrelated, truncated, shuffled, edited, same"""
    out = []
    for i, ex in enumerate(rows):
        label = clip(ex["output"])
        kind = i % 6
        if kind == 0:
            pred = clip(rows[(i * 7 + 3) % len(rows)]["output"])
        elif kind == 1:
            pred = label[:max(1, len(label) // 2)]
        elif kind == 2:
            sep = "。" if lang == "zh" else ". "
            parts = label.split(sep)
            rng.shuffle(parts)
            pred = sep.join(parts)
        elif kind == 3:
            chars = list(label)
            for _ in range(max(1, len(chars) // 10)):
                k = rng.randrange(len(chars))
                if rng.random() < 0.5:
                    del chars[k]
                else:
                    chars.insert(k, rng.choice(label))
                if not chars:
                    chars = ["x"]
            pred = "".join(chars)
        elif kind == 4:
            pred = clip(ex["instruction"] + ex["input"])
        else:
            pred = label
        out.append((pred, label))
    return out


EDGE = [
    ("", "标签文本"),
    ("   ", "label"),
    ("预测", ""),
    ("a", "a"),
    ("好", "好的"),
    ("ab", "abc"),
    ("我爱北京天安门", "我爱北京天安门"),
    ("他说：“你好！”然后走了。", "他说：“你好！”然后离开了。"),
    ("等一下……好吗？我们走吧......然后呢?", "等一下……好吗？我们走吧"),
    ("价格上涨了3.14%，达到100.5元。", "价格上涨3.14%，达到了100元！"),
    ("C++和Python是编程语言。", "Python和C++都是编程语言。"),
    ("第一行\r\n第二行\n第三行", "第一行\n第二行"),
    ("全角　空格　测试", "全角 空格 测试"),
    ("Hello, world! This is a test.", "Hello world, this is the test."),
    ("。。。", "。"),
    ("“太好了！”他说。", "“太好了。”"),
    ("abc_def-ghi 1.2.3 ok", "abc def ghi"),
    ("微软公司于1975年由比尔·盖茨创立。", "比尔·盖茨于1975年创立了微软公司。"),
    ("他来到了网易杭研大厦", "他到了网易杭研大厦"),
    ("小明硕士毕业于中国科学院计算所，后在日本京都大学深造",
     "小明毕业于中国科学院计算所"),
    ("😀 emoji 测试 ½", "emoji测试"),
    ("!!!???", "???"),
]


TINY = [
    "我在北京大学上学",
    "北京大学生活",
    "你很快乐",
    "你好你好很好",
    "我在C++里写3D程序，版本3.14%好",
    "学生学大学生活 abc_def-1.2.3 你快乐",
    "快乐很你好乐",
]


def tiny():
    import jieba.finalseg as fs
    d = os.path.join(OUT, "tiny")
    for name, attr in (("start", "start_P"), ("trans", "trans_P"),
                       ("emit", "emit_P")):
        env = {}
        exec(open(os.path.join(d, "finalseg", "prob_%s.py" % name)).read(),
             env)
        setattr(fs, attr, env["P"])
    tk = jieba.Tokenizer(dictionary=os.path.join(d, "dict.txt"))
    with open(os.path.join(OUT, "tiny.jsonl"), "w") as f:
        for s in TINY:
            f.write(json.dumps({"predict": s, "label": "x",
                                "predict_words": list(tk.cut(s))},
                               ensure_ascii=False) + "\n")


def main():
    rng = random.Random(14)
    zh = json.load(open(os.path.join(DATA, "alpaca_zh_demo.json")))
    en = json.load(open(os.path.join(DATA, "alpaca_en_demo.json")))
    ident = json.load(open(os.path.join(DATA, "identity.json")))
    pairs = variants(rng, zh[:120], "zh") + variants(rng, en[:80], "en")
    pairs += variants(rng, ident[:30], "en") + EDGE
    os.makedirs(OUT, exist_ok=True)
    scores = {k: [] for k in ("bleu-4", "rouge-1", "rouge-2", "rouge-l")}
    with open(os.path.join(OUT, "pairs.jsonl"), "w") as f:
        for pred, label in pairs:
            sc, hyp, ref = similarity(pred, label)
            row = {"predict": pred, "label": label}
            for k in scores:
                row[k] = sc[k]
                scores[k].append(round(sc[k] * 100, 4))
            row["predict_words"] = hyp
            row["label_words"] = ref
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    res = {"predict_" + k: float(np.mean(v)) for k, v in scores.items()}
    with open(os.path.join(OUT, "results.json"), "w") as f:
        f.write(json.dumps(res, indent=4, sort_keys=True) + "\n")
    print("%d pairs" % len(pairs))
    tiny()


if __name__ == "__main__":
    main()
