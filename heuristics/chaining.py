"""Forward chaining: apply deduction rules to a fact base until nothing changes.

Rules that only add facts always settle (their conclusions reuse words already in the base,
so there are finitely many). Rules over *functional* relations replace facts and can undo each
other forever; the engine notices when a round ends in a state it has already been in and
raises ChainingError naming the rules that keep re-deriving, instead of looping. A hard cap on
rounds guards everything else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from .errors import ChainingError
from .facts import FactBase, Support
from .patterns import Fact

MAX_ROUNDS = 64


class Deduction(Protocol):
    """What the engine needs to know about a rule to report on it."""

    @property
    def id(self) -> str: ...

    @property
    def line(self) -> int: ...


@dataclass(frozen=True)
class Firing:
    """One application of a rule: the facts it concludes, from which facts, and in what words.

    ``bindings`` are the values its ``match`` variables took (for wording its decisions).
    """

    conclusions: tuple[Fact, ...]
    premises: tuple[Fact, ...]
    step: str
    bindings: Mapping[str, str] = field(default_factory=dict)


R = TypeVar("R", bound=Deduction)


def forward_chain(
    base: FactBase,
    rules: Sequence[R],
    fire: Callable[[R, FactBase], list[Firing]],
    source: str,
    max_rounds: int = MAX_ROUNDS,
) -> int:
    """Run ``rules`` (in the given order, each round) over ``base`` until a fixpoint.

    ``fire(rule, base)`` lists the rule's applicable firings against the current facts.
    Returns the number of rounds taken. ``source`` (the pack file) goes into error messages.
    """
    seen = {base.snapshot()}
    for round_number in range(1, max_rounds + 1):
        changed_by: list[R] = []
        for rule in rules:
            firings = fire(rule, base)
            # Supports are taken before any conclusion is added: adding to a functional
            # relation may replace a fact that a later firing of the same rule rests on.
            supports = [
                Support.combine((base.support(fact) for fact in firing.premises), firing.step)
                for firing in firings
            ]
            for firing, support in zip(firings, supports, strict=True):
                changed = [base.add(fact, support) for fact in firing.conclusions]
                if any(changed) and rule not in changed_by:
                    changed_by.append(rule)
        if not changed_by:
            return round_number
        state = base.snapshot()
        if state in seen:
            names = ", ".join(f"'{rule.id}' ({source}:{rule.line})" for rule in changed_by)
            raise ChainingError(
                f"forward chaining does not settle: rules {names} keep re-deriving facts "
                f"that replace each other (state repeated in round {round_number})"
            )
        seen.add(state)
    raise ChainingError(f"forward chaining in {source} did not settle within {max_rounds} rounds")
