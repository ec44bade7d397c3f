"""What ``Reasoner.ask`` returns: the answer, its checked steps, and why it came from where."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

# The most an unverified answer's uncalibrated confidence may be: nothing vouches for it beyond
# the model's own probability (a wrong scratchpad's answer scored 1.00). A calibrated one was
# measured instead (calibration.py).
UNVERIFIED_CONFIDENCE = 0.5


class StepStatus(str, Enum):
    """A step's verification outcome."""

    VERIFIED = "verified"  # every check on the step passed
    FAILED = "failed"  # a check found it wrong (``Step.detail`` says how)
    UNCHECKED = "unchecked"  # nothing in the step could be checked


@dataclass(frozen=True)
class Step:
    """One step of a chain (a line of reasoning, or a rule's trace line) and its check."""

    text: str
    status: StepStatus = StepStatus.UNCHECKED
    detail: str = ""  # what was checked, or what was wrong

    @property
    def mark(self) -> str:
        """✓ for verified, ✗ for failed, · for unchecked: how the CLI shows a step."""
        return {StepStatus.VERIFIED: "✓", StepStatus.FAILED: "✗"}.get(self.status, "·")


@dataclass(frozen=True)
class Citation:
    """Where part of an answer comes from: a story line or a retrieved passage."""

    source: str  # "story" or a document path
    ref: str  # "line 4", "passage 2"
    text: str
    score: float | None = None  # BM25 relevance for passages (higher is better)
    # for a retrieved note: whether it holds the answer's content words (None: not checked)
    supported: bool | None = None
    lines: str | None = None  # a retrieved note's lines in its source ("lines 3-7"), if known

    @property
    def mark(self) -> str:
        """✓ for a supported note, ✗ for a cited note that does not support the answer, ·
        for what was not checked."""
        return {True: "✓", False: "✗"}.get(self.supported, "·")


@dataclass(frozen=True)
class Revision:
    """One round of the feedback loop after a chain failed verification."""

    kind: str  # "repair": the wrong value was replaced and generation continued;
    # "regenerate": the chain was generated again with the failure stated
    failure: str


@dataclass(frozen=True)
class Signals:
    """What the model's generation says about its answer, beyond the checks: what a
    calibrator (calibration.py) weighs. An answer from rules or tools keeps the defaults."""

    # the model's log-probability of each token of the answer where its chain writes it
    # (the first word of a list); empty when not found there
    logprobs: tuple[float, ...] = ()
    vote_share: float = 1.0  # the winner's share of the samples (one chain: 1)
    revisions: int = 0  # repair or regeneration rounds before the answer


@dataclass(frozen=True)
class Answer:
    """An answer with its evidence.

    ``source`` is "model", "rules" or "tool", or "none" when nothing could answer (then
    ``answer`` is None). ``confidence`` is, when ``confidence_calibrated``, the probability that
    the answer is right as the model's calibrator (calibration.py) measured it on validation
    answers; otherwise the vote share for self-consistency, the model's probability of the
    answer's first token for one chain, and 1.0 for rules and tools, at most
    ``UNVERIFIED_CONFIDENCE`` for an answer that is not ``verified``.
    ``tokens`` counts the tokens the model generated for this answer (all samples and
    revisions); ``votes`` maps each distinct answer to its number of votes.
    """

    answer: str | None
    source: str
    reason: str
    steps: tuple[Step, ...] = ()
    confidence: float = 0.0
    votes: dict[str, int] = field(default_factory=dict)
    citations: tuple[Citation, ...] = ()
    revisions: tuple[Revision, ...] = ()
    strategy: str | None = None  # the model strategy that ran, if any
    latency_ms: float = 0.0
    tokens: int = 0
    signals: Signals = field(default_factory=Signals)
    confidence_calibrated: bool = False

    def __post_init__(self) -> None:
        # held here, where every source's answer passes, so that no path can show an
        # unchecked answer as certain by a measure that was never checked against outcomes
        capped = not self.verified and not self.confidence_calibrated
        if capped and self.confidence > UNVERIFIED_CONFIDENCE:
            object.__setattr__(self, "confidence", UNVERIFIED_CONFIDENCE)

    @property
    def verified(self) -> bool:
        """True when every step was checked and holds: an answer is as sure as its weakest
        step, and one with no steps was not checked at all."""
        return bool(self.steps) and all(s.status is StepStatus.VERIFIED for s in self.steps)

    @property
    def status(self) -> StepStatus:
        """The answer's verification as one status: verified, failed (a step is wrong) or
        unchecked (a step, or the whole answer, could not be checked)."""
        if self.verified:
            return StepStatus.VERIFIED
        failed = any(s.status is StepStatus.FAILED for s in self.steps)
        return StepStatus.FAILED if failed else StepStatus.UNCHECKED

    @property
    def not_verified(self) -> str | None:
        """Why the answer is not verified (its first failed step, else its first unchecked
        one), or None when it is."""
        if self.answer is None:
            return self.reason  # why nothing answered
        if not self.steps:
            return f"nothing checked the answer ({self.source})"
        for status, verb in ((StepStatus.FAILED, "failed"), (StepStatus.UNCHECKED, "unchecked")):
            step = next((s for s in self.steps if s.status is status), None)
            if step is not None:
                detail = f": {step.detail}" if step.detail else ""
                return f"step '{step.text}' {verb}{detail}"
        return None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (step statuses as their string values), with ``verified``
        and ``not_verified`` (the reason, or None)."""
        data = asdict(self)
        data["steps"] = [
            {"text": s.text, "status": s.status.value, "detail": s.detail} for s in self.steps
        ]
        return {**data, "verified": self.verified, "not_verified": self.not_verified}
