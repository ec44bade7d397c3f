"""The validated, compiled form of a rule pack (what loader.py builds from TOML)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction

from .functions import Value
from .parser import Expression
from .patterns import Pattern
from .templates import Template
from .units import Unit


@dataclass(frozen=True)
class InputSpec:
    """A named input: ``kind`` is number, time (HH:MM, as hours), bool or text."""

    name: str
    kind: str
    line: int
    unit: Unit | None = None
    low: Fraction | None = None
    high: Fraction | None = None
    choices: tuple[str, ...] = ()
    default: Value | None = None
    description: str = ""


@dataclass(frozen=True)
class RelationSpec:
    """A relation facts may use; arity 0 makes it a flag usable by name in ``when``."""

    name: str
    arity: int
    line: int
    functional: bool = False
    previous: str = ""  # the relation that records what a replacement replaced (functional only)
    description: str = ""


@dataclass(frozen=True)
class RuleSpec:
    """``[[rule]]``: when ``match`` patterns and the ``when`` condition hold, assert and decide."""

    id: str
    line: int
    priority: int
    order: int
    match: tuple[Pattern, ...] = ()
    when: Expression | None = None
    asserts: tuple[Pattern, ...] = ()
    then: dict[str, Template] = field(default_factory=dict)
    because: str = ""


@dataclass(frozen=True)
class StatementSpec:
    """``[[statement]]``: a story sentence form and the facts it adds or removes."""

    id: str
    line: int
    regex: re.Pattern[str]
    asserts: tuple[Pattern, ...] = ()
    retracts: tuple[Pattern, ...] = ()


@dataclass(frozen=True)
class QuestionSpec:
    """``[[question]]``: a question form, an optional fact query and how to word the answer."""

    id: str
    line: int
    priority: int
    regex: re.Pattern[str]
    answer: Template
    ask: Pattern | None = None
    none: Template | None = None
    join: str = ", "
    # the answer is the likely one (induction), not one the facts entail: no proof of itself
    likely: bool = False


@dataclass(frozen=True)
class ExampleSpec:
    """``[[example]]``: a question (with optional story) or inputs, and the expected answer."""

    line: int
    expect: str | dict[str, str]
    question: str | None = None
    story: str | None = None
    inputs: dict[str, object] = field(default_factory=dict)
    facts: tuple[str, ...] = ()


@dataclass(frozen=True)
class PackSpec:
    """Everything a pack declares, checked and compiled; ``file`` names it in messages."""

    name: str
    description: str
    file: str
    inputs: dict[str, InputSpec]
    constants: dict[str, Value]
    derived: dict[str, Expression]
    derived_lines: dict[str, int]
    relations: dict[str, RelationSpec]
    outputs: dict[str, str]
    rules: tuple[RuleSpec, ...]
    statements: tuple[StatementSpec, ...]
    questions: tuple[QuestionSpec, ...]
    examples: tuple[ExampleSpec, ...]
