"""Evaluating a pack over input values: derived values, forward chaining, then decisions.

For each output, the firing rule with the highest priority decides; among rules of equal
priority the one written first wins. Every losing proposal is kept as ``overridden`` and named
in the winner's trace, so that "frost protection overrides irrigation" is visible.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .budget import Budget
from .chaining import ForwardChainer
from .errors import ExpressionError, InputError, PackError
from .evaluator import evaluate
from .facts import FactBase, Support
from .firing import RuleContext
from .functions import Value
from .inputs import coerce_input
from .patterns import format_fact
from .results import Conclusion, Evaluation
from .schema import PackSpec


def resolve_values(pack: PackSpec, inputs: Mapping[str, object]) -> dict[str, Value]:
    """Inputs (checked, defaults filled in), constants and derived values, by name."""
    unknown = sorted(set(inputs) - set(pack.inputs))
    if unknown:
        declared = ", ".join(pack.inputs) or "none"
        raise InputError(f"{pack.name}: unknown input {unknown[0]!r} (declared: {declared})")
    values: dict[str, Value] = dict(pack.constants)
    for name, spec in pack.inputs.items():
        if name in inputs:
            values[name] = coerce_input(spec, inputs[name])
        elif spec.default is not None:
            values[name] = spec.default
        else:
            raise InputError(f"{pack.name}: input {name!r} is required (no default)")
    for name, expression in pack.derived.items():
        try:
            values[name] = evaluate(expression, values)
        except ExpressionError as error:
            raise PackError(
                f"derived {name!r}: {error}", pack.file, pack.derived_lines[name]
            ) from None
    return values


def given_facts(pack: PackSpec, facts: Iterable[str]) -> FactBase:
    """A fact base holding the caller's flags (each must be declared under [facts])."""
    functional = [name for name, relation in pack.relations.items() if relation.functional]
    previous = {name: r.previous for name, r in pack.relations.items() if r.previous}
    base = FactBase(functional, previous)
    for flag in facts:
        relation = pack.relations.get(flag)
        if relation is None or relation.arity != 0:
            raise InputError(f"{pack.name}: {flag!r} is not a declared fact")
        base.add((flag,), Support((f"given: {flag}",)))
    return base


def evaluate_pack(
    pack: PackSpec, inputs: Mapping[str, object], facts: Iterable[str], budget: Budget
) -> Evaluation:
    """Decide every output the pack's rules can decide for these inputs and facts."""
    context = RuleContext(pack, resolve_values(pack, inputs))
    base = given_facts(pack, facts)
    deductions = [rule for rule in pack.rules if rule.asserts]
    ForwardChainer(base, deductions, context, pack.file, budget).settle()
    proposals: list[Conclusion] = []
    for rule in sorted(pack.rules, key=lambda r: (-r.priority, r.order)):
        if not rule.then:
            continue
        for firing in context.firings(rule, base):
            support = Support.combine((base.support(f) for f in firing.premises), firing.step)
            names = {**context.names(base), **firing.bindings}
            for output, template in rule.then.items():
                try:
                    text, value = template.render(names)
                except ExpressionError as error:
                    raise PackError(
                        f"rule {rule.id!r}: then.{output}: {error}", pack.file, rule.line
                    ) from None
                trace = (*support.steps, f"so {output} = {text}")
                proposals.append(Conclusion(output, text, value, rule.id, rule.priority, trace))
    return _decide(proposals, base)


def _decide(proposals: list[Conclusion], base: FactBase) -> Evaluation:
    """The first proposal per output wins (proposals arrive best first)."""
    decisions: dict[str, Conclusion] = {}
    overridden: list[Conclusion] = []
    for proposal in proposals:
        if proposal.output in decisions:
            overridden.append(proposal)
        else:
            decisions[proposal.output] = proposal
    for output, winner in decisions.items():
        losers = [
            f"it overrides rule '{c.rule_id}' (priority {c.priority}), which proposed {output} = "
            f"{c.answer}"
            for c in overridden
            if c.output == output and c.answer != winner.answer
        ]
        if losers:
            decisions[output] = Conclusion(
                winner.output, winner.answer, winner.value, winner.rule_id, winner.priority,
                (*winner.trace, *losers),
            )  # fmt: skip
    facts = tuple(format_fact(fact) for fact in base.facts())
    return Evaluation(decisions, tuple(overridden), facts)
