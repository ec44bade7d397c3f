"""Speculative decoding: a proposer drafts the next tokens, one pass of the model checks
them all, the longest prefix the model agrees with is kept.

    >>> view = DraftedLogits(logits, seed)            # the decode loop's backend
    >>> for token in speculative_tokens(loop, view, extend, truncate, proposer):
    ...     ...                 # the tokens iterating `loop` would give

The engine runs the chosen token and the draft as one pass (up to 16 tokens give exactly
what one-token steps give, and cost far less than 16 steps where decode is bound by reading
the weights); at each drafted position the loop picks its token from the logits after the
tokens before it, as plain decoding would. The first disagreement ends the draft: that
token is kept and the sequence is cut after it. Proposers: prompt_lookup.NgramLookup
(n-grams of the text so far) and draft_model.DraftModel (a smaller model).

Greedy decoding gives exactly plain decoding's tokens either way. Sampled, a position
without a proposal distribution (the n-gram proposer's) draws from the target's sampler
as plain decoding does, so the same seed gives the same tokens; a drafted token that
came with the draft model's distribution q is kept with probability min(1, p/q) and a
rejected one replaced by a draw from max(0, p - q), the rule of Leviathan et al. (2023):
the tokens follow the target's distribution p exactly, with other draws than plain
decoding's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np

from .batch_generation import SequenceLogits

if TYPE_CHECKING:
    from .decode_loop import DecodeLoop

# Drafted tokens per pass, at most: with the chosen token within the 16 for which the
# engine's pass gives exactly one-token decoding's logits.
MAX_DRAFT = 15
FIRST_DRAFT = 2
# Steps without drafting after a one-token draft is rejected, doubling up to the most.
FIRST_PAUSE, MAX_PAUSE = 2, 32


class DraftLength:
    """How many tokens to draft next. A pass's cost grows with its tokens (on two cores a
    0.5B model's 2-token pass costs about 1.2-1.6 one-token steps), so a draft that is not
    taken is a loss: drafts start short, grow by 2 while taken whole and shrink by 1 at a
    rejection, and a one-token draft rejected outright pauses drafting for a few steps,
    twice as long each time it happens again (text that does not quote itself)."""

    def __init__(self) -> None:
        self.length = FIRST_DRAFT
        self._pause = 0
        self._next_pause = FIRST_PAUSE

    def next(self, left: int) -> int:
        """Tokens to draft now, with ``left`` the most there is room for."""
        if self._pause:
            self._pause -= 1
            return 0
        return max(0, min(self.length, left))

    def checked(self, drafted: int, taken: int) -> None:
        if not drafted:
            return
        if taken == drafted:
            self.length = min(MAX_DRAFT, self.length + 2)
            self._next_pause = FIRST_PAUSE
            return
        if taken == 0 and self.length == 1:
            self._pause = self._next_pause
            self._next_pause = min(MAX_PAUSE, 2 * self._next_pause)
        self.length = max(1, self.length - 1)


class Proposer(Protocol):
    """Drafts tokens after the sequence it follows (its ``tokens``)."""

    tokens: list[int]

    def extend(self, tokens: Sequence[int]) -> None: ...
    def truncate(self, length: int) -> None: ...
    def draft(self, limit: int) -> list[int]: ...  # up to limit tokens, maybe none
    # the distribution draft token i was drawn from (None: no distribution)
    def proposal(self, i: int) -> np.ndarray | None: ...


class DraftedLogits(SequenceLogits):
    """A decode loop's backend at a drafted position: the target's logits there, and the
    drafted token with the distribution it was drawn from (if any), which the sampled
    acceptance rule compares with the target's."""

    def __init__(self, logits: np.ndarray, seed: int | None) -> None:
        super().__init__(logits, seed)
        self.drafted: tuple[int, np.ndarray] | None = None
        self._rng = np.random.default_rng(seed)

    def sample_logits(
        self,
        logits: np.ndarray,
        temperature: float,
        top_k: int,
        top_p: float,
        repetition_penalty: float,
        history: np.ndarray,
    ) -> int:
        if self.drafted is None:
            return super().sample_logits(
                logits, temperature, top_k, top_p, repetition_penalty, history
            )
        token, q = self.drafted
        p = self._sampler.distribution(
            logits, temperature, top_k, top_p, repetition_penalty, history
        )
        if q[token] > 0 and self._rng.random() * q[token] < p[token]:
            return token
        residual = np.maximum(p.astype(np.float64) - q, 0.0)
        total = residual.sum()
        if total <= 0:  # p == q: nothing to correct (the draw above accepts then)
            return int(np.argmax(p))
        return int(self._rng.choice(len(p), p=residual / total))


def speculative_tokens(
    loop: DecodeLoop,
    view: DraftedLogits,
    extend: Callable[[list[int], int], np.ndarray],
    truncate: Callable[[int], None],
    lookup: Proposer,
) -> Iterator[int]:
    """The tokens of ``loop`` (whose backend is ``view``), with drafted tokens checked in
    the pass that runs each chosen one.

    extend(tokens, rows): runs tokens after the sequence and returns the logits after each
    of its last ``rows``; truncate(length): cuts the sequence to ``length`` tokens. The
    sequence holds what ``lookup`` holds, which starts as the prompt."""
    token = loop.next_token()
    if token is None:
        return
    yield token
    run = loop.to_run()
    length = DraftLength()
    while run is not None:
        lookup.extend(run)
        kept = len(lookup.tokens)  # the sequence without the draft
        limit = length.next(loop.tokens_left - 1)
        draft = lookup.draft(limit) if limit else []
        rows = extend(run + draft, 1 + len(draft))
        lookup.extend(draft)
        for i in range(len(draft) + 1):  # rows[i] follows run and draft[:i]
            view.logits = rows[i]
            q = lookup.proposal(i) if i < len(draft) else None
            view.drafted = (draft[i], q) if q is not None else None
            token = loop.next_token()
            run = None if token is None else [token]
            if token is not None:
                yield token
                run = loop.to_run()
            if run is not None and i < len(draft) and run == [draft[i]]:
                continue  # the drafted token is already in the sequence
            truncate(kept + i)
            lookup.truncate(kept + i)
            length.checked(len(draft), i)
            break
