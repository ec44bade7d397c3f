"""Chains in the order the model ranks them: the greedy chain first, then its best deviations.

Why not redraw at a temperature: a small model puts most of its mass on a few chains, so
samples repeat themselves (16 samples at 0.7 of the shipped model held a median of 4, 3 and 6
distinct chains on bAbI tasks 2, 8 and 14) while the right one often sits at the model's
second or third choice of a single token.
The search walks each chain token by token and keeps, at every position, the next
``ALTERNATIVES`` most likely tokens as branch points, scored by the log-probability of the
prefix plus the token's own. The next chain is the greedy completion of the best branch
point not yet taken. So no chain comes twice, the order is the model's (a prefix ranks by
what the model gave it, before its completion), and the search is deterministic.

Tool calls are served as ``ChainGenerator`` serves them: when a chosen token holds ``=``
inside an open ``<<``, the tool's result and ``>>`` follow it in the chain; only the model's
own tokens are branch points.

The answer's form, when the plan fixed one, holds here too: each token is chosen from the
logits that the form's grammar allows (``Engine.grammar_processor``), so the branch points
are allowed tokens only, and a chain cut before its answer is closed with the marker and
an answer, as ``ChainGenerator`` closes it.
"""

from __future__ import annotations

import heapq
import itertools
import time
from typing import TYPE_CHECKING

import numpy as np

from edge_reason.errors import ResponseFormatError
from edge_reason.text_stream import first_stop

from .generation import ANSWER_TOKENS, ChainGenerator, GeneratedChain

if TYPE_CHECKING:
    from edge_reason.engine import PromptState
    from edge_reason.structured_output import GrammarProcessor

# Branch points kept per position. Measured on the shipped model (first 100 validation
# questions of bAbI tasks 2, 8, 14 and 19, 16 chains): 1 -> 72/81/68/59% right, 3 ->
# 89/95/88/57%, 8 -> 95/95/90/56%, 16 -> the same as 8.
ALTERNATIVES = 8


class ChainSearch:
    """Chains after ``root`` in the model's order; ``next()`` gives one per call."""

    def __init__(
        self,
        generator: ChainGenerator,
        root: PromptState,
        *,
        max_new_tokens: int,
        stop: tuple[str, ...],
    ) -> None:
        self.generator = generator
        self.engine = generator.engine
        self.root = root
        self.room = min(max_new_tokens, generator.max_context - len(root.token_ids))
        self.stop = stop
        # (-score, tie-break, the chain's ids before the token, the token, model tokens, tool
        # calls). Ids, not states: a state carries a vocabulary of logits, and a long chain
        # of a large vocabulary would hold hundreds of MB of them.
        self._branches: list[tuple[float, int, tuple[int, ...], int, int, int]] = []
        self._order = itertools.count()
        self._started = False

    def next(self, deadline: float | None = None) -> GeneratedChain | None:
        """The next chain (cut short at ``deadline``, a time.perf_counter() value), or None
        when every branch point has been taken."""
        if not self._started:
            self._started = True
            return self._complete(self.root, None, 0.0, 0, 0, deadline)
        if not self._branches:
            return None
        negative, _, before, token, tokens, calls = heapq.heappop(self._branches)
        # the engine runs only what its cache no longer shares with this chain
        state = self.engine.prefill(before, prefix=self.root) if before else self.root
        return self._complete(state, token, -negative, tokens, calls, deadline)

    def _complete(
        self,
        state: PromptState,
        token: int | None,
        score: float,
        tokens: int,
        calls: int,
        deadline: float | None,
    ) -> GeneratedChain:
        """Greedy from ``state`` (taking ``token`` first, if given), recording branch points.
        ``tokens`` and ``calls`` count what the chain already holds."""
        engine, start, stepped = self.engine, time.perf_counter(), 0
        text = self._text(state)
        mask, stopped = _Mask(self.generator), False
        while tokens < self.room:
            if token is None:
                if deadline is not None and time.perf_counter() > deadline:
                    break
                token, score = self._choose(state, score, tokens, calls, mask.logits(state, text))
            if token is None or token in engine.eos_token_ids:
                break
            tokens, stepped = tokens + 1, stepped + 1
            state, inserted = self._append(state, token, text)
            calls += inserted
            token, text = None, self._text(state)
            if inserted:  # text the model did not choose: the form starts again after it
                mask = _Mask(self.generator)
            cut = first_stop(text, self.stop)
            if cut is not None:
                text, stopped = text[:cut], True
                break
        answer = self.generator.answer
        if answer is not None and not answer.finished(text):
            # cut before its answer: the marker and an answer, greedy, no branch points
            if stopped:  # the state holds the stop string: back to the text before it
                state = engine.prefill(engine.encode(text), prefix=self.root) if text else self.root
            closing = _Mask(self.generator, close=True)
            for _ in range(min(ANSWER_TOKENS, self.generator.max_context - len(state.token_ids))):
                logits = closing.logits(state, text)
                best = int(np.argmax(logits))
                if best in engine.eos_token_ids or not np.isfinite(logits[best]):
                    break
                tokens, stepped = tokens + 1, stepped + 1
                state = engine.prefill([best], prefix=state)
                text = self._text(state)
        self.generator.rates.record_decode(stepped, time.perf_counter() - start)
        self.generator.rates.record_chain(tokens)
        return GeneratedChain(text, tokens, calls)

    def _choose(
        self,
        state: PromptState,
        score: float,
        tokens: int,
        calls: int,
        logits: np.ndarray | None = None,
    ) -> tuple[int | None, float]:
        """The greedy token after ``state`` and the chain's score with it; the runners-up
        become branch points. ``logits``: the state's as the answer's form masks them (a
        token it forbids is -inf, and is no branch point); None when nothing is allowed."""
        if logits is None:
            logits = state.logits
        elif not np.isfinite(logits).any():
            return None, score
        top = logits.max()
        # log-probability = logit - log(sum(exp(logits))); the logits alone rank the tokens
        normalizer = float(top) + float(np.log(np.exp(logits - top).sum(dtype=np.float64)))
        count = min(ALTERNATIVES + 1, logits.size)
        ranked = np.argpartition(logits, logits.size - count)[logits.size - count :]
        ranked = ranked[np.argsort(-logits[ranked], kind="stable")]
        before = state.token_ids[len(self.root.token_ids) :]
        for alternative in ranked[1:]:
            if not np.isfinite(logits[alternative]):
                break  # forbidden by the answer's form (ranked: the rest are too)
            score_with = score + float(logits[alternative]) - normalizer
            entry = (-score_with, next(self._order), before, int(alternative), tokens, calls)
            heapq.heappush(self._branches, entry)
        best = int(ranked[0])
        return best, score + float(logits[best]) - normalizer

    def _append(self, state: PromptState, token: int, text: str) -> tuple[PromptState, bool]:
        """``state`` with ``token`` after it, and whether a tool's result came with it: a
        token that holds ``=`` closing an open ``<<`` is followed by the result and ``>>``."""
        engine = self.engine
        if self.generator.tools is not None:
            piece = engine.decode([token])
            if "=" in piece:
                before = text + piece[: piece.index("=")]
                inserted = self.generator.after_equals(before)
                if inserted != "=":
                    return engine.prefill(piece[: piece.index("=")] + inserted, prefix=state), True
        return engine.prefill([token], prefix=state), False

    def _text(self, state: PromptState) -> str:
        return self.engine.decode(state.token_ids[len(self.root.token_ids) :])


class _Mask:
    """The logits a chain may choose from under the answer's form: each call feeds the
    form's matcher the tokens added since the last. Without a form, the state's own."""

    def __init__(self, generator: ChainGenerator, *, close: bool = False) -> None:
        self.answer = generator.answer
        self.engine = generator.engine
        self.close = close
        self.processor: GrammarProcessor | None = None

    def logits(self, state: PromptState, text: str) -> np.ndarray:
        """``state``'s logits as the form allows them after ``text`` (the chain so far)."""
        if self.answer is None:
            return state.logits
        logits = np.array(state.logits, dtype=np.float32, copy=True)
        try:
            if self.processor is None:  # the form for what follows the text written so far
                fmt = self.answer.response_format(text, close=self.close)
                self.processor = self.engine.grammar_processor(fmt)
            self.processor(state.token_ids, logits)
        except ResponseFormatError:
            # the vocabulary cannot follow the form here: the chain goes on free
            self.answer = None
            return state.logits
        return logits
