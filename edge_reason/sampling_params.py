"""How the next token is picked and when generation ends: the arguments of
Engine.generate, stream and chat, checked once, in one place.

    >>> params = SamplingParams(temperature=0.7, top_p=0.9, seed=1, stop=["\\n\\n"])
    >>> engine.generate("Once", params)           # or the same fields as keywords:
    >>> engine.generate("Once", temperature=0.7, top_p=0.9, seed=1, stop=["\\n\\n"])

A logit processor is a callable ``(token_ids, logits) -> logits``: ``token_ids`` the
prompt's tokens followed by those generated so far, ``logits`` a float32 array of
vocab_size next-token logits it may change in place (then returning None) or
replace. Processors run in order before every sampled token, so token bans,
biases and constrained decoding plug in without touching the decode loop.

    >>> def no_digits(token_ids, logits):
    ...     logits[digit_ids] = -np.inf
    >>> engine.generate("Count:", logit_processors=[no_digits])
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from numbers import Real
from typing import Any, TypedDict

import numpy as np

from .structured_output import ResponseFormat

LogitProcessor = Callable[[Sequence[int], np.ndarray], "np.ndarray | None"]
SPECULATIVE = (None, "prompt-lookup")


@dataclass(frozen=True)
class SamplingParams:
    """max_new_tokens: at most this many tokens are generated.
    temperature: 0 is greedy; top_k (0: off), top_p (1: off) and repetition_penalty
    (1: off) as Hugging Face applies them. seed: seeds the sampler (None: it goes on
    from its current state). stop: strings that end generation (left out of the text).
    time_limit_s: stop (finish_reason "time") once decoding has taken this long.
    logit_processors: callables applied to the logits before each token is sampled
    (module docstring). response_format: constrain the output to a JSON schema, any JSON
    object, a regex or a grammar (edge_reason/structured_output.py); checked and compiled
    here, so a bad one raises ResponseFormatError (a ValueError) before generation.
    speculative: "prompt-lookup" drafts tokens from the text so far and checks them in one
    pass (edge_reason/speculative.py): the same output, faster where the answer quotes
    the prompt; None: one token per pass. draft: an Engine of the same vocabulary that
    drafts tokens for this call (edge_reason/draft_model.py).

    A str or a list is accepted for stop, and any sequence of callables for
    logit_processors; both are held as tuples. Bad values raise ValueError naming
    the field and the value.
    """

    max_new_tokens: int = 128
    temperature: float = 0.0
    top_k: int = 0
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    time_limit_s: float | None = None
    logit_processors: tuple[LogitProcessor, ...] = ()
    response_format: ResponseFormat | None = None
    speculative: str | None = None
    draft: Any = None

    def __post_init__(self) -> None:
        n, t, k, p, rp = (
            self.max_new_tokens,
            self.temperature,
            self.top_k,
            self.top_p,
            self.repetition_penalty,
        )
        if not isinstance(n, int) or n <= 0:
            raise ValueError(f"max_new_tokens must be a positive integer, got {n!r}")
        if not (isinstance(t, Real) and 0 <= t < math.inf):
            raise ValueError(f"temperature must be a finite number >= 0, got {t!r}")
        if not isinstance(k, int) or k < 0:
            raise ValueError(f"top_k must be an integer >= 0, got {k!r}")
        if not (isinstance(p, Real) and 0 < p <= 1):
            raise ValueError(f"top_p must be in (0, 1], got {p!r}")
        if not (isinstance(rp, Real) and 0 < rp < math.inf):
            raise ValueError(f"repetition_penalty must be a finite number > 0, got {rp!r}")
        seed = self.seed
        if seed is not None and (not isinstance(seed, int) or seed < 0):
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        if self.time_limit_s is not None and not self.time_limit_s > 0:
            raise ValueError(f"time_limit_s must be positive, got {self.time_limit_s!r}")
        stop: Any = self.stop
        stops = (stop,) if isinstance(stop, str) else tuple(stop or ())
        if any(not isinstance(s, str) or not s for s in stops):
            raise ValueError(f"stop strings must be non-empty strings, got {stop!r}")
        processors: Any = self.logit_processors
        if callable(processors) or isinstance(processors, (str, bytes)):
            raise ValueError(
                f"logit_processors must be a sequence of callables, got {processors!r}"
            )
        processors = tuple(processors or ())
        for f in processors:
            if not callable(f):
                raise ValueError(f"logit_processors must be callables, got {f!r}")
        if self.speculative not in SPECULATIVE:
            raise ValueError(
                f"speculative must be one of {', '.join(map(repr, SPECULATIVE))}, "
                f"got {self.speculative!r}"
            )
        if self.draft is not None and not callable(getattr(self.draft, "next_logits", None)):
            raise ValueError(f"draft must be an Engine, got {self.draft!r}")
        set_field = object.__setattr__  # frozen: the checked values are stored once, here
        set_field(self, "temperature", float(t))
        set_field(self, "top_p", float(p))
        set_field(self, "repetition_penalty", float(rp))
        set_field(self, "stop", stops)
        set_field(self, "logit_processors", processors)
        if self.response_format is not None:
            set_field(self, "response_format", ResponseFormat.parse(self.response_format))

    @classmethod
    def build(cls, base: SamplingParams | None, options: Mapping[str, Any]) -> SamplingParams:
        """`base` (default: the defaults) with the fields named in `options` replaced."""
        unknown = sorted(set(options) - set(FIELDS))
        if unknown:
            raise TypeError(f"unknown sampling arguments {unknown}: use {list(FIELDS)}")
        if base is not None and not isinstance(base, SamplingParams):
            raise TypeError(f"sampling must be a SamplingParams, got {base!r}")
        return replace(base, **options) if base is not None else cls(**options)


FIELDS = tuple(f.name for f in fields(SamplingParams))


class SamplingOptions(TypedDict, total=False):
    """SamplingParams' fields as keyword arguments (stop and processors in any sequence)."""

    max_new_tokens: int
    temperature: float
    top_k: int
    top_p: float
    repetition_penalty: float
    seed: int | None
    stop: str | Sequence[str] | None
    time_limit_s: float | None
    logit_processors: Sequence[LogitProcessor]
    response_format: Mapping[str, Any] | ResponseFormat | None
    speculative: str | None
    draft: Any
