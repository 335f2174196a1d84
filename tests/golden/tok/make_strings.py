#!/usr/bin/python3
# make_strings.py: write strings.jsonl, the hard strings the tokenizer goldens
# encode (one JSON string per line). Deterministic: a fixed list, variants
# of it, and seeded random mixtures of hard characters.
import json
import random
import sys

base = [
    "", " ", "  ", "   ", "\t", "\n", "\r\n", "\r", "\n\n\n", " \n", "\n ",
    "a  b", "a   b", "a \n b", "a\n\n b", "x   \n\n  y", "abc   ", "   abc",
    "hello\r\n\r\nworld", "line1\rline2", "\t\tindent", " \t \n  x",
    "Hello world", "Hello, world!", "hello world.", "HeLLo WoRLD",
    "The quick brown fox jumps over the lazy dog.",
    "I'm", "I'M", "i'm", "you're", "YOU'RE", "You'Re", "we've", "WE'VE",
    "she'll", "SHE'LL", "She'Ll", "he'd", "HE'D", "it's", "IT'S", "It'S",
    "don't", "DON'T", "Don'T", "'s", "'S", "'ſ", "it'ſ", "'t'T", "o'clock",
    "rock 'n' roll", "''", "'''", "' s", "'ll've'd", "James' book",
    "1", "12", "123", "1234", "12345", "123456789012", "3.14159",
    "1,000,000", "$100.00", "-42", "+7", "2024-01-01T12:00:00Z", "0x1F",
    "e=mc²", "½ cup", "x₁+x₂", "Ⅻ chapters", "٣٤٥ و ١٢", "१२३",
    "１２３４ fullwidth", "abc123def456", "v1.2.3-rc4",
    "你好，世界", "日本語のテキストです。", "中文和English混合123",
    "안녕하세요 세계", "한국어 텍스트입니다", "مرحبا بالعالم",
    "السلام عليكم ورحمة الله", "สวัสดีครับ", "ภาษาไทยไม่มีช่องว่าง",
    "नमस्ते दुनिया", "שלום עולם", "Привет мир", "ΑΒΓ αβγ Ωμέγα",
    "Ελληνικά", "ǅemal", "İstanbul ıı", "Straße STRASSE", "ﬁnance ﬂow",
    "👨‍👩‍👧‍👦", "🏳️‍🌈", "👍🏽", "❤️", "🇫🇷🇩🇪", "I ❤️ NY 🗽",
    "emoji😀in😀text", "🤷‍♂️ shrug", "👩🏾‍💻 coding",
    "e\u0301", "cafe\u0301", "caf\u00e9", "\u212b", "A\u030a", "\u1100\u1161",
    "n\u0303o\u0308", "a\u0301\u0302\u0303\u0304", "\u0301leading mark",
    "Zalgo: Z\u0351\u036b\u0343a\u0310l\u0346g\u0327o",
    "\u2581", "\u2581\u2581hello", "a\u2581b", "\u2581 \u2581", "hello\u2581",
    "\u0000", "a\u0000b", "\u0007bell", "\u007f", "\u0085nel", "a\u00a0b",
    "\u2028", "x\u2029y", "\u3000ideographic", "zero\u200bwidth", "\ufeffbom",
    "\u00ad", "\u2060", "\u180e", "\u1680ogham",
    "𠀀", "ꙮ", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "\U0010fffd", "\ue000private", "\ufffd",
    "!!!???", "...\n", "a-b_c", "@user #tag", "http://example.com/a?b=c&d=e",
    "<html><body>hi</body></html>", "{\"key\": [1, 2, 3]}",
    "def f(x):\n    return x**2\n", "    if (a) {\n\treturn;\n}",
    "int main(void) { return 0; }", "a\n\n\n\nb", "\n\n", "x\n  \n  y",
    "supercalifragilisticexpialidocious", "a" * 40, "ab" * 30,
    "aaaa bbbb aaaa bbbb", "The  The   The", "--- *** ===",
    "Mr. O'Neil's 3rd cat", "It's 5 o'clock; they're here.",
    "<s>", "</s>", "<unk>", "<s>Hello</s>", "Hello</s>world", "<s><s>",
    "</s> </s>", "<s >", "< s>", "<|begin_of_text|>", "<|end_of_text|>",
    "<|begin_of_text|>Hello", "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
    "<|reserved_special_token_5|>", "<|im_start|>user\nhi<|im_end|>\n",
    "<|im_start|>assistant\n<think>\n\n</think>\n\nOK<|im_end|>",
    "<tool_call>\n{\"name\": \"f\"}\n</tool_call>", "<|endoftext|>",
    "<|im_start", "<<|im_end|>>", "<|im_end|><|im_end|>", "x<think>y",
    "<|fim_prefix|>a<|fim_suffix|>b<|fim_middle|>", "<|eot_id|> tail",
    " <s> ", "\n<|im_start|>", "a<|endoftext|>b<|begin_of_text|>c",
]

contractions = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d"]
variants = []
for c in contractions:
    for w in ("it", "IT", "It"):
        variants.append(w + c.upper())
        variants.append(w + c[0] + c[1:].capitalize())
for n in range(1, 14):
    variants.append("".join(str((i * 7 + n) % 10) for i in range(n)))
for ws in (" ", "  ", "\t", "\n", "\r\n", " \n", "\n ", "\u3000", "\u00a0"):
    variants.append("a" + ws + "b")
    variants.append(ws + "a")
    variants.append("a" + ws)
    variants.append("1" + ws + "2")
    variants.append("!" + ws + "?")

pool = list("aAzZ09 \t\n\r'.,!?-_") + [
    "é", "e\u0301", "你", "好", "한", "ع", "ส", "ี", "👍", "\u200d",
    "\u2581", "ſ", "K", "\u00a0", "\u3000", "\u0085", "½", "٣", "<s>",
    "</s>", "<|im_end|>", "<|eot_id|>", "'S", "'ll", "  ", "123",
    "\U0001F600", "ß", "İ", "ﬁ",
]
rng = random.Random(20240501)
randoms = []
for i in range(80):
    n = rng.randint(1, 24)
    randoms.append("".join(rng.choice(pool) for _ in range(n)))

seen = set()
out = []
for s in base + variants + randoms:
    if s not in seen:
        seen.add(s)
        out.append(s)
with open(sys.argv[1] if len(sys.argv) > 1 else "strings.jsonl", "w") as f:
    for s in out:
        f.write(json.dumps(s) + "\n")
print(len(out), "strings", file=sys.stderr)
