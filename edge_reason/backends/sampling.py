"""What every non-native backend shares: the native sampler over its last logits.

Sampling through the same C++ sampler as the native engine makes a seeded
generation pick the same tokens whichever runtime computed the logits.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class SamplesLastLogits:
    """Mixin for a backend that keeps its next-token logits in `self._last`
    and a `_native.Sampler` in `self._sampler`."""

    _last: np.ndarray
    _sampler: Any

    def last_logits(self) -> np.ndarray:
        return self._last.copy()

    def seed(self, seed: int) -> None:
        self._sampler.seed(seed)

    def sample(
        self,
        temperature: float,
        top_k: int,
        top_p: float,
        repetition_penalty: float,
        history: np.ndarray,
    ) -> int:
        return self.sample_logits(
            self._last, temperature, top_k, top_p, repetition_penalty, history
        )

    def sample_logits(
        self,
        logits: np.ndarray,
        temperature: float,
        top_k: int,
        top_p: float,
        repetition_penalty: float,
        history: np.ndarray,
    ) -> int:
        return self._sampler.sample(logits, temperature, top_k, top_p, repetition_penalty, history)
