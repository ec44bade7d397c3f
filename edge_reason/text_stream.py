"""Token ids -> text pieces, never splitting a UTF-8 character.

Byte-level tokenizers can end a token in the middle of a multi-byte
character; decoding such a prefix yields U+FFFD. A piece is released only
once the text decoded so far no longer ends in one, and it is computed as the
difference of two decodes of a short window, so spacing rules that depend on
the previous token (SentencePiece's leading space) come out right.
"""

from __future__ import annotations

from typing import Protocol


class Detokenizer(Protocol):
    def decode(self, ids: list[int], skip_special_tokens: bool = ...) -> str: ...


class TextStream:
    def __init__(self, tokenizer: Detokenizer) -> None:
        self._tokenizer = tokenizer
        self._ids: list[int] = []
        self._prefix = 0  # window start: decoded for context only
        self._read = 0  # tokens whose text has been released

    def push(self, token_id: int) -> str:
        """Add a token; return the text it completes ('' while a character is open)."""
        self._ids.append(token_id)
        decode = self._tokenizer.decode
        before = decode(self._ids[self._prefix : self._read], skip_special_tokens=True)
        after = decode(self._ids[self._prefix :], skip_special_tokens=True)
        if len(after) > len(before) and not after.endswith("\ufffd"):
            self._prefix, self._read = self._read, len(self._ids)
            return after[len(before) :]
        return ""

    def flush(self) -> str:
        """Whatever is left at the end, even an incomplete character."""
        decode = self._tokenizer.decode
        before = decode(self._ids[self._prefix : self._read], skip_special_tokens=True)
        after = decode(self._ids[self._prefix :], skip_special_tokens=True)
        self._prefix = self._read = len(self._ids)
        return after[len(before) :] if len(after) > len(before) else ""


def first_stop(text: str, stops: tuple[str, ...]) -> int | None:
    """Where the earliest of ``stops`` starts in ``text``, or None."""
    hits = [i for i in (text.find(s) for s in stops) if i >= 0]
    return min(hits) if hits else None
