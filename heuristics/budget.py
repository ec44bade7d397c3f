"""A time budget that long work (forward chaining, reading a story) checks as it goes."""

from __future__ import annotations

import time

from .errors import BudgetError

# Without a budget from the caller an evaluation still stops: no pack should need this long.
DEFAULT_BUDGET_MS = 10_000.0


class Budget:
    """A deadline ``milliseconds`` from now (``None``: DEFAULT_BUDGET_MS)."""

    def __init__(self, milliseconds: float | None = None) -> None:
        self.milliseconds = DEFAULT_BUDGET_MS if milliseconds is None else max(milliseconds, 0.0)
        self.deadline = time.perf_counter() + self.milliseconds / 1000.0

    def check(self, doing: str) -> None:
        """Raise BudgetError saying what was cut short if the deadline has passed."""
        if time.perf_counter() > self.deadline:
            raise BudgetError(
                f"ran out of its {self.milliseconds:.0f} ms time budget while {doing}"
            )
