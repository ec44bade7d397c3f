"""Scoring a Reasoner on a data set: accuracy with a 95% Wilson interval, per task, and cost,
the false-verified rate: the share of wrong answers marked verified (what the verifier
must keep at 0: a verified answer is one a user may act on unchecked), and how well the
confidence is calibrated: the expected calibration error (ECE), a reliability diagram, and
the fit of a calibrator (calibration.py) to the answers scored.

A problem whose prompt is longer than the model's context is skipped and listed, not scored:
one long story must not end the run and lose the answers scored before it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from .calibration import Calibrator, features
from .datasets import Problem
from .errors import ContextLengthError
from .extract import normalize_answer

if TYPE_CHECKING:
    from .answer import Answer
    from .reasoner import Reasoner

Z_95 = 1.959963984540054  # two-sided 95% normal quantile
ECE_BINS = 10


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
    # per answer: its confidence, whether it was right, its calibration features
    confidences: list[float] = field(default_factory=list)
    outcomes: list[bool] = field(default_factory=list)
    features: list[np.ndarray] = field(default_factory=list)
    answered: list[bool] = field(default_factory=list)  # False: "no answer"
    uncalibrated: int = 0  # answers (not "no answer") whose confidence was not calibrated

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
        self.confidences.append(answer.confidence)
        self.outcomes.append(right)
        self.features.append(features(answer))
        self.answered.append(answer.answer is not None)
        self.uncalibrated += answer.answer is not None and not answer.confidence_calibrated

    @property
    def confidence_calibrated(self) -> bool:
        """True when the confidence of every answer given (not "no answer") was calibrated."""
        return self.n > 0 and not self.uncalibrated

    @property
    def ece(self) -> float:
        return expected_calibration_error(self.confidences, self.outcomes)

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
            "ece": self.ece,
            "confidence_calibrated": self.confidence_calibrated,
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


def expected_calibration_error(
    confidences: Sequence[float], outcomes: Sequence[bool], bins: int = ECE_BINS
) -> float:
    """The expected calibration error: over ``bins`` equal-width confidence bins ((0, 0.1],
    (0.1, 0.2], ...; 0 falls in the first), the answers' share in a bin times the gap between
    its accuracy and its mean confidence, summed (0 with no answers)."""
    return sum(
        b.count / len(confidences) * abs(b.accuracy - b.confidence)
        for b in reliability_bins(confidences, outcomes, bins)
    )


class Bin(NamedTuple):
    """One confidence bin of a reliability diagram."""

    low: float  # the bin's lower edge
    confidence: float  # the mean confidence of its answers
    accuracy: float
    count: int


def reliability_bins(
    confidences: Sequence[float], outcomes: Sequence[bool], bins: int = ECE_BINS
) -> list[Bin]:
    """The non-empty bins, as ``expected_calibration_error`` cuts them."""
    conf = np.asarray(confidences, dtype=np.float64)
    right = np.asarray(outcomes, dtype=np.float64)
    index = np.clip(np.ceil(conf * bins).astype(int) - 1, 0, bins - 1)
    return [
        Bin(b / bins, float(conf[index == b].mean()), float(right[index == b].mean()), int(n))
        for b, n in enumerate(np.bincount(index, minlength=bins))
        if n
    ]


def fit_logistic(
    x: np.ndarray, y: np.ndarray, l2: float = 1.0, iterations: int = 100
) -> tuple[float, np.ndarray]:
    """The intercept and weights of a logistic regression of ``y`` (0/1) on the rows of ``x``,
    by Newton's method with an L2 penalty ``l2`` on the weights (not the intercept): the
    penalty keeps weights finite when a feature separates the outcomes (verified answers
    are all right) and splits a constant feature's weight with the intercept."""
    design = np.hstack([np.ones((len(x), 1)), x])
    penalty = np.full(design.shape[1], l2)
    penalty[0] = 0.0
    theta = np.zeros(design.shape[1])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(design @ theta)))
        gradient = design.T @ (p - y) + penalty * theta
        hessian = (design * (p * (1 - p))[:, None]).T @ design + np.diag(penalty)
        # a tiny ridge keeps the step defined when every answer agrees (p(1-p) -> 0)
        step = np.linalg.solve(hessian + 1e-9 * np.eye(len(theta)), gradient)
        theta -= step
        if np.abs(step).max() < 1e-10:
            break
    return float(theta[0]), theta[1:]


def fit_calibrator(reports: Mapping[str, EvalReport]) -> Calibrator:
    """A calibrator fitted per strategy on the answers of ``reports`` (strategy -> report);
    "auto" is fitted under the strategy each of its answers ran, so it is left out."""
    fitted = {}
    for name, report in reports.items():
        if name == "auto" or not report.n:
            continue
        intercept, weights = fit_logistic(
            np.vstack(report.features), np.asarray(report.outcomes, dtype=np.float64)
        )
        fitted[name] = (intercept, tuple(float(w) for w in weights))
    return Calibrator(fitted)


def pooled_answers(strategy: str, parts: Iterable[tuple[EvalReport, slice]]) -> EvalReport:
    """A report holding only the per-answer lists (confidence, outcome, features) of the
    answers ``rows`` of each ``(report, rows)``, in scoring order: the answers a calibration
    is fitted on, or checked on, when one run scored both."""
    pooled = EvalReport(strategy)
    for report, rows in parts:
        pooled.confidences += report.confidences[rows]
        pooled.outcomes += report.outcomes[rows]
        pooled.features += report.features[rows]
        pooled.answered += report.answered[rows]
    pooled.n, pooled.correct = len(pooled.outcomes), sum(pooled.outcomes)
    return pooled


def calibrated_ece(report: EvalReport, calibrator: Calibrator) -> float:
    """The ECE of ``report``'s answers had ``calibrator`` given their confidences ("no
    answer", and a strategy it does not cover, keep their own, as in the Reasoner)."""
    confidences = []
    for confidence, row, answered in zip(
        report.confidences, report.features, report.answered, strict=True
    ):
        calibrated = calibrator.probability(report.strategy, row) if answered else None
        confidences.append(confidence if calibrated is None else calibrated)
    return expected_calibration_error(confidences, report.outcomes)


def plot_reliability(reports: Mapping[str, EvalReport], path: str | Path) -> None:
    """Draw a reliability diagram per strategy (accuracy against mean confidence per bin,
    the bar widths the bins, the diagonal perfect calibration) into the PNG file ``path``."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        1, len(reports), figsize=(3.6 * len(reports), 3.8), squeeze=False, layout="constrained"
    )
    for ax, (name, report) in zip(axes[0], reports.items(), strict=True):
        for b in reliability_bins(report.confidences, report.outcomes):
            ax.bar(b.low, b.accuracy, 1.0 / ECE_BINS, align="edge", color="#4c72b0", alpha=0.8)
            # the dot: where the bin's answers lie (its size grows with their number)
            ax.plot(b.confidence, b.accuracy, "o", color="#c44e52", markersize=3 + b.count**0.5 / 2)
        ax.plot([0, 1], [0, 1], "--", color="#666666", linewidth=1)
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence", ylabel="accuracy")
        calibrated = "calibrated" if report.confidence_calibrated else "uncalibrated"
        ax.set_title(f"{name}: ECE {report.ece:.3f}\n({calibrated}, n={report.n})", fontsize=10)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0
