"""A set of facts, each remembering why it holds (its explanation steps and story lines)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from .patterns import Fact, Pattern, Variable, format_fact


@dataclass(frozen=True)
class Support:
    """Why a fact holds: plain-word steps in order, and the story line ids it rests on."""

    steps: tuple[str, ...] = ()
    sources: frozenset[int] = frozenset()

    @staticmethod
    def combine(parts: Iterable[Support], step: str | None = None) -> Support:
        """The support of a conclusion drawn from ``parts`` by ``step`` (steps de-duplicated)."""
        steps: dict[str, None] = {}
        sources: set[int] = set()
        for part in parts:
            steps.update(dict.fromkeys(part.steps))
            sources.update(part.sources)
        if step is not None:
            steps[step] = None
        return Support(tuple(steps), frozenset(sources))


class FactBase:
    """Facts grouped by relation, in the order they were added.

    In a relation named in ``functional`` the last argument is a function of the others: it
    holds at most one fact per combination of the other arguments, so adding ``at mary garden``
    replaces ``at mary kitchen``, and ``gave fred football bill`` replaces ``gave fred football
    jeff`` but not ``gave fred milk jeff``. That is how a story's "latest wins" facts (where
    someone is, whom someone last gave a thing) are kept without time stamps.

    ``previous`` maps a functional relation to one that remembers what a replacement replaced:
    with ``{"at": "came_from"}``, ``at ball garden`` replacing ``at ball kitchen`` also adds
    ``came_from ball garden kitchen``, resting on both facts' support. That is the one piece of
    history a story question needs ("Where was the ball before the garden?").
    """

    def __init__(
        self, functional: Iterable[str] = (), previous: Mapping[str, str] | None = None
    ) -> None:
        self._functional = frozenset(functional)
        self._previous = dict(previous or {})
        self._facts: dict[str, dict[Fact, Support]] = {}

    def __contains__(self, fact: Fact) -> bool:
        return fact in self._facts.get(fact[0], {})

    def add(self, fact: Fact, support: Support) -> bool:
        """Add ``fact``; True if the base changed (a fact already present keeps its support)."""
        relation = self._facts.setdefault(fact[0], {})
        if fact in relation:
            return False
        if fact[0] in self._functional and len(fact) > 1:
            for old in [old for old in relation if old[:-1] == fact[:-1]]:
                replaced = relation.pop(old)
                if fact[0] in self._previous:
                    history = (self._previous[fact[0]], *fact[1:], old[-1])
                    step = f"{format_fact(fact)} replaced {format_fact(old)}"
                    self.remove(history)  # a replacement seen again rests on its latest lines
                    self.add(history, Support.combine((replaced, support), step))
        relation[fact] = support
        return True

    def remove(self, fact: Fact) -> bool:
        """Remove ``fact``; True if it was present."""
        return self._facts.get(fact[0], {}).pop(fact, None) is not None

    def support(self, fact: Fact) -> Support:
        """Why ``fact`` holds (KeyError if it does not)."""
        return self._facts[fact[0]][fact]

    def facts(self) -> list[Fact]:
        """Every fact, grouped by relation, each group in the order added."""
        return [fact for relation in self._facts.values() for fact in relation]

    def snapshot(self) -> frozenset[Fact]:
        """The current facts as a hashable value, to notice a state seen before."""
        return frozenset(self.facts())

    def match(
        self, patterns: Sequence[Pattern], bindings: Mapping[str, str] | None = None
    ) -> Iterator[tuple[dict[str, str], tuple[Fact, ...]]]:
        """Every way to bind the patterns' variables to facts: (bindings, facts matched)."""
        yield from self._match(list(patterns), dict(bindings or {}), ())

    def _match(
        self, patterns: list[Pattern], bindings: dict[str, str], matched: tuple[Fact, ...]
    ) -> Iterator[tuple[dict[str, str], tuple[Fact, ...]]]:
        if not patterns:
            yield bindings, matched
            return
        first, rest = patterns[0], patterns[1:]
        for fact in list(self._facts.get(first.relation, {})):
            extended = _unify(first, fact, bindings)
            if extended is not None:
                yield from self._match(rest, extended, (*matched, fact))


def _unify(pattern: Pattern, fact: Fact, bindings: dict[str, str]) -> dict[str, str] | None:
    """``bindings`` extended so that ``pattern`` equals ``fact``, or None if it cannot."""
    if len(fact) != len(pattern.terms):
        return None
    extended = dict(bindings)
    for term, word in zip(pattern.terms, fact, strict=True):
        if isinstance(term, Variable):
            if extended.setdefault(term.name, word) != word:
                return None
        elif term != word:
            return None
    return extended
