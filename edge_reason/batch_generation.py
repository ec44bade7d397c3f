"""Many sequences decoded together: each step runs the next token of every unfinished
sequence in one pass over the weights, so that k sequences cost about what one does
while decode is bound by reading the weights (Engine.generate_batch, generate(n=)).

    >>> members = [BatchMember(sequence, logits, loop, detokenizer, stops), ...]
    >>> decode_together(native, members)   # until every loop has ended

Each sequence runs the DecodeLoop a lone generation runs, on the logits after its own
tokens and with a sampler of its own, seeded as generate seeds the engine's: a batch
gives every sequence exactly the tokens generate gives it alone, under greedy decoding
and for the same seeds (the engine's batched pass computes each token's logits as a
lone pass does).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from . import _native
from .backends.sampling import SamplesLastLogits
from .stop_strings import StopStrings
from .text_stream import TextStream

if TYPE_CHECKING:
    from .decode_loop import DecodeLoop


class SequenceLogits(SamplesLastLogits):
    """What a DecodeLoop samples from for one sequence of a batch: the logits after its
    last token, and its own sampler (seed None: a random one)."""

    def __init__(self, logits: np.ndarray, seed: int | None) -> None:
        self._last = logits
        self._sampler = _native.Sampler(int(logits.shape[0]))
        self._sampler.seed(secrets.randbits(64) if seed is None else seed)

    @property
    def logits(self) -> np.ndarray:
        return self._last

    @logits.setter
    def logits(self, value: np.ndarray) -> None:
        self._last = value


@dataclass
class BatchMember:
    """One sequence of a batch: its native sequence id, the loop that picks its tokens
    (whose backend is ``logits``), and the text watch for its stop strings (a
    detokenizer and the strings; no stop strings: the text is decoded at the end)."""

    sequence: int
    logits: SequenceLogits
    loop: DecodeLoop
    detokenizer: Any | None = None
    stops: tuple[str, ...] = ()
    ended_at: float = 0.0  # perf_counter() time its loop ended
    _text: TextStream | None = field(default=None, init=False)
    _watcher: StopStrings | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.stops and self.detokenizer is not None:
            self._text = TextStream(self.detokenizer)
            self._watcher = StopStrings(self.stops)

    def next_run(self) -> list[int] | None:
        """Pick the next token: the tokens to run after it, or None when this sequence
        has ended (an end token, a stop string, its length or its time limit)."""
        token = self.loop.next_token()
        if token is None:
            return None
        if self._watcher is not None and self._text is not None:
            self._watcher.feed(self._text.push(token))
            if self._watcher.stopped:
                return None
        return self.loop.to_run()

    def finish(self) -> tuple[str | None, str]:
        """The text (None: to be decoded from the tokens) and the finish reason."""
        if self._watcher is None or self._text is None:
            return None, self.loop.finish_reason
        if self._watcher.stopped:
            return self._watcher.text, "stop"
        tail = "" if self.loop.finish_reason == "eos" else self._text.flush()
        self._watcher.finish(tail)
        return self._watcher.text, self.loop.finish_reason


def decode_together(native: Any, members: list[BatchMember]) -> None:
    """Run every member's loop to its end, one token of each per pass of the engine
    (a member with inserted tokens runs them in a pass of its own)."""
    active = list(members)
    while active:
        together: list[tuple[BatchMember, int]] = []
        for member in active:
            run = member.next_run()
            if run is None:
                member.ended_at = time.perf_counter()
            elif len(run) == 1:
                together.append((member, run[0]))
            else:
                member.logits.logits = native.extend(member.sequence, np.asarray(run, np.int32))[0]
        active = [m for m in active if not m.ended_at]
        if together:
            ids = np.asarray([m.sequence for m, _ in together], dtype=np.int32)
            tokens = np.asarray([t for _, t in together], dtype=np.int32)
            rows = native.decode(ids, tokens)
            for (member, _), row in zip(together, rows, strict=True):
                member.logits.logits = row
