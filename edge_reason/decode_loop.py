"""The decode loop: sample a token, hand it out, run it, until the end.

    >>> loop = DecodeLoop(backend, append, prompt_ids, params, end_ids, started)
    >>> for token in loop:      # each sampled token but an end token
    ...     loop.insert(more)   # optional: tokens to run right after this one
    >>> loop.tokens, loop.finish_reason   # all the tokens, "length" | "eos" | "time"

A batch drives the same steps itself, so that the tokens of many sequences run in
one pass: ``token = loop.next_token()`` (None: ended), then ``run = loop.to_run()``
(None: ended), and the logits after ``run`` go to the loop's backend.

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
        self.end_ids = end_ids
        limit = params.time_limit_s
        self._deadline = None if limit is None else started + limit
        self.tokens: list[int] = []  # sampled and inserted, the end token included
        self.finish_reason = "length"
        self._inserted: list[int] = []
        self._steps = 0  # tokens chosen (inserted ones not counted)
        self._ended = False
        self._history = np.asarray(prompt, dtype=np.int32)  # what the penalty applies to
        # Greedy decoding under a grammar alone takes the backend's token where it may.
        grammar = params.logit_processors[0] if len(params.logit_processors) == 1 else None
        self._grammar = (
            grammar if params.temperature == 0 and isinstance(grammar, GrammarProcessor) else None
        )
        self._seen = list(prompt)  # the grammar's view: the prompt and every token since

    @property
    def tokens_left(self) -> int:
        """Tokens it may still choose."""
        return self._params.max_new_tokens - self._steps

    def insert(self, tokens: list[int]) -> None:
        """Tokens to follow the token just handed out (a chat turn's budget forcing)."""
        self.tokens.extend(tokens)
        self._inserted.extend(tokens)

    def __iter__(self) -> Iterator[int]:
        while (token := self.next_token()) is not None:
            yield token
            run = self.to_run()
            if run is None:
                return
            self._append(run)

    def next_token(self) -> int | None:
        """Choose the next token from the backend's logits and record it: the token, or
        None when generation has ended (an end token was chosen, or earlier)."""
        if self._ended:
            return None
        p = self._params
        grammar = self._grammar
        if grammar is not None:
            token = self._backend.sample(
                p.temperature, p.top_k, p.top_p, p.repetition_penalty, self._history
            )
            self._seen.extend(self.tokens[len(self._seen) - len(self._prompt) :])
            if not grammar.allows(self._seen, token):
                token = self._sample_processed(self._history)
        elif p.logit_processors:
            token = self._sample_processed(self._history)
        else:
            token = self._backend.sample(
                p.temperature, p.top_k, p.top_p, p.repetition_penalty, self._history
            )
        self.tokens.append(token)
        self._steps += 1
        if p.repetition_penalty != 1.0:
            self._history = np.append(self._history, np.int32(token))
        if token in self.end_ids:
            self.finish_reason = "eos"
            self._ended = True
            return None
        return token

    def to_run(self) -> list[int] | None:
        """After the token was handed out: the tokens to run before the next one (it and
        any inserted), or None when generation ends here (its length or time limit)."""
        if self._steps >= self._params.max_new_tokens:
            self._ended = True
            return None
        if self._deadline is not None and time.perf_counter() >= self._deadline:
            self.finish_reason = "time"
            self._ended = True
            return None
        run = [self.tokens[-1 - len(self._inserted)], *self._inserted]
        self._inserted.clear()
        return run

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
