"""Drafts from a smaller model of the same vocabulary (a Proposer for speculative.py).

    >>> target = Engine.load("qwen2.5-1.5b", draft="qwen2.5-0.5b")   # or, per call:
    >>> target.generate(prompt, draft=Engine.load("qwen2.5-0.5b"))

The draft model follows the target's sequence in its own cache (each call runs only the
tokens it has not seen) and writes the next few tokens, greedily under greedy decoding,
otherwise sampled with the same temperature, top-k, top-p and repetition penalty; each
drafted token keeps the distribution it was drawn from, which the acceptance rule needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from . import _native

if TYPE_CHECKING:
    from .engine import Engine
    from .sampling_params import SamplingParams

# Text both tokenizers must encode alike for a draft to be usable.
_PROBE = "The pump moved 12.5 litres in 3 minutes; café, naïve, 東京.\n"


def check_draft(target: Engine, draft: Engine) -> None:
    """ValueError unless ``draft`` can draft for ``target``: another engine, with the
    same vocabulary, whose tokenizer encodes text alike."""
    if draft is target:
        raise ValueError("draft: a model cannot draft for itself")
    if draft.config.vocab_size != target.config.vocab_size:
        raise ValueError(
            f"draft: {draft.path} has {draft.config.vocab_size} tokens but {target.path} has "
            f"{target.config.vocab_size}: a draft model needs the target's vocabulary"
        )
    if target.tokenizer is not None and draft.tokenizer is not None:
        if target.encode(_PROBE) != draft.encode(_PROBE):
            raise ValueError(
                f"draft: {draft.path} and {target.path} tokenize text differently: a draft "
                "model needs the target's tokenizer"
            )


class DraftModel:
    """Drafts with ``engine``, following the target's tokens (its ``tokens``)."""

    def __init__(self, engine: Engine, prompt: Sequence[int], params: SamplingParams) -> None:
        self.tokens = list(prompt)
        self._engine = engine
        self._params = params
        self._sampler = _native.Sampler(engine.config.vocab_size)
        if params.seed is not None:
            self._sampler.seed(params.seed)
        self._rng = np.random.default_rng(params.seed)
        self._drawn: list[np.ndarray] = []  # the distribution of each drafted token

    def extend(self, tokens: Sequence[int]) -> None:
        self.tokens.extend(tokens)

    def truncate(self, length: int) -> None:
        del self.tokens[length:]

    def draft(self, limit: int) -> list[int]:
        p = self._params
        out: list[int] = []
        self._drawn = []
        for _ in range(limit):
            history = [*self.tokens, *out]
            logits = self._engine.next_logits(history)
            penalised = np.asarray(history, dtype=np.int32)
            q = self._sampler.distribution(
                logits, p.temperature, p.top_k, p.top_p, p.repetition_penalty, penalised
            )
            token = (
                int(np.argmax(q))
                if p.temperature == 0
                else int(self._rng.choice(len(q), p=q.astype(np.float64) / q.sum()))
            )
            out.append(token)
            self._drawn.append(q)
        return out

    def proposal(self, i: int) -> np.ndarray | None:
        return self._drawn[i]
