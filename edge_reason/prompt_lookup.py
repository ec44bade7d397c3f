"""Prompt-lookup decoding: guess the next tokens from the text so far, check them all in
one pass, keep the longest prefix the model agrees with.

    >>> lookup = NgramLookup(prompt_ids)
    >>> for token in speculative_tokens(loop, view, extend, truncate, lookup):
    ...     ...                 # the same tokens iterating `loop` would give

Answers that quote their context (a retrieved passage with citations, a bAbI fact, fields
copied into JSON) repeat runs of tokens the prompt already holds. When the last few tokens
occurred earlier, the tokens that followed them then are a draft; the engine runs the
chosen token and the draft as one pass (up to 16 tokens cost about one token's weight
reads), and each drafted position is checked by picking the token there exactly as
plain decoding would, from the logits after the tokens before it. The first disagreement
ends the draft: the model's own token is kept and the cache is cut after it. So the output
is token for token what plain decoding gives, greedy or sampled with the same seed (each
picked token takes one draw from the sampler, as in plain decoding).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .batch_generation import SequenceLogits
    from .decode_loop import DecodeLoop

# Drafted tokens per pass, at most: with the chosen token within the 16 for which the
# engine's pass gives exactly one-token decoding's logits. A pass's cost grows with its
# tokens where decode is not bound by memory alone (small models), so the draft starts
# short, grows by 2 while drafts are taken whole and shrinks by 1 at a rejection.
MAX_DRAFT = 15
FIRST_DRAFT = 2
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


def speculative_tokens(
    loop: DecodeLoop,
    view: SequenceLogits,
    extend: Callable[[list[int], int], np.ndarray],
    truncate: Callable[[int], None],
    lookup: NgramLookup,
) -> Iterator[int]:
    """The tokens of ``loop`` (whose backend is ``view``), as iterating it would give them,
    with drafted tokens checked in the pass that runs each chosen one.

    extend(tokens, rows): runs tokens after the sequence and returns the logits after each
    of its last ``rows``; truncate(length): cuts the sequence to ``length`` tokens. The
    sequence holds what ``lookup`` holds, which starts as the prompt."""
    token = loop.next_token()
    if token is None:
        return
    yield token
    run = loop.to_run()
    length = FIRST_DRAFT
    while run is not None:
        lookup.extend(run)
        kept = len(lookup.tokens)  # the sequence without the draft
        draft = lookup.draft(min(length, loop.tokens_left - 1))
        rows = extend(run + draft, 1 + len(draft))
        lookup.extend(draft)
        for i in range(len(draft) + 1):  # rows[i] follows run and draft[:i]
            view.logits = rows[i]
            token = loop.next_token()
            run = None if token is None else [token]
            if token is not None:
                yield token
                run = loop.to_run()
            if run is not None and i < len(draft) and run == [draft[i]]:
                continue  # the drafted token is already in the sequence
            truncate(kept + i)
            lookup.truncate(kept + i)
            if draft:
                length = min(MAX_DRAFT, length + 2) if i == len(draft) else max(1, length - 1)
            break
