"""Exact arithmetic on text such as ``48/2`` or ``(1/3)*90 + .5``: a recursive-descent parser.

Numbers become ``fractions.Fraction`` so that ``0.1 + 0.2`` is exactly ``0.3`` and a step is
either right or wrong, never "close". There is no ``eval``: the grammar is

    sum     := product (("+" | "-") product)*
    product := unary (("*" | "/" | "//") unary)*
    unary   := ("+" | "-") unary | power
    power   := atom ("**" unary)?
    atom    := number | "(" sum ")"

Sizes are bounded (text length, nesting, exponents, result bits) so that hostile text such as
``9**9**9`` is refused instead of freezing a small device.
"""

from __future__ import annotations

import re
from fractions import Fraction

from edge_reason.heuristics import format_value

from .errors import CalculationError

MAX_LENGTH = 500
MAX_DEPTH = 32
MAX_EXPONENT = 256
MAX_BITS = 8192

_TOKEN = re.compile(r"\s*(?:(?P<number>\d+(?:\.\d*)?|\.\d+)|(?P<operator>\*\*|//|[-+*/()]))")
_WRITTEN_NUMBER = re.compile(r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?|-?\.\d+")


def evaluate(text: str) -> Fraction:
    """The exact value of an arithmetic expression; raises CalculationError on bad input."""
    if not isinstance(text, str):
        raise TypeError(f"an arithmetic expression must be text, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise CalculationError(f"expression longer than {MAX_LENGTH} characters", text[:40] + "…")
    return _Parser(text).parse()


def parse_number(text: str) -> Fraction:
    """A number as people write it: ``24``, ``-3.5``, ``1,250``, ``$12``, ``.5``."""
    cleaned = text.strip().replace("$", "")
    if not _WRITTEN_NUMBER.fullmatch(cleaned):
        raise CalculationError("not a number", text)
    return Fraction(cleaned.replace(",", ""))


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = self._tokenize(source)
        self.index = 0

    def _tokenize(self, source: str) -> list[tuple[str, str, int]]:
        tokens: list[tuple[str, str, int]] = []
        position = 0
        while position < len(source):
            if source[position:].strip() == "":
                break
            found = _TOKEN.match(source, position)
            if found is None:
                column = len(source) - len(source[position:].lstrip())
                raise CalculationError(f"unexpected {source[column]!r}", source, column)
            kind = "number" if found.group("number") else "operator"
            tokens.append((kind, found.group(kind), found.start(kind)))
            position = found.end()
        if not tokens:
            raise CalculationError("empty expression", source)
        return tokens

    def _fail(self, reason: str) -> CalculationError:
        position = self.tokens[self.index][2] if self.index < len(self.tokens) else None
        return CalculationError(reason, self.source, position)

    def _peek(self) -> str | None:
        return self.tokens[self.index][1] if self.index < len(self.tokens) else None

    def _take(self, *operators: str) -> str | None:
        token = self._peek()
        if token in operators and self.tokens[self.index][0] == "operator":
            self.index += 1
            return token
        return None

    def parse(self) -> Fraction:
        value = self._sum(0)
        if self.index < len(self.tokens):
            raise self._fail(f"unexpected {self._peek()!r}")
        return value

    def _sum(self, depth: int) -> Fraction:
        value = self._product(depth)
        while operator := self._take("+", "-"):
            right = self._product(depth)
            value = value + right if operator == "+" else value - right
        return self._bounded(value)

    def _product(self, depth: int) -> Fraction:
        value = self._unary(depth)
        while operator := self._take("*", "/", "//"):
            at = self.index
            right = self._unary(depth)
            if operator == "*":
                value = value * right
            elif right == 0:
                self.index = at
                raise self._fail("division by zero")
            else:
                value = value / right if operator == "/" else Fraction(value // right)
            value = self._bounded(value)
        return value

    def _unary(self, depth: int) -> Fraction:
        if depth > MAX_DEPTH:
            raise self._fail(f"nested deeper than {MAX_DEPTH} levels")
        if operator := self._take("+", "-"):
            value = self._unary(depth + 1)
            return -value if operator == "-" else value
        return self._power(depth)

    def _power(self, depth: int) -> Fraction:
        base = self._atom(depth)
        if self._take("**") is None:
            return base
        at = self.index
        exponent = self._unary(depth + 1)
        if exponent.denominator != 1 or abs(exponent) > MAX_EXPONENT:
            self.index = at
            raise self._fail(f"exponents must be whole numbers up to {MAX_EXPONENT}")
        if base == 0 and exponent < 0:
            self.index = at
            raise self._fail("division by zero")
        magnitude = max(abs(base.numerator), base.denominator).bit_length()
        if magnitude * abs(exponent) > MAX_BITS:
            self.index = at
            raise self._fail(f"result larger than {MAX_BITS} bits")
        return base ** int(exponent)

    def _atom(self, depth: int) -> Fraction:
        if self.index >= len(self.tokens):
            raise self._fail("expression ends too early")
        kind, text, _ = self.tokens[self.index]
        if kind == "number":
            self.index += 1
            return Fraction(text)
        if self._take("("):
            value = self._sum(depth + 1)
            if self._take(")") is None:
                raise self._fail("missing ')'")
            return value
        raise self._fail(f"unexpected {text!r}")

    def _bounded(self, value: Fraction) -> Fraction:
        if max(abs(value.numerator), value.denominator).bit_length() > MAX_BITS:
            raise self._fail(f"result larger than {MAX_BITS} bits")
        return value


def format_number(value: Fraction) -> str:
    """``24``, ``0.2``, ``-1.25``; a value with no finite decimal form is rounded to 6 places."""
    return format_value(value)


def written_agrees(exact: Fraction, written: str) -> str | None:
    """How ``written`` (a number in text) agrees with ``exact``: "exact", "rounded" or None.

    "rounded" accepts a value with no finite decimal form (1/3) written to 2 or more decimal
    places and correctly rounded (0.33); a finite value must be written exactly.
    """
    try:
        value = parse_number(written)
    except CalculationError:
        return None
    if value == exact:
        return "exact"
    places = len(written.strip().rpartition(".")[2]) if "." in written else 0
    if places >= 2 and not _terminates(exact) and round(exact, places) == value:
        return "rounded"
    return None


def _terminates(value: Fraction) -> bool:
    denominator = value.denominator
    for prime in (2, 5):
        while denominator % prime == 0:
            denominator //= prime
    return denominator == 1
