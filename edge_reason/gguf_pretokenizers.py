"""How a GGUF "gpt2" vocabulary splits text into words before BPE, by llama.cpp's name for it.

A GGUF file names its pre-tokenizer in `tokenizer.ggml.pre`; llama.cpp maps each name to a
list of regular expressions applied one after another, each cutting every piece the previous
ones left into matches and the text between them. The patterns here are written from the
rules llama.cpp's llama-vocab.cpp documents for each name (it rewrites case-insensitive
groups as explicit character classes, and case distinctions as "a letter that is not a-z"):
the same rule under the same regex semantics gives the same pieces.

Beside the split, a name decides two more things llama.cpp ties to it: whether a word that is
itself a token skips the merges (`ignore_merges`, the Llama 3 family), and whether a BOS
token is added when the file does not say (`add_bos`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PreTokenizerRule:
    patterns: tuple[str, ...]  # applied in order; matches and the text between them become pieces
    ignore_merges: bool = False
    add_bos: bool = False


# English contractions, case-insensitive letter by letter
_CONTRACTIONS = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
# GPT-2's split: contractions, letter runs, number runs, other runs, each with one optional
# leading space; a whitespace run leaves its last space to the word after it.
_GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
# The Llama 3 / Qwen 2 family: a letter run takes one leading non-letter, newlines cling to
# punctuation and gather into their own pieces; `{digits}` is how many digits form a piece.
_LETTER_RUNS = (
    _CONTRACTIONS + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{digits}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_LLAMA3 = _LETTER_RUNS.replace("{digits}", "{1,3}")
_QWEN2 = _LETTER_RUNS.replace("{digits}", "")
# Qwen 3.5: combining marks count as letters
_QWEN35 = (
    _CONTRACTIONS + r"|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}"
    r"| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
# GPT-4o / Llama 4: a word is upper-case letters then lower-case ones (or the reverse), with
# "upper" meaning any letter but a-z and "lower" any letter but A-Z, as llama.cpp reads it.
_UPPER = r"(?:(?=\p{L})[^a-z])"
_LOWER = r"(?:(?=\p{L})[^A-Z])"
_GPT4O = (
    rf"[^\r\n\p{{L}}\p{{N}}]?{_UPPER}*{_LOWER}+{_CONTRACTIONS}?"
    rf"|[^\r\n\p{{L}}\p{{N}}]?{_UPPER}+{_LOWER}*{_CONTRACTIONS}?"
    r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_TEKKEN = (
    rf"[^\r\n\p{{L}}\p{{N}}]?{_UPPER}*{_LOWER}+"
    rf"|[^\r\n\p{{L}}\p{{N}}]?{_UPPER}+{_LOWER}*"
    r"|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_DEEPSEEK3 = (
    r"[!-/:-@\[-`{-~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+"
    r"| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
# words up to the next space or sentence punctuation (BLOOM, Poro, Viking)
_UP_TO_PUNCTUATION = r" ?[^(\s|.,!?…。，、।۔،)]+"

_DEFAULT = PreTokenizerRule((r"[\p{P}\$\+<=>\^~\|]+", _GPT2, r"\p{N}+", r"[0-9][0-9][0-9]"))
_GPT2_RULE = PreTokenizerRule((_GPT2,))
_DIGITS_THEN_GPT2 = PreTokenizerRule((r"\p{N}", _GPT2))
_LLAMA3_RULE = PreTokenizerRule((_LLAMA3,), ignore_merges=True, add_bos=True)
_QWEN2_RULE = PreTokenizerRule((_QWEN2,))
_UP_TO_PUNCTUATION_RULE = PreTokenizerRule((_UP_TO_PUNCTUATION,))

RULES: dict[str, PreTokenizerRule] = {
    "default": _DEFAULT,
    **dict.fromkeys(
        ("gpt-2", "phi-2", "jina-es", "jina-de", "jina-v2-es", "jina-v2-de", "gigachat"),
        _GPT2_RULE,
    ),
    **dict.fromkeys(("mpt", "olmo", "jais", "trillion", "granite-docling", "exaone4"), _GPT2_RULE),
    **dict.fromkeys(("a.x-4.0", "mellum", "modern-bert"), _GPT2_RULE),
    **dict.fromkeys(
        ("llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2"),
        _LLAMA3_RULE,
    ),
    **dict.fromkeys(("dbrx", "smaug-bpe"), PreTokenizerRule((_LLAMA3,))),
    **dict.fromkeys(
        ("qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "megrez", "stablelm2", "hunyuan"),
        _QWEN2_RULE,
    ),
    **dict.fromkeys(("solar-open", "grok-2"), _QWEN2_RULE),
    "qwen35": PreTokenizerRule((_QWEN35,)),
    **dict.fromkeys(
        ("smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b"),
        _DIGITS_THEN_GPT2,
    ),
    "mellum2": _DIGITS_THEN_GPT2,
    **dict.fromkeys(("gpt-4o", "llama4", "kanana2", "talkie"), PreTokenizerRule((_GPT4O,))),
    "tekken": PreTokenizerRule((_TEKKEN,), ignore_merges=True, add_bos=True),
    "falcon": PreTokenizerRule(
        (
            r"[\p{P}\$\+<=>\^~\|`]+",
            _GPT2,
            r"[0-9][0-9][0-9]",
        )
    ),
    "deepseek-coder": PreTokenizerRule(
        (r"[\r\n]", r"\s?\p{L}+", r"\s?\p{P}+", r"[一-龥ࠀ-一가-퟿]+", r"\p{N}")
    ),
    "deepseek-v3": PreTokenizerRule((r"\p{N}{1,3}", r"[一-龥぀-ゟ゠-ヿ]+", _DEEPSEEK3)),
    "seed-coder": PreTokenizerRule(
        (
            _CONTRACTIONS + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+"
            r"|\s*[\r\n]+|\s+(?!\S)|\s+",
        )
    ),
    "ufakzeka": PreTokenizerRule(
        (r"[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",)
    ),
    **dict.fromkeys(("bloom", "poro-chat", "gpt3-finnish"), _UP_TO_PUNCTUATION_RULE),
    "viking": PreTokenizerRule((_UP_TO_PUNCTUATION, r"\p{N}")),
}
