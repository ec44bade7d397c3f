"""Strings that tokenizers disagree on: hand-picked hard cases plus seeded random mixtures.

The random part draws fragments of many scripts, numbers, whitespace runs, code and special
tokens and glues them with random separators, so word boundaries land in unusual places.
"""

from __future__ import annotations

import random

# Special tokens the test vocabularies define (and SmolLM2 has), plus near misses.
SPECIAL_TEXTS = ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<tool_call>", "<s>", "</s>"]
NEAR_MISSES = ["<|im_sta", "<|im_end|", "<|", "|>", "< s>", "<tool_call", "<unk>"]

HARD_CASES = [
    "",
    " ",
    "  ",
    "\n",
    "\t",
    "\r\n",
    " \n \n",
    "\n\n\n",
    "a",
    " a",
    "a ",
    "Hello, world!",
    " Hello world",
    "Hello  world",
    "hello   \n  world",
    "don't",
    "Don't you'll we're they've I'm she'd it's",
    "DON'T YOU'LL WE'RE THEY'VE I'M SHE'D IT'S",
    "'s 't 're 've 'm 'll 'd",
    "rock 'n' roll",
    "1",
    "12",
    "123",
    "1234",
    "12345678901234567890",
    "3.14159265358979",
    "1,000,000.00",
    "-42 +7 0x1F 1e-9",
    "version 2.0.1-rc3",
    "2024-01-31T23:59:59Z",
    "Ⅻ ½ ² ①",
    "٣٤٥ ०१२ 一二三",
    "café naïve résumé façade",
    "Straße Äpfel Über",
    "Привет, как дела?",
    "Ελληνικά γράμματα",
    "مرحبا بالعالم",
    "שלום עולם",
    "नमस्ते दुनिया",
    "สวัสดีครับ",
    "你好，世界！",
    "東京は日本の首都です。",
    "ひらがな カタカナ 漢字",
    "안녕하세요 세계",
    "😀",
    "😀😃😄",
    "👍🏽",
    "👨‍👩‍👧‍👦",
    "🇫🇷🇯🇵",
    "I ❤️ Unicode ✨",
    "e\u0301 a\u0308 n\u0303",
    "zero\u200bwidth\u200cjoiner\u200d",
    "non\u00a0breaking\u3000ideographic",
    "tab\tseparated\tvalues",
    "\t\tindented",
    "    four spaces",
    "trailing spaces    ",
    "line1\nline2\r\nline3\rline4",
    "def f(x):\n    return x ** 2  # square\n",
    "for (int i = 0; i < n; ++i) { sum += a[i]; }",
    'print("Hello, {}!".format(name))',
    "if (a != b && c >= d) || !e { return; }",
    '<div class="x">&amp; &lt;tag&gt;</div>',
    "SELECT * FROM users WHERE id = 42;",
    "https://example.com/path?q=1&r=two#frag",
    "user@example.org",
    "$100 €50 £20 ¥1000",
    "...!!!???",
    "—–-‐",
    "«quotes» “curly” ‘single’",
    "a.b,c;d:e",
    "(((nested)))",
    "@#$%^&*",
    "~`|\\",
    "ALLCAPS lowercase MixedCase camelCase snake_case",
    "HTTPServer XMLHttpRequest iPhone",
    "<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|><|im_end|>",
    "text<|endoftext|>more",
    " <|im_start|> spaced <|im_end|> ",
    "<s>bos at start",
    "ends with eos</s>",
    '<tool_call>{"name": "f"}</tool_call>',
    "<|im_sta almost special",
    "<|<|im_start|>|>",
    "<<s>>",
    "a\n\nb\n\n\nc",
    " \t \n",
    "x" * 100,
    "ab" * 60,
    " " * 40 + "x",
    "\n" * 20,
    "9" * 50,
]

_WORDS = (
    "the quick brown fox jumps over lazy dog reasoning engine token model edge device "
    "inference quantized weights memory bandwidth latency throughput Raspberry Jetson "
    "über naïve café Zürich São Paulo Привет мир Ελλάδα مرحبا שלום नमस्ते ধন্যবাদ "
    "สวัสดี 你好 世界 日本語 こんにちは カタカナ 한국어 안녕 Việt Nam"
).split()
_NUMBERS = ["0", "7", "42", "123", "2024", "65536", "3.14", "1,234", "99999999999", "007"]
_EMOJI = ["😀", "🚀", "👍🏿", "❤️", "🤖", "🇩🇪", "👩‍💻", "✅", "🔥", "🙂"]
_PUNCTUATION = list(".,;:!?'\"()[]{}<>/\\|-_+=*&^%$#@~`") + ["...", "—", "…", "「", "」", "。"]
_CODE = ["x = 1", "f(a, b)", "a[i] += 2", "if x:", "return None", "=>", "::", "->", "//", "/*"]
_CONTRACTIONS = ["don't", "I'll", "we've", "you're", "it's", "he'd", "I'M", "They'Re", "'tis"]
_SEPARATORS = [" ", " ", " ", "", "  ", "\n", "\t", "\r\n", " \n", "\n\n", "   ", "\u00a0"]
_POOLS = [
    (_WORDS, 10),
    (_NUMBERS, 3),
    (_EMOJI, 2),
    (_PUNCTUATION, 3),
    (_CODE, 2),
    (_CONTRACTIONS, 2),
    (SPECIAL_TEXTS + NEAR_MISSES, 1),
]


def corpus(random_count: int = 520, seed: int = 20) -> list[str]:
    """The hard cases, then `random_count` random mixtures drawn with `seed`."""
    rng = random.Random(seed)
    pools, weights = zip(*_POOLS, strict=True)
    strings = list(HARD_CASES)
    for _ in range(random_count):
        pieces = []
        for _ in range(rng.randint(1, 12)):
            pieces.append(rng.choice(rng.choices(pools, weights)[0]))
            pieces.append(rng.choice(_SEPARATORS))
        strings.append("".join(pieces[: rng.randint(1, len(pieces))]))
    return strings


def training_text(seed: int = 7, count: int = 3000) -> list[str]:
    """Text to train the small test vocabularies on: the same fragments, other draws."""
    return corpus(random_count=count, seed=seed)
