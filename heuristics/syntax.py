"""The expression syntax tree: small immutable nodes, each remembering where it started."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from .units import Unit


@dataclass(frozen=True)
class Literal:
    """A number (exact Fraction), string or boolean written in the expression."""

    value: Fraction | str | bool
    position: int


@dataclass(frozen=True)
class Name:
    """A reference to an input, constant, derived value, fact or pattern variable."""

    name: str
    position: int


@dataclass(frozen=True)
class WithUnit:
    """A value followed by a unit, e.g. ``5 km``."""

    operand: Node
    unit: Unit
    position: int


@dataclass(frozen=True)
class Convert:
    """A conversion ``operand to unit``, e.g. ``5 km to m``."""

    operand: Node
    unit: Unit
    position: int


@dataclass(frozen=True)
class Unary:
    """``-x``, ``+x`` or ``not x``."""

    operator: str
    operand: Node
    position: int


@dataclass(frozen=True)
class Binary:
    """An arithmetic (``+ - * / // % **``) or logical (``and``, ``or``) operation."""

    operator: str
    left: Node
    right: Node
    position: int


@dataclass(frozen=True)
class Compare:
    """A comparison chain such as ``0 <= x < 10`` (every link must hold)."""

    first: Node
    links: tuple[tuple[str, Node], ...]
    position: int


@dataclass(frozen=True)
class Call:
    """A call of a whitelisted function."""

    function: str
    arguments: tuple[Node, ...]
    position: int


Node = Literal | Name | WithUnit | Convert | Unary | Binary | Compare | Call
