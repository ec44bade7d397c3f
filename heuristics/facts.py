"""A set of facts, each remembering why it holds (its explanation steps and story lines).

Facts are indexed by relation and by each (position, word), so that matching a pattern with a
bound argument visits only the facts that have that word there. Every addition gets a stamp
from a running clock and every removal is logged, so that forward chaining can ask for the
matches that involve facts added since it last looked (semi-naive evaluation, chaining.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

from .patterns import Fact, Pattern, Variable, format_fact

Bindings = dict[str, str]
Match = tuple[Bindings, tuple[Fact, ...]]


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


class Window(Enum):
    """Which facts a pattern may match, by stamp, relative to a point on the clock."""

    ALL = "all"
    OLD = "old"  # added before the point
    NEW = "new"  # added at or after it


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

    Matching reads the indexes directly: do not add or remove facts while iterating a match.
    """

    def __init__(
        self, functional: Iterable[str] = (), previous: Mapping[str, str] | None = None
    ) -> None:
        self._functional = frozenset(functional)
        self._previous = dict(previous or {})
        # Every dict below keeps insertion order, which is stamp order: a fact added again
        # after a removal goes to the end with a new stamp.
        self._facts: dict[str, dict[Fact, Support]] = {}
        self._by_argument: dict[tuple[str, int, str], dict[Fact, None]] = {}
        self._current: dict[Fact, Fact] = {}  # functional: all but the last word -> the fact
        self._stamps: dict[Fact, int] = {}
        self._next_stamp = 0
        self._removed: list[Fact] = []
        self._fingerprint = 0

    def __contains__(self, fact: Fact) -> bool:
        return fact in self._stamps

    def __len__(self) -> int:
        return len(self._stamps)

    @property
    def clock(self) -> int:
        """The stamp the next added fact will get; facts stamped from here on are "new"."""
        return self._next_stamp

    @property
    def removal_count(self) -> int:
        """How many removals the log holds (a position for ``removed_since``)."""
        return len(self._removed)

    def removed_since(self, position: int) -> list[Fact]:
        """Facts removed (replaced or retracted) since the log held ``position`` entries."""
        return self._removed[position:]

    @property
    def fingerprint(self) -> tuple[int, int]:
        """The number of facts and the sum of their hashes: equal for equal sets of facts.

        Chaining compares it between rounds to notice a state seen before; it is kept up to
        date on every change, so it costs nothing to read (a snapshot would copy every fact).
        """
        return len(self._stamps), self._fingerprint

    def add(self, fact: Fact, support: Support) -> bool:
        """Add ``fact``; True if the base changed (a fact already present keeps its support)."""
        if fact in self._stamps:
            return False
        if fact[0] in self._functional and len(fact) > 1:
            old = self._current.get(fact[:-1])
            if old is not None:
                replaced = self._facts[fact[0]][old]
                self.remove(old)
                if fact[0] in self._previous:
                    history = (self._previous[fact[0]], *fact[1:], old[-1])
                    step = f"{format_fact(fact)} replaced {format_fact(old)}"
                    self.remove(history)  # a replacement seen again rests on its latest lines
                    self.add(history, Support.combine((replaced, support), step))
            self._current[fact[:-1]] = fact
        self._facts.setdefault(fact[0], {})[fact] = support
        for position, word in enumerate(fact[1:], start=1):
            self._by_argument.setdefault((fact[0], position, word), {})[fact] = None
        self._stamps[fact] = self._next_stamp
        self._next_stamp += 1
        self._fingerprint = (self._fingerprint + hash(fact)) & _MASK
        return True

    def remove(self, fact: Fact) -> bool:
        """Remove ``fact``; True if it was present."""
        if self._stamps.pop(fact, None) is None:
            return False
        del self._facts[fact[0]][fact]
        for position, word in enumerate(fact[1:], start=1):
            del self._by_argument[(fact[0], position, word)][fact]
        if self._current.get(fact[:-1]) == fact:
            del self._current[fact[:-1]]
        self._removed.append(fact)
        self._fingerprint = (self._fingerprint - hash(fact)) & _MASK
        return True

    def support(self, fact: Fact) -> Support:
        """Why ``fact`` holds (KeyError if it does not)."""
        return self._facts[fact[0]][fact]

    def facts(self) -> list[Fact]:
        """Every fact, grouped by relation, each group in the order added."""
        return [fact for relation in self._facts.values() for fact in relation]

    def match(
        self, patterns: Sequence[Pattern], bindings: Mapping[str, str] | None = None
    ) -> Iterator[Match]:
        """Every way to bind the patterns' variables to facts: (bindings, facts matched)."""
        steps = [(index, pattern, Window.ALL) for index, pattern in enumerate(patterns)]
        yield from self._join(steps, dict(bindings or {}), 0, [None] * len(patterns))

    def match_new(self, patterns: Sequence[Pattern], since: int) -> Iterator[Match]:
        """The matches that use at least one fact stamped ``since`` or later, each once.

        For each pattern in turn, that pattern takes a new fact, the patterns before it old
        ones and those after it any: every new match is found exactly once, and old matches
        are never visited again. The new pattern is matched first, so its words bind the rest.
        """
        for index, pattern in enumerate(patterns):
            steps = [(index, pattern, Window.NEW)]
            steps += [(i, other, Window.OLD) for i, other in enumerate(patterns[:index])]
            steps += [
                (i, other, Window.ALL)
                for i, other in enumerate(patterns[index + 1 :], start=index + 1)
            ]
            yield from self._join(steps, {}, since, [None] * len(patterns))

    def _join(
        self,
        steps: list[tuple[int, Pattern, Window]],
        bindings: Bindings,
        since: int,
        matched: list[Fact | None],
    ) -> Iterator[Match]:
        if not steps:
            yield bindings, tuple(matched)  # type: ignore[arg-type]
            return
        (index, pattern, window), rest = steps[0], steps[1:]
        for fact in self._candidates(pattern, bindings, window, since):
            extended = pattern.bind(fact, bindings)
            if extended is not None:
                matched[index] = fact
                yield from self._join(rest, extended, since, matched)

    def _candidates(
        self, pattern: Pattern, bindings: Bindings, window: Window, since: int
    ) -> Iterator[Fact]:
        """Facts that may match: the smallest index entry for a known word, in one window."""
        relation = pattern.relation
        facts: Mapping[Fact, object] = self._facts.get(relation, {})
        for position, term in enumerate(pattern.terms[1:], start=1):
            word = bindings.get(term.name) if isinstance(term, Variable) else term
            if word is not None:
                entry = self._by_argument.get((relation, position, word), {})
                if len(entry) < len(facts):
                    facts = entry
        stamps = self._stamps
        if window is Window.ALL:
            yield from facts
        elif window is Window.OLD:  # stamp order: the old facts come first
            for fact in facts:
                if stamps[fact] >= since:
                    return
                yield fact
        else:  # only the new tail, read backwards and yielded in order
            tail = []
            for fact in reversed(facts):
                if stamps[fact] < since:
                    break
                tail.append(fact)
            yield from reversed(tail)


_MASK = (1 << 64) - 1
