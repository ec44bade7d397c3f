"""Finding the final answer in generated text, and putting answers in a comparable form.

Models end a chain in several ways: a GSM8K ``#### 72`` line, an ``Answer: kitchen`` or "the
answer is 72" line, or just a last line holding one word or a comma list (bAbI). Word-level
tokenizers decode without newlines ("Facts : 4 . Answer : hallway"), so cues are matched with
free spacing. A chat model answers in prose: without a cue, its answer is the last sentence.
"""

from __future__ import annotations

import re
from fractions import Fraction

from .arithmetic import format_number, parse_number
from .errors import CalculationError

ANSWER_FORMS = ("line", "word", "number", "sentence", "last_number")

_HASHES = re.compile(r"####\s*(?P<value>[^\n]*)")
_CUE = re.compile(
    r"\b(?:final\s+answer|the\s+answer\s+is|answer)\b\s*(?:is\s*)?[:=]?\s*"
    r"(?P<value>(?:(?!\banswer\b)[^\n])*)",  # up to the line's end or the next cue
    re.IGNORECASE,
)
_WORD_LIST = re.compile(r"[\w'-]+(?:\s*,\s*[\w'-]+)*")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
_CITATION_MARK = re.compile(r"\s*\[\d+\]")
_NUMBER = re.compile(r"-?\$?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|-?\$?\.\d+")


def extract_answer(text: str, form: str = "line") -> str | None:
    """The final answer in ``text``, or None if there is none.

    ``form`` is what an answer looks like: "line" (the rest of the cue's line), "word" (one
    word or a comma list, as in bAbI), "number" (the first number after the cue) or
    "sentence" (the cue's line, else the last sentence; note citations ``[1]`` left out) or
    "last_number" (the number after the cue, else the text's last number: prose ends with
    "... so the box holds 84 eggs.").
    """
    if form not in ANSWER_FORMS:
        raise ValueError(f"answer form must be one of {ANSWER_FORMS}, got {form!r}")
    found = _last(_HASHES, text) or _last(_CUE, text)
    if found is not None:
        return _shape(found, form)
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if form == "sentence" and lines:
        return _shape(_SENTENCE_END.split(lines[-1])[-1], form)
    if form == "last_number":
        numbers = _NUMBER.findall(_CITATION_MARK.sub(" ", text))
        return _shape(numbers[-1], form) if numbers else None
    if lines and _WORD_LIST.fullmatch(lines[-1].rstrip(".")):
        return _shape(lines[-1], form)
    return None


def normalize_answer(answer: str) -> str:
    """A canonical form for comparing and voting: lower case, no trailing period, numbers
    exact (``72.0``, ``$72`` and ``72`` agree), comma lists without spaces."""
    text = answer.strip().rstrip(".").strip().lower()
    whole = _canonical_number(text)  # "1,000" is a number before it is a list
    if whole != text or not _WORD_LIST.fullmatch(text):
        return whole
    return ",".join(_canonical_number(part.strip()) for part in text.split(","))


def _last(pattern: re.Pattern[str], text: str) -> str | None:
    matches = [m.group("value").strip() for m in pattern.finditer(text)]
    matches = [m for m in matches if m]
    return matches[-1] if matches else None


def _shape(value: str, form: str) -> str | None:
    if form in ("number", "last_number"):
        found = _NUMBER.search(value)
        return found.group(0).replace("$", "").replace(",", "") if found else None
    if form == "word":
        found = _WORD_LIST.match(value)
        return re.sub(r"\s*,\s*", ",", found.group(0)) if found else None
    if form == "sentence":
        value = _CITATION_MARK.sub("", value)
    return value.rstrip(".").strip() or None


def _canonical_number(text: str) -> str:
    try:
        value: Fraction = parse_number(text)
    except CalculationError:
        return text
    return format_number(value)
