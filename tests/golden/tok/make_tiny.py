#!/usr/bin/python3
# make_tiny.py: write the project's own tiny tokenizers (tests/data/tok-*/
# tokenizer.json + tokenizer_config.json), so the tokenizer's goldens run on
# a machine without /work/shared. Merges are learned here by plain BPE
# counting on a small fixed corpus; the reference ids come from the
# `tokenizers` library (make_tok_golden.js), not from this script.
#   tok-bytelevel:     Qwen-style (NFC, Split regex, ByteLevel, merges as
#                      pairs), TemplateProcessing "$A <|endoftext|>", added
#                      tokens with lstrip/rstrip/single_word/normalized
#   tok-gpt2:          ByteLevel(add_prefix_space, use_regex), "a b" merges
#   tok-sentencepiece: Mistral-style (Prepend/Replace, byte_fallback,
#                      Replace/ByteFallback/Fuse/Strip decoder, <s> $A)
#   tok-metaspace:     Metaspace(prepend first, split) + Digits, unk with
#                      fuse_unk, Metaspace decoder
import collections
import json
import os
import re
import sys

CORPUS = """The quick brown fox jumps over the lazy dog. It's a test, isn't it?
We're training a tiny tokenizer; they'll see what we've done. I'd say I'm done.
Numbers: 0 1 2 3 4 5 6 7 8 9 10 42 100 2024 3.14 1,000,000.
def main():\n    return 0\n\nif __name__ == "__main__":\n    main()\n
Hello world! Hello, world. HELLO WORLD. hello there, general.
The the the and and and of of to to in in is is that that for for.
Tokenizers split text into words, and words into sub-word pieces.
""" + "你好世界。中文文本。안녕하세요. Привет мир. café naïve résumé.\n" * 2

SPACE = "\u2581"


def bytes_to_unicode():
    bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def learn(words, nmerges):
    """words: list of symbol tuples with counts; returns merges"""
    counts = collections.Counter(words)
    vocab = {w: c for w, c in counts.items()}
    merges = []
    for _ in range(nmerges):
        pairs = collections.Counter()
        for w, c in vocab.items():
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] += c
        if not pairs:
            break
        best = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))[0]
        merges.append(best)
        nv = {}
        for w, c in vocab.items():
            out = []
            i = 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(w[i] + w[i + 1])
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            nv[tuple(out)] = nv.get(tuple(out), 0) + c
        vocab = nv
    return merges


def bytelevel_model(pairs):
    b2u = bytes_to_unicode()
    words = [tuple(b2u[b] for b in w.encode())
             for w in re.findall(r"'\w+| ?\w+| ?[^\w\s]+|\s+", CORPUS)]
    merges = learn(words, 300)
    vocab = {}
    for b in range(256):
        vocab.setdefault(b2u[b], len(vocab))
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    m = [[a, b] for a, b in merges] if pairs else [a + " " + b for a, b in
                                                   merges]
    return vocab, m


def added(i, content, special, **kw):
    d = {"id": i, "content": content, "single_word": False, "lstrip": False,
         "rstrip": False, "normalized": False, "special": special}
    d.update(kw)
    return d


def write(dirname, tok, cfg):
    os.makedirs(dirname, exist_ok=True)
    with open(os.path.join(dirname, "tokenizer.json"), "w") as f:
        json.dump(tok, f, ensure_ascii=False, indent=1)
        f.write("\n")
    with open(os.path.join(dirname, "tokenizer_config.json"), "w") as f:
        json.dump(cfg, f, ensure_ascii=False, indent=1)
        f.write("\n")


QWEN_RE = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"
           r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def main(top):
    data = os.path.join(top, "tests", "data")
    vocab, merges = bytelevel_model(True)
    n = len(vocab)
    toks = [added(n, "<|endoftext|>", True), added(n + 1, "<|im_start|>", True),
            added(n + 2, "<|im_end|>", True), added(n + 3, "<think>", False),
            added(n + 4, "<mask>", True, lstrip=True, rstrip=True),
            added(n + 5, "hello", False, single_word=True),
            added(n + 6, "caf\u00e9", False, normalized=True)]
    write(os.path.join(data, "tok-bytelevel"), {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": toks,
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": QWEN_RE},
             "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False,
             "trim_offsets": False, "use_regex": False}]},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "<|endoftext|>",
                                         "type_id": 0}}],
            "pair": [{"Sequence": {"id": "A", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {"<|endoftext|>": {
                "id": "<|endoftext|>", "ids": [n],
                "tokens": ["<|endoftext|>"]}}},
        "decoder": {"type": "ByteLevel", "add_prefix_space": False,
                    "trim_offsets": False, "use_regex": False},
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": "", "end_of_word_suffix": "",
                  "fuse_unk": False, "byte_fallback": False,
                  "ignore_merges": False, "vocab": vocab, "merges": merges}},
        {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>",
         "bos_token": None, "add_bos_token": False})

    vocab, merges = bytelevel_model(False)
    n = len(vocab)
    write(os.path.join(data, "tok-gpt2"), {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [added(n, "<|endoftext|>", True)],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": True,
                          "trim_offsets": True, "use_regex": True},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": True,
                           "trim_offsets": False, "use_regex": True},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True,
                    "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False,
                  "byte_fallback": False, "ignore_merges": True,
                  "vocab": vocab, "merges": merges}},
        {"eos_token": "<|endoftext|>", "bos_token": "<|endoftext|>"})

    # SentencePiece style: words are "▁"-joined text, symbols are chars
    words = []
    for line in CORPUS.split("\n"):
        if line:
            words.append(tuple(SPACE + line.replace(" ", SPACE)))
    chars = sorted(set(c for w in words for c in w))
    merges = learn(words, 300)
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        vocab["<0x%02X>" % b] = len(vocab)
    for c in chars:
        vocab.setdefault(c, len(vocab))
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    sp_added = [added(0, "<unk>", True), added(1, "<s>", True),
                added(2, "</s>", True)]
    write(os.path.join(data, "tok-sentencepiece"), {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": sp_added,
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": SPACE},
            {"type": "Replace", "pattern": {"String": " "},
             "content": SPACE}]},
        "pre_tokenizer": None,
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                     {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "<s>", "type_id": 1}},
                     {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {"<s>": {"id": "<s>", "ids": [1],
                                       "tokens": ["<s>"]}}},
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": SPACE},
             "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>",
                  "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": True,
                  "byte_fallback": True, "ignore_merges": False,
                  "vocab": vocab, "merges": [a + " " + b for a, b in merges]}},
        {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
         "pad_token": None, "add_bos_token": True, "add_eos_token": False,
         "legacy": True})

    # Metaspace: no byte tokens, unknown characters become a fused <unk>
    mvocab = {k: v for k, v in vocab.items() if not k.startswith("<0x")}
    mvocab = {k: i for i, k in enumerate(sorted(mvocab, key=mvocab.get))}
    write(os.path.join(data, "tok-metaspace"), {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": sp_added,
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "NFKC"}, {"type": "Strip", "strip_left": False,
                               "strip_right": True}]},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": True},
            {"type": "Metaspace", "replacement": SPACE,
             "prepend_scheme": "first", "split": True}]},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "</s>", "type_id": 0}}],
            "pair": [{"Sequence": {"id": "A", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {
                "<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]},
                "</s>": {"id": "</s>", "ids": [2], "tokens": ["</s>"]}}},
        "decoder": {"type": "Metaspace", "replacement": SPACE,
                    "prepend_scheme": "first", "split": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>",
                  "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": True,
                  "byte_fallback": False, "ignore_merges": False,
                  "vocab": mvocab,
                  "merges": [a + " " + b for a, b in merges]}},
        {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"})


main(sys.argv[1] if len(sys.argv) > 1 else
     os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                  ".."))
