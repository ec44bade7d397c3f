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
        self.extend(tokens)

    def extend(self, tokens: Sequence[int]) -> None:
        for token in tokens:
            end = len(self.tokens)  # the n-grams ending here now get a continuation
            for n in range(MIN_NGRAM, min(MAX_NGRAM, end) + 1):
                self._after[tuple(self.tokens[end - n : end])] = end
            self.tokens.append(token)

    def truncate(self, length: int) -> None:
        """Forget the tokens from ``length`` on (rejected draft tokens), and any n-gram whose
        recorded continuation started among them."""
        if length >= len(self.tokens):
            return
        del self.tokens[length:]
        self._after = {k: v for k, v in self._after.items() if v < length}

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
