"""Applying one rule to the current facts, and saying in words why it applied."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .errors import ExpressionError, PackError
from .evaluator import evaluate
from .facts import FactBase
from .functions import Value
from .patterns import Fact, format_fact
from .schema import PackSpec, RuleSpec
from .values import format_value


@dataclass(frozen=True)
class Firing:
    """One application of a rule: the facts it concludes, from which facts, and in what words.

    ``bindings`` are the values its ``match`` variables took (for wording its decisions).
    """

    conclusions: tuple[Fact, ...]
    premises: tuple[Fact, ...]
    step: str
    bindings: Mapping[str, str] = field(default_factory=dict)


class RuleContext:
    """The values (inputs, constants, derived) and flag names rules are evaluated against."""

    def __init__(self, pack: PackSpec, values: Mapping[str, Value]) -> None:
        self.pack = pack
        self.values = dict(values)
        self.flags = {name for name, relation in pack.relations.items() if relation.arity == 0}

    def names(self, base: FactBase) -> dict[str, Value]:
        """Every name a ``when`` may use: values, and each flag as true or false."""
        return {**self.values, **{flag: (flag,) in base for flag in self.flags}}

    def condition_holds(self, rule: RuleSpec, base: FactBase) -> bool:
        """Whether the rule's ``when`` holds (a rule without one always holds)."""
        if rule.when is None:
            return True
        try:
            result = evaluate(rule.when, self.names(base))
        except ExpressionError as error:
            raise PackError(
                f"rule {rule.id!r}: 'when' failed: {error}", self.pack.file, rule.line
            ) from None
        if not isinstance(result, bool):
            raise PackError(
                f"rule {rule.id!r}: 'when' gave {format_value(result)}, not true or false",
                self.pack.file,
                rule.line,
            )
        return result

    def flags_read(self, rule: RuleSpec) -> tuple[str, ...]:
        """The flags a rule's ``when`` tests, in order (its firings rest on them too)."""
        return tuple(name for name in (rule.when.names if rule.when else ()) if name in self.flags)

    def firings(self, rule: RuleSpec, base: FactBase) -> list[Firing]:
        """Each way ``rule`` applies now: its conclusions, premises and explanation step."""
        if not self.condition_holds(rule, base):
            return []
        return [
            self.firing(rule, bindings, matched, base)
            for bindings, matched in base.match(rule.match)
        ]

    def firing(
        self, rule: RuleSpec, bindings: Mapping[str, str], matched: tuple[Fact, ...], base: FactBase
    ) -> Firing:
        """The firing of ``rule`` on one match of its patterns (its ``when`` holding)."""
        conclusions = tuple(pattern.instantiate(bindings) for pattern in rule.asserts)
        flags_used = tuple((name,) for name in self.flags_read(rule) if (name,) in base)
        premises = (*matched, *flags_used)
        return Firing(conclusions, premises, self.step(rule, premises, conclusions), bindings)

    def step(
        self, rule: RuleSpec, premises: tuple[Fact, ...], conclusions: tuple[Fact, ...]
    ) -> str:
        """One explanation line: what held, why it matters, and what followed."""
        reasons = [format_fact(fact) for fact in premises if len(fact) > 1]
        if rule.when is not None:
            reasons.append(self.describe_condition(rule))
        because = f" ({rule.because})" if rule.because else ""
        held = " and ".join(reasons) if reasons else "always"
        concluded = ", ".join(format_fact(fact) for fact in conclusions)
        follows = f", so {concluded}" if concluded else ""
        return f"rule '{rule.id}' (priority {rule.priority}): {held}{because}{follows}"

    def describe_condition(self, rule: RuleSpec) -> str:
        """``'temperature < frost_below' holds with temperature = 1 C, frost_below = 3 C``."""
        shown = [
            f"{name} = {format_value(self.values[name])}"
            for name in rule.when.names
            if name in self.values
        ]
        values = f" with {', '.join(shown)}" if shown else ""
        return f"'{rule.when.source}' holds{values}"
