#!/usr/bin/python3
# make_long.py: write long.jsonl, long documents for the tokenizer goldens
# (one JSON string per line): prose tens of kilobytes long, which a
# tokenizer without a pre-tokenizer (Mistral's) sees as one word; long runs
# without spaces (CJK, letters, one letter repeated); U+2581 in the text
# where SentencePiece-style words are cut; decomposed and composing
# characters for NFC's quick check. Deterministic (seeded).
import json
import random
import sys

rng = random.Random(4)
words = ("the of and to in is was for on that with as by at from his her "
         "it an were which are this be has had not or their first new one "
         "two after also who its but they been other into all more city "
         "government population century during between university "
         "national however united several including International "
         "Bewertung naïve café résumé Zürich São Paulo Kraków").split()
punct = [".", ",", ";", ":", "!", "?", "'s", "n't", "'re", " -", " (", ")",
         "\"", "'"]


def prose(n, spaces=(" ",)):
    out = []
    size = 0
    while size < n:
        w = rng.choice(words)
        if rng.random() < 0.1:
            w = w.capitalize()
        if rng.random() < 0.05:
            w = str(rng.randrange(0, 100000))
        if rng.random() < 0.15:
            w += rng.choice(punct)
        if rng.random() < 0.02:
            w += "\n" if rng.random() < 0.7 else "\n\n"
        out.append(w)
        out.append(rng.choice(spaces))
        size += len(w) + 1
    return "".join(out)


def chars(n, alphabet):
    return "".join(rng.choice(alphabet) for _ in range(n))


cjk = [chr(c) for c in range(0x4e00, 0x4e00 + 400)] + list("，。、「」")
hangul_jamo = ["\u1100\u1161", "\u1100\u1161\u11a8", "\u1112\u1161\u11ab",
               "\uac00\u11a8", "\u1103\u1175"]
combining = ["e\u0301", "a\u0300", "o\u0308", "n\u0303", "\u03b9\u0301",
             "\u03b1\u0313\u0301", "\u0b47\u0b3e", "\u0b47\u0b57",
             "\u0915\u093c", "\u212b", "\u2000", "A\u030a", "q\u0323\u0307",
             "\u1e0b\u0323", "\u00e9", "\u1f00", "\u3099", "\u304b\u3099",
             "\u0340", "\u0f73"]

docs = [
    prose(30000),
    prose(12000, (" ", "  ", "   ", "\t", " \n", "\n")),
    chars(6000, cjk),
    "a" * 10000,
    chars(20000, "abcdefghijklmnopqrstuvwxyz"),
    chars(4000, "ab"),
    " " * 3000 + "x" + "\n" * 2000,
    "".join(rng.choice(["\u2581", "\u2581\u2581", "x", "ab", " ", "the",
                        "\u2581the", "."]) for _ in range(5000)),
    "\u2581", "\u2581\u2581", "x\u2581", " \u2581 ", "\u2581 a",
    "a\u2581\u2581\u2581b", "\u2581\u2581x\u2581", "the\u2581cat sat\u2581",
    prose(3000) + "".join(rng.choice(combining + hangul_jamo) + " " +
                          rng.choice(words) for _ in range(1500)),
    "".join(rng.choice(combining) for _ in range(2000)),
    "".join(rng.choice(hangul_jamo) for _ in range(1500)),
    chars(3000, cjk) + " " + prose(3000) + " " + chars(3000, cjk),
    "12345678901234567890" * 200,
    "<s>" + prose(2000) + "</s>" + prose(2000),
]
for d in docs:
    sys.stdout.write(json.dumps(d, ensure_ascii=False) + "\n")
