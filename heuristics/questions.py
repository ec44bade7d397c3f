"""Answering a text question with a pack's ``[[question]]`` entries (and a story, if given)."""

from __future__ import annotations

from fractions import Fraction

from .budget import Budget
from .chaining import ForwardChainer
from .controller import given_facts
from .facts import FactBase, Support
from .firing import RuleContext
from .patterns import format_fact
from .results import RuleAnswer
from .schema import PackSpec, QuestionSpec
from .story import read_story, split_story


def answer_question(
    pack: PackSpec, question: str, context: str | None, budget: Budget
) -> RuleAnswer | None:
    """The pack's answer, or None when no question form matches or the facts do not tell.

    ``context`` is a story whose sentences the pack's ``[[statement]]`` entries turn into facts.
    If a sentence matches no statement the pack does not answer: its facts would be incomplete.
    Raises RuleError when a matching question cannot be evaluated (e.g. a division by zero).
    """
    text = question.strip()
    for spec in pack.questions:
        found = spec.regex.fullmatch(text)
        if found:
            break
    else:
        return None
    groups = {name: value for name, value in found.groupdict().items() if value is not None}
    base = given_facts(pack, ())
    if context:
        deductions = [rule for rule in pack.rules if rule.asserts]
        chainer = ForwardChainer(
            base, deductions, RuleContext(pack, pack.constants), pack.file, budget
        )
        if read_story(pack.statements, split_story(context), base, chainer.settle) is not None:
            return None
    return _answer(pack, spec, groups, base)


def _answer(
    pack: PackSpec, spec: QuestionSpec, groups: dict[str, str], base: FactBase
) -> RuleAnswer | None:
    names = {**pack.constants, **groups}
    asked = f"question '{spec.id}' matched"
    if spec.ask is None:
        text, value = spec.answer.render(names)
        return RuleAnswer(
            text, value, spec.id, spec.priority, (f"{asked}; {spec.answer.source} = {text}",)
        )
    query = spec.ask.fill(groups)
    matches = list(base.match([query]))
    if not matches:
        if spec.none is None:
            return None
        text, value = spec.none.render(names)
        trace = (f"{asked}; no fact matches '{query}', so {text}",)
        return RuleAnswer(text, value, spec.id, spec.priority, trace, likely=spec.likely)
    count = Fraction(len({tuple(sorted(bindings.items())) for bindings, _ in matches}))
    rendered = [
        spec.answer.render({**names, **bindings, "count": count}) for bindings, _ in matches
    ]
    texts = list(dict.fromkeys(text for text, _ in rendered))
    text = spec.join.join(texts)
    value = rendered[0][1] if len(texts) == 1 else text
    support = Support.combine(base.support(fact) for _, facts in matches for fact in facts)
    found = ", ".join(format_fact(fact) for _, facts in matches for fact in facts)
    trace = (*support.steps, f"{asked}; '{query}' found {found}, so {text}")
    sources = tuple(sorted(support.sources))
    return RuleAnswer(text, value, spec.id, spec.priority, trace, sources, spec.likely)
