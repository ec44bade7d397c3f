"""Self-consistency voting: the most frequent answer wins, its vote share is the confidence.

Answers are compared in their normalized form (``72``, ``72.0`` and ``$72`` are one vote);
the winner is shown as it was first written. Sampling can stop early once the leader cannot be
overtaken by the samples that remain.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .extract import normalize_answer


@dataclass
class Ballot:
    """Votes collected so far, keyed by normalized answer, in order of first appearance."""

    counts: dict[str, int] = field(default_factory=dict)
    shown: dict[str, str] = field(default_factory=dict)  # normalized -> first written form
    abstentions: int = 0  # samples that gave no usable answer (unverified or none)

    def add(self, answer: str) -> None:
        """Count one vote for ``answer``."""
        key = normalize_answer(answer)
        self.shown.setdefault(key, answer.strip())
        self.counts[key] = self.counts.get(key, 0) + 1

    def abstain(self) -> None:
        """Count a sample that cast no vote: it still lowers the leader's share."""
        self.abstentions += 1

    @property
    def total(self) -> int:
        """Votes cast (abstentions not included)."""
        return sum(self.counts.values())

    @property
    def leader(self) -> str | None:
        """The answer with most votes (ties go to the one that appeared first)."""
        if not self.counts:
            return None
        key = max(self.counts, key=self.counts.__getitem__)  # max keeps the first of ties
        return self.shown[key]

    @property
    def share(self) -> float:
        """The leader's votes over all samples counted, abstentions included (0 with none)."""
        return max(self.counts.values()) / (self.total + self.abstentions) if self.counts else 0.0

    def as_votes(self) -> dict[str, int]:
        """Votes keyed by each answer's written form, most votes first."""
        ranked = sorted(self.counts.items(), key=lambda kv: -kv[1])
        return {self.shown[key]: count for key, count in ranked}
