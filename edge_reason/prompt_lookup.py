"""Prompt-lookup drafts: the tokens that followed the last few tokens where they occurred
before, in the prompt or the text so far (a Proposer for speculative.py).

Answers that quote their context (a retrieved passage with citations, a bAbI fact, fields
copied into JSON) repeat runs of tokens the prompt already holds; there the draft is often
taken whole, and where nothing matches there is no draft and nothing to pay.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# A match must cover this many tokens at least: single tokens recur too often by chance,
# and a rejected draft costs its pass's extra work.
MIN_NGRAM = 2
MAX_NGRAM = 4


class NgramLookup:
    """Where each n-gram (MIN_NGRAM..MAX_NGRAM tokens) of a growing sequence last
    occurred with tokens after it, updated as tokens are appended."""

    def __init__(self, tokens: Sequence[int]) -> None:
        self.tokens: list[int] = []
        self._after: dict[tuple[int, ...], int] = {}  # n-gram -> where its continuation starts
        # (position, n-gram, its entry before) for every entry set, so that a cut restores
        # what it overwrote, in the time of the tokens it cuts
        self._undo: list[tuple[int, tuple[int, ...], int | None]] = []
        self.extend(tokens)

    def extend(self, tokens: Sequence[int]) -> None:
        for token in tokens:
            end = len(self.tokens)  # the n-grams ending here now get a continuation
            for n in range(MIN_NGRAM, min(MAX_NGRAM, end) + 1):
                key = tuple(self.tokens[end - n : end])
                self._undo.append((end, key, self._after.get(key)))
                self._after[key] = end
            self.tokens.append(token)

    def truncate(self, length: int) -> None:
        """Forget the tokens from ``length`` on (rejected draft tokens): the n-grams whose
        continuation started among them point where they did before."""
        del self.tokens[length:]
        while self._undo and self._undo[-1][0] >= length:
            _, key, before = self._undo.pop()
            if before is None:
                del self._after[key]
            else:
                self._after[key] = before

    def draft(self, limit: int) -> list[int]:
        """Up to ``limit`` tokens that followed the longest suffix seen before."""
        end = len(self.tokens)
        for n in range(min(MAX_NGRAM, end), MIN_NGRAM - 1, -1):
            start = self._after.get(tuple(self.tokens[end - n :]))
            if start is not None:
                return self.tokens[start : start + limit]
        return []

    def proposal(self, i: int) -> np.ndarray | None:
        return None  # drafts are copied, not drawn: the target samples as it would alone
