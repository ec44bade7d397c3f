"""Calibrated confidence: what is known about an answer, mapped to the chance it is right.

Every answer carries the same features (``features``): its verification status (verified,
failed, unchecked), the model's log-probabilities of the answer's tokens (mean and least),
the winner's vote share, the revisions made, and its source (model, rules, tool). A bundle
may declare a calibrator fitted on validation answers (``edge-reason eval --fit-calibration``):
in bundle.json, ``"confidence_calibration"``, one logistic regression per strategy over these
features. Without one the confidence is the strategies' own (uncalibrated) measure.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from edge_reason.errors import ModelFormatError

from .answer import StepStatus

if TYPE_CHECKING:
    from .answer import Answer

MANIFEST_KEY = "confidence_calibration"
FEATURES = (
    "failed",  # a step was checked and found wrong
    "unchecked",  # a step, or the whole answer, could not be checked
    "logprob_mean",
    "logprob_min",
    "vote_share",
    "revisions",  # log(1 + rounds): the tenth repair says less than the first
    "rules",
    "tool",
)
# A log-probability below this says "unlikely" as well as a lower one: clipped, so that one
# near-impossible token cannot dominate the fit.
LOGPROB_FLOOR = -10.0


def features(answer: Answer) -> np.ndarray:
    """``answer``'s feature vector, in the order of ``FEATURES``. A model answer whose
    tokens were not found in its chain counts as least likely; log-probabilities of rules'
    and tools' answers are 0 (their source features carry what they are worth)."""
    signals = answer.signals
    logprobs = [max(lp, LOGPROB_FLOOR) for lp in signals.logprobs]
    unknown = LOGPROB_FLOOR if answer.source == "model" else 0.0
    return np.array(
        [
            answer.status is StepStatus.FAILED,
            answer.status is StepStatus.UNCHECKED,
            sum(logprobs) / len(logprobs) if logprobs else unknown,
            min(logprobs, default=unknown),
            signals.vote_share,
            math.log1p(signals.revisions),
            answer.source == "rules",
            answer.source == "tool",
        ],
        dtype=np.float64,
    )


@dataclass(frozen=True)
class Calibrator:
    """Per strategy, the intercept and weights of a logistic regression over ``FEATURES``."""

    strategies: Mapping[str, tuple[float, tuple[float, ...]]]

    def confidence(self, answer: Answer) -> float | None:
        """The calibrated chance that ``answer`` is right, or None when no calibration covers
        its strategy (or there is no answer to be right)."""
        if answer.answer is None:
            return None
        return self.probability(answer.strategy or "", features(answer))

    def probability(self, strategy: str, row: np.ndarray) -> float | None:
        """The calibrated chance of an answer of ``strategy`` with features ``row``, or None
        when no calibration covers the strategy."""
        fitted = self.strategies.get(strategy)
        if fitted is None:
            return None
        intercept, weights = fitted
        return sigmoid(intercept + float(np.dot(weights, row)))

    def to_manifest(self) -> dict[str, Any]:
        """The table bundle.json carries under ``MANIFEST_KEY``."""
        return {
            "method": "logistic",
            "features": list(FEATURES),
            "strategies": {
                name: {"intercept": intercept, "weights": list(weights)}
                for name, (intercept, weights) in self.strategies.items()
            },
        }

    @classmethod
    def from_manifest(cls, manifest: Mapping[str, Any] | None, where: str) -> Calibrator | None:
        """The calibrator a manifest declares, or None when it declares none. ``where`` names
        the manifest in errors."""
        table = (manifest or {}).get(MANIFEST_KEY)
        if table is None:
            return None
        where = f"{where}: {MANIFEST_KEY}"
        if not isinstance(table, dict) or table.get("method") != "logistic":
            raise ModelFormatError(f'{where} must be a table with "method": "logistic"')
        if table.get("features") != list(FEATURES):
            # weights are positional: another feature list would be read as the wrong features
            raise ModelFormatError(
                f"{where}: features {table.get('features')!r} are not this version's "
                f"{list(FEATURES)!r}: fit the calibration again"
            )
        strategies = table.get("strategies")
        if not isinstance(strategies, dict):
            raise ModelFormatError(f"{where}: strategies must be a table")
        fitted = {}
        for name, entry in strategies.items():
            weights = entry.get("weights") if isinstance(entry, dict) else None
            intercept = entry.get("intercept") if isinstance(entry, dict) else None
            numbers = [intercept, *weights] if isinstance(weights, list) else []
            if len(numbers) != len(FEATURES) + 1 or not all(_is_number(n) for n in numbers):
                raise ModelFormatError(
                    f"{where}: strategies.{name} must hold a number intercept and "
                    f"{len(FEATURES)} number weights"
                )
            fitted[name] = (float(intercept), tuple(float(w) for w in weights))
        return cls(fitted)


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
