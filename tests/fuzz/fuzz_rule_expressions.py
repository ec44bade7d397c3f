"""Fuzz target: a rule expression, parsed and evaluated with a few names bound (numbers,
a quantity, text, a flag), as a pack's conditions and derived values are."""

from __future__ import annotations

from fractions import Fraction

from edge_reason.heuristics.evaluator import evaluate
from edge_reason.heuristics.parser import parse
from edge_reason.heuristics.units import Quantity, lookup_unit

from fuzz.harness import expected

NAMES = {
    "x": Fraction(7, 2),
    "n": Fraction(-12),
    "ratio": 0.25,
    "length": Quantity(Fraction(5), lookup_unit("km")),
    "label": "north",
    "open": True,
}


def TestOneInput(data: bytes) -> None:
    with expected():
        evaluate(parse(data.decode("utf-8", "replace")), NAMES)
