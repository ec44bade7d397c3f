"""The run's time budget: checked between steps, and bounding each step's tokens.

The decode and prefill rates are measured on the run's own replies; a step may generate
only as many tokens as the time left allows at those rates (after its prompt's prefill,
estimated from the last one), and every call also gets the time left as its hard limit, so
a step can run late but never hang.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .model import Reply

# Fewer tokens than this cannot hold a step, a review or even an answer's JSON.
MIN_STEP_TOKENS = 12


class StepBudget:
    """The time left for a run started now (``budget_ms`` None: no limit)."""

    def __init__(
        self, budget_ms: float | None, clock: Callable[[], float] = time.perf_counter
    ) -> None:
        if budget_ms is not None and not budget_ms > 0:
            raise ValueError(f"budget_ms must be positive, got {budget_ms!r}")
        self.clock = clock
        self.started = clock()
        self.deadline = None if budget_ms is None else self.started + budget_ms / 1000.0
        self.decoded = self.prefilled = 0
        self.decode_seconds = self.prefill_seconds = 0.0
        self.last_prompt = 0

    def elapsed_ms(self) -> float:
        return 1000.0 * (self.clock() - self.started)

    def left_s(self) -> float | None:
        """Seconds left (None: no budget); never below 0."""
        return None if self.deadline is None else max(0.0, self.deadline - self.clock())

    def record(self, reply: Reply) -> None:
        """Count a reply's tokens and seconds into the measured rates."""
        stats = reply.stats
        self.decoded += stats.generated_tokens
        self.decode_seconds += stats.decode_seconds
        self.prefilled += stats.prompt_tokens
        self.prefill_seconds += stats.prefill_seconds
        self.last_prompt = stats.prompt_tokens

    def step_tokens(self, cap: int) -> int | None:
        """Tokens the next reply may generate: ``cap``, or fewer when the time left at the
        measured rates allows fewer; None when not even ``MIN_STEP_TOKENS`` fit."""
        left = self.left_s()
        if left is None:
            return cap
        if left <= 0:
            return None
        if self.decoded and self.decode_seconds > 0:
            prefill = (
                self.last_prompt * self.prefill_seconds / self.prefilled if self.prefilled else 0.0
            )
            fits = int((left - prefill) * self.decoded / self.decode_seconds)
            if fits < MIN_STEP_TOKENS:
                return None
            return min(cap, fits)
        return cap
