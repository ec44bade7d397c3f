"""What evaluating a pack or asking it a question returns."""

from __future__ import annotations

from dataclasses import dataclass

from .functions import Value


@dataclass(frozen=True)
class Conclusion:
    """A decision for one output: ``answer`` is its text, ``trace`` says why in plain words."""

    output: str
    answer: str
    value: Value
    rule_id: str
    priority: int
    trace: tuple[str, ...]


@dataclass(frozen=True)
class Evaluation:
    """The result of ``RulePack.evaluate``: one winning conclusion per decided output.

    ``overridden`` lists conclusions that lost to a higher-priority rule for the same output;
    ``facts`` are all facts known after forward chaining, as words.
    """

    decisions: dict[str, Conclusion]
    overridden: tuple[Conclusion, ...]
    facts: tuple[str, ...]

    def answer(self, output: str) -> str | None:
        """The decided text for ``output``, or None if no rule decided it."""
        conclusion = self.decisions.get(output)
        return conclusion.answer if conclusion else None


@dataclass(frozen=True)
class RuleAnswer:
    """A pack's answer to a text question.

    ``rule_id`` is the ``[[question]]`` entry that answered; ``sources`` are the story line ids
    the answer rests on (for citations), empty when the answer needs no story. ``likely``:
    the question form guesses (induction) rather than deduces, so the answer proves nothing.
    """

    answer: str
    value: Value
    rule_id: str
    priority: int
    trace: tuple[str, ...]
    sources: tuple[int, ...] = ()
    likely: bool = False


@dataclass(frozen=True)
class ExampleResult:
    """The outcome of one ``[[example]]`` of a pack."""

    line: int
    description: str
    expected: str
    got: str
    passed: bool
