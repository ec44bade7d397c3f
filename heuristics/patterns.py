"""Fact patterns such as ``holds ?person ?object`` or ``at {person} {place}``.

A fact is a tuple of words whose first word names its relation: ``("at", "mary", "garden")``.
In a pattern a ``?name`` term is a variable bound by matching facts, a ``{name}`` term is a slot
filled from a regular-expression group, and any other word must match literally.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

from .errors import ExpressionError

Fact = tuple[str, ...]

_WORD = re.compile(r"[A-Za-z0-9_\-]+")
_VARIABLE = re.compile(r"\?([A-Za-z_][A-Za-z0-9_]*)")
_SLOT = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class Variable:
    """A ``?name`` term: matches any word and binds it to ``name``."""

    name: str


@dataclass(frozen=True)
class Slot:
    """A ``{name}`` term: replaced by a captured group's text before matching."""

    name: str


Term = str | Variable | Slot


@dataclass(frozen=True)
class Pattern:
    """A parsed pattern; ``terms[0]`` is the relation name (always a literal word)."""

    text: str
    terms: tuple[Term, ...]

    @property
    def relation(self) -> str:
        """The relation the pattern is about."""
        return self.terms[0]

    @property
    def arity(self) -> int:
        """How many arguments follow the relation name."""
        return len(self.terms) - 1

    def names_of(self, kind: type[Variable] | type[Slot]) -> list[str]:
        """The names of the pattern's variables or slots, in order of appearance."""
        return [term.name for term in self.terms if isinstance(term, kind)]

    def __str__(self) -> str:
        return " ".join(_term_text(term) for term in self.terms)

    def fill(self, slots: Mapping[str, str]) -> Pattern:
        """The pattern with every slot replaced by its (lower-cased) value in ``slots``."""
        terms = tuple(
            slots[term.name].lower() if isinstance(term, Slot) else term for term in self.terms
        )
        return Pattern(self.text, terms)

    @cached_property
    def _plan(self) -> tuple[tuple[str | None, Term], ...]:
        """Per term: the variable's name, or None and the term (matching is the hot loop of
        forward chaining, so the isinstance tests are done once, here)."""
        return tuple(
            (term.name, term) if isinstance(term, Variable) else (None, term) for term in self.terms
        )

    @cached_property
    def _has_slots(self) -> bool:
        return any(isinstance(term, Slot) for term in self.terms)

    def bind(self, fact: Fact, bindings: Mapping[str, str]) -> dict[str, str] | None:
        """``bindings`` extended so that this pattern equals ``fact``, or None if it cannot."""
        if len(fact) != len(self.terms):
            return None
        extended = dict(bindings)
        for word, (name, term) in zip(fact, self._plan, strict=True):
            if name is None:
                if term != word:
                    return None
            elif extended.setdefault(name, word) != word:
                return None
        return extended

    def instantiate(self, bindings: Mapping[str, str]) -> Fact:
        """The fact this pattern denotes once ``bindings`` give every variable a value."""
        if self._has_slots:
            raise ExpressionError(f"slot {{{self.names_of(Slot)[0]}}} was not filled", self.text)
        return tuple(term if name is None else bindings[name] for name, term in self._plan)


def parse_pattern(text: str) -> Pattern:
    """Parse ``"at ?thing {place}"``; raises ExpressionError naming the bad term."""
    terms: list[Term] = []
    position = 0
    for word in text.split():
        position = text.index(word, position)
        variable, slot = _VARIABLE.fullmatch(word), _SLOT.fullmatch(word)
        if variable:
            terms.append(Variable(variable.group(1)))
        elif slot:
            terms.append(Slot(slot.group(1)))
        elif _WORD.fullmatch(word):
            terms.append(word.lower())
        else:
            raise ExpressionError(f"bad term {word!r} in pattern", text, position)
        position += len(word)
    if not terms:
        raise ExpressionError("empty pattern", text)
    if not isinstance(terms[0], str):
        raise ExpressionError("a pattern must start with a relation name", text, 0)
    return Pattern(text, tuple(terms))


def _term_text(term: Term) -> str:
    if isinstance(term, Variable):
        return f"?{term.name}"
    if isinstance(term, Slot):
        return f"{{{term.name}}}"
    return term


def format_fact(fact: Fact) -> str:
    """A fact as the words a person would read: ``at mary garden``."""
    return " ".join(fact)
