"""Scoring a Reasoner on a data set: accuracy with a 95% Wilson interval, per task, and cost,
and the false-verified rate: the share of wrong answers marked verified (what the verifier
must keep at 0: a verified answer is one a user may act on unchecked).

A problem whose prompt is longer than the model's context is skipped and listed, not scored:
one long story must not end the run and lose the answers scored before it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .datasets import Problem
from .errors import ContextLengthError
from .extract import normalize_answer

if TYPE_CHECKING:
    from .answer import Answer
    from .reasoner import Reasoner

Z_95 = 1.959963984540054  # two-sided 95% normal quantile


def wilson_interval(correct: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval for ``correct`` successes in ``n`` trials ((0, 1) if n = 0)."""
    if n == 0:
        return 0.0, 1.0
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class EvalReport:
    """Results of one strategy over a set of problems."""

    strategy: str
    n: int = 0
    correct: int = 0
    verified: int = 0  # model answers whose every step was checked and holds
    false_verified: int = 0  # wrong answers, from any source, marked verified
    latency_ms: float = 0.0  # summed; see to_dict for means
    tokens: int = 0
    # task -> [right, asked, wrong and marked verified]
    per_task: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0, 0]))
    sources: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    too_long: list[str] = field(default_factory=list)  # where the skipped problems are

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else 0.0

    def score(self, problem: Problem, answer: Answer) -> None:
        """Count ``answer`` to ``problem`` against its gold answer."""
        right = answer.answer is not None and (
            normalize_answer(answer.answer) == normalize_answer(problem.answer)
        )
        self.n += 1
        self.correct += right
        self.verified += answer.source == "model" and answer.verified
        self.false_verified += answer.verified and not right
        self.latency_ms += answer.latency_ms
        self.tokens += answer.tokens
        self.sources[answer.source] += 1
        task = self.per_task[problem.task or "all"]
        task[0] += right
        task[1] += 1
        task[2] += answer.verified and not right

    def to_dict(self) -> dict[str, Any]:
        low, high = wilson_interval(self.correct, self.n)
        return {
            "strategy": self.strategy,
            "accuracy": self.accuracy,
            "interval_95": [low, high],
            "n": self.n,
            "correct": self.correct,
            "per_task": {
                task: {
                    "accuracy": right / total,
                    "n": total,
                    "false_verified_rate": _share(false, total - right),
                }
                for task, (right, total, false) in sorted(self.per_task.items())
            },
            "verified_share": self.verified / self.n if self.n else 0.0,
            "false_verified": self.false_verified,
            "false_verified_rate": _share(self.false_verified, self.n - self.correct),
            "mean_latency_ms": self.latency_ms / self.n if self.n else 0.0,
            "mean_tokens": self.tokens / self.n if self.n else 0.0,
            "sources": dict(self.sources),
            "skipped_too_long": list(self.too_long),
        }


def evaluate_reasoner(
    reasoner: Reasoner,
    problems: Sequence[Problem],
    *,
    strategy: str,
    samples: int,
    budget_ms: float | None = None,
    on_answer: Callable[[], None] | None = None,
    report: EvalReport | None = None,
) -> EvalReport:
    """Ask every problem with ``strategy`` and score the answers against the gold ones;
    problems longer than the context are skipped (``EvalReport.too_long``). ``report``: the
    report to add to, for a caller that keeps what was scored should a later problem raise."""
    report = report if report is not None else EvalReport(strategy)
    for problem in problems:
        try:
            answer = reasoner.ask(
                problem.question,
                context=problem.context,
                strategy=strategy,
                samples=samples,
                budget_ms=budget_ms,
            )
        except ContextLengthError:
            report.too_long.append(problem.where)
        else:
            report.score(problem, answer)
        if on_answer is not None:
            on_answer()
    return report


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0
