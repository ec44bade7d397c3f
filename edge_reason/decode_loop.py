"""The decode loop: sample a token, hand it out, run it, until the end.

    >>> loop = DecodeLoop(backend, append, prompt_ids, params, end_ids, started)
    >>> for token in loop:      # each sampled token but an end token
    ...     loop.insert(more)   # optional: tokens to run right after this one
    >>> loop.tokens, loop.finish_reason   # all the tokens, "length" | "eos" | "time"

Only sampling and running tokens happen here; text, stop strings and chat turns are
the caller's, between two tokens. A consumer that stops iterating (a stop string) leaves
the last token sampled but not run, as generation ends there.

Without logit processors the backend samples from the logits it holds (no copy out
of the engine); with them, the logits are copied out, processed and handed back to
the same sampler, so a seeded run draws the same random numbers either way. Greedy
decoding whose only processor is a grammar takes the backend's own choice when the
grammar allows it, and processes the logits only when it does not: the same tokens,
without a mask computed and applied at every step.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np

from .sampling_params import SamplingParams
from .structured_output import GrammarProcessor

if TYPE_CHECKING:
    from .engine import Backend


class DecodeLoop:
    def __init__(
        self,
        backend: Backend,
        append: Callable[[list[int]], None],
        prompt: Sequence[int],
        params: SamplingParams,
        end_ids: frozenset[int],
        started: float,
    ) -> None:
        """append: runs tokens (and records them in the caller's sequence); prompt: the
        tokens before the first sampled one; end_ids: tokens that end generation;
        started: the perf_counter() time the time limit counts from."""
        self._backend = backend
        self._append = append
        self._prompt = prompt
        self._params = params
        self._end_ids = end_ids
        limit = params.time_limit_s
        self._deadline = None if limit is None else started + limit
        self.tokens: list[int] = []  # sampled and inserted, the end token included
        self.finish_reason = "length"
        self._inserted: list[int] = []

    def insert(self, tokens: list[int]) -> None:
        """Tokens to follow the token just handed out (a chat turn's budget forcing)."""
        self.tokens.extend(tokens)
        self._inserted.extend(tokens)

    def __iter__(self) -> Iterator[int]:
        p = self._params
        history = np.asarray(self._prompt, dtype=np.int32)
        grammar = p.logit_processors[0] if len(p.logit_processors) == 1 else None
        if p.temperature != 0 or not isinstance(grammar, GrammarProcessor):
            grammar = None
        seen = list(self._prompt)  # the grammar's view: the prompt and every token since
        for step in range(p.max_new_tokens):
            if grammar is not None:
                token = self._backend.sample(
                    p.temperature, p.top_k, p.top_p, p.repetition_penalty, history
                )
                seen.extend(self.tokens[len(seen) - len(self._prompt) :])  # what came since
                if not grammar.allows(seen, token):
                    token = self._sample_processed(history)
            elif p.logit_processors:
                token = self._sample_processed(history)
            else:
                token = self._backend.sample(
                    p.temperature, p.top_k, p.top_p, p.repetition_penalty, history
                )
            self.tokens.append(token)
            if p.repetition_penalty != 1.0:
                history = np.append(history, np.int32(token))
            if token in self._end_ids:
                self.finish_reason = "eos"
                return
            yield token
            if step + 1 < p.max_new_tokens:
                if self._deadline is not None and time.perf_counter() >= self._deadline:
                    self.finish_reason = "time"
                    return
                self._append([token, *self._inserted])
                self._inserted.clear()

    def _sample_processed(self, history: np.ndarray) -> int:
        p = self._params
        logits = self._backend.last_logits()
        vocab = logits.shape[0]
        seen = [*self._prompt, *self.tokens]
        for process in p.logit_processors:
            out = process(seen, logits)
            if out is not None:
                logits = out
        logits = np.ascontiguousarray(logits, dtype=np.float32)
        if logits.shape != (vocab,):
            raise ValueError(
                f"logit processors must return {vocab} logits (one per vocabulary entry), "
                f"got an array of shape {logits.shape}"
            )
        return self._backend.sample_logits(
            logits, p.temperature, p.top_k, p.top_p, p.repetition_penalty, history
        )
